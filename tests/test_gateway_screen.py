"""The gateway's screen: turns that carry a raw value of the policy's types are refused.

A real gateway on loopback with the echo upstream and a ``PolicyScreen``
built from the default policy on the shared Analyzer (no mocks). A caller
that is not the SDK is played by the generated stub, the SDK by
``PrivacyClient`` under the same policy: the first is refused whenever it
sends a raw email or card number, the second never is.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from privacy_partition import PrivacyClient, Route
from privacy_partition._actions import Action, FindingAction
from privacy_partition.cloud import (
    BackgroundGateway,
    Delivery,
    EchoUpstream,
    GatewayServer,
    HostedRecipient,
    PolicyScreen,
    Screen,
)
from privacy_partition.cloud._pb import gateway_pb2 as pb
from privacy_partition.cloud._pb import gateway_pb2_grpc
from privacy_partition.cloud._types import sealed_to_pb
from privacy_partition.detection import Analyzer, Finding
from privacy_partition.policy import Policy, load_policy
from privacy_partition.transform import Keyset, Transformer, Vault

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"
EMAIL = "dana.whitfield@example.org"
CARD = "4111 1111 1111 1111"
PHONE = "+1 415 555 0100"
REFUSED = "the turns carry raw values the gateway's policy does not allow: "
UNSCREENED = "the gateway could not screen the turns"

# What the SDK sends under the default policy: every one of these goes to the cloud.
SDK_PROMPTS = (
    f"Please write to {EMAIL} or call 212-555-0199 about the offsite.",
    f"Charge {CARD} for the hotel and email the receipt to bob@corp.com, thanks John Smith.",
    "My IBAN is GB82 WEST 1234 5698 7654 32 and my phone is +1 415 555 0100.",
    "Send the contract to Maria Garcia at maria.garcia@acme.io, her mobile is (415) 555-2671.",
    "Tell Ahmed Hassan in Dubai that the invoice 4532015112830366 was paid.",
    "Card 5555 5555 5555 4444 expires soon; call me on 020 7946 0958.",
    "Why does postgres://admin:hunter2@db.internal:5432/prod refuse me? I'm on 10.0.0.12.",
    "I work at Google in Mountain View with Sarah Connor and Tim Cook.",
    "请把报告发到 zhang.wei@example.cn，电话 13800138000",
)


@dataclass
class Opened:
    """What the booking recipient opened: request ids and deliveries, never the values."""

    deliveries: list[tuple[str, Delivery]] = field(default_factory=list)
    right_value: list[bool] = field(default_factory=list)


# -- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(DEFAULT)


@pytest.fixture(scope="module")
def screen(policy: Policy, analyzer: Analyzer) -> PolicyScreen:
    return PolicyScreen(policy, analyzer=analyzer)


@pytest.fixture(scope="module")
def opened() -> Opened:
    return Opened()


@pytest.fixture(scope="module")
def booking(opened: Opened) -> HostedRecipient:
    def on_open(request_id: str, delivery: Delivery, value: str) -> None:
        opened.deliveries.append((request_id, delivery))
        opened.right_value.append(value == PHONE)  # a verdict, never the value

    return HostedRecipient.generate("booking", on_open=on_open)


@pytest.fixture(scope="module")
def echo() -> EchoUpstream:
    return EchoUpstream(chunk_chars=4)


@pytest.fixture(scope="module")
def gateway(
    echo: EchoUpstream, booking: HostedRecipient, screen: PolicyScreen
) -> Iterator[BackgroundGateway]:
    with BackgroundGateway(GatewayServer(echo, [booking], screen=screen)) as gw:
        yield gw


@pytest.fixture(scope="module")
def stub(gateway: BackgroundGateway) -> Iterator[gateway_pb2_grpc.GatewayStub]:
    """A caller that is not the SDK: whatever it writes goes on the wire as written."""
    with grpc.insecure_channel(gateway.target) as channel:
        yield gateway_pb2_grpc.GatewayStub(channel)


@pytest.fixture(scope="module")
def client(
    policy: Policy, analyzer: Analyzer, gateway: BackgroundGateway
) -> Iterator[PrivacyClient]:
    with PrivacyClient.from_policy(
        policy, gateway=gateway.target, analyzer=analyzer, local_model=False
    ) as client:
        yield client


def _request(
    request_id: str, *turns: str, sealed: Sequence[pb.SealedValue] = ()
) -> pb.GenerateRequest:
    return pb.GenerateRequest(
        request_id=request_id,
        messages=[pb.ChatMessage(role=pb.ROLE_USER, content=turn) for turn in turns],
        sealed=list(sealed),
    )


def _call(
    stub: gateway_pb2_grpc.GatewayStub, request: pb.GenerateRequest, method: str = "Generate"
) -> str:
    """The answer's text, from a whole answer or a stream."""
    if method == "Generate":
        return str(stub.Generate(request, timeout=10).text)
    return "".join(chunk.text for chunk in stub.GenerateStream(request, timeout=10))


def _refusal(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    error = raised.value
    assert isinstance(error, grpc.Call)
    return error.code(), error.details() or ""


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records)


