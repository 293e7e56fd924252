"""PrivacyClient over a real gateway on loopback: routes, restore, fallbacks, sessions, threads.

The gateway is the reference server with the echo upstream, so what a reply
says is exactly what the cloud saw, restored. Tests that need the local
model are in ``test_client_local.py``.
"""

from __future__ import annotations

import json
import socket
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from presidio_analyzer import EntityRecognizer, RecognizerResult

from privacy_partition import (
    ConfigurationError,
    InputError,
    PolicyViolation,
    PrivacyClient,
    Route,
)
from privacy_partition.audit import verify
from privacy_partition.cloud import (
    BackgroundGateway,
    EchoUpstream,
    GatewayClient,
    GatewayServer,
    HostedRecipient,
)
from privacy_partition.detection import Analyzer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"
EMAIL = "dana.whitfield@example.org"
PHONE = "212-555-0199"
SSN = "536-22-1234"


@pytest.fixture(scope="module")
def echo() -> EchoUpstream:
    return EchoUpstream(chunk_chars=3)  # splits every handle across chunks


@pytest.fixture(scope="module")
def gateway(echo: EchoUpstream) -> Iterator[BackgroundGateway]:
    with BackgroundGateway(GatewayServer(echo, [HostedRecipient.generate("booking")])) as gw:
        yield gw


@pytest.fixture(scope="module")
def client(analyzer: Analyzer, gateway: BackgroundGateway) -> Iterator[PrivacyClient]:
    # No local model, not even the default one: local routes follow the policy's fallback.
    with PrivacyClient.from_policy(
        DEFAULT, gateway=gateway.target, analyzer=analyzer, local_model=False
    ) as client:
        yield client


def _requests(gateway: BackgroundGateway) -> int:
    return gateway.server.stats.requests


def _policy(tmp_path: Path, body: str, name: str = "test") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"apiVersion: privacy-partition/v1\nname: {name}\n" + textwrap.dedent(body))
    return path


def _free_target() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


# -- the cloud route -----------------------------------------------------------


def test_cloud_reply_is_restored_and_the_cloud_saw_no_value(
    client: PrivacyClient, echo: EchoUpstream
) -> None:
    prompt = f"Please write to {EMAIL} or call {PHONE} about the offsite."
    reply = client.generate(prompt)
    assert reply.route is Route.CLOUD
    assert reply.text == prompt  # the echo, restored on the device
    seen = echo.seen[-1]
    assert EMAIL not in seen
    assert PHONE not in seen
    assert seen == "Please write to <EMAIL_ADDRESS_1> or call <PHONE_NUMBER_1> about the offsite."
    decision = reply.decision
    assert decision.route is Route.CLOUD
    assert decision.entities["EMAIL_ADDRESS"] == 1
    assert decision.actions["EMAIL_ADDRESS"] == ("redact",)
    assert decision.actions["PHONE_NUMBER"] == ("redact",)
    assert decision.rules == ("routing.default",)
    assert decision.fallbacks == ()
    assert (decision.policy_name, decision.policy_digest) == ("default", client.policy.digest)
    assert reply.timings.detect_ms > 0
    assert reply.timings.cloud_ms > 0
    assert reply.timings.local_ms == 0
    summary = json.dumps(reply.decision.as_dict()) + repr(reply)
    assert EMAIL not in summary
    assert PHONE not in summary


def test_stream_restores_handles_split_across_chunks(
    client: PrivacyClient, echo: EchoUpstream
) -> None:
    prompt = f"Write to {EMAIL}, then to {EMAIL} again, and call {PHONE}."
    with client.stream(prompt) as pieces:
        assert pieces.route is Route.CLOUD  # decided when the stream is made
        received = list(pieces)
    assert "".join(received) == prompt
    assert len(received) > 3
    assert not any("<" in piece for piece in received)  # no partial handle ever shown
    assert pieces.reply is not None
    assert pieces.reply.text == prompt
    assert pieces.reply.route is Route.CLOUD
    assert echo.seen[-1].count("<EMAIL_ADDRESS_1>") == 2


def test_chat_turns_are_transformed_and_restored_together(
    client: PrivacyClient, echo: EchoUpstream
) -> None:
    messages = [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": f"My address is {EMAIL}."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": f"Repeat {EMAIL} please."},
    ]
    reply = client.generate(messages)
    assert reply.text == f"My address is {EMAIL}.\nRepeat {EMAIL} please."
    assert echo.seen[-1] == "My address is <EMAIL_ADDRESS_1>.\nRepeat <EMAIL_ADDRESS_1> please."


