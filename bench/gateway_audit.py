#!/usr/bin/env python3
"""A leak audit through the real gateway, speaking the `sanitize --jsonl` contract.

Reads ``{"id", "text"}`` lines and writes, per line, what
``privacy-partition sanitize --policy P --jsonl`` writes, except that
``cloud_text`` is what a real gateway *received*, not what a sanitizer
computed. Each prompt goes, one after another, through ``PrivacyClient``
(the SDK's public client, as an app uses it) to the reference
``GatewayServer`` with the echo upstream on loopback. A gRPC server
interceptor records every ``Generate`` and ``GenerateStream`` request as it
came off the wire (its bytes, parsed on their own) and keys it by the
request id the client set, which ``Reply.request_id`` names.

* route ``cloud``: ``cloud_text`` is the received turns, joined by newlines;
* route ``local``: answered by a stand-in for the local model that answers
  on the device with a fixed text (the audit asks where a prompt goes, not
  what the 135M model would say); ``cloud_text`` is null;
* route ``block``: the client refused the prompt (``PolicyViolation``).

A finding, reported on stderr with exit status 1: a cloud-routed prompt that
reached the server not exactly once, a local or blocked prompt that reached
it at all, a request the gateway refused.

Unless ``--no-compare``, the same prompts then go through the offline
sanitizer (``Sanitizer.iter_jsonl_batches``, the code path of
``privacy-partition sanitize``) and stderr says how many rows differ in
route and in cloud text; any difference is a finding too. Both paths share
one Analyzer, one topic scorer, one keyset (``$PRIVACY_PARTITION_KEYSET`` or
a fresh one: tokens and hashes agree) and one Faker seed (``--faker-seed``):
without it each transformer draws its pseudonyms afresh, and two correct
paths would differ in every surrogate name. Ids and counts go to stderr,
never text, unless ``--show-text`` asks for the differing texts.

Nothing leaves loopback: the gateway listens on 127.0.0.1, the engines
load from the built models. Exit status: 0 clean, 1 findings, 2 bad input.

    python bench/gateway_audit.py --policy policies/default.yaml < in.jsonl > out.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from privacy_partition import PolicyViolation, PrivacyClient, PrivacyPartitionError, Route
from privacy_partition._errors import InputError
from privacy_partition._sanitize import Sanitizer, read_jsonl_rows
from privacy_partition.cloud import (
    SERVICE_NAME,
    BackgroundGateway,
    EchoUpstream,
    GatewayServer,
    HostedRecipient,
)
from privacy_partition.cloud._pb import gateway_pb2 as pb
from privacy_partition.detection import DEFAULT_NER_MODEL, Analyzer, AnalyzerConfig, TopicScorer
from privacy_partition.local import Generation, TextStream
from privacy_partition.policy import Policy, analyzer_for, load_policy
from privacy_partition.transform import DEFAULT_KEYSET_ENV, Keyset

GENERATE_METHODS = frozenset({f"/{SERVICE_NAME}/Generate", f"/{SERVICE_NAME}/GenerateStream"})
DEFAULT_FAKER_SEED = 0
SHOWN_IDS = 10


# -- what the server received ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it arrived: the method, the request id, the turns, the sealed handles."""

    method: str
    request_id: str
    turns: tuple[tuple[str, str], ...] = field(repr=False)  # (role, content)
    sealed_handles: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(content for _, content in self.turns)


