"""PrivacyClient: detect, decide, transform, send or answer on the device, restore.

The common case::

    with PrivacyClient.from_policy("default", gateway="gateway.example:443") as client:
        reply = client.generate("Email jane@example.org the minutes of today's call")
        print(reply.text, reply.route)

``"default"`` names a policy that ships with the package (a path to a policy
file works too), and requests routed ``local`` are answered by the default
local model once ``privacy-partition model build`` has built it.

Per request: the Analyzer finds personal data, the policy decides a route and
an action per finding, and then

* ``cloud``: the turns are transformed (values replaced, some sealed to a
  named recipient), sent through the gateway, and the answer is restored on
  the device from this request's vault (a session's, in a ``ChatSession``);
* ``local``: the local model answers the original prompt on the device;
* ``block``: ``PolicyViolation`` is raised, with reasons that name entity
  types and rules, never values.

Guarantees:

* Nothing leaves the device unless the policy routes the request to the
  cloud; then only the transformed turns and the sealed values are sent.
* Fail closed. If detection, the decision or the transformation fails, the
  request is not sent; as when the gateway cannot be reached (``UNAVAILABLE``,
  a deadline) or none is configured, the policy's ``fallback.cloud_unavailable``
  says whether it is answered locally or refused. A local route without a
  local model, or whose model fails, follows ``fallback.local_unavailable``.
  Each fallback is named in ``Reply.decision.fallbacks`` and in the audit
  event as ``<cause>-><route>``, the cause one of ``cloud_unavailable``,
  ``detection_failed``, ``decision_failed``, ``transform_failed``,
  ``local_unavailable``. Once part of a streamed answer is out, a failure is
  raised instead: a fallback would repeat or contradict what was shown.
* Restore puts back only what this request's (or session's) vault issued:
  tokens too (``TokenScope.VAULT``), and nothing inside a link unless the
  policy's ``restore.allow_in_links`` says so.
* No value and no prompt text in a log record, an exception, an audit event
  or gRPC metadata: ``Reply.decision`` and the audit log hold types, counts,
  rule names and timings.

Thread safety: a ``PrivacyClient`` may be shared by any number of threads.
The Analyzer serializes detection, the policy engine is pure, every request
has its own vault, the gateway channel is thread-safe, the local model runs
one generation at a time and the audit log serializes appends. A
``ChatSession`` runs one turn at a time (a second ``send`` waits for the
first); a ``ReplyStream`` belongs to one consumer.

``AsyncPrivacyClient`` is the same client on asyncio: the gateway is reached
with ``AsyncGatewayClient``, while detection, transformation and the local
model (CPU work) run in worker threads, so none of it blocks the event loop.
It belongs to the event loop it is first used on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from privacy_partition._actions import Action, Route
from privacy_partition._errors import (
    ConfigurationError,
    DetectionError,
    InputError,
    ModelError,
    PolicyViolation,
    PrivacyPartitionError,
    TransformError,
)
from privacy_partition._sanitize import Sanitizer, SanitizeResult, _default_keyset, load_recipients
from privacy_partition.audit import AuditEvent, AuditLog, Outcome
from privacy_partition.cloud import (
    DEFAULT_TIMEOUT_S,
    AsyncGatewayClient,
    CallOptions,
    ChatMessage,
    ClientTls,
    GatewayClient,
    GatewayTimeout,
    GatewayUnavailable,
    GenerationOptions,
    RequestRejected,
    Role,
)
from privacy_partition.detection import Analyzer, AnalyzerConfig, Finding, TopicScorer
from privacy_partition.local import (
    DEFAULT_MAX_NEW_TOKENS,
    LocalChatModel,
    LocalModel,
    ModelRegistry,
)
from privacy_partition.policy import Decision, Policy, explain, load_policy
from privacy_partition.transform import (
    Keyset,
    Recipient,
    Restorer,
    RestoreStream,
    SealedValue,
    TokenScope,
    Transformer,
    Vault,
)

__all__ = [
    "AsyncChatSession",
    "AsyncPrivacyClient",
    "AsyncReplyStream",
    "ChatSession",
    "DecisionSummary",
    "LocalModelChoice",
    "Message",
    "PrivacyClient",
    "Prompt",
    "Reply",
    "ReplyStream",
    "Timings",
]

Message = Mapping[str, str]
"""A chat turn: ``{"role": "system" | "user" | "assistant", "content": text}``."""

Prompt = str | Sequence[Message]
"""One user turn as text, or a conversation as chat turns."""

LocalModelChoice = LocalChatModel | str | os.PathLike[str] | Literal[False] | None
"""What answers on the device: a model, a model folder, None (the default model
when it is built) or False (no local model)."""

logger = logging.getLogger("privacy_partition.client")

_ROLES: Final = frozenset(role.value for role in Role)
_STEPS: Final = ("detect", "decide", "transform", "cloud", "local", "restore")
# The gateway failures that mean "the cloud cannot be reached now": fall back.
# Any other gateway error (refused, unauthenticated, internal) is raised.
_UNREACHABLE: Final = (GatewayUnavailable, GatewayTimeout)

_Fetch = Callable[[], Mapping[str, Recipient]]
"""Fetches the gateway's recipients; None where no gateway is configured."""


class _Cause(StrEnum):
    CLOUD_UNAVAILABLE = "cloud_unavailable"
    DETECTION_FAILED = "detection_failed"
    DECISION_FAILED = "decision_failed"
    TRANSFORM_FAILED = "transform_failed"
    LOCAL_UNAVAILABLE = "local_unavailable"


_WHY: Final = {
    _Cause.CLOUD_UNAVAILABLE: "the cloud is unavailable",
    _Cause.DETECTION_FAILED: "detection failed",
    _Cause.DECISION_FAILED: "the policy decision failed",
    _Cause.TRANSFORM_FAILED: "the prompt could not be transformed",
    _Cause.LOCAL_UNAVAILABLE: "the local model is unavailable",
}


# -- what a request returns ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds spent in each step of one request (0 for a step not taken)."""

    detect_ms: float = 0.0
    decide_ms: float = 0.0
    transform_ms: float = 0.0
    cloud_ms: float = 0.0
    local_ms: float = 0.0
    restore_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {step: round(getattr(self, f"{step}_ms"), 3) for step in _STEPS}


