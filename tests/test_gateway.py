"""The gateway and its client over a real gRPC server on loopback (no mocks).

Certificates are made at run time; the server listens on 127.0.0.1 with a
port the OS picks.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from privacy_partition._actions import Action, FindingAction
from privacy_partition.cloud import (
    SERVICE_NAME,
    BackgroundGateway,
    ChatMessage,
    Delivery,
    EchoUpstream,
    GatewayClient,
    GatewayInternalError,
    GatewayServer,
    GatewayTimeout,
    GatewayUnavailable,
    GenerationOptions,
    HostedRecipient,
    LoopbackPki,
    MessageTooLarge,
    RequestRejected,
    ResourceExhausted,
    Role,
    ServerLimits,
    UpstreamAnswer,
    UpstreamError,
    UpstreamPiece,
)
from privacy_partition.detection import Finding
from privacy_partition.transform import Keyset, Restorer, Transformer, Vault
from test_cloud_support import FlakyUpstream, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
PHONE = "+1 415 555 0100"
NAME = "Dana Whitfield"


# -- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def pki() -> LoopbackPki:
    return LoopbackPki.generate()


@dataclass
class Opened:
    """What the test's booking hook saw: deliveries, and whether the value was right."""

    deliveries: list[tuple[str, Delivery]]
    matched: list[bool]


@pytest.fixture(scope="module")
def opened() -> Opened:
    return Opened([], [])


@pytest.fixture(scope="module")
def echo() -> EchoUpstream:
    return EchoUpstream(chunk_chars=8)


@pytest.fixture(scope="module")
def booking(opened: Opened) -> HostedRecipient:
    def on_open(request_id: str, delivery: Delivery, value: str) -> None:
        opened.deliveries.append((request_id, delivery))
        opened.matched.append(value == PHONE)  # keep a verdict, never the value

    return HostedRecipient.generate("booking", on_open=on_open)


@pytest.fixture(scope="module")
def tls_gateway(
    pki: LoopbackPki, echo: EchoUpstream, booking: HostedRecipient
) -> Iterator[BackgroundGateway]:
    server = GatewayServer(
        echo,
        [booking],
        tls=pki.server_tls(),
        limits=ServerLimits(max_message_bytes=64 * 1024),
    )
    with BackgroundGateway(server) as gateway:
        yield gateway


@pytest.fixture
def client(pki: LoopbackPki, tls_gateway: BackgroundGateway) -> Iterator[GatewayClient]:
    with GatewayClient(tls_gateway.target, tls=pki.client_tls(), timeout_s=5.0) as client:
        yield client


# -- tests --------------------------------------------------------------------