def test_a_handle_from_another_request_is_not_restored(client: PrivacyClient) -> None:
    first = client.generate(f"Mail {EMAIL}")
    assert first.text == f"Mail {EMAIL}"
    # This prompt carries the handle text itself: its vault never issued it.
    second = client.generate("What is <EMAIL_ADDRESS_1>?")
    assert second.text == "What is <EMAIL_ADDRESS_1>?"


@pytest.mark.parametrize(
    "prompt",
    ["", [], [{"role": "robot", "content": "x"}], [{"role": "user"}], [42], {"role": "user"}],
)
def test_malformed_prompts_are_input_errors(client: PrivacyClient, prompt: object) -> None:
    if prompt == "":
        assert client.generate("").text == ""  # nothing found, nothing to hide
        return
    with pytest.raises(InputError):
        client.generate(prompt)  # type: ignore[arg-type]


def test_a_request_over_the_character_limit_is_refused_and_sends_nothing(
    client: PrivacyClient, gateway: BackgroundGateway
) -> None:
    limit = client.analyzer.config.max_chars
    turn = "canary-5521 " * (limit // 24 + 1)  # each turn half the limit: together over it
    messages = [
        {"role": "user", "content": turn},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": turn},
    ]
    before = _requests(gateway)
    with pytest.raises(InputError) as caught:
        client.generate(messages)
    assert "canary" not in str(caught.value)
    assert _requests(gateway) == before
    assert client.generate(messages[:1]).text == turn  # one turn alone is within it


# -- block, and fallbacks ------------------------------------------------------


def test_block_raises_with_reasons_and_sends_nothing(
    client: PrivacyClient, gateway: BackgroundGateway
) -> None:
    before = _requests(gateway)
    with pytest.raises(PolicyViolation) as caught:
        client.generate(f"My SSN is {SSN}, email {EMAIL}")
    assert "entities.US_SSN" in " ".join(caught.value.reasons)
    assert SSN not in str(caught.value)
    assert EMAIL not in str(caught.value)
    with pytest.raises(PolicyViolation):
        client.stream(f"My SSN is {SSN}")  # refused before any stream starts
    assert _requests(gateway) == before


def test_local_route_without_a_model_follows_local_unavailable(
    client: PrivacyClient, gateway: BackgroundGateway
) -> None:
    before = _requests(gateway)
    with pytest.raises(PolicyViolation) as caught:
        client.generate("My NHS number is 943 476 5919.")
    assert "the local model is unavailable: block (fallback.local_unavailable)" in (
        caught.value.reasons
    )
    assert "943" not in str(caught.value)
    assert _requests(gateway) == before


def test_local_unavailable_cloud_sends_a_routed_request_transformed(
    analyzer: Analyzer, gateway: BackgroundGateway, echo: EchoUpstream, tmp_path: Path
) -> None:
    # A routing rule keeps prompts naming an organization local; with no local model
    # the policy lets them go to the cloud transformed. An NHS number (an entity rule
    # keeps it local) is still refused.
    policy = _policy(
        tmp_path,
        f"extends: {DEFAULT}\n"
        "tests: []\n"
        "routing:\n"
        "  - {name: orgs, when: {entities_any: [ORGANIZATION]}, route: local}\n"
        "  - {name: default, route: cloud}\n"
        "fallback: {local_unavailable: cloud}\n",
        "leave",
    )
    with PrivacyClient.from_policy(
        policy, gateway=gateway.target, analyzer=analyzer, local_model=False
    ) as client:
        reply = client.generate(f"I work at Napco National Company, mail me at {EMAIL}")
        assert reply.route is Route.CLOUD
        assert reply.decision.fallbacks == ("local_unavailable->cloud",)
        assert EMAIL in reply.text  # restored on the device
        assert "Napco" in reply.text
        assert EMAIL not in echo.seen[-1]
        assert "Napco" not in echo.seen[-1]
        before = _requests(gateway)
        with pytest.raises(PolicyViolation):
            client.generate("My NHS number is 943 476 5919, I work at Napco National Company.")
        assert _requests(gateway) == before


def test_cloud_unavailable_follows_the_policy(analyzer: Analyzer, tmp_path: Path) -> None:
    refuse = _policy(tmp_path, "fallback: {cloud_unavailable: block}\n", "refuse")
    audit = tmp_path / "audit.jsonl"
    for policy, gateway in ((refuse, _free_target()), (DEFAULT, _free_target()), (DEFAULT, None)):
        with (
            PrivacyClient.from_policy(
                policy,
                gateway=gateway,
                analyzer=analyzer,
                local_model=False,
                audit=audit,
                gateway_timeout_s=5,
            ) as client,
            pytest.raises(PolicyViolation) as caught,
        ):
            client.generate(f"Mail {EMAIL}")
        assert "the cloud is unavailable" in " ".join(caught.value.reasons)
    events = [json.loads(line)["event"] for line in audit.read_text().splitlines()]
    assert [e["fallbacks"] for e in events] == [
        ["cloud_unavailable->block"],
        ["cloud_unavailable->local", "local_unavailable->block"],  # default: local, no model
        ["cloud_unavailable->local", "local_unavailable->block"],  # no gateway configured
    ]
    assert [e["decided_route"] for e in events] == ["cloud"] * 3
    assert [e["route"] for e in events] == ["block"] * 3
    assert verify(audit).ok


class _ExplodesOnMarker(EntityRecognizer):  # type: ignore[misc]
    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: object, nlp_artifacts: object = None
    ) -> list[RecognizerResult]:
        if "zebra" in text:
            raise RuntimeError(text)
        return []