@dataclass(frozen=True, slots=True)
class DecisionSummary:
    """What the policy decided and which fallbacks were taken: names and counts, never values.

    ``route`` is the policy's route, None when no decision could be made
    (detection failed); the route the request finally took is
    ``Reply.route``. ``entities`` counts findings per entity type;
    ``actions`` lists the actions the findings of each type got;
    ``reasons`` are the decision's, then one per fallback.
    """

    route: Route | None
    entities: Mapping[str, int]
    actions: Mapping[str, tuple[str, ...]]
    rules: tuple[str, ...]
    reasons: tuple[str, ...]
    fallbacks: tuple[str, ...]
    policy_name: str
    policy_digest: str

    @classmethod
    def of(
        cls,
        policy: Policy,
        decision: Decision | None,
        fallbacks: Sequence[str] = (),
        reasons: Sequence[str] | None = None,
    ) -> DecisionSummary:
        """The summary of ``decision``; ``reasons`` default to the decision's."""
        entities: Counter[str] = Counter()
        actions: dict[str, set[str]] = {}
        for item in decision.actions if decision else ():
            entities[item.finding.entity_type] += 1
            actions.setdefault(item.finding.entity_type, set()).add(item.action.value)
        if reasons is None:
            reasons = decision.reasons if decision else ()
        return cls(
            route=decision.route if decision else None,
            entities=MappingProxyType(dict(sorted(entities.items()))),
            actions=MappingProxyType({t: tuple(sorted(a)) for t, a in sorted(actions.items())}),
            rules=decision.rules if decision else (),
            reasons=tuple(reasons),
            fallbacks=tuple(fallbacks),
            policy_name=policy.name,
            policy_digest=policy.digest,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route.value if self.route else None,
            "entities": dict(self.entities),
            "actions": {t: list(a) for t, a in self.actions.items()},
            "rules": list(self.rules),
            "reasons": list(self.reasons),
            "fallbacks": list(self.fallbacks),
            "policy": {"name": self.policy_name, "digest": self.policy_digest},
        }


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer, restored on the device, with where it came from and why."""

    text: str = field(repr=False)
    route: Route
    decision: DecisionSummary
    timings: Timings
    request_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "route": self.route.value,
            "text": self.text,
            "decision": self.decision.as_dict(),
            "timings_ms": self.timings.as_dict(),
        }


# -- one request, as it goes ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Turn:
    """A turn as the user wrote it (``original``) and as the cloud may see it (``cloud``)."""

    role: str
    original: str = field(repr=False)
    cloud: str | None = field(default=None, repr=False)  # None: never sent


@dataclass(frozen=True, slots=True)
class _Answered:
    text: str = field(repr=False)
    cloud_raw: str | None = field(default=None, repr=False)  # the cloud's own text, if it answered


@dataclass(eq=False, slots=True)
class _Request:
    """The state of one request between the steps. Holds text: never logged or raised."""

    id: str
    mode: Literal["generate", "stream"]
    session_id: str | None
    new: list[_Turn]  # this request's turns; given their cloud form once transformed
    history: list[_Turn]  # earlier turns of a session, decided before
    vault: Vault
    restorer: Restorer
    options: GenerationOptions
    decision: Decision | None = None
    route: Route = Route.BLOCK
    transformed: bool = False  # the new turns carry their cloud form: the cloud may see them
    sealed: tuple[SealedValue, ...] = ()
    emitted: bool = False  # a piece of the answer reached the caller: no fallback any more
    fallbacks: list[str] = field(default_factory=list)
    fallback_reasons: list[str] = field(default_factory=list)
    clock: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_STEPS, 0.0))
    answered: _Answered | None = None

    def timed(self, step: str, started: float) -> None:
        self.clock[step] += (time.perf_counter() - started) * 1000.0

    def fall_back(self, cause: _Cause, route: Route) -> None:
        self.fallbacks.append(f"{cause.value}->{route.value}")
        key = "local_unavailable" if cause is _Cause.LOCAL_UNAVAILABLE else "cloud_unavailable"
        self.fallback_reasons.append(f"{_WHY[cause]}: {route.value} (fallback.{key})")
        self.route = route

    def reasons(self) -> tuple[str, ...]:
        return (*(self.decision.reasons if self.decision else ()), *self.fallback_reasons)

    def turns(self) -> list[_Turn]:
        """History, then the new turns; system turns first, as chat templates expect."""
        turns = [*self.history, *self.new]
        return [t for t in turns if t.role == "system"] + [t for t in turns if t.role != "system"]

    def cloud_messages(self) -> list[ChatMessage]:
        """What the gateway gets: every turn the cloud may see, in its cloud form."""
        assert self.transformed
        return [ChatMessage(Role(t.role), t.cloud) for t in self.turns() if t.cloud is not None]

    def local_messages(self) -> list[dict[str, str]]:
        """What the local model gets: every turn as written."""
        return [{"role": t.role, "content": t.original} for t in self.turns()]

    def timings(self) -> Timings:
        return Timings(*(self.clock[step] for step in _STEPS))

    def summary(self, policy: Policy) -> DecisionSummary:
        return DecisionSummary.of(policy, self.decision, self.fallbacks, self.reasons())


class _Restoring:
    """Restores a streamed cloud answer piece by piece, timing it and keeping the raw text."""

    def __init__(self, request: _Request) -> None:
        self._request = request
        self._stream: RestoreStream = request.restorer.stream()
        self._raw: list[str] = []
        self._out: list[str] = []

    def feed(self, chunk: str) -> str:
        self._raw.append(chunk)
        began = time.perf_counter()
        piece = self._stream.feed(chunk)
        self._request.timed("restore", began)
        return self._emit(piece)

    def finish(self) -> str:
        began = time.perf_counter()
        tail = self._stream.finish()
        self._request.timed("restore", began)
        self._request.answered = _Answered("".join(self._out) + tail, "".join(self._raw))
        return self._emit(tail)

    def _emit(self, piece: str) -> str:
        if piece:
            self._request.emitted = True
            self._out.append(piece)
        return piece


def _turns(prompt: Prompt) -> list[_Turn]:
    """The turns of ``prompt``, checked. Errors name positions, never content."""
    if isinstance(prompt, str):
        return [_Turn("user", prompt)]
    if isinstance(prompt, Mapping) or not isinstance(prompt, Sequence) or not prompt:
        raise InputError("a prompt is a string or a non-empty list of chat turns")
    turns = []
    for index, message in enumerate(prompt):
        if not isinstance(message, Mapping):
            raise InputError(f"turn {index} is not a mapping with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in _ROLES:
            raise InputError(f"turn {index}: role must be one of {sorted(_ROLES)}")
        if not isinstance(content, str):
            raise InputError(f"turn {index}: content must be a string")
        turns.append(_Turn(str(role), content))
    return turns


def _key_ids(recipients: Mapping[str, Recipient]) -> dict[str, str]:
    return {name: recipient.key_id for name, recipient in recipients.items()}


def _is_loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tls_for(target: str, tls: ClientTls | None) -> ClientTls | None:
    """``tls``; else plaintext (None) for a loopback target and the system's roots for others."""
    if tls is None and not _is_loopback(target):
        return ClientTls()
    return tls


# -- what both clients share ---------------------------------------------------