# -- a caller that is not the SDK -----------------------------------------------


@pytest.mark.parametrize("method", ["Generate", "GenerateStream"])
@pytest.mark.parametrize(
    ("value", "entity_type"), [(EMAIL, "EMAIL_ADDRESS"), (CARD, "CREDIT_CARD")]
)
def test_a_raw_value_is_refused_and_reaches_neither_upstream_nor_logs(
    stub: gateway_pb2_grpc.GatewayStub,
    gateway: BackgroundGateway,
    echo: EchoUpstream,
    caplog: pytest.LogCaptureFixture,
    method: str,
    value: str,
    entity_type: str,
) -> None:
    stats = gateway.server.stats
    screened_out, rejected, seen = stats.screened_out, stats.rejected, list(echo.seen)
    request = _request("raw-1", "You answer briefly.", f"Forward the invoice to {value} today.")

    with caplog.at_level(logging.DEBUG):
        code, reason = _refusal(lambda: _call(stub, request, method))

    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert reason == REFUSED + entity_type  # the type, never the value or where it stands
    assert value not in reason
    assert (stats.screened_out, stats.rejected) == (screened_out + 1, rejected + 1)
    assert list(echo.seen) == seen  # the upstream was never called
    logged = _logged(caplog)
    assert f"turns screened out: {entity_type}" in logged  # the gateway's records were captured
    assert value not in logged
    assert "Forward the invoice" not in logged


def test_every_type_found_is_named_once_in_order(
    stub: gateway_pb2_grpc.GatewayStub, echo: EchoUpstream
) -> None:
    seen = list(echo.seen)
    request = _request(
        "raw-2", f"Mail {EMAIL} and {EMAIL}.", f"My card is {CARD}; call 212-555-0199."
    )
    code, reason = _refusal(lambda: _call(stub, request))
    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert reason == REFUSED + "CREDIT_CARD, EMAIL_ADDRESS, PHONE_NUMBER"
    assert list(echo.seen) == seen


def test_a_refused_request_opens_no_sealed_value_and_spends_none(
    stub: gateway_pb2_grpc.GatewayStub,
    gateway: BackgroundGateway,
    booking: HostedRecipient,
    opened: Opened,
) -> None:
    # A phone number sealed to the booking recipient, beside an email left as written.
    text = f"Call {PHONE} to confirm, and write to {EMAIL}."
    start = text.index(PHONE)
    phone = Finding("PHONE_NUMBER", start, start + len(PHONE), 0.9, "test", "en")
    transformer = Transformer(Keyset.generate(), {"booking": booking.recipient})
    done = transformer.apply(
        text, [FindingAction(phone, Action.SEAL, "booking")], Vault.request(), request_id="seal-1"
    )
    sealed = [sealed_to_pb(value) for value in done.sealed]
    assert done.cloud_text == f"Call <PHONE_NUMBER_1> to confirm, and write to {EMAIL}."
    stats = gateway.server.stats
    delivered, sealed_opened = len(opened.deliveries), stats.sealed_opened

    code, _ = _refusal(lambda: _call(stub, _request("seal-1", done.cloud_text, sealed=sealed)))

    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert len(opened.deliveries) == delivered
    assert stats.sealed_opened == sealed_opened
    # The refusal used nothing up: the same sealed value, in clean turns, opens once.
    clean = "Call <PHONE_NUMBER_1> to confirm."
    assert _call(stub, _request("seal-1", clean, sealed=sealed)) == clean
    assert opened.deliveries[delivered:] == [("seal-1", Delivery("<PHONE_NUMBER_1>", "booking"))]
    assert opened.right_value[-1] is True


def test_clean_turns_pass(
    stub: gateway_pb2_grpc.GatewayStub, gateway: BackgroundGateway, echo: EchoUpstream
) -> None:
    screened_out = gateway.server.stats.screened_out
    for method in ("Generate", "GenerateStream"):
        text = "Compare the economies of Germany and Japan."
        assert _call(stub, _request("clean-1", text), method) == text
        # Not screened, by design: a name may be the SDK's own surrogate for one.
        named = "Write a thank-you note to John Smith for the dinner on Friday."
        assert _call(stub, _request("clean-2", named), method) == named
    assert gateway.server.stats.screened_out == screened_out
    assert echo.seen[-1] == named


# -- the SDK under the same policy -----------------------------------------------


def test_the_default_policy_screens_replaced_types_not_surrogates(screen: PolicyScreen) -> None:
    for entity_type in (
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "US_SSN",
        "UK_NHS",
        "CONNECTION_STRING",
        "URL",
        "IP_ADDRESS",
    ):
        assert entity_type in screen.entity_types
    # Pseudonymized (a surrogate looks real) or kept somewhere: never screened.
    assert screen.entity_types.isdisjoint({"PERSON", "LOCATION", "ORGANIZATION", "DATE_TIME"})
    assert "default" not in screen.entity_types


