"""Canaries: unique values sent down every path, looked for everywhere they must not be.

A name, an email, a phone number and a card number go through the
Analyzer, the Sanitizer, the ``analyze`` and ``sanitize`` commands and a
``PrivacyClient`` on a real gateway over loopback (cloud, seal, block and
error routes, and a policy that keeps a value). None may appear in a log
record of any logger at DEBUG, an exception (message, repr, traceback, chained
causes), an audit file, gRPC metadata, or what the gateway and the upstream
received, except where the path keeps it on purpose: a ``keep`` action sends
the value, and a sealed value is opened by its recipient. Those two are
checked as positive controls, so that the recorders are known to see content.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import textwrap
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from presidio_analyzer import EntityRecognizer, RecognizerResult

from privacy_partition import InputError, PolicyViolation, PrivacyClient, Route
from privacy_partition._errors import DetectionError, PrivacyPartitionError
from privacy_partition._sanitize import Sanitizer
from privacy_partition.audit import AuditLog, verify
from privacy_partition.cloud import (
    BackgroundGateway,
    ChatMessage,
    EchoUpstream,
    GatewayError,
    GatewayServer,
    GenerationOptions,
    HostedRecipient,
)
from privacy_partition.cloud._types import Delivery
from privacy_partition.cloud._upstream import UpstreamAnswer, UpstreamPiece
from privacy_partition.detection import Analyzer
from privacy_partition.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"

NAME = "Philippa Thistlewood"
EMAIL = "philippa.thistlewood.k9q8@example.org"
PHONE = "212-555-0147"
CARD = "4929 0612 5549 8000"
PROMPT = f"Please email {NAME} at {EMAIL}, call {PHONE} and charge card {CARD}."
# Each value and the parts of it that would give it away, compared case-insensitively
# ("k9q8" cannot occur by chance in a base32 token, a hex digest or a surrogate name).
CANARIES = (NAME, "thistlewood", EMAIL, "k9q8", PHONE, "2125550147", CARD, "4929061255498000")
SSN = "536-22-1234"


def leaked(*texts: object) -> list[str]:
    """The canaries found in ``texts`` (bytes read as Latin-1, anything else as ``str``)."""
    blob = "\n".join(t.decode("latin-1") if isinstance(t, bytes) else str(t) for t in texts).lower()
    return [canary for canary in CANARIES if canary.lower() in blob]


def exception_text(error: BaseException) -> str:
    """Everything an exception shows: traceback with chained causes, and each one's repr."""
    shown = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        shown += [repr(current), repr(current.args), repr(getattr(current, "__notes__", ""))]
        current = current.__cause__ or current.__context__
    return "\n".join(shown)


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Every log record, of every logger at DEBUG (the SDK's content filters stay on)."""
    caplog.set_level(logging.DEBUG)
    handler = _Everything()
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    levels = [(logger, logger.level) for logger in loggers]
    detached = [logger for logger in loggers if not logger.propagate]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    for logger in [root, *detached]:
        logger.addHandler(handler)
    try:
        yield handler.lines
        handler.lines.extend(record.getMessage() for record in caplog.records)
        handler.lines.append(caplog.text)
    finally:
        for logger in [root, *detached]:
            logger.removeHandler(handler)
        for logger, level in levels:
            logger.setLevel(level)


class _ExplodesWithTheText(EntityRecognizer):  # type: ignore[misc]
    """A recognizer whose error quotes the text, as a third-party one might."""

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: object, nlp_artifacts: object = None
    ) -> list[RecognizerResult]:
        if "explode" in text:
            raise RuntimeError(f"cannot read {text!r}")
        return []


@contextmanager
def exploding(analyzer: Analyzer) -> Iterator[None]:
    """The shared Analyzer with a recognizer that fails on 'explode', for one test."""
    recognizers = analyzer._engine.registry.recognizers
    bomb = _ExplodesWithTheText(supported_entities=["X"], supported_language="en", name="Bomb")
    recognizers.append(bomb)
    try:
        yield
    finally:
        recognizers.remove(bomb)


# -- detection and sanitizing in the process ---------------------------------------


def test_the_analyzer_finds_every_canary_and_shows_none(
    analyzer: Analyzer, debug_logs: list[str]
) -> None:
    findings = analyzer.analyze(PROMPT)
    found = {f.entity_type: f.value_in(PROMPT) for f in findings}
    assert found == {
        "PERSON": NAME,
        "EMAIL_ADDRESS": EMAIL,
        "PHONE_NUMBER": PHONE,
        "CREDIT_CARD": CARD,
    }
    assert analyzer.analyze_batch([PROMPT]) == [findings]
    errors = []
    with pytest.raises(InputError) as too_long:
        analyzer.analyze((PROMPT * 30_000)[: analyzer.config.max_chars + 1])
    errors.append(too_long.value)
    with exploding(analyzer), pytest.raises(DetectionError) as failed:
        analyzer.analyze(f"explode {PROMPT}")
    errors.append(failed.value)
    assert leaked(repr(findings), json.dumps([f.as_dict() for f in findings])) == []
    assert leaked(*map(exception_text, errors)) == []
    assert leaked(*debug_logs) == []


