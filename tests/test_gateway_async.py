"""AsyncGatewayClient against a real gateway on loopback: the same guarantees as GatewayClient."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import pytest

from privacy_partition._errors import ConfigurationError
from privacy_partition.cloud import (
    AsyncGatewayClient,
    BackgroundGateway,
    ChatMessage,
    EchoUpstream,
    GatewayServer,
    GatewayTimeout,
    GatewayUnavailable,
    GenerationOptions,
    LoopbackPki,
    MessageTooLarge,
    RequestRejected,
    ResourceExhausted,
    Role,
)
from test_cloud_support import FlakyUpstream, free_port, wait_for


@pytest.fixture(scope="module")
def pki() -> LoopbackPki:
    return LoopbackPki.generate()


@pytest.fixture(scope="module")
def mtls_gateway(pki: LoopbackPki) -> Iterator[BackgroundGateway]:
    server = GatewayServer(EchoUpstream(chunk_chars=4), tls=pki.server_tls(mtls=True))
    with BackgroundGateway(server) as gateway:
        yield gateway


@pytest.fixture
def slow_gateway() -> Iterator[BackgroundGateway]:
    with BackgroundGateway(GatewayServer(EchoUpstream(chunk_chars=1, delay_s=0.02))) as gateway:
        yield gateway


def test_mtls_unary_stream_and_recipients(
    pki: LoopbackPki, mtls_gateway: BackgroundGateway
) -> None:
    async def run() -> None:
        tls = pki.client_tls(mtls=True)
        async with AsyncGatewayClient(mtls_gateway.target, tls=tls, timeout_s=5) as client:
            answer = await client.generate(
                [ChatMessage(Role.SYSTEM, "be brief"), ChatMessage(Role.USER, "hello there")],
                options=GenerationOptions(max_tokens=16),
                request_id="async-1",
            )
            assert (answer.request_id, answer.text) == ("async-1", "hello there")
            async with client.stream("streamed over mTLS") as chunks:
                received = [chunk async for chunk in chunks]
            assert "".join(c.text for c in received) == "streamed over mTLS"
            assert [c.index for c in received] == list(range(len(received)))
            assert received[-1].finish_reason is not None
            assert received[-1].usage is not None
            assert await client.recipients() == {}

    asyncio.run(run())


def test_a_client_without_a_certificate_is_refused(
    pki: LoopbackPki, mtls_gateway: BackgroundGateway
) -> None:
    async def run() -> None:
        async with AsyncGatewayClient(
            mtls_gateway.target, tls=pki.client_tls(), timeout_s=5
        ) as client:
            with pytest.raises(GatewayUnavailable):
                await client.generate("hello")

    asyncio.run(run())


def test_leaving_a_stream_early_stops_the_server(slow_gateway: BackgroundGateway) -> None:
    async def run() -> None:
        async with AsyncGatewayClient(slow_gateway.target, insecure=True) as client:
            async with client.stream("y" * 500) as chunks:  # 10 s at 20 ms a chunk
                assert [(await anext(chunks)).index for _ in range(3)] == [0, 1, 2]
            # After the block the stream is cancelled: iteration simply ends.
            assert [chunk async for chunk in chunks] == []

    asyncio.run(run())
    stats = slow_gateway.server.stats
    assert wait_for(lambda: stats.streams_cancelled == 1)
    assert stats.streams_completed == 0


def test_deadline_and_rejections_are_typed(slow_gateway: BackgroundGateway) -> None:
    async def run() -> None:
        async with AsyncGatewayClient(
            slow_gateway.target, insecure=True, max_message_bytes=4096
        ) as client:
            with pytest.raises(GatewayTimeout) as timeout:
                async for _ in client.stream("z" * 500, timeout_s=0.2):
                    pass
            assert timeout.value.code == "DEADLINE_EXCEEDED"
            secret = "hunter2-is-my-password"
            with pytest.raises(RequestRejected) as rejected:
                await client.generate(secret, request_id="bad id")
            assert secret not in str(rejected.value)
            with pytest.raises(MessageTooLarge):
                await client.generate("x" * 5000)  # refused here, before it is sent

    asyncio.run(run())


def test_what_reached_the_gateway_is_not_sent_again() -> None:
    async def call(gateway: BackgroundGateway) -> str:
        async with AsyncGatewayClient(gateway.target, insecure=True, timeout_s=10) as client:
            return (await client.generate("retry me")).text

    # UNAVAILABLE from the gateway: it received the call, so the upstream answers it once.
    flaky = FlakyUpstream(grpc.StatusCode.UNAVAILABLE, failures=1)
    with BackgroundGateway(GatewayServer(flaky)) as gateway, pytest.raises(GatewayUnavailable):
        asyncio.run(call(gateway))
    assert flaky.calls == 1

    busy = FlakyUpstream(grpc.StatusCode.RESOURCE_EXHAUSTED, failures=1)
    with BackgroundGateway(GatewayServer(busy)) as gateway, pytest.raises(ResourceExhausted):
        asyncio.run(call(gateway))
    assert busy.calls == 1


def test_server_down_is_unavailable() -> None:
    async def run() -> None:
        async with AsyncGatewayClient(f"127.0.0.1:{free_port()}", insecure=True) as client:
            with pytest.raises(GatewayUnavailable) as caught:
                await client.generate("anyone there?")
            assert caught.value.code == "UNAVAILABLE"

    asyncio.run(run())


def test_a_graceful_stop_drains_an_async_stream(slow_gateway: BackgroundGateway) -> None:
    async def run() -> list[str]:
        async with AsyncGatewayClient(slow_gateway.target, insecure=True) as client:
            chunks = client.stream("w" * 20)  # about 0.4 s
            first = await anext(chunks)
            await asyncio.to_thread(slow_gateway.stop, 5.0)
            return [first.text] + [chunk.text async for chunk in chunks]

    assert "".join(asyncio.run(run())) == "w" * 20
    assert slow_gateway.server.stats.streams_completed == 1


def test_settings_are_validated_like_the_sync_client() -> None:
    with pytest.raises(ConfigurationError):
        AsyncGatewayClient("127.0.0.1:1")  # neither tls nor insecure
    with pytest.raises(ConfigurationError):
        AsyncGatewayClient("127.0.0.1:1", insecure=True, retry_attempts=9)