class WireRecorder(grpc.aio.ServerInterceptor):
    """Records each generation request's bytes before the gateway deserializes them.

    The bytes are parsed here on their own, so what is recorded is what came
    off the wire, not what the gateway made of it. Thread-safe: the server
    records on its event loop, the audit reads from its own thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method not in GENERATE_METHODS:
            return handler
        deserialize = handler.request_deserializer
        assert deserialize is not None

        def record_then_deserialize(raw: bytes) -> Any:
            self._record(method, raw)
            return deserialize(raw)

        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                handler.unary_unary,
                request_deserializer=record_then_deserialize,
                response_serializer=handler.response_serializer,
            )
        assert handler.unary_stream is not None  # the gateway's two generation methods
        return grpc.unary_stream_rpc_method_handler(
            handler.unary_stream,
            request_deserializer=record_then_deserialize,
            response_serializer=handler.response_serializer,
        )

    def _record(self, method: str, raw: bytes) -> None:
        request = pb.GenerateRequest.FromString(raw)
        received = Received(
            method=method.rsplit("/", 1)[-1],
            request_id=request.request_id,
            turns=tuple((pb.Role.Name(m.role), m.content) for m in request.messages),
            sealed_handles=tuple(s.handle for s in request.sealed),
        )
        with self._lock:
            self._received.append(received)

    def count(self) -> int:
        with self._lock:
            return len(self._received)

    def since(self, mark: int) -> list[Received]:
        """What arrived after the ``mark``-th request."""
        with self._lock:
            return self._received[mark:]


# -- the local model's stand-in -------------------------------------------------


class DeviceStandIn:
    """A ``LocalChatModel`` that answers on the device with a fixed text, and counts."""

    ANSWER = "(answered on the device)"

    def __init__(self) -> None:
        self.calls = 0

    def generate(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        cancel: threading.Event | None = None,
    ) -> Generation:
        self.calls += 1
        return Generation(self.ANSWER, tokens=0, ttft_s=0.0, tokens_per_s=0.0, finish_reason="eos")

    def stream(
        self,
        messages: Sequence[Mapping[str, str]],
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        cancel: threading.Event | None = None,
    ) -> TextStream:
        generation = self.generate(messages)

        def run() -> Generator[str, None, Generation]:
            yield generation.text
            return generation

        return TextStream(run())


# -- the audit --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Audited:
    """One prompt's outcome through the gateway, and what went wrong (content-free)."""

    request_id: object
    route: Route
    cloud_text: str | None
    entities: tuple[str, ...]
    reasons: tuple[str, ...]
    received: tuple[Received, ...]
    problems: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.request_id,
            "route": self.route.value,
            "cloud_text": self.cloud_text,
            "entities": list(self.entities),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class Engines:
    """What both paths share, loaded once: detection, topic scoring, keys, the Faker seed."""

    policy: Policy
    analyzer: Analyzer
    topics: TopicScorer | None
    keyset: Keyset
    faker_seed: int

    @classmethod
    def load(
        cls,
        policy: Policy,
        analyzer_config: AnalyzerConfig | None = None,
        *,
        keyset: Keyset | None = None,
        faker_seed: int = DEFAULT_FAKER_SEED,
    ) -> Engines:
        """The policy's Analyzer and topic scorer; the keyset as the CLI finds it by default."""
        config = analyzer_config or AnalyzerConfig()
        if keyset is None:
            keyset = (
                Keyset.from_env(DEFAULT_KEYSET_ENV)
                if os.environ.get(DEFAULT_KEYSET_ENV) is not None
                else Keyset.generate()
            )
        topics = (
            TopicScorer.for_policy(policy, model_root=config.model_root)
            if policy.detection.topics
            else None
        )
        return cls(policy, analyzer_for(policy, config), topics, keyset, faker_seed)

    def sanitizer(self) -> Sanitizer:
        """The offline sanitizer, as ``privacy-partition sanitize`` builds it, on these engines."""
        return Sanitizer(
            self.policy,
            keyset=self.keyset,
            analyzer=self.analyzer,
            topic_scorer=self.topics,
            faker_seed=self.faker_seed,
        )


class GatewayAudit:
    """A loopback gateway with a wire recorder, and a ``PrivacyClient`` in front of it.

    Use it as a context manager; :meth:`run` sends one prompt and returns
    what the server received. One prompt at a time: the recorder tells rows
    apart by request id, and checks that nothing else arrived meanwhile.
    """

    def __init__(self, engines: Engines) -> None:
        policy = engines.policy
        self.recorder = WireRecorder()
        self.device = DeviceStandIn()
        # Recipients the policy does not pin are hosted by the gateway, as a deployment would.
        hosted = [
            HostedRecipient.generate(n) for n, r in policy.recipients.items() if not r.key_file
        ]
        self.gateway = BackgroundGateway(
            GatewayServer(EchoUpstream(), hosted, interceptors=[self.recorder])
        )
        self._engines = engines
        self._client: PrivacyClient | None = None

    def __enter__(self) -> GatewayAudit:
        self.gateway.start()
        try:
            engines = self._engines
            self._client = PrivacyClient(
                engines.policy,
                gateway=self.gateway.target,
                local_model=self.device,
                keyset=engines.keyset,
                analyzer=engines.analyzer,
                topic_scorer=engines.topics,
                faker_seed=engines.faker_seed,
            )
        except BaseException:
            self.gateway.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()
        self.gateway.stop()

    def run(self, request_id: object, text: str) -> Audited:
        client = self._client
        assert client is not None, "use GatewayAudit as a context manager"
        mark = self.recorder.count()
        problems: list[str] = []
        sent_id: str | None = None
        entities: tuple[str, ...] = ()
        try:
            reply = client.generate(text)
        except PolicyViolation as refused:
            route, reasons = Route.BLOCK, refused.reasons
            entities = _types(client, text)
        except PrivacyPartitionError as error:
            # The gateway refused or failed: the request may still have arrived.
            route, reasons = Route.BLOCK, (type(error).__name__,)
            problems.append(f"the request failed ({type(error).__name__})")
        else:
            route, reasons, sent_id = reply.route, reply.decision.reasons, reply.request_id
            entities = tuple(reply.decision.entities)
        received = tuple(self.recorder.since(mark))
        cloud_text = None
        if route is Route.CLOUD:
            if len(received) != 1:
                problems.append(f"a cloud-routed prompt reached the server {len(received)} times")
            if any(r.request_id != sent_id for r in received):
                problems.append("the server received a request under another request id")
            if received:
                cloud_text = received[-1].text
        elif received:
            problems.append(f"a prompt routed {route.value} reached the server")
            route, cloud_text = Route.CLOUD, received[-1].text  # report what did leave
        return Audited(request_id, route, cloud_text, entities, reasons, received, tuple(problems))


