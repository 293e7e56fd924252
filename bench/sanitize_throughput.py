#!/usr/bin/env python3
"""Sanitize throughput: prompts per second through detection, policy and transform.

The in-process path of ``privacy-partition sanitize --jsonl``: one Sanitizer
(the policy's Analyzer with the default ONNX NER model, its topic model when
the policy declares topics, the transformer), built once and warmed up as an
app would at start-up. Then every prompt of the file twice: in batches of
``--batch`` (32, as the CLI batches them), timed as a whole for prompts/s, and
one at a time, as a single request sees it, for p50/p95 latency. Prints the
load time, both figures and the routes the prompts took.

    python bench/sanitize_throughput.py --data ../shared/data/pupa/PUPA_New.csv
        [--policy policies/default.yaml] [--limit N] [--batch 32] [--json PATH]
"""

from __future__ import annotations

import argparse
import csv
import logging
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from figures import add_json_option, write_figures
from privacy_partition._sanitize import Sanitizer
from privacy_partition.policy import load_policy
from privacy_partition.transform import Keyset

logging.disable(logging.WARNING)
csv.field_size_limit(sys.maxsize)

DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"
WARM_UP_PROMPTS = 5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a CSV with a user_query column")
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch", type=int, default=32)
    add_json_option(parser)
    args = parser.parse_args()
    with args.data.open(newline="", encoding="utf-8") as f:
        prompts = [row["user_query"] for row in csv.DictReader(f)][: args.limit]
    if not prompts:
        raise SystemExit(f"{args.data}: no prompts")

    started = time.perf_counter()
    # A keyset of its own: $PRIVACY_PARTITION_KEYSET, if set, must not change the figures.
    sanitizer = Sanitizer(load_policy(args.policy), keyset=Keyset.generate())
    load_s = time.perf_counter() - started
    sanitizer.sanitize_batch(prompts[:WARM_UP_PROMPTS])

    routes: Counter[str] = Counter()
    started = time.perf_counter()
    for i in range(0, len(prompts), args.batch):
        routes.update(r.route.value for r in sanitizer.sanitize_batch(prompts[i : i + args.batch]))
    batched_s = time.perf_counter() - started

    single: list[float] = []
    for text in prompts:
        began = time.perf_counter()
        sanitizer.sanitize(text)
        single.append(time.perf_counter() - began)

    chars = sum(len(p) for p in prompts)
    rate = len(prompts) / batched_s
    print(
        f"python {platform.python_version()} on {platform.machine()}; {len(prompts)} prompts of "
        f"{args.data.name}, mean {chars / len(prompts):.0f} characters; policy {args.policy.name}"
    )
    print(f"sanitizer start-up (models, recognizers, transformer): {load_s:.2f} s")
    print(f"batches of {args.batch}: {rate:.1f} prompts/s, {chars / batched_s / 1e3:.1f} k chars/s")
    print(
        f"one at a time: p50 {statistics.median(single) * 1e3:.1f} ms, "
        f"p95 {percentile(single, 0.95) * 1e3:.1f} ms, "
        f"{len(prompts) / sum(single):.1f} prompts/s"
    )
    print("routes: " + ", ".join(f"{route} {n}" for route, n in sorted(routes.items())))
    write_figures(
        args.json,
        {
            "data": args.data.name,
            "policy": args.policy.name,
            "prompts": len(prompts),
            "mean_chars": chars / len(prompts),
            "batch": args.batch,
            "load_s": load_s,
            "batched_prompts_per_s": rate,
            "batched_kchars_per_s": chars / batched_s / 1e3,
            "single_p50_ms": statistics.median(single) * 1e3,
            "single_p95_ms": percentile(single, 0.95) * 1e3,
            "single_prompts_per_s": len(prompts) / sum(single),
            "routes": dict(sorted(routes.items())),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
