"""PrivacyClient with the real local model (SmolLM2 int8, onnxruntime-genai) and a loopback gateway.

The local route answers the original prompt on the device; the cloud route's
fallback lands there too. Greedy decoding makes the model's answers
repeatable, so a reply can be compared with the model's own answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from privacy_partition import AsyncPrivacyClient, PrivacyClient, Route
from privacy_partition.cloud import (
    BackgroundGateway,
    EchoUpstream,
    GatewayServer,
    GenerationOptions,
)
from privacy_partition.detection import Analyzer
from privacy_partition.local import LocalModel, smollm2_folder

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"
SHORT = GenerationOptions(max_tokens=12)
NHS = "My NHS number is 943 476 5919. Which clinic should I call?"
EMAIL = "dana.whitfield@example.org"


@pytest.fixture(scope="module")
def model() -> LocalModel:
    return LocalModel(smollm2_folder())


@pytest.fixture(scope="module")
def echo() -> EchoUpstream:
    return EchoUpstream(chunk_chars=4)


@pytest.fixture(scope="module")
def gateway(echo: EchoUpstream) -> Iterator[BackgroundGateway]:
    with BackgroundGateway(GatewayServer(echo)) as gw:
        yield gw


@pytest.fixture(scope="module")
def client(
    analyzer: Analyzer, gateway: BackgroundGateway, model: LocalModel
) -> Iterator[PrivacyClient]:
    with PrivacyClient.from_policy(
        DEFAULT, gateway=gateway.target, local_model=model, analyzer=analyzer, options=SHORT
    ) as client:
        yield client


def _own_answer(model: LocalModel, prompt: str) -> str:
    return model.generate([{"role": "user", "content": prompt}], max_new_tokens=12).text


def test_the_local_route_answers_the_original_prompt_on_the_device(
    client: PrivacyClient, model: LocalModel, gateway: BackgroundGateway
) -> None:
    before = gateway.server.stats.requests
    reply = client.generate(NHS)
    assert reply.route is Route.LOCAL
    assert reply.decision.route is Route.LOCAL
    assert "entities.UK_NHS" in reply.decision.rules
    assert reply.text
    assert reply.text == _own_answer(model, NHS)  # the model saw the prompt as written
    assert reply.timings.local_ms > 0
    assert reply.timings.cloud_ms == 0
    with client.stream(NHS) as pieces:
        streamed = list(pieces)
    assert "".join(streamed) == reply.text
    assert pieces.reply is not None
    assert pieces.reply.route is Route.LOCAL
    assert gateway.server.stats.requests == before  # nothing left the device


def test_an_unreachable_cloud_falls_back_to_the_device(
    analyzer: Analyzer, model: LocalModel, gateway: BackgroundGateway
) -> None:
    prompt = f"Mail {EMAIL} a thank-you note."
    with PrivacyClient.from_policy(
        DEFAULT, gateway=None, local_model=model, analyzer=analyzer, options=SHORT
    ) as client:
        reply = client.generate(prompt)
    assert reply.route is Route.LOCAL
    assert reply.decision.route is Route.CLOUD
    assert reply.decision.fallbacks == ("cloud_unavailable->local",)
    assert reply.text == _own_answer(model, prompt)


def test_local_turns_never_reach_the_cloud_in_a_session(
    client: PrivacyClient, echo: EchoUpstream
) -> None:
    session = client.session()
    first = session.send(f"My email is {EMAIL}.")
    assert first.route is Route.CLOUD
    second = session.send(NHS)
    assert second.route is Route.LOCAL
    third = session.send(f"Write to {EMAIL} again.")
    assert third.route is Route.CLOUD
    # The cloud got the first and the third turns, transformed; not the local turn nor its answer.
    assert echo.seen[-1] == "My email is <EMAIL_ADDRESS_1>.\nWrite to <EMAIL_ADDRESS_1> again."
    assert "943" not in echo.seen[-1]
    assert [m["role"] for m in session.messages] == ["user", "assistant"] * 3
    assert session.messages[2]["content"] == NHS  # the device keeps the turn as written


def test_async_local_stream(analyzer: Analyzer, model: LocalModel) -> None:
    async def main() -> str:
        async with AsyncPrivacyClient.from_policy(
            DEFAULT, local_model=model, analyzer=analyzer, options=SHORT
        ) as client:
            stream = client.stream(NHS)
            text = "".join([piece async for piece in stream])
            assert stream.reply is not None
            assert stream.reply.route is Route.LOCAL
            reply = await client.generate(NHS)
            assert reply.text == text
            return text

    assert asyncio.run(main()) == _own_answer(model, NHS)
