"""OpenAIUpstream through a real gateway to a real chat-completions server on loopback.

The endpoint is ``OpenAICompatibleEcho``: the standard library's HTTP server
speaking the OpenAI API (JSON and server-sent events) on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from privacy_partition._errors import ConfigurationError
from privacy_partition.cloud import (
    BackgroundGateway,
    ChatMessage,
    FinishReason,
    GatewayClient,
    GatewayInternalError,
    GatewayServer,
    GatewayUnavailable,
    GenerationOptions,
    OpenAICompatibleEcho,
    OpenAIUpstream,
    RequestRejected,
    ResourceExhausted,
    Role,
)
from test_cloud_support import free_port, wait_for

KEY_ENV = "PRIVACY_PARTITION_TEST_OPENAI_KEY"
KEY = "sk-test-4f1c9e77aa"
PROMPT = "Plan a trip to Lisbon for <PERSON_1> next spring"


@pytest.fixture
def endpoint() -> Iterator[OpenAICompatibleEcho]:
    with OpenAICompatibleEcho(api_key=KEY, chunk_chars=8) as server:
        yield server


def _gateway(endpoint: OpenAICompatibleEcho) -> BackgroundGateway:
    return BackgroundGateway(
        GatewayServer(OpenAIUpstream(endpoint.base_url, "echo-model", api_key_env=KEY_ENV))
    )


@pytest.fixture
def client(
    endpoint: OpenAICompatibleEcho, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GatewayClient]:
    monkeypatch.setenv(KEY_ENV, KEY)
    with (
        _gateway(endpoint) as gateway,
        GatewayClient(gateway.target, insecure=True, timeout_s=10) as client,
    ):
        yield client


def test_a_whole_answer(client: GatewayClient, endpoint: OpenAICompatibleEcho) -> None:
    options = GenerationOptions(max_tokens=64, temperature=0.3, top_p=0.9, stop=("END",), seed=7)
    answer = client.generate(
        [ChatMessage(Role.SYSTEM, "be brief"), ChatMessage(Role.USER, PROMPT)], options=options
    )
    assert answer.text == PROMPT
    assert answer.finish_reason is FinishReason.STOP
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (11, 9)
    sent = endpoint.seen[-1]  # the key was right, or the endpoint would have said 401
    assert sent["model"] == "echo-model"
    assert sent["stream"] is False
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": PROMPT},
    ]
    assert (sent["max_tokens"], sent["top_p"], sent["stop"], sent["seed"]) == (64, 0.9, ["END"], 7)
    assert sent["temperature"] == 0.3


def test_a_streamed_answer(client: GatewayClient, endpoint: OpenAICompatibleEcho) -> None:
    with client.stream(PROMPT) as chunks:
        received = list(chunks)
    assert "".join(c.text for c in received) == PROMPT
    assert len(received) > 3  # it came in pieces, as the events did
    last = received[-1]
    assert last.finish_reason is FinishReason.STOP
    assert last.usage is not None
    assert last.usage.completion_tokens == 9  # from the usage event the gateway asked for
    assert endpoint.seen[-1]["stream"] is True
    assert endpoint.seen[-1]["stream_options"] == {"include_usage": True}
    assert endpoint.streams_completed == 1


def test_max_tokens_ends_with_length(client: GatewayClient) -> None:
    answer = client.generate(PROMPT, options=GenerationOptions(max_tokens=3))
    assert answer.text == "Plan a trip"
    assert answer.finish_reason is FinishReason.LENGTH
    with client.stream(PROMPT, options=GenerationOptions(max_tokens=3)) as chunks:
        assert list(chunks)[-1].finish_reason is FinishReason.LENGTH


def test_rate_limited_is_resource_exhausted_and_not_retried(
    client: GatewayClient, endpoint: OpenAICompatibleEcho
) -> None:
    endpoint.fail_next(429)
    with pytest.raises(ResourceExhausted) as caught:
        client.generate(PROMPT)
    assert "HTTP 429" in str(caught.value)
    assert "Lisbon" not in str(caught.value)  # the endpoint's error body quoted the prompt
    assert endpoint.requests == 1


def test_a_server_error_is_unavailable_and_not_sent_again(
    client: GatewayClient, endpoint: OpenAICompatibleEcho
) -> None:
    # The endpoint got the prompt: the client does not send it again (no duplicate answer).
    endpoint.fail_next(500)
    with pytest.raises(GatewayUnavailable) as caught:
        client.generate(PROMPT)
    assert endpoint.requests == 1
    endpoint.fail_next(503)
    with pytest.raises(GatewayUnavailable) as caught:
        client.generate(PROMPT)
    assert "HTTP 503" in str(caught.value)
    assert "Lisbon" not in str(caught.value)
    assert endpoint.requests == 2
    assert client.generate(PROMPT).text == PROMPT


def test_a_refused_request_is_rejected(
    client: GatewayClient, endpoint: OpenAICompatibleEcho
) -> None:
    endpoint.fail_next(400)
    with pytest.raises(RequestRejected) as caught:
        client.generate(PROMPT)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "Lisbon" not in str(caught.value)


def test_errors_before_a_stream_reach_the_stream(
    client: GatewayClient, endpoint: OpenAICompatibleEcho
) -> None:
    endpoint.fail_next(429)
    with pytest.raises(ResourceExhausted), client.stream(PROMPT) as chunks:
        list(chunks)


def test_a_wrong_key_is_internal_and_never_shown(
    endpoint: OpenAICompatibleEcho, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-wrong-key-0000")
    upstream = OpenAIUpstream(endpoint.base_url, "echo-model", api_key_env=KEY_ENV)
    assert "sk-" not in repr(upstream)
    with (
        BackgroundGateway(GatewayServer(upstream)) as gateway,
        GatewayClient(gateway.target, insecure=True, timeout_s=10) as client,
        pytest.raises(GatewayInternalError) as caught,
    ):
        client.generate(PROMPT)
    assert "HTTP 401" in str(caught.value)
    assert "sk-" not in str(caught.value)


def test_an_endpoint_that_is_down_is_unavailable() -> None:
    upstream = OpenAIUpstream(f"http://127.0.0.1:{free_port()}/v1", "echo-model")
    with (
        BackgroundGateway(GatewayServer(upstream)) as gateway,
        GatewayClient(gateway.target, insecure=True, timeout_s=10) as client,
        pytest.raises(GatewayUnavailable) as caught,
    ):
        client.generate(PROMPT)
    assert "ConnectError" in str(caught.value)


def test_cancelling_a_stream_closes_the_http_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    with (
        OpenAICompatibleEcho(api_key=KEY, chunk_chars=1, delay_s=0.02) as endpoint,
        _gateway(endpoint) as gateway,
        GatewayClient(gateway.target, insecure=True, timeout_s=30) as client,
    ):
        stream = client.stream("y" * 500)  # 500 events, 10 s at 20 ms each
        assert [next(stream).index for _ in range(3)] == [0, 1, 2]
        stream.cancel()
        assert wait_for(lambda: endpoint.streams_closed_early == 1)
        sent = endpoint.chunks_sent
        time.sleep(0.2)
        assert endpoint.chunks_sent == sent < 100  # the endpoint stopped, long before the end
        assert endpoint.streams_completed == 0
        assert gateway.server.stats.streams_cancelled == 1


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/v1", "http://user:secret@127.0.0.1/v1", "not a url", "http:///v1"],
)
def test_bad_base_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        OpenAIUpstream(url, "echo-model")
    assert "secret" not in str(caught.value)
