#!/usr/bin/env python3
"""An unmodified OpenAI program gets the boundary by changing its base_url.

``app()`` below is an ordinary program written for the ``openai`` package.
Pointed at ``privacy-partition proxy`` instead of a provider, its prompts are
detected and decided on this device: one goes to the cloud with its values
replaced and comes back restored, one is answered by the local model, one is
refused. The cloud here is the gateway with an echo model, which answers with
the prompt it received, so the printout shows, side by side, what the cloud
saw and what the app got back. The values are masked in the printout.

The same, with the CLI (a gateway on 127.0.0.1:50051)::

    privacy-partition proxy --policy policies/default.yaml --gateway 127.0.0.1:50051
    # then, in the app: OpenAI(base_url="http://127.0.0.1:8787/v1", api_key="unused")
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import openai

from privacy_partition import PrivacyClient
from privacy_partition.cloud import BackgroundGateway, EchoUpstream, GatewayServer
from privacy_partition.proxy import ROUTE_HEADER, BackgroundProxy, ProxyConfig, create_app

POLICY = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"
VALUES = {
    "Marguerite Okafor": "«PERSON»",
    "m.okafor@example.org": "«EMAIL_ADDRESS»",
    "943 476 5919": "«UK_NHS»",
    "536-22-1234": "«US_SSN»",
}
PROMPTS = (
    "Write two friendly lines to Marguerite Okafor (m.okafor@example.org) about Friday.",
    "My NHS number is 943 476 5919. Which clinic should I call?",
    "My SSN is 536-22-1234, fill in the tax form for me.",
)


def app(base_url: str) -> list[tuple[str, str]]:
    """The application: plain openai code; only ``base_url`` points at the proxy."""
    client = openai.OpenAI(base_url=base_url, api_key="unused")
    answers = []
    for prompt in PROMPTS:
        try:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": prompt}],
                max_tokens=24,
            )
        except openai.PermissionDeniedError as refused:
            answers.append(("refused", refused.message))
            continue
        answers.append((raw.headers[ROUTE_HEADER], raw.parse().choices[0].message.content or ""))
    return answers


def masked(text: str) -> str:
    for value, mask in VALUES.items():
        text = text.replace(value, mask)
    return text


def main() -> int:
    echo = EchoUpstream()
    with contextlib.ExitStack() as stack:
        gateway = stack.enter_context(BackgroundGateway(GatewayServer(echo)))
        # The local model is SmolLM2 when `make models` built it; otherwise local requests
        # follow the policy's fallback (refused).
        client = stack.enter_context(PrivacyClient.from_policy(POLICY, gateway=gateway.target))
        proxy = stack.enter_context(
            BackgroundProxy(create_app(client, ProxyConfig(local_model="smollm2")))
        )
        print(f"proxy {proxy.base_url} -> gateway {gateway.target} (echo model)")
        for prompt, (route, answer) in zip(PROMPTS, app(proxy.base_url), strict=True):
            seen = echo.seen.pop() if echo.seen else None
            print(f"\nthe app asked:       {masked(prompt)}")
            print(f"route:               {route}")
            print(f"the cloud received:  {'nothing' if seen is None else seen}")
            print(f"the app got back:    {masked(answer)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
