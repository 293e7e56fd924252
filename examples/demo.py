#!/usr/bin/env python3
"""The boundary demo (``make demo``): one conversation, four routes, and what the cloud saw.

Everything runs on this machine, offline:

* a reference gateway on loopback (a free port), whose upstream is the
  SmolLM2 model (``OnnxUpstream``) standing in for a large cloud model, wrapped
  so that this demo can show the text the gateway forwarded to it;
* a ``booking`` recipient hosted by the gateway, with an X25519 key made at
  start: the only party that can open the card number sealed to it;
* a ``PrivacyClient`` under ``examples/demo_policy.yaml`` with its own copy of
  SmolLM2 as the on-device model, running a scripted chat session.

The four turns take the four routes: a health question is answered on the
device, a note with a name and an email goes to the cloud with both replaced
(the answer is restored here), a booking goes with the card sealed to the
booking tool, and a prompt with a US social security number is refused.

    python examples/demo.py          # after `privacy-partition model build`

Only the first column prints the values you typed (your own input, on your
own device). The cloud column is what the cloud model received; values in
answers and what the booking tool opened are printed masked.
"""

from __future__ import annotations

import re
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

from privacy_partition import PolicyViolation, PrivacyClient
from privacy_partition.cloud import (
    BackgroundGateway,
    ChatMessage,
    Delivery,
    GatewayServer,
    GenerationOptions,
    HostedRecipient,
    OnnxUpstream,
    Role,
    Upstream,
    UpstreamAnswer,
    UpstreamPiece,
)
from privacy_partition.local import LocalModel, smollm2_folder

POLICY = Path(__file__).resolve().parent / "demo_policy.yaml"

# The scripted conversation: one turn per route.
CONVERSATION = [
    # local: the policy's health topic keeps it on the device
    "I've had chest pain for two days and my doctor prescribed nitroglycerin,"
    " what should I watch for?",
    # cloud: the name and the email become handles, restored in the answer
    "Write a short note to Maria Lopez at maria.lopez@example.com thanking her for the workshop",
    # cloud: the card is sealed to the booking tool; the model sees a handle
    "Book a table for two on Friday at 7pm and pay with my card 4111 1111 1111 1111",
    # block: a US social security number refuses the request
    "My SSN is 536-22-1234, can you fill in my tax form?",
]
MAX_TOKENS = 64  # per answer, on both sides: a 135M model on a laptop CPU
ANSWER_CHARS = 150
WIDTHS = (30, 30, 5, 38)  # the table's columns, in characters


# -- the cloud side ------------------------------------------------------------


