"""Offline sanitizing: detect, decide and transform, with no network call.

The engine behind ``privacy-partition sanitize --policy P --jsonl`` and the
leak evaluations. Each request gets its own vault, so nothing said in one
prompt is restorable from another. It fails closed: a prompt whose detection
or transformation fails is reported as ``block`` with the reason, never sent
as written.
Prompts are scored for the policy's topics (``detection.topics``) by the
local topic model, loaded once per Sanitizer; a prompt whose scoring fails
is blocked the same way.

In JSONL, nothing is lost: every input line gets its output row, in order. A
line that is not a prompt (not UTF-8, not JSON, not an object, no ``id`` or
``text``, a ``text`` that is not a string) gets an error row,
``{"id": <its id, or null>, "line": N, "error": "<kind>: <what was wrong>"}``,
that never quotes the line, and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from privacy_partition._actions import Route
from privacy_partition._errors import (
    ConfigurationError,
    DetectionError,
    InputError,
    PrivacyPartitionError,
    TransformError,
)
from privacy_partition.detection import (
    Analyzer,
    AnalyzerConfig,
    Finding,
    TopicScorer,
    TopicScoring,
)
from privacy_partition.detection._language import detect_languages
from privacy_partition.policy import Decision, Policy, PolicyEngine, analyzer_for
from privacy_partition.transform import DEFAULT_KEYSET_ENV, Keyset, Recipient, Transformer, Vault

__all__ = [
    "LineError",
    "SanitizeResult",
    "Sanitizer",
    "load_recipients",
    "read_jsonl_lines",
    "read_jsonl_rows",
]


@dataclass(frozen=True, slots=True)
class SanitizeResult:
    """One prompt's outcome: the route, the text that may leave, the types found, why."""

    route: Route
    cloud_text: str | None
    entities: tuple[str, ...]
    reasons: tuple[str, ...]

    def as_dict(self, request_id: object) -> dict[str, object]:
        return {
            "id": request_id,
            "route": self.route.value,
            "cloud_text": self.cloud_text,
            "entities": list(self.entities),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class LineError:
    """A JSONL line that is not a prompt: where it is and what was wrong, never its text.

    ``kind`` is one of ``invalid_utf8``, ``invalid_json``, ``not_an_object``,
    ``missing_field``, ``not_a_string``, ``lone_surrogate``. ``request_id`` is
    the line's id when it parsed far enough to have one (and that id can be
    written), else None.
    """

    line: int
    kind: str
    message: str
    request_id: object = None

    def as_dict(self) -> dict[str, object]:
        """The error row: ``{"id": ..., "line": N, "error": "<kind>: <message>"}``."""
        return {"id": self.request_id, "line": self.line, "error": f"{self.kind}: {self.message}"}

    def as_input_error(self) -> InputError:
        return InputError(f"line {self.line}: {self.message}")


JsonlItem = tuple[object, str] | LineError
"""One line of the sanitize contract's input: ``(id, text)``, or why it is not a prompt."""


def load_recipients(policy: Policy) -> dict[str, Recipient]:
    """The recipients of ``policy`` whose public key file is given (PEM, X25519)."""
    recipients: dict[str, Recipient] = {}
    base = Path(policy.source).parent if policy.source else Path()
    for name, spec in policy.recipients.items():
        if spec.key_file is None:
            continue
        path = base / spec.key_file
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as error:
            raise ConfigurationError(
                f"recipient {name}: cannot read a public key from {path} ({type(error).__name__})"
            ) from None
        if not isinstance(key, x25519.X25519PublicKey):
            raise ConfigurationError(f"recipient {name}: {path} is not an X25519 public key")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        recipients[name] = Recipient(name, hashlib.sha256(raw).hexdigest()[:8], key)
    return recipients


class Sanitizer:
    """Detect, decide and transform prompts under one policy. Thread-safe.

    ``keyset`` defaults to the one in ``$PRIVACY_PARTITION_KEYSET`` and else
    to a fresh in-memory keyset: then tokens and hashes are not joinable
    across runs, which suits a one-off sanitizing job. ``analyzer``, when
    given, is used instead of building one: it must be ``analyzer_for(policy)``
    or equivalent (``PrivacyClient`` shares one, tests reuse one per module).
    When the policy declares topics, ``topic_scorer`` scores them (default:
    ``TopicScorer.for_policy(policy)`` on the Analyzer's model root, which
    raises :class:`ModelError` when the topic model is not built;
    ``FixedTopicScorer`` stands in for it in tests). ``faker_seed`` makes
    pseudonyms reproducible (see ``Transformer``): with the same seed and
    keyset, sanitizing gives what a ``PrivacyClient`` sends.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        analyzer_config: AnalyzerConfig | None = None,
        keyset: Keyset | None = None,
        analyzer: Analyzer | None = None,
        topic_scorer: TopicScoring | None = None,
        faker_seed: int | None = None,
    ) -> None:
        self.policy = policy
        self._engine = PolicyEngine(policy)
        self._analyzer = analyzer or analyzer_for(policy, analyzer_config)
        self._topics = _topic_scorer(policy, topic_scorer, self._analyzer.config.model_root)
        self._transformer = Transformer(
            _default_keyset(keyset), load_recipients(policy), faker_seed
        )

    @property
    def analyzer(self) -> Analyzer:
        """The Analyzer this sanitizer detects with (shared, thread-safe)."""
        return self._analyzer

    def decide(
        self,
        text: str,
        findings: Sequence[Finding],
        metadata: Mapping[str, str] | None = None,
        *,
        topics: Mapping[str, float] | None = None,
    ) -> tuple[str, Decision]:
        """The main language of ``text`` and the policy's decision on its ``findings``.

        The one place a decision is made, for ``sanitize`` and ``PrivacyClient`` alike.
        ``topics`` are scores already computed for ``text``; without them ``text``
        is scored here (:class:`DetectionError` if that fails).
        """
        language = detect_languages(text, self._analyzer.config.languages)[0]
        if topics is None:
            topics = self._topics.score(text) if self._topics is not None else {}
        decision = self._engine.decide(
            findings, language=language, topics=topics, metadata=metadata
        )
        return language, decision

    def score_topics(self, texts: Sequence[str]) -> dict[str, float]:
        """Each topic's highest score over ``texts`` (turns of one request); empty without topics.

        Scored turn by turn, so that a long system prompt cannot dilute a
        sensitive question. :class:`DetectionError` if scoring fails.
        """
        if self._topics is None or not texts:
            return {}
        best: dict[str, float] = {}
        for scores in self._topics.score_batch(texts):
            for topic, score in scores.items():
                best[topic] = max(score, best.get(topic, score))
        return best

    def sanitize(self, text: str, metadata: Mapping[str, str] | None = None) -> SanitizeResult:
        (result,) = self.sanitize_batch([text], metadata)
        return result

    def sanitize_batch(
        self, texts: Sequence[str], metadata: Mapping[str, str] | None = None
    ) -> list[SanitizeResult]:
        found: Sequence[list[Finding] | None]
        try:
            found = self._analyzer.analyze_batch(texts)
        except DetectionError:
            # One bad prompt fails the batch; analyze one by one so only it is blocked.
            found = [self._analyze_one(text) for text in texts]
        analyzed = [text for text, f in zip(texts, found, strict=True) if f is not None]
        scores = iter(self._score_topics(analyzed))
        return [
            self._decide(text, findings, next(scores) if findings is not None else None, metadata)
            for text, findings in zip(texts, found, strict=True)
        ]

    def _score_topics(self, texts: Sequence[str]) -> Sequence[dict[str, float] | None]:
        """Topic scores per text, None where scoring failed."""
        if self._topics is None:
            return [{} for _ in texts]
        try:
            return self._topics.score_batch(texts)
        except DetectionError:
            # As for detection: one prompt that fails must not block the others.
            return [self._score_one(text) for text in texts]

    def _score_one(self, text: str) -> dict[str, float] | None:
        assert self._topics is not None
        try:
            return self._topics.score(text)
        except DetectionError:
            return None

    def _analyze_one(self, text: str) -> list[Finding] | None:
        try:
            return self._analyzer.analyze(text)
        except DetectionError:
            return None

    def _decide(
        self,
        text: str,
        findings: list[Finding] | None,
        topics: Mapping[str, float] | None,
        metadata: Mapping[str, str] | None,
    ) -> SanitizeResult:
        if findings is None:
            return SanitizeResult(Route.BLOCK, None, (), ("detection failed",))
        entities = tuple(sorted({f.entity_type for f in findings}))
        if topics is None:
            return SanitizeResult(Route.BLOCK, None, entities, ("topic scoring failed",))
        try:
            return self._route(text, findings, entities, topics, metadata)
        except PrivacyPartitionError as error:
            # Fail closed, one prompt at a time; the type name carries no content.
            return SanitizeResult(Route.BLOCK, None, entities, (type(error).__name__,))

    def _route(
        self,
        text: str,
        findings: list[Finding],
        entities: tuple[str, ...],
        topics: Mapping[str, float],
        metadata: Mapping[str, str] | None,
    ) -> SanitizeResult:
        language, decision = self.decide(text, findings, metadata, topics=topics)
        if decision.route is not Route.CLOUD:
            return SanitizeResult(decision.route, None, entities, decision.reasons)
        try:
            transformed = self._transformer.apply(text, decision.actions, Vault.request(), language)
        except TransformError as error:
            return SanitizeResult(Route.BLOCK, None, entities, (str(error),))
        return SanitizeResult(Route.CLOUD, transformed.cloud_text, entities, decision.reasons)

    def iter_jsonl_batches(
        self, rows: Iterable[JsonlItem], batch_size: int = 32
    ) -> Iterator[dict[str, object]]:
        """Sanitize ``(id, text)`` pairs in batches, yielding one row per item, in order.

        A ``LineError`` among them yields its error row in its place; the
        prompts around it are batched and answered as if it were not there.
        """
        batch: list[JsonlItem] = []
        prompts = 0
        for row in rows:
            batch.append(row)
            if not isinstance(row, LineError):
                prompts += 1
            if prompts >= batch_size:
                yield from self._flush(batch)
                batch, prompts = [], 0
        yield from self._flush(batch)

    def _flush(self, batch: list[JsonlItem]) -> Iterator[dict[str, object]]:
        texts = [row[1] for row in batch if not isinstance(row, LineError)]
        results = iter(self.sanitize_batch(texts) if texts else ())
        for row in batch:
            yield row.as_dict() if isinstance(row, LineError) else next(results).as_dict(row[0])

    def write_jsonl(
        self, lines: Iterable[bytes], out: TextIO, *, fail_fast: bool = False
    ) -> list[LineError]:
        """Sanitize JSONL ``lines`` into ``out``, one row per line, in order; the malformed lines.

        A malformed line gets its error row and the run goes on. With
        ``fail_fast`` the run stops at the first malformed line instead: the
        rows before it are written, then its :class:`InputError` is raised.
        """
        failed: list[LineError] = []

        def until_failure() -> Iterator[JsonlItem]:
            for item in read_jsonl_lines(lines):
                if isinstance(item, LineError):
                    failed.append(item)
                    if fail_fast:
                        return
                yield item

        for row in self.iter_jsonl_batches(until_failure()):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()
        if fail_fast and failed:
            raise failed[0].as_input_error()
        return failed


def _topic_scorer(
    policy: Policy, given: TopicScoring | None, model_root: Path | None
) -> TopicScoring | None:
    if given is not None:
        missing = sorted(set(policy.detection.topics) - set(given.topics))
        if missing:
            raise ConfigurationError(f"the topic scorer lacks the policy's topics {missing}")
        return given
    if not policy.detection.topics:
        return None
    return TopicScorer.for_policy(policy, model_root=model_root)


def _default_keyset(keyset: Keyset | None) -> Keyset:
    if keyset is not None:
        return keyset
    # A keyset that is set but broken is an error (KeysetError), not a reason to make one up.
    if os.environ.get(DEFAULT_KEYSET_ENV) is not None:
        return Keyset.from_env(DEFAULT_KEYSET_ENV)
    return Keyset.generate()


def read_jsonl_lines(lines: Iterable[bytes]) -> Iterator[JsonlItem]:
    """``(id, text)`` per line of the sanitize contract's input, or a ``LineError``.

    Blank lines are skipped (and counted: ``LineError.line`` is the line's
    number in the input). Lines are bytes, decoded here: whatever the locale,
    a line that is not UTF-8 is refused by number.
    """
    for number, raw in enumerate(lines, start=1):
        item = _parse_line(number, raw)
        if item is not None:
            yield item


def read_jsonl_rows(lines: Iterable[bytes]) -> Iterator[tuple[object, str]]:
    """``(id, text)`` per line, as ``read_jsonl_lines``; the first malformed line raises.

    The refusal is an ``InputError`` that names the line, never its content.
    """
    for item in read_jsonl_lines(lines):
        if isinstance(item, LineError):
            raise item.as_input_error()
        yield item


_EXPECTED = "expected a JSON object with 'id' and 'text'"


def _parse_line(number: int, raw: bytes) -> JsonlItem | None:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return LineError(number, "invalid_utf8", f"not valid UTF-8 (byte {error.start})")
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        # The decoder's own message can quote a character of the line: only its position.
        return LineError(number, "invalid_json", f"not JSON (column {error.colno}); {_EXPECTED}")
    except (ValueError, RecursionError):
        return LineError(number, "invalid_json", f"not JSON; {_EXPECTED}")
    if not isinstance(row, dict):
        return LineError(number, "not_an_object", _EXPECTED)
    request_id = row.get("id")
    request_id = request_id if _writable(request_id) else None
    if "id" not in row or "text" not in row:
        missing = " and ".join(repr(key) for key in ("id", "text") if key not in row)
        return LineError(number, "missing_field", f"no {missing}; {_EXPECTED}", request_id)
    text = row["text"]
    if not isinstance(text, str):
        return LineError(number, "not_a_string", "'text' must be a string", request_id)
    # A lone surrogate ("\ud800") is valid JSON but no text: it cannot be written out.
    if not _writable(row):
        return LineError(
            number, "lone_surrogate", "holds a lone surrogate, which is not text", request_id
        )
    return row["id"], text


def _writable(value: object) -> bool:
    """Whether ``value`` can be written out as UTF-8 JSON (no lone surrogate in it)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
