"""A split request end to end: the model plans with handles, the booking tool gets the values.

A real gateway on loopback with the echo upstream and a hosted ``booking``
recipient; a policy that seals phone and card numbers to ``booking``. The
upstream must see only handles, the booking hook the opened values, and the
app the answer with the values restored.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from privacy_partition import PrivacyClient, Route
from privacy_partition.cloud import (
    BackgroundGateway,
    Delivery,
    EchoUpstream,
    GatewayServer,
    HostedRecipient,
)
from privacy_partition.detection import Analyzer

NAME = "Dana Whitfield"
PHONE = "+1 415 555 0100"
CARD = "4111 1111 1111 1111"
PROMPT = f"Book a table for two tonight for {NAME}, call {PHONE} to confirm and charge {CARD}."

POLICY = """\
apiVersion: privacy-partition/v1
name: split-booking
entities:
  default: {action: redact}
  PHONE_NUMBER: {action: seal, recipient: booking}
  CREDIT_CARD: {action: seal, recipient: booking}
  DATE_TIME: {action: keep}
recipients:
  booking: {description: the booking tool; its key comes from the gateway}
routing:
  - {name: everything, route: cloud}
fallback: {cloud_unavailable: block}
"""


@dataclass
class Opened:
    """What the booking hook saw: request ids and handles, and whether each value was right."""

    deliveries: list[tuple[str, Delivery]] = field(default_factory=list)
    right_value: list[bool] = field(default_factory=list)


@pytest.fixture(scope="module")
def opened() -> Opened:
    return Opened()


@pytest.fixture(scope="module")
def echo() -> EchoUpstream:
    return EchoUpstream(chunk_chars=5)


@pytest.fixture(scope="module")
def gateway(echo: EchoUpstream, opened: Opened) -> Iterator[BackgroundGateway]:
    expected = {"PHONE_NUMBER": PHONE, "CREDIT_CARD": CARD}

    def on_open(request_id: str, delivery: Delivery, value: str) -> None:
        opened.deliveries.append((request_id, delivery))
        label = delivery.handle.strip("<>").rsplit("_", 1)[0]
        opened.right_value.append(expected.get(label) == value)  # a verdict, never the value

    booking = HostedRecipient.generate("booking", on_open=on_open)
    with BackgroundGateway(GatewayServer(echo, [booking])) as gw:
        yield gw


@pytest.fixture(scope="module")
def client(
    analyzer: Analyzer, gateway: BackgroundGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivacyClient]:
    path = tmp_path_factory.mktemp("split") / "split.yaml"
    path.write_text(textwrap.dedent(POLICY))
    with PrivacyClient.from_policy(path, gateway=gateway.target, analyzer=analyzer) as client:
        yield client


def test_the_model_sees_handles_the_tool_gets_values_the_app_the_answer(
    client: PrivacyClient, echo: EchoUpstream, opened: Opened
) -> None:
    reply = client.generate(PROMPT)

    seen = echo.seen[-1]
    for value in (NAME, PHONE, CARD, "4111", "555 0100"):
        assert value not in seen
    assert "<PHONE_NUMBER_1>" in seen
    assert "<CREDIT_CARD_1>" in seen
    assert "<PERSON_1>" in seen

    mine = [d for rid, d in opened.deliveries if rid == reply.request_id]
    assert sorted(mine, key=lambda d: d.handle) == [
        Delivery("<CREDIT_CARD_1>", "booking"),
        Delivery("<PHONE_NUMBER_1>", "booking"),
    ]
    assert opened.right_value
    assert all(opened.right_value)

    assert reply.route is Route.CLOUD
    assert reply.text == PROMPT
    assert PHONE in reply.text
    assert CARD in reply.text
    assert reply.decision.actions["PHONE_NUMBER"] == ("seal",)
    assert reply.decision.actions["CREDIT_CARD"] == ("seal",)


def test_a_streamed_split_request_restores_while_it_arrives(
    client: PrivacyClient, echo: EchoUpstream, opened: Opened
) -> None:
    count = len(opened.deliveries)
    with client.stream(PROMPT) as pieces:
        text = "".join(pieces)
    assert text == PROMPT
    assert PHONE not in echo.seen[-1]
    assert len(opened.deliveries) == count + 2
    assert all(opened.right_value)


def test_a_session_seals_each_turn_and_keeps_handles(
    client: PrivacyClient, echo: EchoUpstream, opened: Opened
) -> None:
    session = client.session()
    session.send(f"My number is {PHONE}.")
    count = len(opened.deliveries)
    second = session.send(f"Confirm the booking by calling {PHONE}.")
    assert echo.seen[-1] == (
        "My number is <PHONE_NUMBER_1>.\nConfirm the booking by calling <PHONE_NUMBER_1>."
    )
    # Only the new turn's value is sealed again; the history carries its handle.
    assert [d.handle for _, d in opened.deliveries[count:]] == ["<PHONE_NUMBER_1>"]
    assert second.text.endswith(f"calling {PHONE}.")