class RecordingUpstream:
    """Wraps an upstream and keeps the turns it was given, in memory only.

    The demo's window into the cloud: ``calls`` holds, per call, the turns
    exactly as the gateway forwarded them. Nothing is logged or written.
    """

    def __init__(self, inner: Upstream) -> None:
        self._inner = inner
        self.calls: list[tuple[ChatMessage, ...]] = []

    async def generate(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> UpstreamAnswer:
        self.calls.append(tuple(messages))
        return await self._inner.generate(messages, options)

    def stream(
        self, messages: Sequence[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[UpstreamPiece]:
        self.calls.append(tuple(messages))
        return self._inner.stream(messages, options)  # the gateway closes it when it ends

    async def aclose(self) -> None:
        await self._inner.aclose()


class BookingTool:
    """What the booking tool behind the gateway does with a card: here, remember it masked."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def on_open(self, request_id: str, delivery: Delivery, value: str) -> None:
        # A real tool would charge the card here; the demo keeps its last four digits.
        digits = re.sub(r"\D", "", value)
        self.opened.append(f"{delivery.handle} -> card ending {digits[-4:]}")


# -- the table -----------------------------------------------------------------


def _replaced_values(client: PrivacyClient, typed: str) -> list[tuple[str, str]]:
    """(type, value) of each finding in ``typed`` that the policy does not send as written."""
    findings = client.explain(typed)["findings"]
    return [
        (f["entity_type"], typed[f["start"] : f["end"]]) for f in findings if f["action"] != "keep"
    ]


def _masked(text: str, values: Iterable[tuple[str, str]]) -> str:
    """``text`` with each (type, value) shown as ``«TYPE»``, longest value first."""
    for entity, value in sorted(values, key=lambda item: -len(item[1])):
        text = text.replace(value, f"«{entity}»")
    return text


def _short(text: str, limit: int = ANSWER_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(headers: Sequence[str], widths: Sequence[int], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> list[str]:
        wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(cells, widths, strict=True)]
        height = max(len(w) for w in wrapped)
        return [
            "| "
            + " | ".join(
                (w[i] if i < len(w) else "").ljust(width)
                for w, width in zip(wrapped, widths, strict=True)
            )
            + " |"
            for i in range(height)
        ]

    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [rule, *line(headers), rule.replace("-", "=")]
    for row in rows:
        out += [*line(row), rule]
    return "\n".join(out)


# -- the conversation ----------------------------------------------------------


def main() -> int:
    began = time.perf_counter()
    folder = smollm2_folder()
    if not (folder / "genai_config.json").is_file():
        print("no local model: run `make models` (or `privacy-partition model build`)")
        return 2

    booking = BookingTool()
    # The cloud model: SmolLM2 served by the gateway, standing in for a large model.
    cloud = RecordingUpstream(OnnxUpstream(folder, max_tokens=MAX_TOKENS))
    server = GatewayServer(cloud, [HostedRecipient.generate("booking", on_open=booking.on_open)])
    rows: list[list[str]] = []
    typed_values: list[tuple[str, str]] = []  # every value the policy replaces, all turns
    with (
        BackgroundGateway(server) as gateway,  # 127.0.0.1, a port the OS picks
        PrivacyClient.from_policy(
            POLICY,
            gateway=gateway.target,
            local_model=LocalModel(folder),  # the device's own copy
            options=GenerationOptions(max_tokens=MAX_TOKENS),
        ) as client,
    ):
        print(f"gateway on {gateway.target}; ready in {time.perf_counter() - began:.1f} s\n")
        # No system prompt: it would be scored for topics together with the
        # first turn, and a generic one dilutes the health score.
        session = client.session()
        for typed in CONVERSATION:
            typed_values += _replaced_values(client, typed)
            calls = len(cloud.calls)
            try:
                reply = session.send(typed)
                # The answer may repeat values of earlier turns too: mask them all.
                route, answer = reply.route.value, _masked(reply.text, typed_values)
            except PolicyViolation as refused:
                route, answer = "block", f"refused: {refused.reasons[0]}"
            if len(cloud.calls) > calls:
                # The turns the gateway forwarded: the session's history, then this one.
                *history, last = [m.content for m in cloud.calls[-1] if m.role is not Role.SYSTEM]
                seen = f"{last} (+ {len(history)} earlier turns)" if history else last
            else:
                seen = "(nothing was sent)"
            rows.append([typed, seen, route, _short(answer)])

    print(
        _table(["you typed", "the cloud saw", "route", "the answer, on the device"], WIDTHS, rows)
    )
    print("«TYPE»: a value you typed, in the answer (restored on the device); masked here.")
    print("(+ N earlier turns): the session's history, transformed; local turns never go.")
    print("\nthe booking tool behind the gateway opened (masked here):")
    for line in booking.opened or ["(nothing)"]:
        print(f"  {line}")
    # Every turn the cloud model got, history included, against every replaced value.
    forwarded = "\n".join(m.content for call in cloud.calls for m in call)
    leaked = sorted({entity for entity, value in typed_values if value in forwarded})
    verdict = f"FAILED: {', '.join(leaked)} reached" if leaked else "no replaced value reached"
    print(f"\nleak check: {verdict} the cloud model in {len(cloud.calls)} calls")
    print(f"done in {time.perf_counter() - began:.1f} s")
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
