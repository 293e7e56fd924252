"""Fault injection: one test per fault, through a real PrivacyClient and a real gateway.

Each test injects one fault (the gateway down or slow, an upstream that errs,
answers garbage or forged handles, breaks a stream, answers too much; the
local model missing or corrupt; a broken policy file; a broken keyset) and
checks four things:

* the client does what the policy promises (``policies/default.yaml``:
  ``cloud_unavailable: local, local_unavailable: block``; the clients have no
  local model, ``local_model=False``, unless a test gives one);
* nothing raw left the device: the upstream double records every prompt it
  received, and the planted values are not in it;
* no crash: the outcome is an answer or a ``PrivacyPartitionError``;
* an audit event was written once the client got as far as deciding.

The upstream doubles implement the public ``Upstream`` protocol and run
behind the reference ``GatewayServer`` on loopback. ``docs/faults.md`` is
the table of what these tests assert.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from privacy_partition import (
    AsyncPrivacyClient,
    ConfigurationError,
    KeysetError,
    ModelError,
    PolicyError,
    PolicyViolation,
    PrivacyClient,
    PrivacyPartitionError,
    Route,
)
from privacy_partition.audit import verify
from privacy_partition.cloud import (
    BackgroundGateway,
    ChatMessage,
    FinishReason,
    GatewayClient,
    GatewayError,
    GatewayInternalError,
    GatewayServer,
    GatewayUnavailable,
    GenerationOptions,
    MessageTooLarge,
    ResourceExhausted,
    ServerLimits,
    UpstreamAnswer,
    UpstreamError,
    UpstreamPiece,
    Usage,
)
from privacy_partition.detection import Analyzer
from privacy_partition.policy import load_policy
from privacy_partition.transform import Keyset

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"
EMAIL = "dana.whitfield@example.org"
PHONE = "212-555-0199"
NHS = "943 476 5919"
PROMPT = f"Please write to {EMAIL} about the offsite."
PLANTED = (EMAIL, PHONE, NHS, "943")
# An audit event holds random hex ids and timings, where three digits turn up by chance
# ("c1b0629da93943ef..."): it is checked for the whole values.
PLANTED_WHOLE = (EMAIL, PHONE, NHS)


# -- the upstream double ---------------------------------------------------------


Answer = Callable[[str], str]


class Scripted:
    """An ``Upstream`` that records what it received and misbehaves as told.

    ``answer`` maps the prompt it received to the text it answers;
    ``delay_s`` sleeps before answering; ``fail`` is raised instead of
    answering; ``pieces`` are streamed, then ``fail`` (if any) is raised.
    """

    def __init__(
        self,
        *,
        answer: Answer = lambda prompt: prompt,
        delay_s: float = 0.0,
        fail: BaseException | None = None,
        pieces: Sequence[str] | None = None,
    ) -> None:
        self.answer = answer
        self._delay_s = delay_s
        self._fail = fail
        self.pieces = pieces
        self.seen: list[str] = []

    def _record(self, messages: Sequence[ChatMessage]) -> str:
        prompt = "\n".join(m.content for m in messages)
        self.seen.append(prompt)
        return prompt

    async def generate(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> UpstreamAnswer:
        prompt = self._record(messages)
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        if self._fail is not None:
            raise self._fail
        return UpstreamAnswer(self.answer(prompt), FinishReason.STOP, Usage(1, 1))

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[UpstreamPiece]:
        prompt = self._record(messages)
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        pieces = self.pieces if self.pieces is not None else [self.answer(prompt)]
        for piece in pieces:
            yield UpstreamPiece(piece)
        if self._fail is not None:
            raise self._fail
        yield UpstreamPiece("", FinishReason.STOP, Usage(1, 1))

    async def aclose(self) -> None:
        """Nothing to release."""


# -- helpers -----------------------------------------------------------------------


@contextmanager
def _serve(upstream: Scripted, limits: ServerLimits | None = None) -> Iterator[BackgroundGateway]:
    limits = limits or ServerLimits(shutdown_grace_s=0.5)
    with BackgroundGateway(GatewayServer(upstream, limits=limits)) as gateway:
        yield gateway


def _policy(tmp_path: Path, body: str, name: str = "faults") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"apiVersion: privacy-partition/v1\nname: {name}\n" + textwrap.dedent(body))
    return path


def _refusing(tmp_path: Path) -> Path:
    """The default policy, except that an unreachable cloud refuses the request."""
    return _policy(
        tmp_path, f"extends: {DEFAULT}\ntests: []\nfallback: {{cloud_unavailable: block}}\n"
    )


def _free_target() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _events(audit: Path) -> list[dict[str, Any]]:
    if not audit.exists():
        return []
    events = [json.loads(line)["event"] for line in audit.read_text().splitlines()]
    assert verify(audit).ok
    for event in events:  # an audit event never holds a value
        assert not any(value in json.dumps(event) for value in PLANTED_WHOLE)
    return events


def _nothing_raw(upstream: Scripted) -> None:
    for prompt in upstream.seen:
        for value in PLANTED:
            assert value not in prompt


def _attempt(call: Callable[[], Any]) -> Any:
    """Run ``call``: its result, or the SDK's typed error. Anything else fails the test."""
    try:
        return call()
    except PrivacyPartitionError as error:
        return error


