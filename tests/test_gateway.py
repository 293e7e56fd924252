"""The gateway and its client over a real gRPC server on loopback (no mocks).

Certificates are made at run time; the server listens on 127.0.0.1 with a
port the OS picks.
"""

from __future__ import annotations

import datetime
import importlib.util
import ipaddress
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from privacy_partition._actions import Action, FindingAction
from privacy_partition.cloud import (
    BackgroundGateway,
    ChatMessage,
    ClientTls,
    Delivery,
    EchoUpstream,
    GatewayClient,
    GatewayServer,
    GatewayTimeout,
    GatewayUnavailable,
    HostedRecipient,
    MessageTooLarge,
    RequestRejected,
    Role,
    ServerLimits,
    ServerTls,
)
from privacy_partition.detection import Finding
from privacy_partition.transform import Keyset, Restorer, Transformer, Vault

ROOT = Path(__file__).resolve().parent.parent
PHONE = "+1 415 555 0100"
NAME = "Dana Whitfield"


# -- certificates -------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: bytes
    server_chain: bytes
    server_key: bytes
    client_chain: bytes
    client_key: bytes


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _issue(
    name: str,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if ca else issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(key if ca else signer, hashes.SHA256()), key


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_cert, ca_key = _issue(
        "test CA", x509.Name([]), ec.generate_private_key(ec.SECP256R1()), ca=True
    )
    server_cert, server_key = _issue("gateway", ca_cert.subject, ca_key, server=True)
    client_cert, client_key = _issue("device", ca_cert.subject, ca_key)
    pem = serialization.Encoding.PEM
    return Pki(
        ca_cert.public_bytes(pem),
        server_cert.public_bytes(pem),
        _pem_key(server_key),
        client_cert.public_bytes(pem),
        _pem_key(client_key),
    )


# -- fixtures -----------------------------------------------------------------


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
    pki: Pki, echo: EchoUpstream, booking: HostedRecipient
) -> Iterator[BackgroundGateway]:
    server = GatewayServer(
        echo,
        [booking],
        tls=ServerTls(pki.server_chain, pki.server_key),
        limits=ServerLimits(max_message_bytes=64 * 1024),
    )
    with BackgroundGateway(server) as gateway:
        yield gateway


@pytest.fixture
def client(pki: Pki, tls_gateway: BackgroundGateway) -> Iterator[GatewayClient]:
    tls = ClientTls(root_certificates=pki.ca, server_name="localhost")
    with GatewayClient(tls_gateway.target, tls=tls, timeout_s=5.0) as client:
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
    transformed = Transformer(keyset, client.recipients()).apply(text, actions, vault)
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

    # The same through a stream, restored while it arrives.
    restoring = Restorer(vault, keyset).stream()
    with client.stream(transformed.cloud_text, sealed=transformed.sealed) as chunks:
        pieces = [restoring.feed(chunk.text) for chunk in chunks]
    assert "".join(pieces) + restoring.finish() == text


def test_health_reports_serving(pki: Pki, tls_gateway: BackgroundGateway) -> None:
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


def test_oversized_request_fails_before_sending(pki: Pki, tls_gateway: BackgroundGateway) -> None:
    tls = ClientTls(root_certificates=pki.ca, server_name="localhost")
    with (
        GatewayClient(tls_gateway.target, tls=tls, max_message_bytes=1024) as small,
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


def _wait_for(condition: object, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


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
    assert _wait_for(lambda: gateway.server.stats.streams_cancelled == 1)
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_server_down_is_a_typed_error() -> None:
    target = f"127.0.0.1:{_free_port()}"
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
def mtls_gateway(pki: Pki) -> Iterator[BackgroundGateway]:
    tls = ServerTls(pki.server_chain, pki.server_key, client_ca=pki.ca)
    with BackgroundGateway(GatewayServer(EchoUpstream(), tls=tls)) as gateway:
        yield gateway


def test_mtls_accepts_a_client_with_a_certificate(
    pki: Pki, mtls_gateway: BackgroundGateway
) -> None:
    tls = ClientTls(pki.ca, pki.client_chain, pki.client_key, server_name="localhost")
    with GatewayClient(mtls_gateway.target, tls=tls, timeout_s=5) as client:
        assert client.generate("hello there").text == "hello there"


def test_mtls_refuses_a_client_without_a_certificate(
    pki: Pki, mtls_gateway: BackgroundGateway
) -> None:
    tls = ClientTls(root_certificates=pki.ca, server_name="localhost")
    with (
        GatewayClient(mtls_gateway.target, tls=tls, timeout_s=5) as client,
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
        text, [action], Vault.request()
    )
    with caplog.at_level(logging.DEBUG):
        client.generate(transformed.cloud_text, sealed=transformed.sealed)
        with pytest.raises(RequestRejected):
            client.generate([])
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert canary_text not in logged
    assert canary_sealed not in logged
