"""OnnxUpstream: the real SmolLM2 model served by a real gateway on loopback.

Needs the model that ``privacy-partition model build`` makes (``make test`` builds it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from privacy_partition.cloud import (
    BackgroundGateway,
    FinishReason,
    GatewayClient,
    GatewayServer,
    GenerationOptions,
    OnnxUpstream,
    RequestRejected,
)
from privacy_partition.local import LocalModel, smollm2_folder
from test_cloud_support import wait_for

pytestmark = pytest.mark.model

COUNT = "Count from 1 to 200, separated by commas."


@pytest.fixture(scope="module")
def model() -> LocalModel:
    return LocalModel(smollm2_folder())


@pytest.fixture(scope="module")
def upstream(model: LocalModel) -> OnnxUpstream:
    return OnnxUpstream(model, max_tokens=24)


@pytest.fixture(scope="module")
def gateway(upstream: OnnxUpstream) -> Iterator[BackgroundGateway]:
    with BackgroundGateway(GatewayServer(upstream)) as gateway:
        yield gateway


@pytest.fixture
def client(gateway: BackgroundGateway) -> Iterator[GatewayClient]:
    with GatewayClient(gateway.target, insecure=True, timeout_s=60) as client:
        yield client


def test_a_whole_answer_with_real_token_counts(client: GatewayClient, model: LocalModel) -> None:
    answer = client.generate("What is the capital of France?")
    assert answer.text.strip()
    assert answer.finish_reason in (FinishReason.STOP, FinishReason.LENGTH)
    prompt = model.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}]
    )
    assert answer.usage.prompt_tokens == model.count_tokens(prompt)
    assert 1 <= answer.usage.completion_tokens <= 24  # the upstream's default max_tokens


def test_a_streamed_answer_matches_the_whole_one(client: GatewayClient) -> None:
    options = GenerationOptions(max_tokens=12)  # greedy by default: the same text both ways
    whole = client.generate(COUNT, options=options)
    with client.stream(COUNT, options=options) as chunks:
        received = list(chunks)
    assert len(received) > 2
    assert "".join(c.text for c in received) == whole.text
    assert whole.text.strip()
    last = received[-1]
    assert last.finish_reason is FinishReason.LENGTH
    assert last.usage == whole.usage
    assert last.usage is not None
    assert last.usage.completion_tokens == 12


def test_stop_sequences_end_the_answer(client: GatewayClient) -> None:
    options = GenerationOptions(max_tokens=40)
    text = client.generate(COUNT, options=options).text
    assert "3" in text
    stop = text[: text.index("3") + 1][-2:]  # whatever the model wrote just before the 3
    stopped = client.generate(COUNT, options=GenerationOptions(max_tokens=40, stop=(stop,)))
    assert stopped.finish_reason is FinishReason.STOP
    assert stop not in stopped.text
    assert text.startswith(stopped.text)


def test_sampling_options_are_honoured(client: GatewayClient) -> None:
    options = GenerationOptions(max_tokens=16, temperature=1.0, top_p=0.9, seed=11)
    first = client.generate(COUNT, options=options)
    assert first.text.strip()
    assert client.generate(COUNT, options=options).text == first.text  # the seed repeats it


def test_cancelling_a_stream_stops_generation(
    client: GatewayClient, upstream: OnnxUpstream, gateway: BackgroundGateway
) -> None:
    cancelled, tokens = upstream.cancelled, upstream.tokens
    stream = client.stream(COUNT, options=GenerationOptions(max_tokens=400))  # about 20 s
    for _ in range(3):
        next(stream)
    stream.cancel()
    assert wait_for(lambda: upstream.cancelled == cancelled + 1, timeout_s=10)
    assert upstream.tokens - tokens < 100  # stopped long before 400 tokens
    # The model is free again at once: a short answer does not wait for the long one.
    started = time.perf_counter()
    assert client.generate("Hi", options=GenerationOptions(max_tokens=4)).text
    assert time.perf_counter() - started < 10
    assert gateway.server.stats.streams_cancelled >= 1


def test_a_prompt_over_the_context_is_rejected(client: GatewayClient) -> None:
    with pytest.raises(RequestRejected) as caught:
        client.generate("word " * 9000)
    assert "context" in str(caught.value)
    assert "word" not in str(caught.value)