def test_committed_generated_code_is_current() -> None:
    spec = importlib.util.spec_from_file_location("generate", ROOT / "proto" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.stale_files() == [], "run: python proto/generate.py"


def test_tls_round_trip_with_sealed_value(
    client: GatewayClient, echo: EchoUpstream, opened: Opened
) -> None:
    text = f"Book a table for {NAME}, call {PHONE} to confirm."
    start = text.index(NAME)
    phone = text.index(PHONE)
    actions = [
        FindingAction(
            Finding("PERSON", start, start + len(NAME), 0.9, "test", "en"), Action.REDACT
        ),
        FindingAction(
            Finding("PHONE_NUMBER", phone, phone + len(PHONE), 0.9, "test", "en"),
            Action.SEAL,
            "booking",
        ),
    ]
    keyset = Keyset.generate()
    vault = Vault.request()
    transformer = Transformer(keyset, client.recipients())
    transformed = transformer.apply(text, actions, vault, request_id="req-sealed-1")
    assert len(transformed.sealed) == 1

    answer = client.generate(
        [ChatMessage(Role.USER, transformed.cloud_text)],
        sealed=transformed.sealed,
        policy_name="default",
        request_id="req-sealed-1",
    )

    # The upstream saw only handles.
    assert echo.seen[-1] == transformed.cloud_text
    assert PHONE not in echo.seen[-1]
    assert NAME not in echo.seen[-1]
    assert "<PHONE_NUMBER_1>" in echo.seen[-1]
    assert "<PERSON_1>" in echo.seen[-1]
    # The booking recipient opened the sealed value, and it was the right one.
    delivery = Delivery("<PHONE_NUMBER_1>", "booking")
    assert opened.deliveries[-1] == ("req-sealed-1", delivery)
    assert opened.matched[-1] is True
    assert answer.deliveries == (delivery,)
    # The device restores the answer.
    assert Restorer(vault, keyset).restore(answer.text) == text

    # The same through a stream, restored while it arrives. A sealed value opens once,
    # inside its own request: the stream is another request, so the value is sealed anew.
    streamed = transformer.apply(text, actions, vault, request_id="req-sealed-2")
    assert streamed.cloud_text == transformed.cloud_text
    restoring = Restorer(vault, keyset).stream()
    with client.stream(
        streamed.cloud_text, sealed=streamed.sealed, request_id="req-sealed-2"
    ) as chunks:
        pieces = [restoring.feed(chunk.text) for chunk in chunks]
    assert "".join(pieces) + restoring.finish() == text


def test_health_reports_serving(pki: LoopbackPki, tls_gateway: BackgroundGateway) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=pki.ca)
    options = [("grpc.ssl_target_name_override", "localhost")]
    with grpc.secure_channel(tls_gateway.target, credentials, options=options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "privacy_partition.v1.Gateway"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_invalid_request_is_rejected_without_content(client: GatewayClient) -> None:
    secret = "hunter2-is-my-password"
    with pytest.raises(RequestRejected) as caught:
        client.generate([ChatMessage(Role.USER, secret)], request_id="bad id with spaces")
    assert caught.value.code == "INVALID_ARGUMENT"
    assert secret not in str(caught.value)


def test_oversized_request_fails_before_sending(
    pki: LoopbackPki, tls_gateway: BackgroundGateway
) -> None:
    with (
        GatewayClient(tls_gateway.target, tls=pki.client_tls(), max_message_bytes=1024) as small,
        pytest.raises(MessageTooLarge),
    ):
        small.generate("x" * 2000)


def test_oversized_request_is_refused_by_the_server(client: GatewayClient) -> None:
    # The client allows 4 MiB; this gateway 64 KiB.
    with pytest.raises(MessageTooLarge) as caught:
        client.generate("x" * 100_000)
    assert caught.value.code == "RESOURCE_EXHAUSTED"


# -- streams, deadlines, failures ---------------------------------------------


@pytest.fixture
def slow_gateway() -> Iterator[tuple[BackgroundGateway, EchoUpstream]]:
    upstream = EchoUpstream(chunk_chars=1, delay_s=0.02)
    with BackgroundGateway(GatewayServer(upstream)) as gateway:
        yield gateway, upstream


def test_cancelling_a_stream_stops_the_server(
    slow_gateway: tuple[BackgroundGateway, EchoUpstream],
) -> None:
    gateway, upstream = slow_gateway
    prompt = "y" * 500  # 500 chunks, 10 s at 20 ms each
    with GatewayClient(gateway.target, insecure=True, timeout_s=30) as client:
        stream = client.stream(prompt)
        first = [next(stream), next(stream), next(stream)]
        assert [c.index for c in first] == [0, 1, 2]
        stream.cancel()
        assert list(stream) == []
    assert wait_for(lambda: gateway.server.stats.streams_cancelled == 1)
    sent = upstream.chunks_sent
    time.sleep(0.2)
    assert upstream.chunks_sent == sent < 50  # generation stopped, long before the end
    assert gateway.server.stats.streams_completed == 0


def test_deadline_exceeded(slow_gateway: tuple[BackgroundGateway, EchoUpstream]) -> None:
    gateway, _ = slow_gateway
    with GatewayClient(gateway.target, insecure=True) as client:
        with pytest.raises(GatewayTimeout) as caught:
            list(client.stream("z" * 500, timeout_s=0.2))
        assert caught.value.code == "DEADLINE_EXCEEDED"
        assert isinstance(caught.value, TimeoutError)


def test_server_down_is_a_typed_error() -> None:
    target = f"127.0.0.1:{free_port()}"
    with (
        GatewayClient(target, insecure=True, timeout_s=5) as client,
        pytest.raises(GatewayUnavailable) as caught,
    ):
        client.generate("hello")
    assert caught.value.code == "UNAVAILABLE"


def test_graceful_stop_drains_a_running_stream(
    slow_gateway: tuple[BackgroundGateway, EchoUpstream],
) -> None:
    gateway, _ = slow_gateway
    with GatewayClient(gateway.target, insecure=True) as client:
        stream = client.stream("w" * 20)  # about 0.4 s
        next(stream)
        gateway.stop(grace_s=5.0)
        rest = list(stream)
    assert rest[-1].finish_reason is not None
    assert gateway.server.stats.streams_completed == 1


# -- mTLS ---------------------------------------------------------------------


@pytest.fixture
def mtls_gateway(pki: LoopbackPki) -> Iterator[BackgroundGateway]:
    with BackgroundGateway(GatewayServer(EchoUpstream(), tls=pki.server_tls(mtls=True))) as gateway:
        yield gateway


def test_mtls_accepts_a_client_with_a_certificate(
    pki: LoopbackPki, mtls_gateway: BackgroundGateway
) -> None:
    with GatewayClient(mtls_gateway.target, tls=pki.client_tls(mtls=True), timeout_s=5) as client:
        assert client.generate("hello there").text == "hello there"


def test_mtls_refuses_a_client_without_a_certificate(
    pki: LoopbackPki, mtls_gateway: BackgroundGateway
) -> None:
    with (
        GatewayClient(mtls_gateway.target, tls=pki.client_tls(), timeout_s=5) as client,
        pytest.raises(GatewayUnavailable),
    ):
        client.generate("hello there")


def test_gateway_logs_no_content(client: GatewayClient, caplog: pytest.LogCaptureFixture) -> None:
    """Invariant 3 at the gateway: neither the prompt nor a sealed value reaches a log record."""
    import logging

    canary_text = "canary-prompt-zebra-4417"
    canary_sealed = "+1 212 555 0177"
    text = f"Please remember {canary_text} and call {canary_sealed}."
    phone = text.index(canary_sealed)
    action = FindingAction(
        Finding("PHONE_NUMBER", phone, phone + len(canary_sealed), 0.9, "test", "en"),
        Action.SEAL,
        "booking",
    )
    transformed = Transformer(Keyset.generate(), client.recipients()).apply(
        text, [action], Vault.request(), request_id="req-logs-1"
    )
    with caplog.at_level(logging.DEBUG):
        client.generate(transformed.cloud_text, sealed=transformed.sealed, request_id="req-logs-1")
        with pytest.raises(RequestRejected):  # the same value again: refused, and not logged
            client.generate(
                transformed.cloud_text, sealed=transformed.sealed, request_id="req-logs-1"
            )
        with pytest.raises(RequestRejected):
            client.generate([])
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert canary_text not in logged
    assert canary_sealed not in logged


# -- limits, retries, health, reflection -------------------------------------


def test_calls_over_the_concurrency_limit_are_resource_exhausted() -> None:
    upstream = EchoUpstream(chunk_chars=1, delay_s=0.02)
    limits = ServerLimits(max_concurrent_rpcs=2)
    with (
        BackgroundGateway(GatewayServer(upstream, limits=limits)) as gateway,
        GatewayClient(gateway.target, insecure=True, timeout_s=10) as client,
    ):
        streams = [client.stream("q" * 500) for _ in range(2)]
        for stream in streams:
            next(stream)  # both calls are in flight
        with pytest.raises(ResourceExhausted) as caught:
            client.generate("one too many")
        assert caught.value.code == "RESOURCE_EXHAUSTED"
        for stream in streams:
            stream.cancel()
        # Once the streams are gone, calls are served again.
        assert wait_for(lambda: gateway.server.stats.streams_cancelled == 2)
        assert client.generate("room again").text == "room again"


def test_an_unavailable_from_the_gateway_is_not_sent_again() -> None:
    # The gateway received the call: another attempt could make the upstream answer twice.
    upstream = FlakyUpstream(grpc.StatusCode.UNAVAILABLE, failures=2)
    with (
        BackgroundGateway(GatewayServer(upstream)) as gateway,
        GatewayClient(gateway.target, insecure=True, timeout_s=10, retry_attempts=3) as client,
        pytest.raises(GatewayUnavailable),
    ):
        client.generate("sent once")
    assert upstream.calls == 1


def test_a_call_that_could_not_connect_is_retried_and_succeeds() -> None:
    port = free_port()
    upstream = FlakyUpstream(grpc.StatusCode.UNAVAILABLE, failures=0)
    late = BackgroundGateway(GatewayServer(upstream), address=f"127.0.0.1:{port}")
    starter = threading.Timer(0.15, late.start)
    starter.start()
    try:
        # Nothing listens at first: the first attempts are refused, unsent; one after the
        # gateway is up gets through.
        with GatewayClient(f"127.0.0.1:{port}", insecure=True, timeout_s=10, retry_attempts=5) as c:
            assert c.generate("third time lucky").text == "third time lucky"
    finally:
        starter.join()
        late.stop()
    assert upstream.calls == 1


@pytest.mark.parametrize("attempts", [1, 2, 5])
def test_retries_are_bounded_and_end_by_the_deadline(attempts: int) -> None:
    target = f"127.0.0.1:{free_port()}"
    began = time.monotonic()
    with (
        GatewayClient(target, insecure=True, timeout_s=0.5, retry_attempts=attempts) as client,
        pytest.raises(GatewayUnavailable) as caught,
    ):
        client.generate("nobody listens")
    assert time.monotonic() - began < 1.5
    assert "failed to connect" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhausted),
        (grpc.StatusCode.INVALID_ARGUMENT, RequestRejected),
        (grpc.StatusCode.INTERNAL, GatewayInternalError),
    ],
)
def test_other_failures_are_not_retried(status: grpc.StatusCode, error: type[Exception]) -> None:
    upstream = FlakyUpstream(status, failures=1)
    with (
        BackgroundGateway(GatewayServer(upstream)) as gateway,
        GatewayClient(gateway.target, insecure=True, timeout_s=10) as client,
    ):
        with pytest.raises(error) as caught:
            client.generate("once only")
        assert "flaky upstream, call 1" in str(caught.value)
        assert upstream.calls == 1
        assert gateway.server.stats.upstream_errors == 1


