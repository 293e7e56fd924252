#!/usr/bin/env python3
"""Quickstart: one prompt answered in the cloud, one on the device, through PrivacyClient.

A reference gateway runs in this process on loopback with the ``echo``
upstream: it answers with exactly what it received, so the output shows what
the cloud saw and the answer restored on the device. The local model is the
SmolLM2 build that ``privacy-partition model build`` (or ``make models``) makes.

    python examples/quickstart.py
"""

from __future__ import annotations

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

PROMPTS = [
    # Contact details are replaced before the prompt leaves; the answer is restored.
    "Write a two-line note to jane.doe@example.org saying the report is ready.",
    # A government identifier keeps the request on the device (policy: UK_NHS is local).
    "My NHS number is 943 476 5919. Which clinic should I call about a repeat prescription?",
]


def main() -> None:
    echo = EchoUpstream()
    model: Path | None = smollm2_folder()
    if model is not None and not (model / "genai_config.json").is_file():
        print("no local model: run `privacy-partition model build` for the local answer\n")
        model = None  # the local prompt is then refused, as the policy's fallback says
    with (
        BackgroundGateway(GatewayServer(echo)) as gateway,
        PrivacyClient.from_policy(
            POLICY,
            gateway=gateway.target,
            local_model=model,
            options=GenerationOptions(max_tokens=48),
        ) as client,
    ):
        for prompt in PROMPTS:
            print(f"prompt:    {prompt}")
            seen = len(echo.seen)
            try:
                reply = client.generate(prompt)
            except PolicyViolation as refused:
                print(f"refused:   {'; '.join(refused.reasons)}\n")
                continue
            print(f"route:     {reply.route.value}")
            print(f"entities:  {dict(reply.decision.entities)}")
            print(f"actions:   {dict(reply.decision.actions)}")
            if len(echo.seen) > seen:
                print(f"cloud saw: {echo.seen[-1]}")
            print(f"reply:     {reply.text.strip()}\n")


if __name__ == "__main__":
    main()
