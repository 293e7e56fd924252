"""Personal data found by the Rampart token classifier, run locally with ONNX Runtime.

Rampart (National Design Studio, CC BY 4.0) is a 6-layer BERT that tags each
word piece with a BIO label such as ``B-GIVEN_NAME`` or ``I-STREET_NAME``.
This recognizer turns those tags into Presidio results over the SDK's entity
types (:data:`ENTITY_MAPPING`): it reads whole words, rebuilds entities from
the BIO tags, and joins the parts of a name or a street address into one span.

Long texts are read in overlapping windows so every token is classified with
context on both sides; the cost grows linearly with the text.

The model folder is built by :func:`privacy_partition._artifacts.ensure_artifact`;
this module only reads it and never opens a network connection.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from tokenizers import Tokenizer

from privacy_partition._errors import ConfigurationError, DetectionError, ModelError

__all__ = [
    "DEFAULT_MODEL_FILE",
    "DEFAULT_STRIDE_TOKENS",
    "DEFAULT_WINDOW_TOKENS",
    "ENTITY_MAPPING",
    "SUPPORTED_ENTITIES",
    "RampartRecognizer",
]

ENTITY_MAPPING: Final[Mapping[str, str]] = MappingProxyType(
    {
        "GIVEN_NAME": "PERSON",
        "SURNAME": "PERSON",
        "BUILDING_NUMBER": "STREET_ADDRESS",
        "STREET_NAME": "STREET_ADDRESS",
        "SECONDARY_ADDRESS": "STREET_ADDRESS",
        "CITY": "LOCATION",
        "STATE": "LOCATION",
        "ZIP_CODE": "ZIP_CODE",
        "EMAIL": "EMAIL_ADDRESS",
        "PHONE": "PHONE_NUMBER",
        "URL": "URL",
        "GOVERNMENT_ID": "GOVERNMENT_ID",
        "TAX_ID": "TAX_ID",
        "PASSPORT": "PASSPORT",
        "DRIVERS_LICENSE": "DRIVER_LICENSE",
        "BANK_ACCOUNT": "BANK_ACCOUNT",
        # The model's routing numbers are US ABA numbers, Presidio's own type.
        "ROUTING_NUMBER": "ABA_ROUTING_NUMBER",
    }
)
"""Model label (BIO prefix removed) -> entity type reported by the SDK."""

SUPPORTED_ENTITIES: Final[tuple[str, ...]] = tuple(sorted(set(ENTITY_MAPPING.values())))

# Rampart accepts 512 positions but finds less in long windows: on prose with
# entities every ~60 words, 128-token windows kept 80% of what the model finds
# in each sentence alone, 256 kept 76% and 512 kept 65%, at about the same cost.
DEFAULT_WINDOW_TOKENS: Final = 128
DEFAULT_STRIDE_TOKENS: Final = 32

# Parts of one entity that the model tags as separate entities, and the text
# that may stand between two parts for them to be read as one: a given name and
# a surname across one space; a number, a street and a unit across a space, a
# comma or a line break.
_JOINERS: Final[Mapping[str, re.Pattern[str]]] = MappingProxyType(
    {
        "PERSON": re.compile(" "),
        "STREET_ADDRESS": re.compile(r",?[ \t]?\n?[ \t]?"),
    }
)

# Emails, URLs and identifiers are written without spaces, and a partly tagged
# one still leaks the rest, so their spans grow over the characters such a value
# is made of. The growth is capped (an email is at most 254 characters) so that
# long unspaced text stays linear.
_ADDRESS_CHARS: Final = frozenset(string.ascii_letters + string.digits + "._%+-@/:?#=&~!$*")
_IDENTIFIER_CHARS: Final = frozenset(string.ascii_letters + string.digits + ".+-")
_GROWTH: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "EMAIL": _ADDRESS_CHARS,
        "URL": _ADDRESS_CHARS,
        "PHONE": _IDENTIFIER_CHARS,
        "GOVERNMENT_ID": _IDENTIFIER_CHARS,
        "TAX_ID": _IDENTIFIER_CHARS,
        "PASSPORT": _IDENTIFIER_CHARS,
        "DRIVERS_LICENSE": _IDENTIFIER_CHARS,
        "BANK_ACCOUNT": _IDENTIFIER_CHARS,
        "ROUTING_NUMBER": _IDENTIFIER_CHARS,
        "ZIP_CODE": _IDENTIFIER_CHARS,
    }
)
_MAX_GROWTH: Final = 256

# Prose punctuation the model tends to absorb into the edges of a span.
_LEADING_JUNK: Final = frozenset(".,;:!?)]}>'\"")
_TRAILING_JUNK: Final = frozenset(".,;:!?([{<'\"")

# Windows are classified in batches: one session.run for a prompt, and a
# bounded activation memory (attention grows with batch x window^2) for long texts.
_BATCH_WINDOWS: Final = 8

_NAME: Final = "RampartRecognizer"
_EXPLANATION: Final = "Identified as {} by the Rampart token classifier"
DEFAULT_MODEL_FILE: Final = Path("onnx") / "model_q4.onnx"

_FloatArray = npt.NDArray[np.float32]
_IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Labels:
    """The model's label set, as index arrays over its logits."""

    names: tuple[str, ...]
    """Entity label of each type index; index 0 is outside (``O``)."""
    column_types: _FloatArray
    """One-hot (columns x types) matrix that adds ``B-`` and ``I-`` of a type."""
    begin_column: _IntArray
    """Logit column of ``B-<type>`` for every type index (unused for ``O``)."""
    inside_column: _IntArray
    """Logit column of ``I-<type>`` for every type index (unused for ``O``)."""

    @classmethod
    def from_config(cls, id2label: Mapping[str, str]) -> _Labels:
        columns = {int(key): value for key, value in id2label.items()}
        if sorted(columns) != list(range(len(columns))):
            raise ModelError("rampart: config.json id2label is not a dense index")
        names = ["O", *sorted({label[2:] for label in columns.values() if label != "O"})]
        unknown = set(names[1:]) - set(ENTITY_MAPPING)
        if unknown:
            raise ModelError(f"rampart: labels {sorted(unknown)} have no entity mapping")
        index = {name: position for position, name in enumerate(names)}
        column_types = np.zeros((len(columns), len(names)), dtype=np.float32)
        begin = np.zeros(len(names), dtype=np.int64)
        inside = np.zeros(len(names), dtype=np.int64)
        for column, label in columns.items():
            if label == "O":
                continue
            prefix, name = label[:2], label[2:]
            if prefix not in ("B-", "I-"):
                raise ModelError("rampart: config.json labels are not in BIO form")
            column_types[column, index[name]] = 1.0
            (begin if prefix == "B-" else inside)[index[name]] = column
        column_types[[column for column, label in columns.items() if label == "O"], 0] = 1.0
        return cls(tuple(names), column_types, begin, inside)