def test_the_sanitizer_sends_no_canary_and_says_none(
    analyzer: Analyzer, debug_logs: list[str]
) -> None:
    sanitizer = Sanitizer(load_policy(DEFAULT), analyzer=analyzer)
    with exploding(analyzer):
        results = sanitizer.sanitize_batch(
            [PROMPT, f"{PROMPT} My SSN is {SSN}.", f"explode {PROMPT}"]
        )
    cloud, blocked, failed = results
    assert cloud.route is Route.CLOUD
    assert cloud.cloud_text is not None
    assert (blocked.route, failed.route) == (Route.BLOCK, Route.BLOCK)
    assert failed.reasons == ("detection failed",)
    assert leaked(*(json.dumps(r.as_dict(i)) + repr(r) for i, r in enumerate(results))) == []
    assert leaked(*debug_logs) == []


# -- the commands --------------------------------------------------------------------


def test_the_commands_print_no_canary(tmp_path: Path) -> None:
    rows = [{"id": 1, "text": PROMPT}, {"id": 2, "text": f"{PROMPT} My SSN is {SSN}."}]
    cli = [sys.executable, "-m", "privacy_partition.cli"]
    # Both at once: each builds its own Analyzer.
    analyze = subprocess.Popen(
        [*cli, "analyze", "--no-ner-model", PROMPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    sanitize = subprocess.Popen(
        [*cli, "sanitize", "--jsonl", "--policy", str(DEFAULT), "--no-ner-model"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    sanitized, sanitize_err = sanitize.communicate(
        "".join(json.dumps(row) + "\n" for row in rows).encode(), timeout=300
    )
    analyzed, analyze_err = analyze.communicate(timeout=300)
    assert (analyze.returncode, sanitize.returncode) == (0, 0), analyze_err + sanitize_err
    types = {f["entity_type"] for f in json.loads(analyzed)["findings"]}
    assert {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD"} <= types
    routes = [json.loads(line)["route"] for line in sanitized.splitlines()]
    assert routes == ["cloud", "block"]
    assert leaked(analyzed, analyze_err, sanitized, sanitize_err) == []


# -- the client on a real gateway ------------------------------------------------------


class _Recorder(grpc.aio.ServerInterceptor):
    """Records, on the gateway, every call's method and metadata, and every request."""

    def __init__(self) -> None:
        self.metadata: list[str] = []
        self.requests: list[bytes] = []

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        self.metadata.append(details.method)
        self.metadata += [f"{key}={value!r}" for key, value in details.invocation_metadata or ()]
        handler = await continuation(details)
        if handler is None:
            return handler
        if handler.unary_unary is not None:
            unary = handler.unary_unary

            async def record_unary(request: Any, context: Any) -> Any:
                self.requests.append(request.SerializeToString())
                return await unary(request, context)

            return grpc.unary_unary_rpc_method_handler(
                record_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            streaming = handler.unary_stream

            async def record_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                self.requests.append(request.SerializeToString())
                async for item in streaming(request, context):
                    yield item

            return grpc.unary_stream_rpc_method_handler(
                record_stream, handler.request_deserializer, handler.response_serializer
            )
        return handler

    def clear(self) -> None:
        self.metadata.clear()
        self.requests.clear()


class _FailingUpstream:
    """An upstream whose errors quote what it was sent."""

    async def generate(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> UpstreamAnswer:
        raise RuntimeError(f"cannot answer {messages!r}")

    async def _pieces(self, messages: Sequence[ChatMessage]) -> AsyncIterator[UpstreamPiece]:
        raise RuntimeError(f"cannot answer {messages!r}")
        yield UpstreamPiece("")  # pragma: no cover - makes this an async generator

    def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[UpstreamPiece]:
        return self._pieces(messages)

    async def aclose(self) -> None:
        pass


class _Opened:
    """What the booking recipient received (the one place a sealed value may be opened)."""

    def __init__(self) -> None:
        self.values: list[str] = []

    def __call__(self, request_id: str, delivery: Delivery, value: str) -> None:
        self.values.append(value)


@pytest.fixture(scope="module")
def recorder() -> _Recorder:
    return _Recorder()


@pytest.fixture(scope="module")
def opened() -> _Opened:
    return _Opened()


@contextmanager
def _gateway(upstream: Any, recorder: _Recorder, opened: _Opened) -> Iterator[BackgroundGateway]:
    """A gateway on loopback whose gRPC server runs the recorder among its interceptors."""
    server = GatewayServer(
        upstream,
        [HostedRecipient.generate("booking", on_open=opened)],
        interceptors=[recorder],
    )
    gateway = BackgroundGateway(server).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def echo() -> EchoUpstream:
    return EchoUpstream(chunk_chars=5)


@pytest.fixture(scope="module")
def gateway(
    echo: EchoUpstream, recorder: _Recorder, opened: _Opened
) -> Iterator[BackgroundGateway]:
    with _gateway(echo, recorder, opened) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def failing_gateway(recorder: _Recorder, opened: _Opened) -> Iterator[BackgroundGateway]:
    with _gateway(_FailingUpstream(), recorder, opened) as gateway:
        yield gateway


def _policy(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    header = f"apiVersion: privacy-partition/v1\nname: {name}\nextends: {DEFAULT}\n"
    path.write_text(header + textwrap.dedent(body))
    return path


def _free_target() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _expect_error(kind: type[BaseException], call: Callable[[], object]) -> BaseException:
    with pytest.raises(kind) as caught:
        call()
    return caught.value


def test_the_client_leaks_no_canary_on_any_route(
    analyzer: Analyzer,
    gateway: BackgroundGateway,
    failing_gateway: BackgroundGateway,
    echo: EchoUpstream,
    recorder: _Recorder,
    opened: _Opened,
    tmp_path: Path,
    debug_logs: list[str],
    capfd: pytest.CaptureFixture[str],
) -> None:
    recorder.clear()
    audit = AuditLog(tmp_path / "audit.jsonl")
    sealing = _policy(
        tmp_path,
        "sealing",
        "entities:\n  CREDIT_CARD: {action: seal, recipient: booking}\n"
        "recipients:\n  booking: {description: the booking tool}\n",
    )
    errors: list[BaseException] = []
    seen_before = len(echo.seen)
    with PrivacyClient.from_policy(
        DEFAULT, gateway=gateway.target, analyzer=analyzer, local_model=False, audit=audit
    ) as client:
        # The cloud route: whole, streamed and in a conversation; restored on the device.
        assert client.generate(PROMPT).text == PROMPT
        with client.stream(PROMPT) as pieces:
            assert "".join(pieces) == PROMPT
        chat = client.session()
        assert chat.send(PROMPT).text == PROMPT
        chat.send("Now say it again.")  # the first turn is sent again, transformed
        reply = client.generate(PROMPT)
        # The reply's text is the user's own answer; everything said about it must be clean.
        shown = [repr(reply), json.dumps(reply.decision.as_dict()), repr(client), repr(chat)]
        # Block, and the error routes: a failing detection, an unreachable cloud.
        errors.append(
            _expect_error(PolicyViolation, lambda: client.generate(f"{PROMPT} SSN {SSN}"))
        )
        with exploding(analyzer):
            errors.append(
                _expect_error(PolicyViolation, lambda: client.generate(f"explode {PROMPT}"))
            )
        errors.append(
            _expect_error(InputError, lambda: client.generate([{"role": "x", "content": PROMPT}]))
        )
    for target, kind in ((failing_gateway.target, GatewayError), (_free_target(), PolicyViolation)):
        with PrivacyClient.from_policy(
            DEFAULT,
            gateway=target,
            analyzer=analyzer,
            local_model=False,
            audit=audit,
            gateway_timeout_s=5,
        ) as client:
            errors.append(_expect_error(kind, lambda: client.generate(PROMPT)))
    # Sealed to a recipient the gateway hosts: opened there, and only there.
    with PrivacyClient.from_policy(
        sealing, gateway=gateway.target, analyzer=analyzer, audit=audit
    ) as client:
        assert client.generate(PROMPT).text == PROMPT
    assert opened.values[-1] == CARD
    audit.close()

    upstream_saw = list(echo.seen)[seen_before:]
    assert len(upstream_saw) == 6
    assert leaked(*upstream_saw) == []
    assert leaked(*recorder.requests) == []
    assert len(recorder.requests) >= 7
    assert leaked(*recorder.metadata) == []
    assert "/privacy_partition.v1.Gateway/GenerateStream" in recorder.metadata
    assert leaked(*shown) == []
    assert leaked(*map(exception_text, errors)) == []
    assert all(isinstance(e, PrivacyPartitionError) for e in errors)
    events = (tmp_path / "audit.jsonl").read_bytes()
    assert verify(tmp_path / "audit.jsonl").ok
    assert len(events.splitlines()) == 10
    assert leaked(events) == []
    assert any("privacy_partition.restore DEBUG" in line for line in debug_logs)
    assert leaked(*debug_logs) == []
    assert leaked(*capfd.readouterr()) == []


def test_a_kept_value_is_sent_and_still_never_logged(
    analyzer: Analyzer,
    gateway: BackgroundGateway,
    echo: EchoUpstream,
    recorder: _Recorder,
    tmp_path: Path,
    debug_logs: list[str],
) -> None:
    recorder.clear()
    keeping = _policy(tmp_path, "keeping", "entities:\n  EMAIL_ADDRESS: {action: keep}\n")
    audit = tmp_path / "audit.jsonl"
    with PrivacyClient.from_policy(
        keeping, gateway=gateway.target, analyzer=analyzer, audit=audit
    ) as client:
        assert client.generate(PROMPT).text == PROMPT
    # The positive control: the recorders do see content when content is sent.
    in_the_email = ["thistlewood", EMAIL, "k9q8"]
    assert leaked(echo.seen[-1]) == in_the_email
    assert leaked(*recorder.requests) == in_the_email
    assert leaked(*recorder.metadata) == []
    assert leaked(audit.read_bytes()) == []
    assert leaked(*debug_logs) == []
