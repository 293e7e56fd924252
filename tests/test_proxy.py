"""The OpenAI-compatible endpoint, spoken to by the official openai package over real HTTP."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_partition import PrivacyClient
from privacy_partition.cloud import (
    BackgroundGateway,
    EchoUpstream,
    GatewayServer,
    HostedRecipient,
    OpenAICompatibleEcho,
)
from privacy_partition.detection import Analyzer
from privacy_partition.proxy import (
    CONVERSATION_HEADER,
    ROUTE_HEADER,
    BackgroundProxy,
    ProxyConfig,
    create_app,
)

DEFAULT = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"
EMAIL = "jane.doe@example.org"
NAME = "Rosalind Okonkwo-Vale"
TOKEN = "test-token-8812"


@pytest.fixture(scope="module")
def echo() -> EchoUpstream:
    return EchoUpstream(chunk_chars=3)  # splits every handle across chunks


@pytest.fixture(scope="module")
def client(analyzer: Analyzer, echo: EchoUpstream) -> Iterator[PrivacyClient]:
    server = GatewayServer(echo, [HostedRecipient.generate("booking")])
    with (
        BackgroundGateway(server) as gateway,
        PrivacyClient.from_policy(
            DEFAULT, gateway=gateway.target, analyzer=analyzer, local_model=False
        ) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def proxy(client: PrivacyClient) -> Iterator[BackgroundProxy]:
    config = ProxyConfig(cloud_models=("gpt-test",), local_model="smollm2")
    with BackgroundProxy(create_app(client, config)) as served:
        yield served


@pytest.fixture(scope="module")
def app(proxy: BackgroundProxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0)


PROMPT = f"Write a short note to {NAME} and copy {EMAIL} on it."


def test_a_cloud_answer_is_restored_and_the_cloud_saw_no_value(
    app: openai.OpenAI, echo: EchoUpstream
) -> None:
    raw = app.chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": PROMPT}]
    )
    assert raw.headers[ROUTE_HEADER] == "cloud"
    completion = raw.parse()
    assert completion.model == "gpt-test"
    answer = completion.choices[0].message.content
    assert answer is not None
    assert NAME in answer
    assert EMAIL in answer
    seen = echo.seen[-1]
    assert NAME not in seen
    assert EMAIL not in seen
    assert "Okonkwo" not in seen


def test_a_streamed_answer_arrives_in_pieces_restored(
    app: openai.OpenAI, echo: EchoUpstream
) -> None:
    stream = app.chat.completions.create(
        model="gpt-test",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
        ],
        stream=True,
    )
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert len([p for p in pieces if p]) > 3  # restored piece by piece, not at the end
    answer = "".join(pieces)
    assert NAME in answer
    assert EMAIL in answer
    assert EMAIL not in echo.seen[-1]


def test_a_refused_request_is_a_403_naming_types_never_values(app: openai.OpenAI) -> None:
    for stream in (False, True):
        with pytest.raises(openai.PermissionDeniedError) as refused:
            app.chat.completions.create(
                model="gpt-test",
                messages=[{"role": "user", "content": "My SSN is 536-22-1234, file my taxes"}],
                stream=stream,
            )
        assert "US_SSN" in str(refused.value)
        assert "536-22-1234" not in str(refused.value)
        assert refused.value.body["type"] == "policy_violation"  # type: ignore[index]


def test_a_local_request_without_a_local_model_is_refused_by_its_fallback(
    app: openai.OpenAI,
) -> None:
    # default.yaml keeps government IDs on the device; with no local model it refuses.
    with pytest.raises(openai.PermissionDeniedError) as refused:
        app.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "My ITIN is 912-70-1234"}]
        )
    assert "912-70-1234" not in str(refused.value)


def test_features_not_served_are_refused_not_dropped(app: openai.OpenAI) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    attempts: list[dict[str, object]] = [
        {"tools": [tool]},
        {"n": 2},
        {"response_format": {"type": "json_object"}},
    ]
    for extra in attempts:
        with pytest.raises(openai.BadRequestError):
            app.chat.completions.create(
                model="gpt-test",
                messages=[{"role": "user", "content": "hi"}],
                **extra,  # type: ignore[arg-type]
            )
    with pytest.raises(openai.BadRequestError):
        app.chat.completions.create(
            model="gpt-test",
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
            ],
        )


def test_malformed_bodies_get_openai_error_objects(proxy: BackgroundProxy) -> None:
    for body in (
        b"not json",
        b"[]",
        b'{"model": "m"}',
        b'{"model": "m", "messages": [{"role": "x"}]}',
        b'{"model": "m", "messages": [{"role": ["user"], "content": "hi"}]}',
        b'{"model": "m", "messages": [{"role": "user", "content": 7}]}',
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}',
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}',
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": [1]}',
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "surprise": 1}',
        b"\xff\xfe",
    ):
        response = httpx.post(f"{proxy.url}/v1/chat/completions", content=body, timeout=30)
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_body_over_the_limit_is_refused_unread(proxy: BackgroundProxy) -> None:
    from privacy_partition.proxy import MAX_BODY_BYTES

    huge = b'{"model": "m", "messages": [{"role": "user", "content": "' + b"a" * MAX_BODY_BYTES
    response = httpx.post(f"{proxy.url}/v1/chat/completions", content=huge, timeout=60)
    assert response.status_code == 413

    def chunked() -> Iterator[bytes]:  # no content-length: counted as it arrives
        yield huge[:1024]
        yield huge[1024:]

    response = httpx.post(f"{proxy.url}/v1/chat/completions", content=chunked(), timeout=60)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_models_health_and_readiness(app: openai.OpenAI, proxy: BackgroundProxy) -> None:
    assert [m.id for m in app.models.list()] == ["gpt-test", "smollm2"]
    assert httpx.get(f"{proxy.url}/healthz", timeout=30).json() == {"status": "ok"}
    assert httpx.get(f"{proxy.url}/readyz", timeout=30).status_code == 200


def test_a_token_is_required_when_configured(client: PrivacyClient) -> None:
    with BackgroundProxy(create_app(client, ProxyConfig(token=TOKEN))) as served:
        anonymous = openai.OpenAI(base_url=served.base_url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            anonymous.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(openai.AuthenticationError):
            anonymous.models.list()
        assert httpx.get(f"{served.url}/healthz", timeout=30).status_code == 200
        member = openai.OpenAI(base_url=served.base_url, api_key=TOKEN, max_retries=0)
        answer = member.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "What is 2 + 2?"}]
        )
        assert answer.choices[0].message.content == "What is 2 + 2?"  # the echo, unchanged
    assert "test-token" not in repr(ProxyConfig(token=TOKEN))


def test_no_value_reaches_a_log_record(
    app: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        app.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": PROMPT}]
        )
        for stream in (False, True):
            with pytest.raises(openai.PermissionDeniedError):
                app.chat.completions.create(
                    model="gpt-test",
                    messages=[{"role": "user", "content": f"{NAME}'s SSN is 536-22-1234"}],
                    stream=stream,
                )
    for record in caplog.records:
        text = record.getMessage()
        assert EMAIL not in text
        assert "Okonkwo" not in text
        assert "536-22-1234" not in text


@pytest.mark.model
def test_a_local_answer_names_the_local_model_plain_and_streamed(analyzer: Analyzer) -> None:
    from privacy_partition.local import LocalModel, smollm2_folder

    nhs = "My NHS number is 943 476 5919. Which clinic should I call?"
    with (
        PrivacyClient.from_policy(
            DEFAULT, analyzer=analyzer, local_model=LocalModel(smollm2_folder())
        ) as client,
        BackgroundProxy(create_app(client, ProxyConfig(local_model="smollm2"))) as served,
    ):
        app = openai.OpenAI(base_url=served.base_url, api_key="unused", max_retries=0)
        raw = app.chat.completions.with_raw_response.create(
            model="gpt-test", messages=[{"role": "user", "content": nhs}], max_tokens=8
        )
        assert raw.headers[ROUTE_HEADER] == "local"
        assert raw.parse().model == "smollm2"
        assert raw.parse().choices[0].message.content
        with app.chat.completions.with_streaming_response.create(
            model="gpt-test",
            messages=[{"role": "user", "content": nhs}],
            max_tokens=8,
            stream=True,
        ) as response:
            assert response.headers[ROUTE_HEADER] == "local"
            chunks = list(response.parse())
        assert {c.model for c in chunks} == {"smollm2"}
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "privacy_partition.cli", "proxy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_the_cli_refuses_an_open_address_without_a_token() -> None:
    proc = _cli("--policy", str(DEFAULT), "--host", "0.0.0.0", "--no-local-model")  # noqa: S104 - refused
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "--token-env" in err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _started(proc: subprocess.Popen[str], port: int, token: str | None = None) -> httpx.Response:
    """``GET /v1/models`` once the CLI's proxy answers."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + 120
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=headers, timeout=5)
        except httpx.TransportError:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.2)


