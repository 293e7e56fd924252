"""The Analyzer: one Presidio engine, built once, offline, reused for every text."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from privacy_partition._defaults import DEFAULT_NER_MODEL
from privacy_partition._errors import (
    ConfigurationError,
    DetectionError,
    InputError,
    ModelError,
    PrivacyPartitionError,
)
from privacy_partition._logging import silence_content_loggers
from privacy_partition.detection._finding import Finding
from privacy_partition.detection._language import detect_languages
from privacy_partition.detection._lists import complete_lists
from privacy_partition.detection._nlp import (
    DEFAULT_SPACY_PIPELINE,
    FastSpacyNlpEngine,
    IndexedContextEnhancer,
)
from privacy_partition.detection._normalize import Normalized, normalize
from privacy_partition.detection._propagate import propagate, share_relations
from privacy_partition.detection._registry import recognizers_for
from privacy_partition.detection._relations import mark_relations
from privacy_partition.detection._resolve import resolve
from privacy_partition.detection._speakers import complete_speakers

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MIN_SCORE",
    "DEFAULT_NER_MODEL",
    "Analyzer",
    "AnalyzerConfig",
]

SUPPORTED_LANGUAGES = ("en", "zh")
DEFAULT_MIN_SCORE = 0.4
# Detection time is linear in the text: on two cores (AMD EPYC, idle) about
# 30 us per character of prose and 120 us at worst, when every character is a
# token ("((((..."); `make bench-linear` measures it. 32,768 characters run in
# about 1 s of prose and 4 s at worst; longer texts are refused (InputError)
# unless the limit is raised.
DEFAULT_MAX_CHARS = 32_768
# The local ONNX NER model runs by default: on PUPA it cuts the leak of an
# all-redacting sanitizer by about a third for a small loss of retention, at
# several times the latency (figures in README.md).
# Threads of the ONNX NER model: two halve its latency; more gain little on
# short prompts and take cores from the app.
DEFAULT_THREADS = min(2, os.cpu_count() or 1)
# Texts longer than this are analyzed in overlapping chunks, which bounds the
# memory spaCy needs per call; the overlap (longer than a PEM key block) keeps
# a value on a boundary whole in at least one chunk.
_CHUNK_CHARS = 100_000
_CHUNK_OVERLAP = 10_000

_SURROGATE = re.compile("[\ud800-\udfff]")

_WARM_UP = {
    "en": "Warm up: John Smith, john@example.com, +1 212-555-0199, Paris.",
    "zh": "预热：我叫王小明，手机13800138000。",
}

# Per-entity thresholds where the global minimum is wrong for a recognizer.
DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {
        # Letter-and-digit codes (c1912850431, AB123456) are identifiers of
        # some kind far more often than not; Presidio scores the shape 0.3.
        "US_DRIVER_LICENSE": 0.3,
    }
)


@dataclass(frozen=True, slots=True)
class AnalyzerConfig:
    """How the Analyzer is built. Validated at construction.

    ``ner_model`` adds the local ONNX NER model (Rampart) beside spaCy's NER;
    its files come from ``privacy-partition model build`` under ``model_root``
    (default: see ``privacy_partition._artifacts.model_root``).
    """

    spacy_pipeline: str = DEFAULT_SPACY_PIPELINE
    languages: tuple[str, ...] = SUPPORTED_LANGUAGES
    ner_model: bool = DEFAULT_NER_MODEL
    model_root: Path | None = None
    min_score: float = DEFAULT_MIN_SCORE
    score_thresholds: Mapping[str, float] = field(default_factory=lambda: DEFAULT_THRESHOLDS)
    max_chars: int = DEFAULT_MAX_CHARS
    threads: int = DEFAULT_THREADS

    def __post_init__(self) -> None:
        if not self.languages:
            raise ConfigurationError("languages must not be empty")
        unknown = sorted(set(self.languages) - set(SUPPORTED_LANGUAGES))
        if unknown:
            raise ConfigurationError(
                f"unsupported languages {unknown}; supported: {list(SUPPORTED_LANGUAGES)}"
            )
        for name, score in {"min_score": self.min_score, **self.score_thresholds}.items():
            if not 0.0 <= score <= 1.0:
                raise ConfigurationError(f"score threshold for {name} must be in [0, 1]")
        if self.max_chars < 1:
            raise ConfigurationError("max_chars must be positive")
        if self.threads < 1:
            raise ConfigurationError("threads must be positive")


def _to_finding(result: RecognizerResult, language: str) -> Finding:
    metadata = result.recognition_metadata or {}
    return Finding(
        entity_type=result.entity_type,
        start=result.start,
        end=result.end,
        score=float(result.score),
        recognizer=str(metadata.get(RecognizerResult.RECOGNIZER_NAME_KEY, "unknown")),
        language=language,
    )


def _chunks(text: str) -> Iterable[tuple[int, str]]:
    """(offset, chunk) pairs covering ``text``, cut at whitespace where possible."""
    if len(text) <= _CHUNK_CHARS:
        yield 0, text
        return
    start = 0
    while start < len(text):
        end = min(start + _CHUNK_CHARS, len(text))
        if end < len(text):
            cut = text.rfind(" ", end - _CHUNK_OVERLAP, end)
            end = cut if cut > start else end
        yield start, text[start:end]
        if end == len(text):
            return
        start = max(end - _CHUNK_OVERLAP, start + 1)


class Analyzer:
    """Finds personal data in English and Chinese text, fully offline.

    Build one per process and reuse it: construction loads spaCy (and the
    ONNX NER model when enabled), about a second; a call loads nothing.

    Thread safety: an Analyzer may be shared by threads. Calls are
    serialized, because spaCy pipelines are not documented as thread-safe.

    Recognizers read the text with its disguises taken off (invisible
    characters, full-width forms, look-alike letters: ``_normalize``); every
    finding's offsets index the text as given.

    Errors: ``InputError`` for input refused before any work (not a ``str``,
    longer than ``max_chars``); ``DetectionError`` for any failure inside
    detection. Neither message carries the text: callers must treat both as
    "do not send".
    """

    def __init__(
        self,
        config: AnalyzerConfig | None = None,
        *,
        recognizers: Sequence[EntityRecognizer] = (),
    ) -> None:
        """Build the engine. ``recognizers`` are added to the built-in ones
        (a policy's ad-hoc recognizers, or a user's own Presidio recognizers);
        each runs for its own ``supported_language``."""
        self.config = config or AnalyzerConfig()
        silence_content_loggers()
        languages = list(self.config.languages)
        nlp_engine = FastSpacyNlpEngine(self.config.spacy_pipeline, languages)
        nlp_engine.load()
        registry = RecognizerRegistry(supported_languages=languages)
        registry.recognizers = (
            recognizers_for(languages) + self._ner_recognizers(nlp_engine) + list(recognizers)
        )
        self._nlp = nlp_engine
        self._engine = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=languages,
            context_aware_enhancer=IndexedContextEnhancer(),
        )
        self._lock = threading.Lock()
        # The first call pays for lazy initialization in spaCy, thinc and the
        # phone-number metadata (about 0.4 s); pay it here, not in a request.
        for language in languages:
            self.analyze(_WARM_UP[language], language)

    def _ner_recognizers(self, nlp_engine: FastSpacyNlpEngine) -> list[EntityRecognizer]:
        if "en" not in self.config.languages:
            return []
        recognizers: list[EntityRecognizer] = [
            SpacyRecognizer(
                supported_language="en", supported_entities=nlp_engine.get_supported_entities()
            )
        ]
        if self.config.ner_model:
            from privacy_partition._artifacts import RAMPART, artifact_folder, verify_artifact
            from privacy_partition._int8 import REBUILD
            from privacy_partition._quantize import verify_int8
            from privacy_partition.detection.recognizers._rampart import RampartRecognizer

            # Verify only: fetching is `privacy-partition model build`'s job, so
            # building an Analyzer never opens a connection.
            folder = artifact_folder(RAMPART, self.config.model_root)
            try:
                verify_artifact(RAMPART, folder)
                model_file = verify_int8(folder).relative_to(folder)
            except ModelError as error:
                if REBUILD in str(error):
                    raise
                raise ModelError(f"{error}; {REBUILD}") from None
            recognizers.append(
                RampartRecognizer(folder, model_file=model_file, threads=self.config.threads)
            )
        return recognizers

    @property
    def supported_entities(self) -> list[str]:
        """Every entity type this Analyzer can report."""
        entities: set[str] = set()
        for language in self.config.languages:
            entities.update(self._engine.get_supported_entities(language))
        return sorted(entities)

    def _check(self, text: object) -> Normalized:
        if not isinstance(text, str):
            raise InputError(f"text must be str, not {type(text).__name__}")
        if len(text) > self.config.max_chars:
            raise InputError(
                f"text of {len(text)} characters exceeds the limit of {self.config.max_chars}"
            )
        # Lone surrogates cannot be encoded by spaCy; one U+FFFD each keeps every offset.
        return normalize(_SURROGATE.sub("\ufffd", text))

    def _languages(self, text: str, language: str | None) -> tuple[str, ...]:
        if language is None:
            return detect_languages(text, self.config.languages)
        if language not in self.config.languages:
            raise ConfigurationError(
                f"language {language!r} is not enabled; enabled: {list(self.config.languages)}"
            )
        return (language,)

    def _raw(
        self, text: str, language: str, artifacts: NlpArtifacts | None = None
    ) -> list[Finding]:
        results = self._engine.analyze(
            text=text, language=language, score_threshold=0.0, nlp_artifacts=artifacts
        )
        return [_to_finding(r, language) for r in results]

    def _finish(self, findings: list[Finding], text: str) -> list[Finding]:
        resolved = resolve(
            findings,
            text,
            min_score=self.config.min_score,
            thresholds=self.config.score_thresholds,
        )
        completed = complete_speakers(text, complete_lists(text, resolved))
        return share_relations(text, mark_relations(text, propagate(text, completed)))

    def _guarded(self, work: Callable[[], None]) -> None:
        """Run ``work`` under the lock; any failure becomes an opaque DetectionError.

        The DetectionError is raised outside the ``except`` block so that it has
        neither a cause nor a context: third-party messages may quote the text.
        """
        failure: str | None = None
        with self._lock:
            try:
                work()
            except PrivacyPartitionError:
                raise
            except Exception as error:
                failure = type(error).__name__
        if failure is not None:
            raise DetectionError(f"detection failed ({failure})")

    def analyze(self, text: str, language: str | None = None) -> list[Finding]:
        """Findings in ``text``, sorted by position and free of overlaps.

        ``language`` forces one language; by default it is detected, and text
        mixing Chinese and English is analyzed in both.
        """
        normalized = self._check(text)
        text = normalized.text
        languages = self._languages(text, language)
        if not text.strip():
            return []
        findings: list[Finding] = []

        def run() -> None:
            for lang in languages:
                for offset, chunk in _chunks(text):
                    findings.extend(_shift(f, offset) for f in self._raw(chunk, lang))

        self._guarded(run)
        return normalized.to_original(self._finish(findings, text))

    def analyze_batch(
        self, texts: Sequence[str], language: str | None = None, batch_size: int = 32
    ) -> list[list[Finding]]:
        """``analyze`` for many texts, with spaCy batching them (``nlp.pipe``).

        Results are in input order and equal to ``[analyze(t) for t in texts]``.
        """
        normalized = [self._check(t) for t in texts]
        checked = [n.text for n in normalized]
        results: list[list[Finding]] = [[] for _ in checked]
        plan: dict[str, list[int]] = {}
        for index, text in enumerate(checked):
            if not text.strip():
                continue
            for lang in self._languages(text, language):
                if len(text) > _CHUNK_CHARS:
                    results[index] += self.analyze(text, lang)
                else:
                    plan.setdefault(lang, []).append(index)

        def run() -> None:
            for lang, indexes in plan.items():
                batch = [checked[i] for i in indexes]
                artifacts = self._nlp.pipe(batch, lang, batch_size)
                for index, text, nlp_artifacts in zip(indexes, batch, artifacts, strict=True):
                    results[index] += self._raw(text, lang, nlp_artifacts)

        self._guarded(run)
        return [
            n.to_original(self._finish(found, n.text))
            for found, n in zip(results, normalized, strict=True)
        ]


def _shift(finding: Finding, offset: int) -> Finding:
    if not offset:
        return finding
    return replace(finding, start=finding.start + offset, end=finding.end + offset)
