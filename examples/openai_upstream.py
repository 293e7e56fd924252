#!/usr/bin/env python3
"""The gateway in front of an OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, a hosted API).

Set the endpoint in the environment to use a real one::

    OPENAI_UPSTREAM_URL=http://127.0.0.1:8000/v1 OPENAI_UPSTREAM_MODEL=Qwen/Qwen2.5-7B-Instruct \\
        python examples/openai_upstream.py
    # a hosted API: also OPENAI_API_KEY (sent as a bearer token, never logged)

Without ``OPENAI_UPSTREAM_URL`` it runs offline against ``OpenAICompatibleEcho``,
a real chat-completions HTTP server on loopback that answers with the prompt
it received, and prints the request body that server got: what any endpoint
behind the gateway would see. Either way the prompt's email address leaves
as a handle and is put back in the answer on this device; the printout masks
it, as the values you typed are not printed.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from privacy_partition import PrivacyClient
from privacy_partition.cloud import (
    BackgroundGateway,
    GatewayServer,
    OpenAICompatibleEcho,
    OpenAIUpstream,
)

POLICY = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"
PROMPT = "Draft a two-line reminder to jane.doe@example.org about the budget review."


def main() -> int:
    url = os.environ.get("OPENAI_UPSTREAM_URL")
    with contextlib.ExitStack() as stack:
        echo = None
        if url:
            model = os.environ.get("OPENAI_UPSTREAM_MODEL")
            if not model:
                print("set OPENAI_UPSTREAM_MODEL to the model name the endpoint serves")
                return 2
        else:
            echo = stack.enter_context(OpenAICompatibleEcho())
            url, model = echo.base_url, "echo"
        # The gateway POSTs {url}/chat/completions; it talks to that endpoint and nothing else.
        upstream = OpenAIUpstream(url, model)
        gateway = stack.enter_context(BackgroundGateway(GatewayServer(upstream)))
        client = stack.enter_context(PrivacyClient.from_policy(POLICY, gateway=gateway.target))

        print(f"gateway {gateway.target} -> {upstream.base_url} (model {model})")
        reply = client.generate(PROMPT)
        actions = ", ".join(f"{t}={'/'.join(a)}" for t, a in reply.decision.actions.items())
        print(f"route: {reply.route.value} ({actions})")
        if echo is not None:
            body = echo.seen[-1]  # the JSON body the endpoint received over HTTP
            for message in body["messages"]:
                print(f"the endpoint received ({message['role']}): {message['content']}")
        answer = reply.text
        for finding in client.analyze(PROMPT):  # mask what was restored, for this printout
            answer = answer.replace(finding.value_in(PROMPT), f"«{finding.entity_type}»")
        print(f"the answer, restored on this device (masked here): {answer.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