def test_the_cli_serves_with_a_token_from_the_environment() -> None:
    port = _free_port()
    proc = _cli(
        "--policy", str(DEFAULT), "--no-local-model", "--port", str(port),
        "--cloud-model", "gpt-test", "--token-env", "PP_TOKEN",
        env={"PP_TOKEN": TOKEN},
    )  # fmt: skip
    try:
        response = _started(proc, port, TOKEN)
        assert [m["id"] for m in response.json()["data"]] == ["gpt-test", "local"]
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 401
        # No gateway, no local model: ready to refuse, not to answer.
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 503
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert TOKEN not in err


# -- conversations over a stateless API ------------------------------------------------

# Names spaCy's small model finds in this layout (the tests run without the ONNX NER model).
PEOPLE = {
    "Daniel Okonkwo": "d.okonkwo@example.org",
    "Tobias Wrenfield": "tobias.w@example.net",
    "Ingrid Haldorsen": "ingrid.h@example.com",
}
CARD = "4111 1111 1111 1111"
TURN = re.compile(r"Invite (.+?) \((.+?)\) to the review\.(?: Pay with card (.+?)\.)?$")


def test_five_turns_keep_one_replacement_per_value_and_send_no_raw_value(
    app: openai.OpenAI, echo: EchoUpstream
) -> None:
    a, b, c = PEOPLE
    order = [(a, False), (b, True), (a, False), (c, False), (b, True)]
    messages: list[dict[str, str]] = [{"role": "system", "content": "Answer briefly."}]
    states, seen = [], []
    for name, card in order:
        text = f"Invite {name} ({PEOPLE[name]}) to the review." + (
            f" Pay with card {CARD}." if card else ""
        )
        messages.append({"role": "user", "content": text})
        raw = app.chat.completions.with_raw_response.create(model="gpt-test", messages=messages)  # type: ignore[arg-type]
        states.append(raw.headers[CONVERSATION_HEADER])
        answer = raw.parse().choices[0].message.content or ""
        seen.append(echo.seen[-1])
        # The echo answers with every user turn it got: all of them come back restored.
        assert answer == "\n".join(m["content"] for m in messages if m["role"] == "user")
        messages.append({"role": "assistant", "content": answer})
    assert states == ["new", "continued", "continued", "continued", "continued"]
    for cloud in seen:
        for value in (*PEOPLE, *PEOPLE.values(), CARD, "Okonkwo", "Wrenfield", "Haldorsen"):
            assert value not in cloud
    # Every earlier turn reaches the cloud again exactly as it went the first time.
    lines = seen[-1].split("\n")
    for k, cloud in enumerate(seen):
        assert cloud.split("\n") == lines[: k + 1]
    replacements: dict[str, set[str]] = {}
    for (name, card), line in zip(order, lines, strict=True):
        match = TURN.match(line)
        assert match is not None, line
        replacements.setdefault(name, set()).add(match.group(1))
        replacements.setdefault(PEOPLE[name], set()).add(match.group(2))
        if card:
            replacements.setdefault(CARD, set()).add(match.group(3))
    assert all(len(r) == 1 for r in replacements.values()), replacements
    assert len({r.pop() for r in replacements.values()}) == len(replacements)  # one each


