"""Run under an emulated CPU by test_portability.py; prints one JSON object.

    python tests/portability_probe.py cpu
    python tests/portability_probe.py load RAMPART_FOLDER MINILM_FOLDER
    python tests/portability_probe.py build-rampart FOLDER

Kept apart from the tests so that only this, not pytest, runs under the emulator.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from privacy_partition import ModelError, _int8
from privacy_partition._cpu import cpu_class
from privacy_partition._int8 import read_manifest


def main(command: str, *args: str) -> dict[str, object]:
    if command == "cpu":
        return {"cpu_class": cpu_class()}
    if command == "load":
        from privacy_partition._quantize import verify_int8
        from privacy_partition.detection._minilm import verify_minilm

        outcomes: dict[str, str] = {}
        for model, folder, verify in (
            ("rampart", Path(args[0]), verify_int8),
            ("minilm", Path(args[1]), verify_minilm),
        ):
            try:
                verify(folder)
                outcomes[model] = "loaded"
            except ModelError as error:
                outcomes[model] = f"refused: {error}"
        # What the load checks measured on this CPU (none when it is the build's class).
        checked = {Path(path).parts[-4]: value for (path, _), value in _int8._rechecked.items()}
        return {"cpu_class": cpu_class(), "outcomes": outcomes, "checked": checked}
    if command == "build-rampart":
        from privacy_partition._quantize import INT8_FILE, ensure_int8

        lines: list[str] = []
        ensure_int8(Path(args[0]), lines.append)
        manifest = read_manifest("rampart", Path(args[0]) / INT8_FILE)
        return {
            "cpu_class": cpu_class(),
            "lines": lines,
            "scheme": manifest.scheme,
            "value": manifest.value,
            "built_on": manifest.cpu_class,
        }
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