def test_the_sdk_is_never_refused(
    client: PrivacyClient, gateway: BackgroundGateway, echo: EchoUpstream
) -> None:
    stats = gateway.server.stats
    screened_out, requests = stats.screened_out, stats.requests
    for prompt in SDK_PROMPTS:
        reply = client.generate(prompt)  # a refusal would raise GatewayAuthError
        assert reply.route is Route.CLOUD, prompt
        assert reply.decision.fallbacks == ()
    with client.stream(SDK_PROMPTS[0]) as pieces:
        assert "".join(pieces) == SDK_PROMPTS[0]
    session = client.session("You answer briefly.")
    for prompt in SDK_PROMPTS[:3]:  # history, assistant turns included, is screened too
        assert session.send(prompt).route is Route.CLOUD
    assert stats.screened_out == screened_out
    assert stats.requests == requests + len(SDK_PROMPTS) + 4
    for value in (EMAIL, CARD, "maria.garcia@acme.io", "hunter2"):
        assert not any(value in seen for seen in echo.seen)


def test_what_the_sdk_sends_for_the_policy_tests_passes_the_screen(
    client: PrivacyClient, policy: Policy, screen: PolicyScreen
) -> None:
    # Offline, the policy's own test prompts: every one the SDK would send is clean.
    sent = []
    for case in policy.tests:
        result = client.sanitize(case.prompt)
        if result.cloud_text is not None:
            sent.append(result.cloud_text)
            assert screen((result.cloud_text,)) == (), case.name
    assert len(sent) >= 10
    # and the screen is not blind to them as written
    assert screen(tuple(case.prompt for case in policy.tests)) != ()


def test_sealed_values_from_the_sdk_pass_the_screen(
    analyzer: Analyzer, booking: HostedRecipient, opened: Opened, tmp_path: Path
) -> None:
    # The default policy seals nothing: this one is the default with phone numbers sealed.
    path = tmp_path / "sealing.yaml"
    path.write_text(
        textwrap.dedent(f"""\
            apiVersion: privacy-partition/v1
            name: sealing
            extends: {DEFAULT}
            entities:
              PHONE_NUMBER: {{action: seal, recipient: booking}}
            recipients:
              booking: {{description: the booking tool}}
            """)
    )
    policy = load_policy(path)
    screen = PolicyScreen(policy, analyzer=analyzer)
    assert "PHONE_NUMBER" in screen.entity_types
    server = GatewayServer(EchoUpstream(), [booking], screen=screen)
    prompt = f"Book a table for two for Dana Whitfield, call {PHONE} and mail {EMAIL}."
    with (
        BackgroundGateway(server) as gateway,
        PrivacyClient.from_policy(
            policy, gateway=gateway.target, analyzer=analyzer, local_model=False
        ) as client,
    ):
        reply = client.generate(prompt)
    assert reply.route is Route.CLOUD
    assert reply.text == prompt
    assert reply.decision.actions["PHONE_NUMBER"] == ("seal",)
    assert opened.deliveries[-1] == (reply.request_id, Delivery("<PHONE_NUMBER_1>", "booking"))
    assert opened.right_value[-1] is True
    assert (server.stats.screened_out, server.stats.sealed_opened) == (0, 1)


# -- failing closed ---------------------------------------------------------------


def _raises(turns: tuple[str, ...]) -> tuple[str, ...]:
    raise RuntimeError(f"cannot screen {turns[0]!r}")


def _answers_a_value(turns: tuple[str, ...]) -> tuple[str, ...]:
    return (EMAIL,)


def _answers_a_string(turns: tuple[str, ...]) -> str:
    return "EMAIL_ADDRESS"


@pytest.mark.parametrize("broken", [_raises, _answers_a_value, _answers_a_string])
def test_a_screen_that_fails_refuses_the_request(
    broken: Screen,
    booking: HostedRecipient,
    opened: Opened,
    caplog: pytest.LogCaptureFixture,
) -> None:
    echo = EchoUpstream()
    server = GatewayServer(echo, [booking], screen=broken)
    text = f"Write to {EMAIL}."
    delivered = len(opened.deliveries)
    with (
        caplog.at_level(logging.DEBUG),
        BackgroundGateway(server) as gateway,
        grpc.insecure_channel(gateway.target) as channel,
    ):
        stub = gateway_pb2_grpc.GatewayStub(channel)
        code, reason = _refusal(lambda: _call(stub, _request("broken-1", text)))
        stream_code, _ = _refusal(lambda: _call(stub, _request("broken-2", text), "GenerateStream"))
    assert code is stream_code is grpc.StatusCode.INTERNAL
    assert reason == UNSCREENED
    assert not echo.seen
    assert len(opened.deliveries) == delivered
    assert (server.stats.screen_failures, server.stats.screened_out) == (2, 0)
    logged = _logged(caplog)
    assert "screen failed" in logged
    assert EMAIL not in logged


def test_importing_the_cloud_package_loads_no_policy_machinery() -> None:
    code = (
        "import sys, privacy_partition.cloud as cloud; cloud.PolicyScreen; cloud.GatewayServer;"
        " print(sorted(m for m in sys.modules if m.startswith('privacy_partition.policy')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
