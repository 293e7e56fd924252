#!/usr/bin/env python3
"""What the OpenAI-compatible proxy costs an app, against calling the same upstream directly.

The upstream is ``OpenAICompatibleEcho`` (a chat-completions server on
loopback that answers with the prompt). The same PUPA prompts go, with the
``openai`` package's HTTP client settings, (a) straight to it, and (b)
through ``privacy-partition proxy``'s app (default policy, the gateway on
loopback in front of the same echo, no local model: prompts the policy keeps
on the device are refused, and counted apart). Each at 1 and 8 concurrent
clients, the two alternating prompt by prompt. Detection alone (the
Analyzer on the same prompts, one at a time) is timed in the same run, so
the overhead is given with detection and without it.

    python bench/proxy_overhead.py --data ../shared/data/pupa/PUPA_New.csv [--prompts 200]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from figures import add_json_option, write_figures

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed_post(client: httpx.Client, url: str, prompt: str) -> tuple[float, int]:
    body = {"model": "m", "messages": [{"role": "user", "content": prompt}]}
    started = time.perf_counter()
    response = client.post(url, json=body)
    return (time.perf_counter() - started) * 1000, response.status_code


def run(urls: dict[str, str], prompts: list[str], clients: int) -> dict[str, list[float]]:
    """Latency per target; the targets alternate prompt by prompt within each client."""
    results: dict[str, list[float]] = {name: [] for name in urls}
    refused = {name: 0 for name in urls}

    def worker(share: list[str]) -> None:
        with httpx.Client(timeout=120) as client:
            for prompt in share:
                for name, url in urls.items():
                    ms, status = timed_post(client, url, prompt)
                    if status == 200:
                        results[name].append(ms)
                    else:
                        refused[name] += 1

    shares = [prompts[i::clients] for i in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, shares))
    for name, count in refused.items():
        if count:
            print(f"  ({name}: {count} prompts refused or kept on the device, not timed)")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/pupa/PUPA_New.csv")
    parser.add_argument("--prompts", type=int, default=200)
    add_json_option(parser)
    args = parser.parse_args()

    from privacy_partition import PrivacyClient
    from privacy_partition.cloud import (
        BackgroundGateway,
        GatewayServer,
        OpenAICompatibleEcho,
        OpenAIUpstream,
    )
    from privacy_partition.proxy import BackgroundProxy, ProxyConfig, create_app

    csv.field_size_limit(sys.maxsize)
    with args.data.open(newline="", encoding="utf-8") as f:
        prompts = [row["user_query"] for row in csv.DictReader(f)][: args.prompts]

    with contextlib.ExitStack() as stack:
        echo = stack.enter_context(OpenAICompatibleEcho())
        gateway = stack.enter_context(
            BackgroundGateway(GatewayServer(OpenAIUpstream(echo.base_url, "echo")))
        )
        client = stack.enter_context(
            PrivacyClient.from_policy(
                ROOT / "policies" / "default.yaml", gateway=gateway.target, local_model=False
            )
        )
        config = ProxyConfig(max_conversations=0)  # one turn each: no session kept
        proxy = stack.enter_context(BackgroundProxy(create_app(client, config)))
        urls = {
            "direct": f"{echo.base_url}/chat/completions",
            "proxy": f"{proxy.base_url}/chat/completions",
        }
        for prompt in prompts[:10]:  # warm both paths
            for url in urls.values():
                httpx.post(
                    url, json={"model": "m", "messages": [{"role": "user", "content": prompt}]}
                )
        detection = []
        for prompt in prompts:
            started = time.perf_counter()
            client.analyze(prompt)
            detection.append((time.perf_counter() - started) * 1000)

        print(f"{len(prompts)} prompts of {args.data.name}; the echo upstream on loopback\n")
        print("| clients | path | p50 ms | p99 ms | p50 overhead | p50 overhead less detection |")
        print("|---|---|---|---|---|---|")
        detection_p50 = statistics.median(detection)
        figures: list[dict[str, object]] = []
        for clients in (1, 8):
            results = run(urls, prompts, clients)
            figures += [
                {
                    "clients": clients,
                    "path": name,
                    "answered": len(times),
                    "p50_ms": statistics.median(times),
                    "p99_ms": percentile(times, 0.99),
                }
                for name, times in results.items()
            ]
            direct_p50 = statistics.median(results["direct"])
            for name in urls:
                p50 = statistics.median(results[name])
                p99 = percentile(results[name], 0.99)
                if name == "direct":
                    extra = extra_less = "-"
                else:
                    extra = f"{p50 - direct_p50:.1f} ms"
                    extra_less = f"{p50 - direct_p50 - detection_p50:.1f} ms"
                print(f"| {clients} | {name} | {p50:.1f} | {p99:.1f} | {extra} | {extra_less} |")
        print(f"\ndetection alone (the same prompts, one at a time): p50 {detection_p50:.1f} ms")
    write_figures(
        args.json,
        {
            "prompts": len(prompts),
            "data": args.data.name,
            "detection_p50_ms": detection_p50,
            "runs": figures,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