def _streamed(client: PrivacyClient, prompt: str) -> tuple[list[str], Any]:
    received: list[str] = []

    def run() -> None:
        with client.stream(prompt) as pieces:
            received.extend(pieces)

    return received, _attempt(run)


# -- the gateway ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "fallbacks"),
    [
        ("default", ["cloud_unavailable->local", "local_unavailable->block"]),
        ("refusing", ["cloud_unavailable->block"]),
    ],
)
def test_gateway_down(
    analyzer: Analyzer, tmp_path: Path, policy: str, fallbacks: list[str]
) -> None:
    audit = tmp_path / "audit.jsonl"
    path = DEFAULT if policy == "default" else _refusing(tmp_path)
    with PrivacyClient.from_policy(
        path,
        gateway=_free_target(),
        analyzer=analyzer,
        local_model=False,
        audit=audit,
        gateway_timeout_s=2,
    ) as client:
        outcome = _attempt(lambda: client.generate(PROMPT))
    assert isinstance(outcome, PolicyViolation)
    assert "the cloud is unavailable" in " ".join(outcome.reasons)
    assert EMAIL not in str(outcome)
    [event] = _events(audit)
    assert (event["decided_route"], event["route"], event["outcome"]) == (
        "cloud",
        "block",
        "refused",
    )
    assert event["fallbacks"] == fallbacks


def test_gateway_slow_past_the_deadline(analyzer: Analyzer, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    upstream = Scripted(delay_s=2.5)
    with (
        _serve(upstream) as gateway,
        PrivacyClient.from_policy(
            DEFAULT,
            gateway=gateway.target,
            analyzer=analyzer,
            local_model=False,
            audit=audit,
            gateway_timeout_s=1,
        ) as client,
    ):
        outcome = _attempt(lambda: client.generate(PROMPT))
    assert isinstance(outcome, PolicyViolation)  # deadline -> local -> no model -> block
    assert upstream.seen == ["Please write to <EMAIL_ADDRESS_1> about the offsite."]
    _nothing_raw(upstream)
    [event] = _events(audit)
    assert event["fallbacks"] == ["cloud_unavailable->local", "local_unavailable->block"]
    assert event["outcome"] == "refused"


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        (UpstreamError("the model failed"), GatewayInternalError),
        (RuntimeError(f"boom quoting {EMAIL}"), GatewayInternalError),
        (UpstreamError("overloaded", status=grpc.StatusCode.UNAVAILABLE), PolicyViolation),
    ],
    ids=["upstream-error-internal", "plain-exception", "upstream-error-unavailable"],
)
def test_upstream_erroring(
    analyzer: Analyzer, tmp_path: Path, fail: BaseException, expected: type[Exception]
) -> None:
    audit = tmp_path / "audit.jsonl"
    upstream = Scripted(fail=fail)
    with (
        _serve(upstream) as gateway,
        PrivacyClient.from_policy(
            DEFAULT,
            gateway=gateway.target,
            analyzer=analyzer,
            local_model=False,
            audit=audit,
            gateway_timeout_s=5,
        ) as client,
    ):
        outcome = _attempt(lambda: client.generate(PROMPT))
    assert type(outcome) is expected
    assert EMAIL not in str(outcome)
    # Called once, with the transformed prompt only: an UNAVAILABLE the gateway returned
    # may have reached the upstream, so it is never sent again.
    assert len(upstream.seen) == 1
    _nothing_raw(upstream)
    [event] = _events(audit)
    if expected is PolicyViolation:  # UNAVAILABLE: the cloud cannot be reached, fall back
        assert event["outcome"] == "refused"
        assert event["fallbacks"] == ["cloud_unavailable->local", "local_unavailable->block"]
    else:  # INTERNAL: no fallback covers it, raised
        assert event["outcome"] == "failed"
        assert event["error"] == "GatewayInternalError"
        assert event["fallbacks"] == []