def test_a_history_the_proxy_never_saw_is_answered_on_its_own(
    app: openai.OpenAI, echo: EchoUpstream
) -> None:
    name, email = next(iter(PEOPLE.items()))
    messages = [
        {"role": "user", "content": f"Invite {name} ({email}) to the review."},
        {"role": "assistant", "content": f"Done: {name} ({email}) is invited."},
        {"role": "user", "content": "Thanks. What time is it in Lisbon now?"},
    ]
    raw = app.chat.completions.with_raw_response.create(model="gpt-test", messages=messages)  # type: ignore[arg-type]
    assert raw.headers[CONVERSATION_HEADER] == "stateless"
    assert email not in echo.seen[-1]
    assert "Okonkwo" not in echo.seen[-1]


def test_the_cli_reaches_an_openai_compatible_upstream_through_its_own_gateway() -> None:
    key = "sk-upstream-test-5521"
    port = _free_port()
    with OpenAICompatibleEcho(api_key=key) as upstream:
        proc = _cli(
            "--policy", str(DEFAULT), "--no-local-model", "--port", str(port),
            "--upstream", f"openai:{upstream.base_url}", "--upstream-model", "served-model",
            env={"OPENAI_API_KEY": key},
        )  # fmt: skip
        try:
            _started(proc, port)
            app = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
            answer = app.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": PROMPT}]
            )
            assert EMAIL in (answer.choices[0].message.content or "")
            body = upstream.seen[-1]  # what the endpoint received over HTTP
            assert body["model"] == "served-model"
            assert EMAIL not in str(body["messages"])
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
    assert key not in err


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["model", "messages", "stream", "max_tokens", "temperature", "stop", "n", "role", "content"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(FIELDS, JSON, max_size=6) | JSON)
def test_any_json_body_is_a_chat_or_a_400_never_a_crash(body: object) -> None:
    from privacy_partition.proxy import _BadRequest, _parse

    try:
        chat = _parse(json.dumps(body).encode())
    except _BadRequest:
        return
    assert chat.messages
    assert all(m["role"] in {"system", "user", "assistant"} for m in chat.messages)
    assert all(isinstance(m["content"], str) for m in chat.messages)
