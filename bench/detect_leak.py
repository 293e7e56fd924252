#!/usr/bin/env python3
"""Leak and retention with every finding redacted, against stock Presidio.

Runs ../shared/tools/leak_eval.py (the project's one definition of leak) over
PUPA_New and PUPA_TNB for: stock Presidio (the shared baseline script), this
engine without and with the local ONNX NER model. Prints a markdown table.

    python bench/detect_leak.py --data ../shared/data/pupa
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT.parent / "shared" / "tools"


def run(data: Path, command: list[str]) -> dict[str, object]:
    cmd = [sys.executable, str(TOOLS / "leak_eval.py"), str(data), "--json"]
    cmd += ["--cmd", shlex.join(command)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"leak_eval failed on {data.name}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "pupa")
    args = parser.parse_args()
    sanitizers = {
        "stock Presidio": [sys.executable, str(TOOLS / "presidio_baseline.py")],
        "privacy-partition": [
            sys.executable,
            str(ROOT / "bench" / "redact_all.py"),
            "--no-ner-model",
        ],
        "privacy-partition + ONNX NER": [
            sys.executable,
            str(ROOT / "bench" / "redact_all.py"),
            "--ner-model",
        ],
    }
    print("| sanitizer | data | leak | retention | seconds |")
    print("|---|---|---|---|---|")
    for name, command in sanitizers.items():
        for split in ("PUPA_New.csv", "PUPA_TNB.csv"):
            r = run(args.data / split, command)
            print(f"| {name} | {split} | {r['leak']} | {r['retention']} | {r.get('seconds')} |")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