class _Breaking(EchoUpstream):
    """Whole answers fail with an exception that quotes the prompt; streams break midway."""

    async def generate(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> UpstreamAnswer:
        raise RuntimeError(f"cannot answer {messages[0].content}")

    async def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[UpstreamPiece]:
        yield UpstreamPiece("one ")
        yield UpstreamPiece("two ")
        raise UpstreamError("the stream broke", status=grpc.StatusCode.UNAVAILABLE)


def test_an_unknown_upstream_failure_is_internal_without_its_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    canary = "canary-upstream-zebra-9931"
    with (
        BackgroundGateway(GatewayServer(_Breaking())) as gateway,
        GatewayClient(gateway.target, insecure=True, timeout_s=10) as client,
        caplog.at_level(logging.DEBUG),
        pytest.raises(GatewayInternalError) as caught,
    ):
        client.generate(canary)
    assert caught.value.code == "INTERNAL"
    assert canary not in str(caught.value)
    assert canary not in "\n".join(record.getMessage() for record in caplog.records)


def test_a_stream_that_breaks_midway_fails_after_its_pieces() -> None:
    received: list[str] = []
    with (
        BackgroundGateway(GatewayServer(_Breaking())) as gateway,
        GatewayClient(gateway.target, insecure=True, timeout_s=10) as client,
    ):
        with pytest.raises(GatewayUnavailable) as caught, client.stream("anything") as chunks:
            received.extend(chunk.text for chunk in chunks)
        assert "the stream broke" in str(caught.value)
        assert received == ["one ", "two "]  # pieces had arrived: the call was not retried
        assert gateway.server.stats.upstream_errors == 1
        assert gateway.server.stats.streams_completed == 0


def test_reflection_lists_the_gateway(tls_gateway: BackgroundGateway, pki: LoopbackPki) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=pki.ca)
    options = [("grpc.ssl_target_name_override", "localhost")]
    with grpc.secure_channel(tls_gateway.target, credentials, options=options) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(stub.ServerReflectionInfo(iter([request]), timeout=5))
        names = {service.name for service in reply.list_services_response.service}
        assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names
        # The descriptors come through too: a tool like grpcurl can call the gateway.
        pool = DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        methods = {m.name for m in pool.FindServiceByName(SERVICE_NAME).methods}
        assert methods == {"Generate", "GenerateStream", "GetRecipients"}


def test_health_turns_not_serving_when_the_gateway_stops() -> None:
    serving = health_pb2.HealthCheckResponse.SERVING
    gateway = BackgroundGateway(GatewayServer(EchoUpstream())).start()
    with grpc.insecure_channel(gateway.target) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=10
        )
        assert next(watch).status == serving
        stopping = threading.Thread(target=gateway.stop, kwargs={"grace_s": 5.0})
        stopping.start()
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()  # the watch is an in-flight call: the drain waits for it
        stopping.join(timeout=10)
        assert not stopping.is_alive()
