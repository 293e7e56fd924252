#!/usr/bin/env python3
"""A local model on onnxruntime-genai: decode speed, first-token time, memory, disk.

Builds the model if it is missing (the build is timed apart; default: the
default model, SmolLM2), loads it once, then answers a ~60-token prompt
several times with greedy decoding and prints the median time to first token
(encoding + prefill) and decode tokens/s, the peak resident memory of the
process (the ``memory_mib`` of the model matrix) and the size of the folder.
A base model (no chat template) continues the prompt text instead.

    python bench/local_model.py [--model NAME] [--runs 5] [--tokens 128] [--threads N]
        [--json PATH]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from figures import add_json_option, write_figures
from local_common import BASE_SAMPLES, PROMPT, SAMPLES, rss_mib
from privacy_partition.local import NO_CHAT_TEMPLATE, Generation, ModelRegistry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model of the matrix (default: the default model)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per run")
    parser.add_argument("--threads", type=int, default=None, help="override intra-op threads")
    add_json_option(parser)
    args = parser.parse_args()

    registry = ModelRegistry.builtin()
    spec = registry.get(args.model) if args.model else registry.default
    if spec is None:
        raise SystemExit("the model matrix names no default model")
    built_here = spec.state() != "ready"
    started = time.perf_counter()
    folder = spec.build()
    build_s = time.perf_counter() - started
    model = spec.load(threads=args.threads)
    chat = spec.chat_template != NO_CHAT_TEMPLATE
    messages = [{"role": "user", "content": PROMPT}]
    rendered = model.apply_chat_template(messages) if chat else PROMPT

    def answer(text: str, tokens: int) -> Generation:
        if chat:
            return model.generate([{"role": "user", "content": text}], max_new_tokens=tokens)
        return model.complete(text, max_new_tokens=tokens)

    prompt_tokens = model.count_tokens(rendered)
    user_tokens = model.count_tokens(PROMPT)
    answer(PROMPT, 8)  # warm-up

    ttft, rate, produced = [], [], []
    for _ in range(args.runs):
        # No stop on end of text would be fairer for decode speed, but the
        # model rarely ends before 128 tokens on this prompt; count what it made.
        result = answer(PROMPT, args.tokens)
        ttft.append(result.ttft_s)
        rate.append(result.tokens_per_s)
        produced.append(result.tokens)
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    peak_mib = rss_mib()

    print(
        f"machine        {platform.processor() or platform.machine()}, {platform.python_version()}"
    )
    print(f"model          {spec.name}: {folder}")
    print(f"build check    {build_s:.2f} s (0.2 s when already built and verified)")
    print(f"load           {model.load_s * 1000:.0f} ms")
    print(f"prompt         {user_tokens} tokens of user text, {prompt_tokens} with the template")
    print(f"ttft           median {statistics.median(ttft) * 1000:.1f} ms over {args.runs} runs")
    print(
        f"decode         median {statistics.median(rate):.1f} tokens/s "
        f"({statistics.median(produced):.0f} tokens per run)"
    )
    print(f"peak RSS       {peak_mib:.0f} MiB (matrix memory_mib: {spec.memory_mib})")
    if built_here:
        print("               (includes this run's build: run again for the model's own figure)")
    print(f"disk           {disk / 1e6:.0f} MB")
    for question in SAMPLES if chat else BASE_SAMPLES:
        print(f"\nQ: {question}\nA: {answer(question, 60).text.strip()}")
    write_figures(
        args.json,
        {
            "model": spec.name,
            "runs": args.runs,
            "max_new_tokens": args.tokens,
            "threads": args.threads,
            "build_s": build_s,
            "built_here": built_here,
            "load_ms": model.load_s * 1000,
            "prompt_tokens": prompt_tokens,
            "user_tokens": user_tokens,
            "ttft_ms": statistics.median(ttft) * 1000,
            "tokens_per_s": statistics.median(rate),
            "tokens": statistics.median(produced),
            "peak_rss_mib": peak_mib,
            "matrix_memory_mib": spec.memory_mib,
            "disk_mb": disk / 1e6,
        },
    )


if __name__ == "__main__":
    main()
