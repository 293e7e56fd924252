#!/usr/bin/env python3
"""SmolLM2 on onnxruntime-genai (our int8 build) against llama.cpp (the Q4_1 GGUF), one run.

Both engines answer the same chat-templated prompts with greedy decoding on
the same number of threads (default 2), each in its own process so that its
peak memory is its own, one after the other in this run. For each it prints
the load time, the median time to first token (tokenizing + prefill), the
median decode rate after the first token, the resident memory before loading
and at peak, and then the ratios (llama.cpp / ONNX).

The ONNX side is ``privacy_partition.local.LocalModel`` (what the SDK runs);
the llama.cpp side is ``llama-cpp-python`` from the package registry, which
``make bench-local-llamacpp`` installs into the throwaway virtual environment
``local_model/.bench-venv`` (it compiles llama.cpp from source, so it is not
part of ``make test``). Both read the GGUF of the same wheel: llama.cpp runs it
as it is (Q4_1), the SDK runs its int8 ONNX conversion.

    python bench/local_llamacpp.py [--bench-python local_model/.bench-venv/bin/python]
        [--runs 5] [--tokens 128] [--threads 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from figures import add_json_option, write_figures
from local_common import FRANCE, PROMPT, rss_mib

DEFAULT_BENCH_PYTHON = Path("local_model/.bench-venv/bin/python")


def onnx_child(folder: str, runs: int, tokens: int, threads: int) -> dict[str, Any]:
    """Measure our int8 model; also render the prompts for the llama.cpp side."""
    from privacy_partition.local import LocalModel

    before = rss_mib("VmRSS")
    started = time.perf_counter()
    model = LocalModel(Path(folder), threads=threads)
    load_s = time.perf_counter() - started
    prompt = model.apply_chat_template([{"role": "user", "content": PROMPT}])
    sample = model.apply_chat_template([{"role": "user", "content": FRANCE}])
    messages = [{"role": "user", "content": PROMPT}]
    model.generate(messages, max_new_tokens=8)  # warm-up
    ttft, rate, produced = [], [], []
    for _ in range(runs):
        result = model.generate(messages, max_new_tokens=tokens)
        ttft.append(result.ttft_s)
        rate.append(result.tokens_per_s)
        produced.append(result.tokens)
    answer = model.generate([{"role": "user", "content": FRANCE}], max_new_tokens=40).text
    return {
        "engine": "onnxruntime-genai int8",
        "load_s": load_s,
        "prompt_tokens": model.count_tokens(prompt),
        "ttft_s": statistics.median(ttft),
        "tokens_per_s": statistics.median(rate),
        "tokens": statistics.median(produced),
        "rss_before_mib": before,
        "peak_rss_mib": rss_mib("VmHWM"),
        "answer": answer,
        "prompts": {"bench": prompt, "sample": sample},
    }


def llamacpp_child(
    gguf: str, prompts: dict[str, str], runs: int, tokens: int, threads: int
) -> dict[str, Any]:
    """Measure llama.cpp on the GGUF with the prompts the ONNX side rendered."""
    from llama_cpp import Llama

    before = rss_mib("VmRSS")
    started = time.perf_counter()
    llm = Llama(
        model_path=gguf,
        n_ctx=1024,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    load_s = time.perf_counter() - started
    eos = llm.token_eos()

    def run(text: str, count: int) -> tuple[list[int], float, float]:
        began = time.perf_counter()
        # The rendered template carries its own special tokens (no extra BOS).
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        out: list[int] = []
        first = began
        for token in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
            out.append(token)
            if len(out) == 1:
                first = time.perf_counter()
            if token == eos or len(out) >= count:
                break
        ended = time.perf_counter()
        decode = (len(out) - 1) / (ended - first) if len(out) > 1 else 0.0
        return out, first - began, decode

    run(prompts["bench"], 8)  # warm-up
    ttft, rate, produced = [], [], []
    for _ in range(runs):
        out, first_s, decode = run(prompts["bench"], tokens)
        ttft.append(first_s)
        rate.append(decode)
        produced.append(len(out))
    answer_ids, _, _ = run(prompts["sample"], 40)
    answer = llm.detokenize([t for t in answer_ids if t != eos]).decode("utf-8", "replace")
    return {
        "engine": "llama.cpp Q4_1",
        "load_s": load_s,
        "prompt_tokens": len(llm.tokenize(prompts["bench"].encode(), add_bos=False, special=True)),
        "ttft_s": statistics.median(ttft),
        "tokens_per_s": statistics.median(rate),
        "tokens": statistics.median(produced),
        "rss_before_mib": before,
        "peak_rss_mib": rss_mib("VmHWM"),
        "answer": answer,
    }


def spawn(python: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [python, __file__, *args], capture_output=True, text=True, check=False, timeout=1200
    )
    if done.returncode != 0:
        raise SystemExit(f"{python} failed:\n{done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-python", type=Path, default=DEFAULT_BENCH_PYTHON)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "JSON"), help=argparse.SUPPRESS)
    add_json_option(parser)
    args = parser.parse_args()
    if args.child:
        engine, payload = args.child[0], json.loads(args.child[1])
        if engine == "onnx":
            result = onnx_child(payload["folder"], args.runs, args.tokens, args.threads)
        else:
            result = llamacpp_child(
                payload["gguf"], payload["prompts"], args.runs, args.tokens, args.threads
            )
        print(json.dumps(result))
        return

    if not args.bench_python.is_file():
        raise SystemExit(
            f"{args.bench_python} is missing: run `make bench-local-llamacpp`, which installs "
            "llama-cpp-python into local_model/.bench-venv"
        )
    from privacy_partition._artifacts import ensure_artifact
    from privacy_partition.local import SMOLLM2, build_smollm2

    folder = build_smollm2()
    gguf = ensure_artifact(SMOLLM2.source) / SMOLLM2.gguf
    common = (
        "--runs",
        str(args.runs),
        "--tokens",
        str(args.tokens),
        "--threads",
        str(args.threads),
    )
    load_before = os.getloadavg()[0]
    ours = spawn(sys.executable, *common, "--child", "onnx", json.dumps({"folder": str(folder)}))
    theirs = spawn(
        str(args.bench_python),
        *common,
        "--child",
        "llamacpp",
        json.dumps({"gguf": str(gguf), "prompts": ours.pop("prompts")}),
    )

    load_after = os.getloadavg()[0]
    print(f"SmolLM2-135M-Instruct, {args.threads} threads, greedy, {args.runs} runs (median)")
    cores = os.cpu_count() or 1
    print(f"load average {load_before:.1f} before, {load_after:.1f} after, on {cores} cores")
    # The load after includes this run's own threads: only the load before tells of other work.
    busy = load_before > cores - args.threads + 1
    if busy:
        # llama.cpp's threads spin at barriers: when other work takes a core,
        # its decode collapses far more than onnxruntime's. Such figures are not
        # the engines' own.
        print("warning: the machine is busy with other work; compare on an idle one")
    print(f"ONNX folder  {folder}")
    print(f"GGUF         {gguf}")
    header = f"{'':<24}{'load s':>8}{'prompt':>8}{'TTFT ms':>9}{'tok/s':>8}{'tokens':>8}"
    print(header + f"{'RSS0 MiB':>10}{'peak MiB':>10}")
    for row in (ours, theirs):
        print(
            f"{row['engine']:<24}{row['load_s']:>8.2f}{row['prompt_tokens']:>8}"
            f"{row['ttft_s'] * 1000:>9.1f}{row['tokens_per_s']:>8.1f}{row['tokens']:>8.0f}"
            f"{row['rss_before_mib']:>10.0f}{row['peak_rss_mib']:>10.0f}"
        )
    grown = [row["peak_rss_mib"] - row["rss_before_mib"] for row in (theirs, ours)]
    print(
        "llama.cpp / ONNX: "
        f"decode {theirs['tokens_per_s'] / ours['tokens_per_s']:.2f}x, "
        f"TTFT {theirs['ttft_s'] / ours['ttft_s']:.2f}x, "
        f"peak RSS {theirs['peak_rss_mib'] / ours['peak_rss_mib']:.2f}x, "
        f"peak RSS above start {grown[0] / grown[1]:.2f}x"
    )
    for row in (ours, theirs):
        print(f"\n{row['engine']}: Q: {FRANCE}\nA: {row['answer'].strip()[:200]}")
    write_figures(
        args.json,
        {
            "model": "SmolLM2-135M-Instruct",
            "threads": args.threads,
            "runs": args.runs,
            "max_new_tokens": args.tokens,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "cores": cores,
            "busy": busy,
            "baseline": theirs["engine"],
            "engines": [ours, theirs],
        },
    )


if __name__ == "__main__":
    main()
