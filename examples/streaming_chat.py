#!/usr/bin/env python3
"""A streamed conversation: one session vault, each turn routed by the policy.

The cloud turns go through a loopback gateway (``echo`` upstream, slowed down
so that the streaming shows) with personal values replaced; the answer is
restored while it arrives, a handle split across chunks included. The turn
with a government identifier is answered on the device by the local model and
never reaches the cloud, not even as history in the turns that follow.

    python examples/streaming_chat.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from privacy_partition import PolicyViolation, PrivacyClient
from privacy_partition.cloud import (
    BackgroundGateway,
    EchoUpstream,
    GatewayServer,
    GenerationOptions,
)
from privacy_partition.local import smollm2_folder

POLICY = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"

TURNS = [
    "My email is dana.whitfield@example.org. Draft a short note about the offsite.",
    "My NHS number is 943 476 5919. Which clinic should I call?",
    "Sign the note with my email dana.whitfield@example.org.",
]


def main() -> None:
    echo = EchoUpstream(chunk_chars=4, delay_s=0.01)
    model = smollm2_folder()
    with (
        BackgroundGateway(GatewayServer(echo)) as gateway,
        PrivacyClient.from_policy(
            POLICY,
            gateway=gateway.target,
            local_model=model if (model / "genai_config.json").is_file() else None,
            options=GenerationOptions(max_tokens=48),
        ) as client,
    ):
        session = client.session(system="You are a concise assistant.")
        for turn in TURNS:
            print(f"you> {turn}")
            try:
                with session.stream(turn) as pieces:
                    for piece in pieces:
                        sys.stdout.write(piece)
                        sys.stdout.flush()
                    reply = pieces.reply
            except PolicyViolation as refused:
                print(f"[refused: {'; '.join(refused.reasons)}]\n")
                continue
            assert reply is not None
            print(f"\n[route: {reply.route.value}]")
            if reply.route.value == "cloud":
                print(f"[the cloud saw: {echo.seen[-1]!r}]")
            print()


if __name__ == "__main__":
    main()