@contextmanager
def _exploding(analyzer: Analyzer) -> Iterator[None]:
    """The shared Analyzer with a recognizer that fails on 'zebra', for one test."""
    recognizers = analyzer._engine.registry.recognizers
    bomb = _ExplodesOnMarker(supported_entities=["X"], supported_language="en", name="Explodes")
    recognizers.append(bomb)
    try:
        yield
    finally:
        recognizers.remove(bomb)


def test_a_detection_failure_never_sends_the_prompt(
    analyzer: Analyzer, gateway: BackgroundGateway, tmp_path: Path
) -> None:
    refuse = _policy(tmp_path, "fallback: {cloud_unavailable: block}\n", "refuse")
    before = _requests(gateway)
    with (
        _exploding(analyzer),
        PrivacyClient.from_policy(refuse, gateway=gateway.target, analyzer=analyzer) as client,
    ):
        with pytest.raises(PolicyViolation) as caught:
            client.generate(f"the zebra mails {EMAIL}")
        assert caught.value.reasons == ("detection failed: block (fallback.cloud_unavailable)",)
        with pytest.raises(PolicyViolation):
            client.stream(f"the zebra mails {EMAIL}")
        assert client.generate("a horse").route is Route.CLOUD  # only the failing prompt
    assert _requests(gateway) == before + 1


def test_a_transform_failure_never_sends_the_prompt(
    analyzer: Analyzer, gateway: BackgroundGateway, tmp_path: Path
) -> None:
    # The gateway hosts no "payments" recipient, so the card cannot be sealed.
    policy = _policy(
        tmp_path,
        """
        entities:
          CREDIT_CARD: {action: seal, recipient: payments}
        recipients:
          payments: {description: hosted nowhere}
        fallback: {cloud_unavailable: block}
        """,
    )
    before = _requests(gateway)
    with (
        PrivacyClient.from_policy(policy, gateway=gateway.target, analyzer=analyzer) as client,
        pytest.raises(PolicyViolation) as caught,
    ):
        client.generate("Charge 4111 1111 1111 1111 please")
    assert "the prompt could not be transformed" in " ".join(caught.value.reasons)
    assert "4111" not in str(caught.value)
    assert _requests(gateway) == before


# -- sessions ------------------------------------------------------------------


def test_a_session_keeps_handles_across_turns(client: PrivacyClient, echo: EchoUpstream) -> None:
    session = client.session(system="You are a terse assistant.")
    first = session.send(f"My email is {EMAIL}.")
    assert first.text == f"My email is {EMAIL}."
    second = session.send(f"Send the summary to {EMAIL} and {PHONE}.")
    # The history goes again, transformed with the same handles; the answer restored.
    assert echo.seen[-1] == (
        "My email is <EMAIL_ADDRESS_1>.\nSend the summary to <EMAIL_ADDRESS_1> and"
        " <PHONE_NUMBER_1>."
    )
    assert second.text == f"My email is {EMAIL}.\nSend the summary to {EMAIL} and {PHONE}."
    with session.stream(f"Once more: {PHONE}") as pieces:
        streamed = "".join(pieces)
    assert streamed.endswith(f"Once more: {PHONE}")
    assert "<PHONE_NUMBER_1>" in echo.seen[-1]
    assert [m["role"] for m in session.messages] == ["system"] + ["user", "assistant"] * 3
    assert session.messages[1]["content"] == f"My email is {EMAIL}."  # kept as written
    assert EMAIL not in repr(session)


