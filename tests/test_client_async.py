"""AsyncPrivacyClient on a real gateway on loopback: the same guarantees as PrivacyClient.

The gateway is reached with ``AsyncGatewayClient`` on the test's event loop;
detection runs in worker threads. Each test runs its own loop
(``asyncio.run``), as an app would.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from privacy_partition import AsyncPrivacyClient, PolicyViolation, PrivacyClient, Route
from privacy_partition.cloud import (
    BackgroundGateway,
    Delivery,
    EchoUpstream,
    GatewayServer,
    HostedRecipient,
)
from privacy_partition.detection import Analyzer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"
EMAIL = "dana.whitfield@example.org"
PHONE = "+1 415 555 0100"


@pytest.fixture(scope="module")
def echo() -> EchoUpstream:
    return EchoUpstream(chunk_chars=3)


@pytest.fixture(scope="module")
def opened() -> list[tuple[Delivery, bool]]:
    return []


@pytest.fixture(scope="module")
def gateway(echo: EchoUpstream, opened: list[tuple[Delivery, bool]]) -> Iterator[BackgroundGateway]:
    def on_open(request_id: str, delivery: Delivery, value: str) -> None:
        opened.append((delivery, value == PHONE))

    booking = HostedRecipient.generate("booking", on_open=on_open)
    with BackgroundGateway(GatewayServer(echo, [booking])) as gw:
        yield gw


def _client(analyzer: Analyzer, target: str | None, **kwargs: object) -> AsyncPrivacyClient:
    return AsyncPrivacyClient.from_policy(
        DEFAULT,
        gateway=target,
        analyzer=analyzer,
        **kwargs,  # type: ignore[arg-type]
    )


def test_generate_stream_and_block(
    analyzer: Analyzer, gateway: BackgroundGateway, echo: EchoUpstream
) -> None:
    prompt = f"Write to {EMAIL} and again to {EMAIL} today."

    async def main() -> None:
        async with _client(analyzer, gateway.target) as client:
            reply = await client.generate(prompt)
            assert reply.route is Route.CLOUD
            assert reply.text == prompt
            assert EMAIL not in echo.seen[-1]

            stream = client.stream(prompt)
            assert stream.route is None  # decided at the first piece
            first = await anext(stream)
            assert stream.route is Route.CLOUD
            pieces = [first] + [piece async for piece in stream]
            assert "".join(pieces) == prompt
            assert len(pieces) > 3
            assert not any("<" in piece for piece in pieces)
            assert stream.reply is not None
            assert stream.reply.text == prompt

            with pytest.raises(PolicyViolation) as caught:
                await client.generate("My SSN is 536-22-1234")
            assert "536" not in str(caught.value)
            with pytest.raises(PolicyViolation):
                async for _ in client.stream("My SSN is 536-22-1234"):
                    pass

            findings = await client.analyze(f"Mail {EMAIL}")
            assert [f.entity_type for f in findings] == ["EMAIL_ADDRESS"]
            assert (await client.sanitize(f"Mail {EMAIL}")).cloud_text == "Mail <EMAIL_ADDRESS_1>"
            assert EMAIL not in json.dumps(await client.explain(f"Mail {EMAIL}"))

    asyncio.run(main())


def test_sealed_values_reach_the_recipient_through_the_async_gateway(
    analyzer: Analyzer,
    gateway: BackgroundGateway,
    echo: EchoUpstream,
    opened: list[tuple[Delivery, bool]],
    tmp_path: Path,
) -> None:
    policy = tmp_path / "seal.yaml"
    policy.write_text(
        "apiVersion: privacy-partition/v1\nname: seal\n"
        "entities: {PHONE_NUMBER: {action: seal, recipient: booking}}\n"
        "recipients: {booking: {}}\n"
    )

    async def main() -> None:
        async with AsyncPrivacyClient.from_policy(
            policy, gateway=gateway.target, analyzer=analyzer
        ) as client:
            reply = await client.generate(f"Call {PHONE} to book.")
            assert reply.text == f"Call {PHONE} to book."

    asyncio.run(main())
    assert echo.seen[-1] == "Call <PHONE_NUMBER_1> to book."
    assert opened[-1] == (Delivery("<PHONE_NUMBER_1>", "booking"), True)


def test_a_session_and_concurrent_tasks(
    analyzer: Analyzer, gateway: BackgroundGateway, echo: EchoUpstream
) -> None:
    async def main() -> None:
        async with _client(analyzer, gateway.target) as client:
            session = client.session()
            await session.send(f"My email is {EMAIL}.")
            stream = await session.stream(f"Repeat {EMAIL}.")
            async with stream:
                text = "".join([piece async for piece in stream])
            assert text == f"My email is {EMAIL}.\nRepeat {EMAIL}."
            assert echo.seen[-1] == "My email is <EMAIL_ADDRESS_1>.\nRepeat <EMAIL_ADDRESS_1>."
            assert len(session.messages) == 4

            prompts = [f"Forward note {n} to user{n}@example.org" for n in range(12)]
            replies = await asyncio.gather(*(client.generate(p) for p in prompts))
            assert [r.text for r in replies] == prompts

    asyncio.run(main())


def test_cloud_unavailable_falls_back_as_the_policy_says(analyzer: Analyzer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        target = f"127.0.0.1:{sock.getsockname()[1]}"

    async def main() -> None:
        async with _client(analyzer, target, gateway_timeout_s=5, local_model=False) as client:
            with pytest.raises(PolicyViolation) as caught:
                await client.generate(f"Mail {EMAIL}")
        assert caught.value.reasons[-2:] == (
            "the cloud is unavailable: local (fallback.cloud_unavailable)",
            "the local model is unavailable: block (fallback.local_unavailable)",
        )

    asyncio.run(main())


def test_the_sync_and_async_apis_offer_the_same_names() -> None:
    from privacy_partition.client import (
        AsyncChatSession,
        AsyncReplyStream,
        ChatSession,
        ReplyStream,
    )

    def public(cls: type) -> set[str]:
        return {n for n in dir(cls) if not n.startswith("_")}

    assert public(ChatSession) == public(AsyncChatSession)
    assert public(PrivacyClient) == public(AsyncPrivacyClient)
    # Streams differ only in how they are closed: close() against aclose().
    assert public(ReplyStream) - {"close"} == public(AsyncReplyStream) - {"aclose"}
