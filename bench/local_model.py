#!/usr/bin/env python3
"""The default local model on onnxruntime-genai: decode speed, first-token time, memory, disk.

Builds SmolLM2 if it is missing (the build is timed apart), loads it once,
then answers a ~60-token prompt several times with greedy decoding and prints
the median time to first token (encoding + prefill) and decode tokens/s, the
peak resident memory of the process and the size of the model folder.

    python bench/local_model.py [--runs 5] [--tokens 128] [--threads N]
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time

from privacy_partition.local import LocalModel, build_smollm2

PROMPT = (
    "My doctor told me last week that my HbA1c is 8.1 and that I should change my diet. "
    "I work night shifts as a nurse, I often skip breakfast, and I drink two cans of soda "
    "a day. What are three practical changes I could make this month?"
)
SAMPLES = (
    "What is the capital of France?",
    "My doctor says my HbA1c is 8.1. What does that mean?",
    "Write a two-sentence email to my landlord saying the heater is broken.",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per run")
    parser.add_argument("--threads", type=int, default=None, help="override intra-op threads")
    args = parser.parse_args()

    started = time.perf_counter()
    folder = build_smollm2()
    build_s = time.perf_counter() - started
    model = LocalModel(folder, threads=args.threads)
    messages = [{"role": "user", "content": PROMPT}]
    prompt_tokens = model.count_tokens(model.apply_chat_template(messages))
    user_tokens = model.count_tokens(PROMPT)
    model.generate(messages, max_new_tokens=8)  # warm-up

    ttft, rate, produced = [], [], []
    for _ in range(args.runs):
        # No stop on end of text would be fairer for decode speed, but the
        # model rarely ends before 128 tokens on this prompt; count what it made.
        result = model.generate(messages, max_new_tokens=args.tokens)
        ttft.append(result.ttft_s)
        rate.append(result.tokens_per_s)
        produced.append(result.tokens)
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    print(
        f"machine        {platform.processor() or platform.machine()}, {platform.python_version()}"
    )
    print(f"model          {folder}")
    print(f"build check    {build_s:.2f} s (0.2 s when already built and verified)")
    print(f"load           {model.load_s * 1000:.0f} ms")
    print(f"prompt         {user_tokens} tokens of user text, {prompt_tokens} with the template")
    print(f"ttft           median {statistics.median(ttft) * 1000:.1f} ms over {args.runs} runs")
    print(
        f"decode         median {statistics.median(rate):.1f} tokens/s "
        f"({statistics.median(produced):.0f} tokens per run)"
    )
    print(f"peak RSS       {peak_kib / 1024:.0f} MiB")
    print(f"disk           {disk / 1e6:.0f} MB")
    for question in SAMPLES:
        answer = model.generate([{"role": "user", "content": question}], max_new_tokens=60)
        print(f"\nQ: {question}\nA: {answer.text.strip()}")


if __name__ == "__main__":
    main()