def test_a_refused_turn_is_not_kept(client: PrivacyClient, echo: EchoUpstream) -> None:
    session = client.session()
    session.send(f"Hello, I am at {EMAIL}.")
    with pytest.raises(PolicyViolation):
        session.send(f"My SSN is {SSN}.")
    with pytest.raises(PolicyViolation):
        session.stream(f"My SSN is {SSN}.")
    assert len(session.messages) == 2
    session.send("Thanks.")  # the session still works after a refusal
    assert SSN not in echo.seen[-1]
    assert len(session.messages) == 4


def test_closing_a_stream_early_ends_the_turn(client: PrivacyClient) -> None:
    session = client.session()
    pieces = session.stream(f"Please write a long note for {EMAIL}. " * 5)
    next(pieces)
    pieces.close()  # cancels the call; the turn is not kept, the session is free
    assert session.messages == []
    assert session.send("Next question.").text == "Next question."


# -- threads, pass-throughs, lifetime ------------------------------------------


def test_threads_share_one_client(client: PrivacyClient, echo: EchoUpstream) -> None:
    def ask(number: int) -> tuple[str, str]:
        prompt = f"Forward invoice {number} to user{number}@example.org today."
        if number % 2:
            with client.stream(prompt) as pieces:
                return prompt, "".join(pieces)
        return prompt, client.generate(prompt).text

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(ask, range(24)))
    # Each answer is restored from its own vault: its own address, no other.
    for prompt, answer in results:
        assert answer == prompt
    assert not any("@example.org" in seen for seen in list(echo.seen)[-24:])


def test_analyze_sanitize_and_explain_pass_through(client: PrivacyClient) -> None:
    text = f"Mail {EMAIL} now"
    findings = client.analyze(text)
    assert [f.entity_type for f in findings] == ["EMAIL_ADDRESS"]
    sanitized = client.sanitize(text)
    assert sanitized.route is Route.CLOUD
    assert sanitized.cloud_text == "Mail <EMAIL_ADDRESS_1> now"
    report = client.explain(text)
    assert report["route"] == "cloud"
    assert EMAIL not in json.dumps(report)


def test_closing_releases_what_the_client_opened_only(
    analyzer: Analyzer, gateway: BackgroundGateway
) -> None:
    with GatewayClient(gateway.target, insecure=True, timeout_s=5) as shared:
        with PrivacyClient.from_policy(DEFAULT, gateway=shared, analyzer=analyzer) as client:
            assert client.generate("hello").text == "hello"
        with pytest.raises(ConfigurationError):
            client.generate("hello")
        assert shared.generate("still open").text == "still open"  # not ours to close
    with PrivacyClient.from_policy(DEFAULT, gateway=gateway.target, analyzer=analyzer) as owned:
        channel = owned._gateway
        assert channel is not None
    with pytest.raises(ValueError, match="closed"):
        channel.generate("closed")  # grpc refuses calls on a closed channel


@pytest.mark.parametrize(
    ("target", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("localhost:50051", True),
        ("[::1]:50051", True),
        ("10.0.0.7:50051", False),
        ("gateway.example:443", False),
    ],
)
def test_only_loopback_targets_go_in_plaintext(target: str, loopback: bool) -> None:
    from privacy_partition.client import _is_loopback

    assert _is_loopback(target) is loopback


def test_turns_of_one_session_from_threads_run_one_at_a_time(client: PrivacyClient) -> None:
    session = client.session()
    prompts = [f"Note {n} for user{n}@example.org" for n in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(session.send, prompts))
    messages = session.messages
    assert len(messages) == 12
    # Each answer follows its own question: the echo repeats the history up to it.
    for question, answer in zip(messages[::2], messages[1::2], strict=True):
        assert answer["content"].endswith(question["content"])


def test_no_value_reaches_a_log_record(
    analyzer: Analyzer, gateway: BackgroundGateway, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    with (
        caplog.at_level(logging.DEBUG),
        PrivacyClient.from_policy(DEFAULT, gateway=gateway.target, analyzer=analyzer) as client,
    ):
        client.generate(f"Please write to {EMAIL} or call {PHONE}.")
        with client.stream(f"Please write to {EMAIL}.") as pieces:
            list(pieces)
        with pytest.raises(PolicyViolation):
            client.generate(f"My SSN is {SSN}.")
        client.session().send(f"Mail {EMAIL}")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for value in (EMAIL, PHONE, SSN, "Please write"):
        assert value not in logged