def _garbage(seed: int) -> str:
    rng = random.Random(seed)
    raw = bytes(rng.randrange(256) for _ in range(512)).decode("utf-8", errors="replace")
    junk = "\x00\u202e\ufeff\U0001f600\u0301<<>>< EMAIL_ADDRESS_1>&#60;<EMAIL_ADDRESS_>"
    # The one handle this request issued, buried in junk: it alone is restored.
    return f"{raw}{junk}<EMAIL_ADDRESS_1>{raw[::-1]}<"


@pytest.mark.parametrize("streaming", [False, True], ids=["generate", "stream"])
def test_upstream_answers_garbage(analyzer: Analyzer, tmp_path: Path, streaming: bool) -> None:
    audit = tmp_path / "audit.jsonl"
    garbage = _garbage(7)
    pieces = [garbage[i : i + 5] for i in range(0, len(garbage), 5)]
    upstream = Scripted(answer=lambda _: garbage, pieces=pieces if streaming else None)
    with (
        _serve(upstream) as gateway,
        PrivacyClient.from_policy(
            DEFAULT,
            gateway=gateway.target,
            analyzer=analyzer,
            local_model=False,
            audit=audit,
            gateway_timeout_s=5,
        ) as client,
    ):
        if streaming:
            received, outcome = _streamed(client, PROMPT)
            assert outcome is None
            text = "".join(received)
        else:
            reply = _attempt(lambda: client.generate(PROMPT))
            assert reply.route is Route.CLOUD
            text = reply.text
    assert text == garbage.replace("<EMAIL_ADDRESS_1>", EMAIL)
    _nothing_raw(upstream)
    [event] = _events(audit)
    assert (event["route"], event["outcome"], event["fallbacks"]) == ("cloud", "answered", [])


@pytest.mark.parametrize("streaming", [False, True], ids=["generate", "stream"])
def test_upstream_answers_forged_handles(
    analyzer: Analyzer, tmp_path: Path, streaming: bool
) -> None:
    audit = tmp_path / "audit.jsonl"
    card = "Charge my card 4111 1111 1111 1111 for the hotel."
    with PrivacyClient.from_policy(
        DEFAULT, analyzer=analyzer, local_model=False, keyset=Keyset.generate()
    ) as other:
        wrong_key = other.sanitize(card).cloud_text
    assert wrong_key is not None
    assert "4111" not in wrong_key
    # The request's prompt has a phone number only: <PHONE_NUMBER_1> is the one handle issued.
    forged = f"<PERSON_7> wrote to <EMAIL_ADDRESS_1>; <PHONE_NUMBER_2>; {wrong_key}"
    upstream = Scripted(
        answer=lambda _: forged, pieces=[forged[i : i + 3] for i in range(0, len(forged), 3)]
    )
    if not streaming:
        upstream.pieces = None
    with (
        _serve(upstream) as gateway,
        PrivacyClient.from_policy(
            DEFAULT,
            gateway=gateway.target,
            analyzer=analyzer,
            local_model=False,
            audit=audit,
            gateway_timeout_s=5,
        ) as client,
    ):
        # A token the client's own key made, in another request's vault: not restored either.
        same_key = client.sanitize(card).cloud_text
        assert same_key is not None
        forged_too = f"{forged} {same_key}"
        upstream.answer = lambda _: forged_too
        if streaming:
            upstream.pieces = [forged_too[i : i + 3] for i in range(0, len(forged_too), 3)]
            received, outcome = _streamed(client, f"Call me at {PHONE} tomorrow.")
            assert outcome is None
            text = "".join(received)
        else:
            text = _attempt(lambda: client.generate(f"Call me at {PHONE} tomorrow.")).text
    assert text == forged_too  # left as written: nothing restored to any value
    assert PHONE not in text
    assert "4111" not in text
    _nothing_raw(upstream)
    [event] = _events(audit)
    assert (event["route"], event["outcome"]) == ("cloud", "answered")