class _Pipeline:
    """Detection, decision, transformation, the local model and the audit: no gateway I/O.

    ``PrivacyClient`` and ``AsyncPrivacyClient`` add the gateway calls and the
    answering loop, each in its own concurrency model, on top of these steps.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        local_model: LocalModelChoice,
        keyset: Keyset | None,
        audit: AuditLog | str | os.PathLike[str] | None,
        analyzer: Analyzer | None,
        analyzer_config: AnalyzerConfig | None,
        topic_scorer: TopicScorer | None,
        options: GenerationOptions | None,
        faker_seed: int | None,
    ) -> None:
        self.policy = policy
        self._keyset = _default_keyset(keyset)
        self._faker_seed = faker_seed
        self._sanitizer = Sanitizer(
            policy,
            analyzer_config=analyzer_config,
            keyset=self._keyset,
            analyzer=analyzer,
            topic_scorer=topic_scorer,
            faker_seed=faker_seed,
        )
        # Keys pinned in the policy win over what a gateway announces for the same name.
        self._pinned = load_recipients(policy)
        self._recipients: dict[str, Recipient] = dict(self._pinned)
        self._transformer = self._new_transformer(self._recipients)
        self._options = options or GenerationOptions()
        self._lock = threading.Lock()
        self._closed = False
        self._owned: list[Callable[[], None]] = []
        try:
            self._local = self._open_local(local_model)
            self._audit = self._open_audit(audit)
        except BaseException:
            self._release()
            raise

    def _open_local(self, model: LocalModelChoice) -> LocalChatModel | None:
        """The local model ``model`` names, loaded once, here (see ``PrivacyClient``).

        The default model is loaded at construction rather than on the first
        local request: a request never pays for a load or waits for one, and
        whether the client has a local model is known before the first
        decision (``has_local_model``), as it is for a model given.
        """
        local: LocalChatModel | None
        if isinstance(model, bool):
            if model:  # True is not in the type, but an untyped caller may pass it
                raise ConfigurationError(
                    "local_model takes a model, a model folder, None (the default model "
                    "when it is built) or False (none)"
                )
            return None
        if model is None:
            local = self._default_local()
            if local is None:
                return None
        elif isinstance(model, str | os.PathLike):
            local = LocalModel(Path(model))
        else:
            return model
        self._owned.append(self._release_local)
        return local

    def _default_local(self) -> LocalModel | None:
        """The registry's default model from the Analyzer's model root, if it is built.

        Best effort, unlike a model the caller names: a build that is damaged,
        out of date or does not load is logged and left out, so that an app
        keeps working (under the policy's fallback) until it is rebuilt.
        """
        registry = ModelRegistry.builtin(self.analyzer.config.model_root)
        try:
            return registry.load_default()
        except ModelError as error:
            logger.warning("no local model: %s", error)
            return None

    def _release_local(self) -> None:
        # onnxruntime-genai frees the model with its last reference.
        self._local = None

    def _open_audit(self, audit: AuditLog | str | os.PathLike[str] | None) -> AuditLog | None:
        if audit is None or isinstance(audit, AuditLog):
            return audit
        log = AuditLog(audit)
        self._owned.append(log.close)
        return log

    def _release(self) -> None:
        """Release what this client opened (the model, the audit file); idempotent."""
        self._closed = True
        owned, self._owned = self._owned, []
        for release in reversed(owned):
            release()

    @property
    def analyzer(self) -> Analyzer:
        """The Analyzer requests are detected with (shared, thread-safe)."""
        return self._sanitizer.analyzer

    def _explained(self, text: str, metadata: Mapping[str, str] | None) -> dict[str, Any]:
        """``explain`` with the text's topic scores, as a request would be decided."""
        topics = self._sanitizer.score_topics([text])
        return explain(self.policy, self.analyzer, text, topics=topics, metadata=metadata)

    @property
    def has_local_model(self) -> bool:
        return self._local is not None

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError(f"this {type(self).__name__} is closed")

    def _restorer(self, vault: Vault) -> Restorer:
        return Restorer(
            vault,
            self._keyset,
            allow_in_links=self.policy.restore.allow_in_links,
            token_scope=TokenScope.VAULT,
        )

    def _request(
        self,
        new: list[_Turn],
        mode: Literal["generate", "stream"],
        options: GenerationOptions | None,
        *,
        history: Sequence[_Turn] = (),
        vault: Vault | None = None,
        restorer: Restorer | None = None,
        session_id: str | None = None,
    ) -> _Request:
        self._check_open()
        if vault is None:
            vault = Vault.request()
        return _Request(
            id=uuid.uuid4().hex,
            mode=mode,
            session_id=session_id,
            new=new,
            history=list(history),
            vault=vault,
            restorer=restorer or self._restorer(vault),
            options=options or self._options,
        )

    # -- before anything is sent ----------------------------------------------

    def _prepare(
        self, request: _Request, metadata: Mapping[str, str] | None, fetch: _Fetch | None
    ) -> None:
        """Detect, decide and, for the cloud, transform; raise ``PolicyViolation`` on block.

        Any failure here leaves ``transformed`` False, so nothing can be sent.
        """
        try:
            self._plan(request, metadata, fetch)
        except BaseException as error:
            self._record(request, "failed", error)
            raise
        if request.route is Route.BLOCK:
            self._record(request, "refused")
            raise PolicyViolation(request.reasons())

    def _plan(
        self, request: _Request, metadata: Mapping[str, str] | None, fetch: _Fetch | None
    ) -> None:
        unavailable = self.policy.fallback.cloud_unavailable
        texts = [turn.original for turn in request.new]
        limit = self.analyzer.config.max_chars
        if sum(len(text) for text in texts if isinstance(text, str)) > limit:
            raise InputError(f"the new turns hold more than {limit} characters together")
        started = time.perf_counter()
        try:
            found = self.analyzer.analyze_batch(texts)
        except DetectionError:
            request.fall_back(_Cause.DETECTION_FAILED, unavailable)
            return
        finally:
            request.timed("detect", started)
        started = time.perf_counter()
        try:
            # Topic scoring happens here too; its failure is a detection failure.
            language, decision = self._sanitizer.decide(
                "\n".join(texts),
                [f for findings in found for f in findings],
                metadata,
                topics=self._sanitizer.score_topics(texts),
            )
        except DetectionError:
            request.fall_back(_Cause.DETECTION_FAILED, unavailable)
            return
        except PrivacyPartitionError:
            request.fall_back(_Cause.DECISION_FAILED, unavailable)
            return
        finally:
            request.timed("decide", started)
        request.decision = decision
        request.route = decision.route
        if decision.route is Route.LOCAL and self._local is None and self._may_leave(decision):
            request.fall_back(_Cause.LOCAL_UNAVAILABLE, Route.CLOUD)
        if request.route is not Route.CLOUD:
            return
        if fetch is None:
            request.fall_back(_Cause.CLOUD_UNAVAILABLE, unavailable)
            return
        started = time.perf_counter()
        try:
            self._transform(request, [len(f) for f in found], language, fetch)
        except _UNREACHABLE:
            request.fall_back(_Cause.CLOUD_UNAVAILABLE, unavailable)
        except (TransformError, ConfigurationError):
            request.fall_back(_Cause.TRANSFORM_FAILED, unavailable)
        finally:
            request.timed("transform", started)

    def _may_leave(self, decision: Decision) -> bool:
        """Whether a request routed local may go to the cloud for want of a local model."""
        return self.policy.fallback.local_unavailable is Route.CLOUD and not any(
            a.action in (Action.LOCAL, Action.BLOCK) for a in decision.actions
        )

    def _transform(
        self, request: _Request, counts: list[int], language: str, fetch: _Fetch
    ) -> None:
        assert request.decision is not None
        actions = request.decision.actions
        needed = {a.recipient for a in actions if a.action is Action.SEAL and a.recipient}
        transformer = self._transformer_for(needed, fetch)
        new: list[_Turn] = []
        sealed: dict[tuple[str, str], SealedValue] = {}
        offset = 0
        for turn, count in zip(request.new, counts, strict=True):
            done = transformer.apply(
                turn.original,
                actions[offset : offset + count],
                request.vault,
                language,
                request_id=request.id,
            )
            offset += count
            new.append(_Turn(turn.role, turn.original, done.cloud_text))
            for value in done.sealed:
                sealed.setdefault((value.handle, value.recipient), value)
        request.new = new
        request.sealed = tuple(sealed.values())
        request.transformed = True

    def _transformer_for(
        self, recipients: set[str], fetch: _Fetch, *, refetch: bool = False
    ) -> Transformer:
        """A transformer that knows ``recipients``: fetched from the gateway when not pinned."""
        with self._lock:
            if not refetch and recipients <= self._recipients.keys():
                return self._transformer
            known = {**fetch(), **self._pinned}
            # A seal to a recipient the gateway does not host fetches again on every
            # request; the transformer (and its surrogate pools) is rebuilt only when
            # the keys changed.
            if _key_ids(known) != _key_ids(self._recipients):
                self._transformer = self._new_transformer(known)
            self._recipients = known
            return self._transformer

    def _reseal(self, request: _Request, fetch: _Fetch) -> bool:
        """Fetch the gateway's keys again and seal the request's values again to them.

        For a request refused with FAILED_PRECONDITION: the gateway no longer
        holds a key the values were sealed to (it restarted with fresh keys,
        or rotated them). False when a recipient is no longer hosted.
        """
        transformer = self._transformer_for(
            {s.recipient for s in request.sealed}, fetch, refetch=True
        )
        try:
            request.sealed = transformer.reseal(request.sealed, request.vault, request.id)
        except TransformError:
            return False
        return True

    @staticmethod
    def _stale_keys(error: RequestRejected, request: _Request) -> bool:
        """Whether a refused call may be sent once more with values sealed to fresh keys."""
        return error.code == "FAILED_PRECONDITION" and bool(request.sealed) and not request.emitted

    def _new_transformer(self, recipients: Mapping[str, Recipient]) -> Transformer:
        transformer = Transformer(self._keyset, recipients, self._faker_seed)
        for language in self.policy.detection.languages:
            transformer.warm(language)  # surrogate pools now, not in a request
        return transformer

    # -- answering --------------------------------------------------------------

    def _call(self, request: _Request) -> CallOptions:
        """The gateway call's options: sealed values, generation options, policy, request id."""
        return {
            "sealed": request.sealed,
            "options": request.options,
            "policy_name": self.policy.name,
            "policy_digest": self.policy.digest,
            "request_id": request.id,
        }

    def _local_settings(self, options: GenerationOptions) -> dict[str, Any]:
        return {
            "max_new_tokens": options.max_tokens or DEFAULT_MAX_NEW_TOKENS,
            "temperature": options.temperature or 0.0,
            "top_p": 1.0 if options.top_p is None else options.top_p,
            "stop": options.stop,
            "seed": options.seed,
        }

    def _finished(self, request: _Request) -> tuple[Reply, _Answered]:
        answered = request.answered
        assert answered is not None
        self._record(request, "answered")
        reply = Reply(
            text=answered.text,
            route=request.route,
            decision=request.summary(self.policy),
            timings=request.timings(),
            request_id=request.id,
        )
        return reply, answered

    def _record(
        self, request: _Request, outcome: Outcome, error: BaseException | None = None
    ) -> None:
        if self._audit is None:
            return
        summary = request.summary(self.policy)
        self._audit.append(
            AuditEvent(
                request_id=request.id,
                policy_name=self.policy.name,
                policy_digest=self.policy.digest,
                route=request.route.value,
                decided_route=summary.route.value if summary.route else None,
                outcome=outcome,
                entities=summary.entities,
                actions=summary.actions,
                rules=summary.rules,
                fallbacks=summary.fallbacks,
                timings_ms=request.timings().as_dict(),
                mode=request.mode,
                session_id=request.session_id,
                error=None if error is None else type(error).__name__,
            )
        )


# -- the synchronous client ----------------------------------------------------


class PrivacyClient(_Pipeline):
    """Answers prompts under one policy, on the device or through a gateway. Thread-safe.

    ``gateway`` is a ``GatewayClient`` or ``"host:port"``: a loopback address
    is reached in plaintext unless ``gateway_tls`` is given, any other over
    TLS (``gateway_tls``, default: the system's roots). ``local_model`` is a
    ``LocalModel`` (or any ``LocalChatModel``) or an onnxruntime-genai model
    folder; left None, it is the default model of ``ModelRegistry.builtin()``
    (SmolLM2, what ``privacy-partition model build`` makes, under the
    Analyzer's ``model_root``) when that is built, and no local model when it
    is not: nothing is downloaded or built, and local requests follow the
    policy's ``fallback.local_unavailable``. ``False`` opts out of the
    default. A model is loaded here, once, never inside a request. A model or
    folder given that cannot load raises ``ModelError``; a default that is
    damaged, out of date or does not load is left out with a warning (logger
    ``privacy_partition.client``) saying how to rebuild it. ``keyset``
    defaults to ``$PRIVACY_PARTITION_KEYSET``, else a fresh in-memory one.
    ``audit`` is an ``AuditLog`` or the path of one. ``analyzer`` shares an
    Analyzer built by ``analyzer_for(policy)`` instead of building one
    (seconds), and ``topic_scorer`` a ``TopicScorer`` for the policy's topics.
    ``options`` are the default generation options of every request.
    ``faker_seed`` makes pseudonyms reproducible: a ``Sanitizer`` with the
    same seed and keyset gives the same cloud text (audits, tests); leave it
    None in production, so that surrogates are drawn afresh.

    ``close()`` (or leaving a ``with`` block) closes what the client opened
    from a target or a path (the gateway channel, the model, the default
    model, the audit file) and leaves objects it was given to their owner.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        gateway: GatewayClient | str | None = None,
        local_model: LocalModelChoice = None,
        keyset: Keyset | None = None,
        audit: AuditLog | str | os.PathLike[str] | None = None,
        analyzer: Analyzer | None = None,
        analyzer_config: AnalyzerConfig | None = None,
        topic_scorer: TopicScorer | None = None,
        gateway_tls: ClientTls | None = None,
        gateway_timeout_s: float = DEFAULT_TIMEOUT_S,
        options: GenerationOptions | None = None,
        faker_seed: int | None = None,
    ) -> None:
        super().__init__(
            policy,
            local_model=local_model,
            keyset=keyset,
            audit=audit,
            analyzer=analyzer,
            analyzer_config=analyzer_config,
            topic_scorer=topic_scorer,
            options=options,
            faker_seed=faker_seed,
        )
        try:
            self._gateway = self._open_gateway(gateway, gateway_tls, gateway_timeout_s)
        except BaseException:
            self._release()
            raise

    @classmethod
    def from_policy(
        cls,
        path: str | os.PathLike[str] | Policy,
        *,
        gateway: GatewayClient | str | None = None,
        local_model: LocalModelChoice = None,
        keyset: Keyset | None = None,
        audit: AuditLog | str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> PrivacyClient:
        """A client for the policy file at ``path`` (``PolicyError`` names file, line, column)."""
        policy = path if isinstance(path, Policy) else load_policy(path)
        return cls(
            policy, gateway=gateway, local_model=local_model, keyset=keyset, audit=audit, **kwargs
        )

    def _open_gateway(
        self, gateway: GatewayClient | str | None, tls: ClientTls | None, timeout_s: float
    ) -> GatewayClient | None:
        if gateway is None or isinstance(gateway, GatewayClient):
            return gateway
        tls = _tls_for(gateway, tls)
        channel = GatewayClient(gateway, tls=tls, insecure=tls is None, timeout_s=timeout_s)
        self._owned.append(channel.close)
        return channel

    def __repr__(self) -> str:
        return (
            f"PrivacyClient(policy={self.policy.name!r}, gateway={self._gateway is not None},"
            f" local_model={self._local is not None}, audit={self._audit is not None})"
        )

    @property
    def has_gateway(self) -> bool:
        """Whether requests the policy sends to the cloud have a gateway to go to."""
        return self._gateway is not None

    @property
    def _fetch(self) -> _Fetch | None:
        return None if self._gateway is None else self._gateway.recipients

    # -- pass-throughs --------------------------------------------------------

    def analyze(self, text: str, language: str | None = None) -> list[Finding]:
        """The personal data in ``text`` (offsets and types; no request is made)."""
        return self.analyzer.analyze(text, language)

    def sanitize(self, text: str, metadata: Mapping[str, str] | None = None) -> SanitizeResult:
        """What the cloud would see of ``text``, offline (its own vault; nothing is sent)."""
        return self._sanitizer.sanitize(text, metadata)

    def explain(self, text: str, metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Why the policy decides what it does for ``text`` (values masked), topics scored."""
        return self._explained(text, metadata)

    # -- requests -------------------------------------------------------------

    def generate(
        self,
        prompt: Prompt,
        metadata: Mapping[str, str] | None = None,
        *,
        options: GenerationOptions | None = None,
    ) -> Reply:
        """Answer ``prompt`` where the policy allows, restored.

        Raises ``PolicyViolation`` when the policy (or a fallback) refuses
        it, ``InputError`` for a malformed prompt, and a ``GatewayError``
        when the gateway fails in a way no fallback covers.
        """
        request = self._request(_turns(prompt), "generate", options)
        return self._complete(request, metadata)[0]

    def stream(
        self,
        prompt: Prompt,
        metadata: Mapping[str, str] | None = None,
        *,
        options: GenerationOptions | None = None,
    ) -> ReplyStream:
        """Answer ``prompt`` in restored pieces; ``ReplyStream.reply`` once it ends.

        Detection, decision and transformation happen here: a prompt the
        policy refuses raises ``PolicyViolation`` now; a fallback that ends
        in a refusal raises it from the iteration.
        """
        request = self._request(_turns(prompt), "stream", options)
        self._prepare(request, metadata, self._fetch)
        return ReplyStream(
            self._streamed(request),
            lambda: self._record(request, "cancelled"),
            route=lambda: request.route,
        )

    def session(
        self, system: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> ChatSession:
        """A conversation: one session vault, history kept on the device as written."""
        self._check_open()
        return ChatSession(self, system, metadata)

    # -- the answering loop ---------------------------------------------------

    def _complete(
        self, request: _Request, metadata: Mapping[str, str] | None
    ) -> tuple[Reply, _Answered]:
        self._prepare(request, metadata, self._fetch)
        run = self._streamed(request, streaming=False)
        while True:  # it yields nothing when not streaming
            try:
                next(run)
            except StopIteration as done:
                result: tuple[Reply, _Answered] = done.value
                return result

    def _streamed(
        self, request: _Request, *, streaming: bool = True
    ) -> Generator[str, None, tuple[Reply, _Answered]]:
        try:
            yield from self._answer(request, streaming)
        except GeneratorExit:
            self._record(request, "cancelled")
            raise
        except PolicyViolation:
            self._record(request, "refused")
            raise
        except BaseException as error:
            self._record(request, "failed", error)
            raise
        return self._finished(request)

    def _answer(self, request: _Request, streaming: bool) -> Generator[str, None, None]:
        """Answer on ``request.route``, following fallbacks; yield pieces when ``streaming``."""
        fallback = self.policy.fallback
        if request.route is Route.CLOUD:
            try:
                yield from self._cloud(request, streaming)
                return
            except _UNREACHABLE:
                if request.emitted:
                    raise
                request.fall_back(_Cause.CLOUD_UNAVAILABLE, fallback.cloud_unavailable)
        if request.route is Route.LOCAL:
            local = self._local
            try:
                if local is not None:
                    yield from self._on_device(request, local, streaming)
                    return
            except ModelError:
                if request.emitted:
                    raise
            # Only a plan may send a local request to the cloud (``_may_leave``)...
            request.fall_back(_Cause.LOCAL_UNAVAILABLE, Route.BLOCK)
        raise PolicyViolation(request.reasons())

    def _cloud(self, request: _Request, streaming: bool) -> Generator[str, None, None]:
        try:
            yield from self._cloud_once(request, streaming)
        except RequestRejected as error:
            fetch = self._fetch
            if fetch is None or not self._stale_keys(error, request):
                raise
            if not self._reseal(request, fetch):
                raise
            yield from self._cloud_once(request, streaming)

    def _cloud_once(self, request: _Request, streaming: bool) -> Generator[str, None, None]:
        gateway = self._gateway
        assert gateway is not None
        messages = request.cloud_messages()
        began = time.perf_counter()
        if not streaming:
            answer = gateway.generate(messages, **self._call(request))
            request.timed("cloud", began)
            began = time.perf_counter()
            request.answered = _Answered(request.restorer.restore(answer.text), answer.text)
            request.timed("restore", began)
            return
        restoring = _Restoring(request)
        with gateway.stream(messages, **self._call(request)) as chunks:
            for chunk in chunks:
                request.timed("cloud", began)
                piece = restoring.feed(chunk.text)
                if piece:
                    yield piece
                began = time.perf_counter()
            request.timed("cloud", began)
        tail = restoring.finish()
        if tail:
            yield tail

    def _on_device(
        self, request: _Request, model: LocalChatModel, streaming: bool
    ) -> Generator[str, None, None]:
        settings = self._local_settings(request.options)
        messages = request.local_messages()
        began = time.perf_counter()
        if not streaming:
            generation = model.generate(messages, **settings)
            request.timed("local", began)
            request.answered = _Answered(generation.text)
            return
        out: list[str] = []
        with model.stream(messages, **settings) as pieces:
            for piece in pieces:
                request.timed("local", began)
                request.emitted = True
                out.append(piece)
                yield piece
                began = time.perf_counter()
            request.timed("local", began)
        request.answered = _Answered("".join(out))

    # -- lifetime -------------------------------------------------------------

    def close(self) -> None:
        """Close the gateway channel, release the model and close the audit file it opened."""
        self._release()

    def __enter__(self) -> PrivacyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ReplyStream(Iterator[str]):
    """The restored pieces of one answer. One consumer; ``reply`` once it is exhausted.

    ``close()`` (or leaving a ``with`` block) cancels the gateway call or
    stops the local generation. The concatenated pieces equal ``reply.text``.
    """

    def __init__(
        self,
        run: Generator[str, None, tuple[Reply, _Answered]],
        on_unstarted_close: Callable[[], None],
        on_end: Callable[[_Answered | None], None] | None = None,
        route: Callable[[], Route] | None = None,
    ) -> None:
        self._run = run
        self._on_unstarted_close: Callable[[], None] | None = on_unstarted_close
        self._on_end = on_end
        self._route = route
        self.reply: Reply | None = None
        """The whole ``Reply`` (route, decision, timings), once the stream is exhausted."""

    @property
    def route(self) -> Route | None:
        """Where the answer comes from: the policy's route before the first piece, the
        route taken (after any fallback) once a piece has arrived. None if unknown."""
        if self.reply is not None:
            return self.reply.route
        return self._route() if self._route is not None else None

    def __next__(self) -> str:
        # Once started, the run records its own end (answered, cancelled, refused, failed).
        self._on_unstarted_close = None
        try:
            return next(self._run)
        except StopIteration as done:
            if self.reply is None and done.value is not None:
                self.reply, answered = done.value
                self._end(answered)
            raise StopIteration from None
        except BaseException:
            self._end(None)
            raise

    def _end(self, answered: _Answered | None) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end(answered)

    def close(self) -> None:
        unstarted, self._on_unstarted_close = self._on_unstarted_close, None
        try:
            self._run.close()
            if unstarted is not None:
                unstarted()
        finally:
            self._end(None)

    def __enter__(self) -> ReplyStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


# -- conversations -------------------------------------------------------------


class _Conversation:
    """A session's state: its vault, its system prompt and its decided turns."""

    def __init__(
        self, pipeline: _Pipeline, system: str | None, metadata: Mapping[str, str] | None
    ) -> None:
        if system is not None and not isinstance(system, str):
            raise InputError("a system prompt is a string")
        self.pipeline = pipeline
        self.id = uuid.uuid4().hex
        self.vault = Vault.session()
        self.restorer = pipeline._restorer(self.vault)
        self.metadata = dict(metadata or {})
        # The system prompt is a turn like another, kept first; its cloud form once decided.
        self.system = _Turn("system", system) if system else None
        self.history: list[_Turn] = []

    def messages(self) -> list[dict[str, str]]:
        turns = ([self.system] if self.system else []) + self.history
        return [{"role": t.role, "content": t.original} for t in turns]

    def merged(self, metadata: Mapping[str, str] | None) -> dict[str, str]:
        return {**self.metadata, **(metadata or {})}

    def request(
        self, text: str, mode: Literal["generate", "stream"], options: GenerationOptions | None
    ) -> _Request:
        if not isinstance(text, str):
            raise InputError("a turn is a string")
        new = [_Turn("user", text)]
        history = list(self.history)
        if self.system is not None:
            if self.system.cloud is None:
                new.insert(0, self.system)  # not decided for the cloud yet: decide it again
            else:
                history.insert(0, self.system)
        return self.pipeline._request(
            new,
            mode,
            options,
            history=history,
            vault=self.vault,
            restorer=self.restorer,
            session_id=self.id,
        )

    def keep(self, request: _Request, answered: _Answered) -> None:
        """Add a request's turns and its answer; the cloud forms only of what may be sent."""
        for turn in request.new:
            if turn.role == "system":
                self.system = turn
            else:
                self.history.append(turn)
        # A local answer may repeat what only the device may see: it is never sent.
        self.history.append(_Turn("assistant", answered.text, answered.cloud_raw))


class ChatSession:
    """A multi-turn conversation through one ``PrivacyClient``.

    One session vault, so a value keeps its handle or surrogate in every
    turn. The history stays on the device as written; the cloud gets each
    turn transformed. Turns the policy kept on the device, and the local
    model's answers, are never sent: later cloud turns go without them. The
    system prompt is decided together with each turn until one goes to the
    cloud; the local model always sees it. A refused turn is not added to
    the history. Turns run one at a time: a second waits for the first (a
    streamed turn ends when its stream is exhausted or closed).
    """

    def __init__(
        self,
        client: PrivacyClient,
        system: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self._state = _Conversation(client, system, metadata)
        self._turn = threading.Lock()

    def __repr__(self) -> str:
        state = self._state
        return f"ChatSession(id={state.id!r}, turns={len(state.history)}, vault={state.vault!r})"

    @property
    def id(self) -> str:
        return self._state.id

    @property
    def vault(self) -> Vault:
        """The session's vault (stays on the device)."""
        return self._state.vault

    @property
    def messages(self) -> list[dict[str, str]]:
        """The conversation as written (originals, on the device), system prompt first."""
        return self._state.messages()

    def send(
        self,
        text: str,
        metadata: Mapping[str, str] | None = None,
        *,
        options: GenerationOptions | None = None,
    ) -> Reply:
        """Add the user's ``text``, answer it, and keep both turns."""
        with self._turn:
            request = self._state.request(text, "generate", options)
            reply, answered = self._client._complete(request, self._state.merged(metadata))
            self._state.keep(request, answered)
            return reply

    def stream(
        self,
        text: str,
        metadata: Mapping[str, str] | None = None,
        *,
        options: GenerationOptions | None = None,
    ) -> ReplyStream:
        """``send``, streamed: the turns are kept once the stream is exhausted."""
        client = self._client
        self._turn.acquire()
        try:
            request = self._state.request(text, "stream", options)
            client._prepare(request, self._state.merged(metadata), client._fetch)
        except BaseException:
            self._turn.release()
            raise

        def end(answered: _Answered | None) -> None:
            try:
                if answered is not None:
                    self._state.keep(request, answered)
            finally:
                self._turn.release()

        return ReplyStream(
            client._streamed(request),
            lambda: client._record(request, "cancelled"),
            end,
            route=lambda: request.route,
        )


# -- asyncio -------------------------------------------------------------------


class _Worker:
    """One thread for one local generation: its steps run in order, off the event loop.

    A cancelled ``await`` leaves the step running; the generation's cancel
    event ends it after the current token, and ``close`` queues behind it.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="privacy-local")
        self.cancel = threading.Event()

    async def run(self, call: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self, *calls: Callable[[], object]) -> None:
        self.cancel.set()
        for call in calls:
            self._executor.submit(call)
        self._executor.shutdown(wait=False)


class AsyncPrivacyClient(_Pipeline):
    """``PrivacyClient`` on asyncio, with the same guarantees. Safe to share between tasks.

    ``gateway`` is an ``AsyncGatewayClient`` or ``"host:port"`` (the same rules
    for TLS as ``PrivacyClient``). Detection, transformation and the local
    model run in worker threads; the gateway is called on the event loop.
    ``local_model`` is as for ``PrivacyClient``: None loads the default model
    when it is built, False opts out.
    Construction loads the engines (seconds): build the client before serving,
    or in ``asyncio.to_thread``. ``await close()`` (or ``async with``)
    releases what the client opened.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        gateway: AsyncGatewayClient | str | None = None,
        local_model: LocalModelChoice = None,
        keyset: Keyset | None = None,
        audit: AuditLog | str | os.PathLike[str] | None = None,
        analyzer: Analyzer | None = None,
        analyzer_config: AnalyzerConfig | None = None,
        topic_scorer: TopicScorer | None = None,
        gateway_tls: ClientTls | None = None,
        gateway_timeout_s: float = DEFAULT_TIMEOUT_S,
        options: GenerationOptions | None = None,
        faker_seed: int | None = None,
    ) -> None:
        super().__init__(
            policy,
            local_model=local_model,
            keyset=keyset,
            audit=audit,
            analyzer=analyzer,
            analyzer_config=analyzer_config,
            topic_scorer=topic_scorer,
            options=options,
            faker_seed=faker_seed,
        )
        # A channel from a target is made on first use: grpc.aio binds it to the running loop.
        self._gateway = gateway if isinstance(gateway, AsyncGatewayClient) else None
        self._target = gateway if isinstance(gateway, str) else None
        self._tls = None if self._target is None else _tls_for(self._target, gateway_tls)
        self._timeout_s = gateway_timeout_s
        self._owns_gateway = False

    @classmethod
    def from_policy(
        cls,
        path: str | os.PathLike[str] | Policy,
        *,
        gateway: AsyncGatewayClient | str | None = None,
        local_model: LocalModelChoice = None,
        keyset: Keyset | None = None,
        audit: AuditLog | str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> AsyncPrivacyClient:
        """As ``PrivacyClient.from_policy``."""
        policy = path if isinstance(path, Policy) else load_policy(path)
        return cls(
            policy, gateway=gateway, local_model=local_model, keyset=keyset, audit=audit, **kwargs
        )

    def __repr__(self) -> str:
        gateway = self._gateway is not None or self._target is not None
        return (
            f"AsyncPrivacyClient(policy={self.policy.name!r}, gateway={gateway},"
            f" local_model={self._local is not None}, audit={self._audit is not None})"
        )

    @property
    def has_gateway(self) -> bool:
        """Whether requests the policy sends to the cloud have a gateway to go to."""
        return self._gateway is not None or self._target is not None

    def _channel(self) -> AsyncGatewayClient | None:
        if self._gateway is None and self._target is not None:
            self._gateway = AsyncGatewayClient(
                self._target, tls=self._tls, insecure=self._tls is None, timeout_s=self._timeout_s
            )
            self._owns_gateway = True
        return self._gateway

    async def _prepare_async(self, request: _Request, metadata: Mapping[str, str] | None) -> None:
        gateway = self._channel()
        fetch: _Fetch | None = None
        if gateway is not None:
            loop = asyncio.get_running_loop()

            def fetch() -> Mapping[str, Recipient]:
                # Called from the worker thread; the loop is free while it awaits that thread.
                return asyncio.run_coroutine_threadsafe(gateway.recipients(), loop).result()

        await asyncio.to_thread(self._prepare, request, metadata, fetch)

    # -- pass-throughs --------------------------------------------------------

    async def analyze(self, text: str, language: str | None = None) -> list[Finding]:
        return await asyncio.to_thread(self.analyzer.analyze, text, language)

    async def sanitize(
        self, text: str, metadata: Mapping[str, str] | None = None
    ) -> SanitizeResult:
        return await asyncio.to_thread(self._sanitizer.sanitize, text, metadata)

    async def explain(self, text: str, metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(self._explained, text, metadata)

    # -- requests -------------------------------------------------------------

    async def generate(
        self,
        prompt: Prompt,
        metadata: Mapping[str, str] | None = None,
        *,
        options: GenerationOptions | None = None,
    ) -> Reply:
        """As ``PrivacyClient.generate``."""
        request = self._request(_turns(prompt), "generate", options)
        return (await self._complete(request, metadata))[0]

    def stream(
        self,
        prompt: Prompt,
        metadata: Mapping[str, str] | None = None,
        *,
        options: GenerationOptions | None = None,
    ) -> AsyncReplyStream:
        """As ``PrivacyClient.stream``, for ``async for``: the request starts at the first piece."""
        request = self._request(_turns(prompt), "stream", options)
        return AsyncReplyStream(self, request, metadata)

    def session(
        self, system: str | None = None, metadata: Mapping[str, str] | None = None
    ) -> AsyncChatSession:
        self._check_open()
        return AsyncChatSession(self, system, metadata)

    # -- the answering loop ---------------------------------------------------

    async def _complete(
        self, request: _Request, metadata: Mapping[str, str] | None
    ) -> tuple[Reply, _Answered]:
        await self._prepare_async(request, metadata)
        async for _ in self._streamed(request, streaming=False):
            pass  # it yields nothing when not streaming
        return self._finished(request)

    async def _streamed(self, request: _Request, *, streaming: bool) -> AsyncGenerator[str, None]:
        """The answer's pieces; ``request.answered`` once exhausted (record: see ``_finished``)."""
        try:
            async for piece in self._answer(request, streaming):
                yield piece
        except (GeneratorExit, asyncio.CancelledError):
            self._record(request, "cancelled")
            raise
        except PolicyViolation:
            self._record(request, "refused")
            raise
        except BaseException as error:
            self._record(request, "failed", error)
            raise

    async def _answer(self, request: _Request, streaming: bool) -> AsyncGenerator[str, None]:
        fallback = self.policy.fallback
        if request.route is Route.CLOUD:
            try:
                async for piece in self._cloud(request, streaming):
                    yield piece
                return
            except _UNREACHABLE:
                if request.emitted:
                    raise
                request.fall_back(_Cause.CLOUD_UNAVAILABLE, fallback.cloud_unavailable)
        if request.route is Route.LOCAL:
            local = self._local
            try:
                if local is not None:
                    async for piece in self._on_device(request, local, streaming):
                        yield piece
                    return
            except ModelError:
                if request.emitted:
                    raise
            # Only a plan may send a local request to the cloud (``_may_leave``)...
            request.fall_back(_Cause.LOCAL_UNAVAILABLE, Route.BLOCK)
        raise PolicyViolation(request.reasons())

    async def _cloud(self, request: _Request, streaming: bool) -> AsyncGenerator[str, None]:
        try:
            async for piece in self._cloud_once(request, streaming):
                yield piece
        except RequestRejected as error:
            gateway = self._channel()
            if gateway is None or not self._stale_keys(error, request):
                raise
            known = await gateway.recipients()
            if not await asyncio.to_thread(self._reseal, request, lambda: known):
                raise
            async for piece in self._cloud_once(request, streaming):
                yield piece

    async def _cloud_once(self, request: _Request, streaming: bool) -> AsyncGenerator[str, None]:
        gateway = self._channel()
        assert gateway is not None
        messages = request.cloud_messages()
        began = time.perf_counter()
        if not streaming:
            answer = await gateway.generate(messages, **self._call(request))
            request.timed("cloud", began)
            began = time.perf_counter()
            request.answered = _Answered(request.restorer.restore(answer.text), answer.text)
            request.timed("restore", began)
            return
        restoring = _Restoring(request)
        async with gateway.stream(messages, **self._call(request)) as chunks:
            async for chunk in chunks:
                request.timed("cloud", began)
                piece = restoring.feed(chunk.text)
                if piece:
                    yield piece
                began = time.perf_counter()
            request.timed("cloud", began)
        tail = restoring.finish()
        if tail:
            yield tail

    async def _on_device(
        self, request: _Request, model: LocalChatModel, streaming: bool
    ) -> AsyncGenerator[str, None]:
        settings = self._local_settings(request.options)
        messages = request.local_messages()
        worker = _Worker()
        began = time.perf_counter()
        if not streaming:
            try:
                generation = await worker.run(
                    lambda: model.generate(messages, cancel=worker.cancel, **settings)
                )
            finally:
                worker.close()
            request.timed("local", began)
            request.answered = _Answered(generation.text)
            return
        pieces = await worker.run(lambda: model.stream(messages, cancel=worker.cancel, **settings))
        out: list[str] = []
        try:
            while (piece := await worker.run(lambda: next(pieces, None))) is not None:
                request.timed("local", began)
                request.emitted = True
                out.append(piece)
                yield piece
                began = time.perf_counter()
            request.timed("local", began)
        finally:
            worker.close(pieces.close)
        request.answered = _Answered("".join(out))

    # -- lifetime -------------------------------------------------------------

    async def close(self) -> None:
        """Close the gateway channel, release the model and close the audit file it opened."""
        self._release()
        if self._gateway is not None and self._owns_gateway:
            await self._gateway.close()

    async def __aenter__(self) -> AsyncPrivacyClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class AsyncReplyStream(AsyncIterator[str]):
    """The restored pieces of one answer, for ``async for``; ``reply`` once exhausted.

    Detection and the decision run at the first ``anext`` (``PolicyViolation``
    is raised there when the policy refuses). ``aclose()`` (or leaving an
    ``async with`` block) cancels the gateway call or stops the generation.
    """

    def __init__(
        self,
        client: AsyncPrivacyClient,
        request: _Request,
        metadata: Mapping[str, str] | None,
        on_end: Callable[[_Answered | None], None] | None = None,
    ) -> None:
        self._client = client
        self._request = request
        self._metadata = metadata
        self._on_end = on_end
        self._run: AsyncGenerator[str, None] | None = None
        self._closed = False
        self.reply: Reply | None = None
        """The whole ``Reply`` (route, decision, timings), once the stream is exhausted."""

    @property
    def route(self) -> Route | None:
        """Where the answer comes from, once the first piece has arrived (None before: the
        decision is made at the first ``anext``); after it, the route taken."""
        if self.reply is not None:
            return self.reply.route
        return self._request.route if self._run is not None else None

    async def __anext__(self) -> str:
        if self._closed:
            raise StopAsyncIteration
        try:
            if self._run is None:
                await self._client._prepare_async(self._request, self._metadata)
                self._run = self._client._streamed(self._request, streaming=True)
            return await self._run.__anext__()
        except StopAsyncIteration:
            if self.reply is None:
                self.reply, answered = self._client._finished(self._request)
                self._end(answered)
            raise
        except BaseException:
            self._end(None)
            raise

    def _end(self, answered: _Answered | None) -> None:
        self._closed = True
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end(answered)

    async def aclose(self) -> None:
        try:
            if self._run is not None:
                await self._run.aclose()
        finally:
            self._end(None)

    async def __aenter__(self) -> AsyncReplyStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsyncChatSession:
    """``ChatSession`` on asyncio: the same guarantees; turns run one at a time."""

    def __init__(
        self,
        client: AsyncPrivacyClient,
        system: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self._state = _Conversation(client, system, metadata)
        self._turn = asyncio.Lock()

    def __repr__(self) -> str:
        state = self._state
        return (
            f"AsyncChatSession(id={state.id!r}, turns={len(state.history)}, vault={state.vault!r})"
        )

    @property
    def id(self) -> str:
        return self._state.id

    @property
    def vault(self) -> Vault:
        """The session's vault (stays on the device)."""
        return self._state.vault

    @property
    def messages(self) -> list[dict[str, str]]:
        """The conversation as written (originals, on the device), system prompt first."""
        return self._state.messages()

    async def send(
        self,
        text: str,
        metadata: Mapping[str, str] | None = None,
        *,
        options: GenerationOptions | None = None,
    ) -> Reply:
        async with self._turn:
            request = self._state.request(text, "generate", options)
            reply, answered = await self._client._complete(request, self._state.merged(metadata))
            self._state.keep(request, answered)
            return reply

    async def stream(
        self,
        text: str,
        metadata: Mapping[str, str] | None = None,
        *,
        options: GenerationOptions | None = None,
    ) -> AsyncReplyStream:
        """``send``, streamed (``async for piece in await session.stream(text)``).

        The turn holds the session until its stream is exhausted or closed.
        """
        await self._turn.acquire()
        try:
            request = self._state.request(text, "stream", options)
        except BaseException:
            self._turn.release()
            raise

        def end(answered: _Answered | None) -> None:
            try:
                if answered is not None:
                    self._state.keep(request, answered)
            finally:
                self._turn.release()

        return AsyncReplyStream(self._client, request, self._state.merged(metadata), end)
