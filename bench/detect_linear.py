#!/usr/bin/env python3
"""Detection time against input length: microseconds per character at n and 4n.

For each kind of input (prose, values dense, and the pathological shapes of
the hostile-input suite) the text is analyzed at ``n`` and ``4n`` characters
by this engine (NER model on, the default) and by stock Presidio on the same
spaCy pipeline, alternating. ``growth`` is the cost per character at 4n over
the cost per character at n: 1.0 is linear time, 4.0 quadratic. Stock
Presidio runs at ``n / 4`` and ``n`` (it is quadratic on some shapes: at 4n
one input takes minutes). Each figure is the least of ``--repeat`` timings.
With ``--busy`` a second process keeps the other core loaded throughout; the
growth ratios should not move with it.

    python bench/detect_linear.py [--chars 8192] [--repeat 3] [--busy] [--json PATH]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable

from detect_latency import stock_presidio
from figures import add_json_option, write_figures
from privacy_partition.detection import Analyzer, AnalyzerConfig

logging.disable(logging.WARNING)


def _repeat(unit: str, chars: int) -> str:
    return (unit * (chars // len(unit) + 1))[:chars]


PROSE = (
    "The committee met on a rainy Tuesday to discuss the budget for the new library. "
    "Several members asked whether the reading room could stay open later in winter. "
)
MIXED = (
    "Hi, I'm Maria Lopez from Denver; write to maria.lopez@example.org or call "
    "(303) 555-0147. My card 4111 1111 1111 1111 expires soon. Thanks! "
)
CHINESE = "我叫王小明，手机13800138000，住在北京市朝阳区。"

INPUTS: dict[str, Callable[[int], str]] = {
    "prose": lambda n: _repeat(PROSE, n),
    "mixed values in prose": lambda n: _repeat(MIXED, n),
    "dense values": lambda n: _repeat("jane@example.org 212-555-0199 john ", n),
    "nested parentheses": lambda n: "(" * (n // 2) + ")" * (n - n // 2),
    "markdown brackets": lambda n: _repeat("[a](b)", n),
    "one run, no whitespace": lambda n: "a" * n,
    "one-character words": lambda n: _repeat("1 ", n),
    "Chinese without spaces": lambda n: _repeat(
        "我叫王小明，手机13800138000，住在北京市朝阳区。", n
    ),
}


def _time(analyze: Callable[[str], object], text: str, repeat: int) -> float:
    """The least of ``repeat`` timings: what the work costs, less the machine's noise."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        analyze(text)
        times.append(time.perf_counter() - start)
    return min(times)


def _burn() -> None:  # pragma: no cover - a load for the other core
    while True:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chars", type=int, default=8192, help="n (default 8192)")
    parser.add_argument("--busy", action="store_true", help="load the other core meanwhile")
    parser.add_argument("--repeat", type=int, default=3, help="timings per figure, least kept")
    add_json_option(parser)
    args = parser.parse_args()
    n = args.chars
    ours = Analyzer(AnalyzerConfig(max_chars=4 * n)).analyze
    stock = stock_presidio()
    for analyze in (ours, stock):
        analyze(MIXED)  # warm

    burner = None
    if args.busy:
        burner = multiprocessing.Process(target=_burn, daemon=True)
        burner.start()
    rows: dict[str, dict[str, float]] = {}
    try:
        for kind, make in INPUTS.items():
            small, large = make(n), make(4 * n)
            stock_small, stock_large = make(n // 4), small
            figures = {
                "ours_us_per_char_n": _time(ours, small, args.repeat) / n * 1e6,
                "stock_us_per_char_n/4": _time(stock, stock_small, args.repeat) / (n // 4) * 1e6,
                "ours_us_per_char_4n": _time(ours, large, args.repeat) / (4 * n) * 1e6,
                "stock_us_per_char_n": _time(stock, stock_large, args.repeat) / n * 1e6,
            }
            figures["ours_growth"] = figures["ours_us_per_char_4n"] / figures["ours_us_per_char_n"]
            figures["stock_growth"] = (
                figures["stock_us_per_char_n"] / figures["stock_us_per_char_n/4"]
            )
            rows[kind] = figures
    finally:
        if burner is not None:
            burner.terminate()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; n = {n} characters; other core "
        f"{'loaded' if args.busy else 'idle'}"
    )
    print()
    print(
        f"| input | ours µs/char at {n} | at {4 * n} | growth | "
        f"stock µs/char at {n // 4} | at {n} | stock growth |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind, f in rows.items():
        print(
            f"| {kind} | {f['ours_us_per_char_n']:.1f} | {f['ours_us_per_char_4n']:.1f} | "
            f"{f['ours_growth']:.2f}x | {f['stock_us_per_char_n/4']:.1f} | "
            f"{f['stock_us_per_char_n']:.1f} | {f['stock_growth']:.2f}x |"
        )
    worst = max(f["ours_us_per_char_4n"] for f in rows.values())
    print()
    print(
        f"worst case: {worst:.0f} µs per character, so the default limit of "
        f"{AnalyzerConfig().max_chars} characters takes at most about "
        f"{worst * AnalyzerConfig().max_chars / 1e6:.1f} s here"
    )
    write_figures(
        args.json,
        {"chars": n, "busy": args.busy, "baseline": "stock Presidio", "inputs": rows},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