def test_stream_cut_after_two_pieces_raises(analyzer: Analyzer, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    cut = UpstreamError("the stream broke", status=grpc.StatusCode.UNAVAILABLE)
    upstream = Scripted(pieces=["one ", "two "], fail=cut)
    with (
        _serve(upstream) as gateway,
        PrivacyClient.from_policy(
            DEFAULT,
            gateway=gateway.target,
            analyzer=analyzer,
            local_model=False,
            audit=audit,
            gateway_timeout_s=5,
        ) as client,
    ):
        received, outcome = _streamed(client, PROMPT)
    assert received == ["one ", "two "]
    # Pieces were shown: a fallback would repeat them, so the failure is raised.
    assert isinstance(outcome, GatewayUnavailable)
    assert len(upstream.seen) == 1  # not retried once pieces had arrived
    _nothing_raw(upstream)
    [event] = _events(audit)
    assert (event["outcome"], event["error"], event["fallbacks"]) == (
        "failed",
        "GatewayUnavailable",
        [],
    )


def test_stream_cut_before_the_first_piece_falls_back(analyzer: Analyzer, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    cut = UpstreamError("the stream broke", status=grpc.StatusCode.UNAVAILABLE)
    upstream = Scripted(pieces=[], fail=cut)
    with (
        _serve(upstream) as gateway,
        PrivacyClient.from_policy(
            DEFAULT,
            gateway=gateway.target,
            analyzer=analyzer,
            local_model=False,
            audit=audit,
            gateway_timeout_s=5,
        ) as client,
    ):
        received, outcome = _streamed(client, PROMPT)
    assert received == []
    assert isinstance(outcome, PolicyViolation)  # cloud_unavailable -> local -> block
    _nothing_raw(upstream)
    [event] = _events(audit)
    assert event["outcome"] == "refused"
    assert event["fallbacks"] == ["cloud_unavailable->local", "local_unavailable->block"]


@pytest.mark.parametrize("side", ["gateway-limit", "client-limit"])
def test_huge_response(analyzer: Analyzer, tmp_path: Path, side: str) -> None:
    audit = tmp_path / "audit.jsonl"
    limit = 64 * 1024
    upstream = Scripted(answer=lambda _: "x" * (4 * limit))
    limits = ServerLimits(shutdown_grace_s=0.5)
    if side == "gateway-limit":
        limits = ServerLimits(max_message_bytes=limit, shutdown_grace_s=0.5)
    with _serve(upstream, limits) as gateway:
        channel = GatewayClient(
            gateway.target,
            insecure=True,
            timeout_s=5,
            max_message_bytes=limit if side == "client-limit" else 4 * 1024 * 1024,
        )
        with (
            channel,
            PrivacyClient.from_policy(
                DEFAULT, gateway=channel, analyzer=analyzer, local_model=False, audit=audit
            ) as client,
        ):
            outcome = _attempt(lambda: client.generate(PROMPT))
    # RESOURCE_EXHAUSTED from whichever side refused the message: a typed error, raised.
    assert isinstance(outcome, MessageTooLarge)
    assert isinstance(outcome, ResourceExhausted)
    assert isinstance(outcome, GatewayError)
    _nothing_raw(upstream)
    [event] = _events(audit)
    assert event["outcome"] == "failed"
    assert event["error"] == type(outcome).__name__


# -- no hang, no duplicate send ---------------------------------------------------------


def _answer_async(client: AsyncPrivacyClient, prompt: str, streaming: bool) -> Any:
    """``generate`` or a whole stream on ``client``, run to the end: the text or the SDK error."""

    async def run() -> Any:
        async with client:
            try:
                if not streaming:
                    return (await client.generate(prompt)).text
                async with client.stream(prompt) as pieces:
                    return "".join([piece async for piece in pieces])
            except PrivacyPartitionError as error:
                return error

    return asyncio.run(run())


def _answer(client: PrivacyClient, prompt: str, streaming: bool) -> Any:
    if not streaming:
        return _attempt(lambda: client.generate(prompt).text)
    received, outcome = _streamed(client, prompt)
    return outcome if outcome is not None else "".join(received)


def _client_for(kind: str, target: str, audit: Path, analyzer: Analyzer, timeout_s: float) -> Any:
    factory = AsyncPrivacyClient if kind == "async" else PrivacyClient
    return factory.from_policy(
        DEFAULT,
        gateway=target,
        analyzer=analyzer,
        local_model=False,
        audit=audit,
        gateway_timeout_s=timeout_s,
    )


def _run(client: Any, prompt: str, streaming: bool) -> Any:
    if isinstance(client, AsyncPrivacyClient):
        return _answer_async(client, prompt, streaming)
    with client:
        return _answer(client, prompt, streaming)


@pytest.mark.parametrize("streaming", [False, True], ids=["generate", "stream"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_upstream_unavailable_is_sent_once(
    analyzer: Analyzer, tmp_path: Path, kind: str, streaming: bool
) -> None:
    audit = tmp_path / "audit.jsonl"
    unavailable = UpstreamError("overloaded", status=grpc.StatusCode.UNAVAILABLE)
    upstream = Scripted(fail=unavailable, pieces=[])
    with _serve(upstream) as gateway:
        # Retries on (the default, 3 attempts): the gateway answered, so none is made.
        client = _client_for(kind, gateway.target, audit, analyzer, timeout_s=5)
        outcome = _run(client, PROMPT, streaming)
        requests = gateway.server.stats.requests
    assert isinstance(outcome, PolicyViolation)  # cloud_unavailable -> local -> block
    assert requests == 1
    assert upstream.seen == ["Please write to <EMAIL_ADDRESS_1> about the offsite."]
    _nothing_raw(upstream)
    [event] = _events(audit)
    assert event["outcome"] == "refused"
    assert event["fallbacks"] == ["cloud_unavailable->local", "local_unavailable->block"]


# A gateway in its own process, so that it can die as a process does (SIGKILL): its
# upstream prints each prompt it receives as a JSON line, then never answers.
_MORTAL_GATEWAY = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from privacy_partition.cloud import BackgroundGateway, GatewayServer, ServerLimits

    class Silent:
        async def generate(self, messages, options):
            print(json.dumps([m.content for m in messages]), flush=True)
            await asyncio.sleep(3600)

        async def stream(self, messages, options):
            print(json.dumps([m.content for m in messages]), flush=True)
            await asyncio.sleep(3600)
            yield None

        async def aclose(self):
            pass

    gateway = BackgroundGateway(GatewayServer(Silent(), limits=ServerLimits())).start()
    print(gateway.target, flush=True)
    time.sleep(3600)
    """
)


@pytest.mark.parametrize("streaming", [False, True], ids=["generate", "stream"])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_gateway_killed_before_the_first_piece_falls_back_within_the_deadline(
    analyzer: Analyzer, tmp_path: Path, kind: str, streaming: bool
) -> None:
    audit = tmp_path / "audit.jsonl"
    deadline_s = 3.0
    process = subprocess.Popen(
        [sys.executable, "-c", _MORTAL_GATEWAY], stdout=subprocess.PIPE, text=True
    )
    seen: list[list[str]] = []
    try:
        assert process.stdout is not None
        target = process.stdout.readline().strip()
        assert target.startswith("127.0.0.1:")

        def kill_on_first_prompt() -> None:
            assert process.stdout is not None
            seen.append(json.loads(process.stdout.readline()))
            os.kill(process.pid, signal.SIGKILL)
            seen.extend(json.loads(line) for line in process.stdout)

        killer = threading.Thread(target=kill_on_first_prompt, daemon=True)
        killer.start()
        # Retries on (the default, 3 attempts): they must neither outlive the deadline
        # nor send the prompt to whatever listens on the port next.
        client = _client_for(kind, target, audit, analyzer, timeout_s=deadline_s)
        began = time.monotonic()
        outcome = _run(client, PROMPT, streaming)
        took = time.monotonic() - began
        killer.join(timeout=5)
    finally:
        process.kill()
        process.wait(timeout=10)
    assert took < deadline_s + 1.0
    assert isinstance(outcome, PolicyViolation)  # the fallback ran: local -> no model -> block
    assert "the cloud is unavailable" in " ".join(outcome.reasons)
    assert seen == [["Please write to <EMAIL_ADDRESS_1> about the offsite."]]
    [event] = _events(audit)
    assert event["outcome"] == "refused"
    assert event["fallbacks"] == ["cloud_unavailable->local", "local_unavailable->block"]


# -- the local model ----------------------------------------------------------------


def test_local_model_missing(analyzer: Analyzer, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    upstream = Scripted()
    with (
        _serve(upstream) as gateway,
        PrivacyClient.from_policy(
            DEFAULT,
            gateway=gateway.target,
            analyzer=analyzer,
            local_model=False,
            audit=audit,
            gateway_timeout_s=5,
        ) as client,
    ):
        outcome = _attempt(lambda: client.generate(f"My NHS number is {NHS}."))
        requests = gateway.server.stats.requests
    assert isinstance(outcome, PolicyViolation)
    assert "the local model is unavailable: block (fallback.local_unavailable)" in outcome.reasons
    assert "943" not in str(outcome)
    assert upstream.seen == []
    assert requests == 0
    [event] = _events(audit)
    assert (event["decided_route"], event["route"], event["outcome"]) == (
        "local",
        "block",
        "refused",
    )
    assert event["fallbacks"] == ["local_unavailable->block"]


@pytest.mark.parametrize("corruption", ["garbage-config", "garbage-model", "empty-folder"])
def test_local_model_corrupt(analyzer: Analyzer, tmp_path: Path, corruption: str) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    if corruption == "garbage-config":
        (folder / "genai_config.json").write_bytes(b"\x00\xff{not json at all")
    elif corruption == "garbage-model":
        config = {
            "model": {
                "type": "phi3",
                "context_length": 512,
                "vocab_size": 32,
                "bos_token_id": 1,
                "eos_token_id": 2,
                "pad_token_id": 0,
                "decoder": {
                    "filename": "model.onnx",
                    "head_size": 8,
                    "hidden_size": 32,
                    "num_attention_heads": 4,
                    "num_hidden_layers": 1,
                    "num_key_value_heads": 4,
                    "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask"},
                    "outputs": {"logits": "logits"},
                    "session_options": {},
                },
            },
            "search": {"max_length": 64},
        }
        (folder / "genai_config.json").write_text(json.dumps(config))
        (folder / "model.onnx").write_bytes(random.Random(3).randbytes(4096))
        (folder / "tokenizer.json").write_text("{garbage")
    audit = tmp_path / "audit.jsonl"
    upstream = Scripted()
    with _serve(upstream) as gateway:
        outcome = _attempt(
            lambda: PrivacyClient.from_policy(
                DEFAULT, gateway=gateway.target, local_model=folder, analyzer=analyzer, audit=audit
            )
        )
        requests = gateway.server.stats.requests
    # Refused at construction: a client is never built around a model that cannot load.
    assert isinstance(outcome, ModelError)
    assert requests == 0
    assert upstream.seen == []
    assert _events(audit) == []  # no request was made, so nothing to audit


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("routing:\n  - {name: default, route: cloud\nfallback: {}\n", 7),  # unclosed flow map
        ("fallback:\n  cloud_unavailable: local\n   local_unavailable: block\n", 7),  # indent
        ("fallback: {cloud_unavailable: teleport}\n", 5),  # not a route
    ],
    ids=["unclosed-bracket", "bad-indentation", "invalid-value"],
)
def test_policy_file_broken(analyzer: Analyzer, tmp_path: Path, body: str, line: int) -> None:
    path = _policy(tmp_path, f"extends: {DEFAULT}\ntests: []\n{body}")
    audit = tmp_path / "audit.jsonl"
    upstream = Scripted()
    with _serve(upstream) as gateway:
        loaded = _attempt(lambda: load_policy(path))
        built = _attempt(
            lambda: PrivacyClient.from_policy(
                path, gateway=gateway.target, analyzer=analyzer, local_model=False, audit=audit
            )
        )
        requests = gateway.server.stats.requests
    for error in (loaded, built):
        assert isinstance(error, PolicyError)
        assert error.path is not None
        assert Path(error.path).name == path.name
        assert error.line is not None
        assert error.column is not None
        assert str(error).startswith(f"{error.path}:{error.line}:{error.column}: ")
        assert error.line == line, str(error)
    assert requests == 0
    assert upstream.seen == []
    assert _events(audit) == []


@pytest.mark.parametrize("value", ["", "not a keyset {", '{"version": 1, "primary": "x"}'])
def test_keyset_missing_or_garbage(
    analyzer: Analyzer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PRIVACY_PARTITION_KEYSET", value)
    audit = tmp_path / "audit.jsonl"
    upstream = Scripted()
    with _serve(upstream) as gateway:
        outcome = _attempt(
            lambda: PrivacyClient.from_policy(
                DEFAULT, gateway=gateway.target, analyzer=analyzer, local_model=False, audit=audit
            )
        )
        requests = gateway.server.stats.requests
    assert isinstance(outcome, KeysetError)
    assert isinstance(outcome, ConfigurationError)
    if value:
        assert value not in str(outcome)  # never quotes what it was given
    assert requests == 0
    assert upstream.seen == []
    assert _events(audit) == []
