"""Offline sanitizing: detect, decide and transform, with no network call.

The engine behind ``privacy-partition sanitize --policy P --jsonl`` and the
leak evaluations. Each request gets its own vault, so nothing said in one
prompt is restorable from another. It fails closed: a prompt whose detection
or transformation fails is reported as ``block`` with the reason, never sent
as written.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from privacy_partition._actions import Route
from privacy_partition._errors import (
    ConfigurationError,
    DetectionError,
    PrivacyPartitionError,
    TransformError,
)
from privacy_partition.detection import AnalyzerConfig, Finding
from privacy_partition.detection._language import detect_languages
from privacy_partition.policy import Policy, PolicyEngine, analyzer_for
from privacy_partition.transform import DEFAULT_KEYSET_ENV, Keyset, Recipient, Transformer, Vault

__all__ = ["SanitizeResult", "Sanitizer", "load_recipients"]


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
    across runs, which suits a one-off sanitizing job.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        analyzer_config: AnalyzerConfig | None = None,
        keyset: Keyset | None = None,
    ) -> None:
        self.policy = policy
        self._engine = PolicyEngine(policy)
        self._analyzer = analyzer_for(policy, analyzer_config)
        self._transformer = Transformer(_default_keyset(keyset), load_recipients(policy))

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
        return [
            self._decide(text, findings, metadata)
            for text, findings in zip(texts, found, strict=True)
        ]

    def _analyze_one(self, text: str) -> list[Finding] | None:
        try:
            return self._analyzer.analyze(text)
        except DetectionError:
            return None

    def _decide(
        self, text: str, findings: list[Finding] | None, metadata: Mapping[str, str] | None
    ) -> SanitizeResult:
        if findings is None:
            return SanitizeResult(Route.BLOCK, None, (), ("detection failed",))
        entities = tuple(sorted({f.entity_type for f in findings}))
        try:
            return self._route(text, findings, entities, metadata)
        except PrivacyPartitionError as error:
            # Fail closed, one prompt at a time; the type name carries no content.
            return SanitizeResult(Route.BLOCK, None, entities, (type(error).__name__,))

    def _route(
        self,
        text: str,
        findings: list[Finding],
        entities: tuple[str, ...],
        metadata: Mapping[str, str] | None,
    ) -> SanitizeResult:
        language = detect_languages(text, self._analyzer.config.languages)[0]
        decision = self._engine.decide(findings, language=language, metadata=metadata)
        if decision.route is not Route.CLOUD:
            return SanitizeResult(decision.route, None, entities, decision.reasons)
        try:
            transformed = self._transformer.apply(text, decision.actions, Vault.request(), language)
        except TransformError as error:
            return SanitizeResult(Route.BLOCK, None, entities, (str(error),))
        return SanitizeResult(Route.CLOUD, transformed.cloud_text, entities, decision.reasons)

    def iter_jsonl_batches(
        self, rows: Iterable[tuple[object, str]], batch_size: int = 32
    ) -> Iterator[dict[str, object]]:
        """Sanitize ``(id, text)`` pairs in batches, yielding contract dictionaries in order."""
        batch: list[tuple[object, str]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_size:
                yield from self._flush(batch)
                batch = []
        yield from self._flush(batch)

    def _flush(self, batch: list[tuple[object, str]]) -> Iterator[dict[str, object]]:
        if not batch:
            return
        results = self.sanitize_batch([text for _, text in batch])
        for (request_id, _), result in zip(batch, results, strict=True):
            yield result.as_dict(request_id)


def _default_keyset(keyset: Keyset | None) -> Keyset:
    if keyset is not None:
        return keyset
    # A keyset that is set but broken is an error (KeysetError), not a reason to make one up.
    if os.environ.get(DEFAULT_KEYSET_ENV) is not None:
        return Keyset.from_env(DEFAULT_KEYSET_ENV)
    return Keyset.generate()