@dataclass(slots=True)
class _Span:
    """An entity being assembled: character bounds and the evidence behind it."""

    label: str
    start: int
    end: int
    score_sum: float
    tokens: int

    @property
    def score(self) -> float:
        return self.score_sum / self.tokens


class RampartRecognizer(EntityRecognizer):
    """Presidio recognizer backed by the local Rampart ONNX model.

    The session and tokenizer are loaded once, by the constructor, which
    raises :class:`ModelError` when the folder is missing or unloadable.

    Thread safety: :meth:`analyze` keeps no state between calls and
    ``onnxruntime.InferenceSession.run`` may be called from several threads at
    once, so one instance serves concurrent requests. Determinism: the same
    text gives the same results on the same ONNX Runtime build.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        supported_language: str = "en",
        model_file: Path = DEFAULT_MODEL_FILE,
        threads: int = 1,
        window_tokens: int = DEFAULT_WINDOW_TOKENS,
        stride_tokens: int = DEFAULT_STRIDE_TOKENS,
        min_score: float = 0.5,
    ) -> None:
        """Load the model in ``model_dir`` (``model_file`` relative to it).

        ``window_tokens`` bounds one model input (special tokens included);
        consecutive windows share ``stride_tokens`` tokens, and each shared
        token keeps the prediction of the window that gives it more context.
        Results scoring below ``min_score`` are dropped.
        """
        if threads < 1:
            raise ConfigurationError("threads must be at least 1")
        if not 0.0 <= min_score <= 1.0:
            raise ConfigurationError("min_score must lie in [0, 1]")
        config = _read_config(model_dir)
        max_tokens = int(config.get("max_position_embeddings", DEFAULT_WINDOW_TOKENS))
        if not 3 <= window_tokens <= max_tokens:
            raise ConfigurationError(f"window_tokens must lie in [3, {max_tokens}]")
        if not 0 <= stride_tokens < window_tokens - 2:
            raise ConfigurationError("stride_tokens must lie in [0, window_tokens - 2)")

        self._labels = _Labels.from_config(config.get("id2label", {}))
        self._tokenizer = _load_tokenizer(model_dir)
        self._session = _load_session(model_dir, model_file, threads)
        self._input_names = frozenset(node.name for node in self._session.get_inputs())
        self._window = window_tokens - 2
        self._stride = stride_tokens
        self._min_score = min_score
        self._cls, self._sep, self._pad = (
            _special_token(self._tokenizer, token) for token in ("[CLS]", "[SEP]", "[PAD]")
        )
        super().__init__(
            supported_entities=list(SUPPORTED_ENTITIES),
            name=_NAME,
            supported_language=supported_language,
        )

    def load(self) -> None:
        """Do nothing: the constructor has loaded the model already.

        Presidio calls this from ``EntityRecognizer.__init__``; loading before
        that keeps every attribute typed and every load failure a ModelError.
        """

    def analyze(
        self,
        text: str,
        entities: list[str] | None,
        nlp_artifacts: object | None = None,
    ) -> list[RecognizerResult]:
        """Find personal data in ``text``; offsets index the ``str``.

        Only the types in ``entities`` are returned (all supported types when
        it is empty or None). ``nlp_artifacts`` is not used: the model has its
        own tokenizer. Raises :class:`DetectionError` if inference fails.
        """
        wanted = set(entities) if entities else set(self.supported_entities)
        if not text or wanted.isdisjoint(self.supported_entities):
            return []
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        ids = np.asarray(encoding.ids, dtype=np.int64)
        if ids.size == 0:
            return []
        offsets = np.asarray(encoding.offsets, dtype=np.int64)
        word_ids = np.asarray(encoding.word_ids, dtype=np.int64)
        probs = self._classify(ids)
        spans = _join(text, _decode(text, probs, offsets, word_ids, self._labels))
        return [
            RecognizerResult(
                entity_type=span.label,
                start=span.start,
                end=span.end,
                score=span.score,
                analysis_explanation=AnalysisExplanation(
                    recognizer=_NAME,
                    original_score=span.score,
                    textual_explanation=_EXPLANATION.format(span.label),
                ),
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: _NAME,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for span in spans
            if span.label in wanted and span.score >= self._min_score
        ]

    def _classify(self, ids: _IntArray) -> _FloatArray:
        """Label probabilities of every token, each from its best-placed window."""
        windows = list(_plan_windows(ids.size, self._window, self._stride))
        probs = np.empty((ids.size, self._labels.column_types.shape[0]), dtype=np.float32)
        for first in range(0, len(windows), _BATCH_WINDOWS):
            batch = windows[first : first + _BATCH_WINDOWS]
            logits = self._run(ids, [(start, end) for start, end, _, _ in batch])
            for row, (start, _, keep_from, keep_to) in enumerate(batch):
                # Column 0 of each row is [CLS], so token i sits at i - start + 1.
                kept = logits[row, keep_from - start + 1 : keep_to - start + 1]
                probs[keep_from:keep_to] = _softmax(kept)
        return probs

    def _run(self, ids: _IntArray, windows: Sequence[tuple[int, int]]) -> _FloatArray:
        width = max(end - start for start, end in windows) + 2
        input_ids = np.full((len(windows), width), self._pad, dtype=np.int64)
        attention = np.zeros((len(windows), width), dtype=np.int64)
        for row, (start, end) in enumerate(windows):
            length = end - start
            input_ids[row, 0] = self._cls
            input_ids[row, 1 : length + 1] = ids[start:end]
            input_ids[row, length + 1] = self._sep
            attention[row, : length + 2] = 1
        feed: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        try:
            (logits,) = self._session.run(["logits"], feed)
        except Exception as exc:  # onnxruntime raises bare Exception subclasses
            raise DetectionError("rampart: model inference failed") from exc
        return np.asarray(logits, dtype=np.float32)


def _read_config(model_dir: Path) -> dict[str, Any]:
    try:
        with (model_dir / "config.json").open(encoding="utf-8") as handle:
            config = json.load(handle)
    except FileNotFoundError as exc:
        raise ModelError(f"rampart: no model in {model_dir}") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"rampart: unreadable config.json in {model_dir}") from exc
    if not isinstance(config, dict):
        raise ModelError(f"rampart: config.json in {model_dir} is not an object")
    return config


def _load_tokenizer(model_dir: Path) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    except Exception as exc:  # tokenizers raises bare Exception
        raise ModelError(f"rampart: unreadable tokenizer.json in {model_dir}") from exc
    # Windows are cut by this module; truncation would silently skip text.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _special_token(tokenizer: Tokenizer, token: str) -> int:
    token_id = tokenizer.token_to_id(token)
    if token_id is None:
        raise ModelError(f"rampart: tokenizer lacks {token}")
    return int(token_id)


def _load_session(model_dir: Path, model_file: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle worker threads would otherwise spin after each run, taking the CPU
    # that the app and spaCy need between requests.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(
            str(model_dir / model_file), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises bare Exception subclasses
        raise ModelError(f"rampart: cannot load {model_file} from {model_dir}") from exc


def _plan_windows(count: int, window: int, stride: int) -> Iterator[tuple[int, int, int, int]]:
    """Cover ``count`` tokens with windows; yield (start, end, keep_from, keep_to).

    Consecutive windows share at least ``stride`` tokens and the shared run is
    cut in the middle, so every kept token has ``stride // 2`` tokens of
    context on both sides unless it is near the text's own ends. The last
    window is pulled back to end at the last token, so all windows but a
    single short one have the same width and batch without padding.
    """
    step = window - stride
    starts = list(range(0, max(count - window, 0), step))
    starts.append(max(count - window, 0))
    keep_from = 0
    for position, start in enumerate(starts):
        end = min(start + window, count)
        keep_to = (starts[position + 1] + end) // 2 if position + 1 < len(starts) else count
        yield start, end, keep_from, keep_to
        keep_from = keep_to


def _softmax(logits: _FloatArray) -> _FloatArray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    result: _FloatArray = shifted / shifted.sum(axis=-1, keepdims=True)
    return result


def _decode(
    text: str,
    probs: _FloatArray,
    offsets: _IntArray,
    word_ids: _IntArray,
    labels: _Labels,
) -> list[_Span]:
    """Rebuild model entities from token probabilities, one label per word.

    The model gives every piece of a word the same tag (``B-`` included), so
    tags are read per word: the word's type is the one with the highest mean
    probability over its pieces (B and I together), and it starts a new
    entity when its first piece leans to ``B-``.
    """
    type_probs = probs @ labels.column_types
    word_starts = np.flatnonzero(np.diff(word_ids, prepend=-1) != 0)
    word_sizes = np.diff(word_starts, append=probs.shape[0])
    word_probs = np.add.reduceat(type_probs, word_starts, axis=0) / word_sizes[:, None]
    word_type = word_probs.argmax(axis=1)
    first = probs[word_starts]
    begins = (
        first[np.arange(word_starts.size), labels.begin_column[word_type]]
        >= first[np.arange(word_starts.size), labels.inside_column[word_type]]
    )

    spans: list[_Span] = []
    current: _Span | None = None
    previous_word = -2
    for word in np.flatnonzero(word_type).tolist():
        kind = int(word_type[word])
        token_from = int(word_starts[word])
        token_to = token_from + int(word_sizes[word])
        name = labels.names[kind]
        if current is None or previous_word != word - 1 or current.label != name or begins[word]:
            current = _Span(name, int(offsets[token_from, 0]), 0, 0.0, 0)
            spans.append(current)
        current.end = int(offsets[token_to - 1, 1])
        current.score_sum += float(type_probs[token_from:token_to, kind].sum())
        current.tokens += token_to - token_from
        previous_word = word
    return [span for span in (_tidy(text, span) for span in spans) if span is not None]


def _tidy(text: str, span: _Span) -> _Span | None:
    """Map a model entity to the SDK's type and trim its edges to the value."""
    start, end = span.start, span.end
    grows_over = _GROWTH.get(span.label)
    if grows_over is not None:
        floor = max(start - _MAX_GROWTH, 0)
        ceiling = min(end + _MAX_GROWTH, len(text))
        while start > floor and text[start - 1] in grows_over:
            start -= 1
        while end < ceiling and text[end] in grows_over:
            end += 1
    while start < end and (text[start].isspace() or text[start] in _LEADING_JUNK):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in _TRAILING_JUNK):
        end -= 1
    # A bracket is the value's own only when its partner is inside the span too.
    if end > start and text[end - 1] == ")" and "(" not in text[start:end]:
        end -= 1
    if end > start and text[start] == "(" and ")" not in text[start:end]:
        start += 1
    if start >= end:
        return None
    return _Span(ENTITY_MAPPING[span.label], start, end, span.score_sum, span.tokens)


def _join(text: str, spans: list[_Span]) -> list[_Span]:
    """Merge overlapping spans of one type, and the parts of a person or an address."""
    joined: list[_Span] = []
    for span in sorted(spans, key=lambda span: (span.start, span.end)):
        last = joined[-1] if joined else None
        if last is not None and last.label == span.label and _touch(text, last, span):
            last.end = max(last.end, span.end)
            last.score_sum += span.score_sum
            last.tokens += span.tokens
        else:
            joined.append(span)
    return joined


def _touch(text: str, left: _Span, right: _Span) -> bool:
    if right.start < left.end:
        return True
    joiner = _JOINERS.get(left.label)
    return joiner is not None and joiner.fullmatch(text, left.end, right.start) is not None