def _types(client: PrivacyClient, text: str) -> tuple[str, ...]:
    """The entity types of a refused prompt (a refusal carries reasons, not findings)."""
    try:
        return tuple(sorted({f.entity_type for f in client.analyze(text)}))
    except PrivacyPartitionError:
        return ()


# -- the comparison ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """Rows compared, and the ids whose route or cloud text differ between the two paths."""

    rows: int
    route_differs: tuple[object, ...]
    text_differs: tuple[object, ...]

    @property
    def agrees(self) -> bool:
        return not self.route_differs and not self.text_differs


def compare(
    audited: Sequence[Mapping[str, object]], offline: Sequence[Mapping[str, object]]
) -> Comparison:
    """Compare contract rows of the gateway path with those of ``sanitize``, in input order."""
    if [a["id"] for a in audited] != [o["id"] for o in offline]:
        raise ValueError("the two paths answered different ids")
    route_differs = []
    text_differs = []
    for a, o in zip(audited, offline, strict=True):
        if a["route"] != o["route"]:
            route_differs.append(a["id"])
        elif a["cloud_text"] != o["cloud_text"]:
            text_differs.append(a["id"])
    return Comparison(len(audited), tuple(route_differs), tuple(text_differs))


# -- the command ------------------------------------------------------------------


def _ids(ids: Sequence[object]) -> str:
    shown = ", ".join(json.dumps(i) for i in ids[:SHOWN_IDS])
    return shown + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--policy", required=True, type=Path, help="the policy file")
    parser.add_argument(
        "--ner-model", action=argparse.BooleanOptionalAction, default=DEFAULT_NER_MODEL
    )
    parser.add_argument("--models", type=Path, help="the built models (default: as the CLI)")
    parser.add_argument(
        "--compare",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the offline sanitizer and report rows that differ (default: on)",
    )
    parser.add_argument(
        "--faker-seed", type=int, default=DEFAULT_FAKER_SEED, help="one seed for both paths"
    )
    parser.add_argument(
        "--show-text",
        action="store_true",
        help="print both texts of each differing row on stderr (they may hold personal data)",
    )
    args = parser.parse_args(argv)
    try:
        rows = list(read_jsonl_rows(sys.stdin.buffer))
    except InputError as error:
        print(f"gateway_audit: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        engines = Engines.load(
            load_policy(args.policy),
            AnalyzerConfig(ner_model=args.ner_model, model_root=args.models),
            faker_seed=args.faker_seed,
        )
    except PrivacyPartitionError as error:  # a policy, a model or a keyset that will not load
        print(f"gateway_audit: {error}", file=sys.stderr)
        return 2
    loaded_s = time.perf_counter() - started
    audited: list[dict[str, object]] = []
    problems = 0
    with GatewayAudit(engines) as audit:
        for request_id, text in rows:
            row = audit.run(request_id, text)
            out = row.as_dict()
            audited.append(out)
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
            for problem in row.problems:
                problems += 1
                print(f"gateway_audit: id {json.dumps(request_id)}: {problem}", file=sys.stderr)
        received = audit.recorder.count()
    sys.stdout.flush()
    gateway_s = time.perf_counter() - started - loaded_s
    routes = {r.value: sum(a["route"] == r.value for a in audited) for r in Route}
    print(
        f"gateway_audit: {len(rows)} prompts through the gateway in {gateway_s:.1f} s"
        f" (engines {loaded_s:.1f} s): {routes}, {received} requests received,"
        f" {audit.device.calls} answered on the device, {problems} findings",
        file=sys.stderr,
    )
    if args.compare:
        began = time.perf_counter()
        offline = list(engines.sanitizer().iter_jsonl_batches(rows))
        result = compare(audited, offline)
        print(
            f"gateway_audit: compared {result.rows} rows with offline sanitize"
            f" ({time.perf_counter() - began:.1f} s): {len(result.route_differs)} differ in route,"
            f" {len(result.text_differs)} in cloud text",
            file=sys.stderr,
        )
        by_id = {json.dumps(o["id"]): o for o in offline}
        for label, ids in (("route", result.route_differs), ("cloud text", result.text_differs)):
            if ids:
                print(f"gateway_audit: {label} differs for ids {_ids(ids)}", file=sys.stderr)
            if args.show_text:
                for i in ids:
                    mine = next(a for a in audited if a["id"] == i)
                    theirs = by_id[json.dumps(i)]
                    print(
                        f"  id {json.dumps(i)}\n    gateway: {json.dumps(mine, ensure_ascii=False)}"
                        f"\n    offline: {json.dumps(theirs, ensure_ascii=False)}",
                        file=sys.stderr,
                    )
        problems += len(result.route_differs) + len(result.text_differs)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
