#!/usr/bin/env python3
"""Quantization quality of local model builds: next-token agreement with the float32 model.

For each candidate onnxruntime-genai folder this prints

* **agreement**: the share of positions where the candidate's greedy (argmax)
  next token equals the float32 transformers model's, teacher-forced on a fixed
  English text (343 positions, all scored) and on three chat-templated
  prompts followed by the float32 model's first 20 greedy tokens (those 20
  positions scored; a base model without a chat template gets the bare prompts);
* **decode tokens/s** (greedy, 128 new tokens, after the first token);
* **peak resident memory** of a process that loads the folder and decodes
  (measured before the teacher-forced pass, whose full logits would inflate it);
* **disk size** of the folder, and the candidate's greedy answer to the France prompt.

Each candidate runs in its own process so that peak memory is its own. The
candidates are built from a float32 transformers folder (``--hf-dir``; by
default the build's GGUF conversion is run into the work folder) with the
onnxruntime-genai builder; ``--folder NAME=PATH`` adds already built folders.
``--model`` names the recipe (default: smollm2); ``--only ''`` builds no candidate.

    python bench/local_quality.py [--model smollm2] [--hf-dir DIR] [--work DIR]
        [--only int8,fp32] [--folder default=local_model/smollm2/model] [--threads N]
    python bench/local_quality.py --model gemma3-270m --only '' \
        --folder int8=local_model/gemma3-270m/model

Needs the ``build`` extra (torch, transformers) for the reference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from local_common import SAMPLES, rss_mib

CHAT_TOKENS = 20
DECODE_TOKENS = 128

TEXT = (
    "The river town woke slowly on Saturday mornings. Before the market opened, the baker "
    "carried trays of warm bread to the stalls near the bridge, and the fishermen sorted "
    "their catch into wooden crates filled with ice. Children ran along the stone wall, "
    "counting the boats that drifted past, while their parents argued cheerfully about the "
    "price of apples and the weather for the coming week.\n\n"
    "Most visitors came for the old library, a narrow building of red brick that had stood "
    "on the main square for more than two hundred years. Its shelves held maps of the "
    "valley, letters written by merchants who traded wool and salt, and a small collection "
    "of books about medicine, farming and astronomy. The librarian, a patient woman with "
    "silver glasses, liked to explain that the town had once been an important crossing "
    "point, because the river was shallow enough here for carts to pass in late summer.\n\n"
    "Today the town is quieter. Many young people move to the city to study or to find "
    "work, and the factory that made bicycles closed ten years ago. Still, the community "
    "has found new ways to stay together. Volunteers repair the footpaths in the hills, a "
    "small school teaches computer skills to older residents, and every autumn a festival "
    "fills the streets with music, food and lanterns. People who left often return for a "
    "few days, and they say that the smell of fresh bread near the bridge is the first "
    "thing that reminds them they are home.\n\n"
    "When you plan a visit, remember that the trains run only twice a day on weekends. It "
    "is a good idea to book a room in advance, to bring comfortable shoes for the hills, "
    "and to try the apple cake that every family claims to make better than its neighbours."
)

# name -> (precision, extra options for the onnxruntime-genai builder)
CANDIDATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "fp32": ("fp32", ()),
    "int8": ("int8", ()),
    "int8-bs16": ("int8", ("block_size=16",)),
    "int8-asym": ("int8", ("is_symmetric=false",)),
    "int4": ("int4", ("accuracy_level=4", "block_size=32")),
    "int4-kquant-mixed": (
        "int4",
        ("accuracy_level=4", "block_size=32", "algo_config=k_quant_mixed"),
    ),
}
# Measured and left out (see local_model/smollm2/README.md): fp16 does not run on the
# CPU provider (buffer shape mismatch); accuracy_level=1 (float32 activations) decodes
# at 4-12 tokens/s; matmul_mixed_precision=last_matmul:int8 builds a model that fails to
# load (missing lm_head.MatMul.weight_Q8G32) with onnxruntime-genai 0.18.


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build_candidate(
    hf_dir: Path, out: Path, precision: str, extra: tuple[str, ...], threads: int
) -> float:
    from privacy_partition._errors import ModelError
    from privacy_partition.local._build import run_builder, set_threads

    started = time.perf_counter()
    try:
        run_builder(
            out.name, hf_dir, out, out.parent / ".cache", precision=precision, extra_options=extra
        )
    except ModelError as exc:
        raise SystemExit(str(exc)) from exc
    set_threads(out / "genai_config.json", threads)
    return time.perf_counter() - started


def reference(hf_dir: Path) -> dict[str, Any]:
    """Token ids and float32 greedy predictions for the text and the chat prompts."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(hf_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        str(hf_dir), dtype=torch.float32, local_files_only=True
    )
    model.eval()
    sequences = []
    with torch.no_grad():
        ids = tokenizer(TEXT)["input_ids"]
        logits = model(torch.tensor([ids])).logits[0]
        # position i predicts token i+1; score every position but the last
        sequences.append({"ids": ids, "start": 0, "expected": logits[:-1].argmax(-1).tolist()})
        for prompt in SAMPLES:
            if tokenizer.chat_template is None:  # a base model: the bare prompt, with <bos>
                prompt_ids = tokenizer(prompt)["input_ids"]
            else:
                rendered = tokenizer.apply_chat_template(
                    [{"role": "user", "content": prompt}],
                    tokenize=False,
                    add_generation_prompt=True,
                )
                prompt_ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
            out = model.generate(
                torch.tensor([prompt_ids]), max_new_tokens=CHAT_TOKENS, do_sample=False
            )[0].tolist()
            generated = out[len(prompt_ids) :]
            sequences.append(
                {
                    "ids": prompt_ids + generated[:-1],
                    "start": len(prompt_ids) - 1,
                    "expected": generated,
                    "prompt": prompt,
                    "text": tokenizer.decode(generated, skip_special_tokens=True),
                }
            )
    return {"sequences": sequences}


def child(folder: Path, ref_path: Path) -> None:
    """Measure one folder (run in its own process); print a JSON line."""
    import numpy as np
    import onnxruntime_genai as og

    ref = json.loads(ref_path.read_text(encoding="utf-8"))
    model = og.Model(str(folder))
    chat = ref["sequences"][1]
    # A sliding-window model (Gemma 3) refuses a KV cache shorter than its window.
    decoder = json.loads((folder / "genai_config.json").read_text())["model"]["decoder"]
    window = decoder.get("sliding_window", {}).get("window_size", 0)

    def greedy(ids: list[int], count: int) -> tuple[list[int], float, float]:
        params = og.GeneratorParams(model)
        params.set_search_options(do_sample=False, max_length=max(len(ids) + count, window))
        generator = og.Generator(model, params)
        started = time.perf_counter()
        generator.append_tokens(ids)
        tokens: list[int] = []
        first = 0.0
        while not generator.is_done() and len(tokens) < count:
            generator.generate_next_token()
            tokens.append(int(generator.get_next_tokens()[0]))
            if len(tokens) == 1:
                first = time.perf_counter()
        rate = (len(tokens) - 1) / (time.perf_counter() - first) if len(tokens) > 1 else 0.0
        return tokens, rate, first - started

    greedy(chat["ids"][: chat["start"] + 1], 4)  # warm-up
    decode = []
    for _ in range(3):
        _, rate, _ = greedy(chat["ids"][: chat["start"] + 1], DECODE_TOKENS)
        decode.append(rate)
    france, _, _ = greedy(chat["ids"][: chat["start"] + 1], CHAT_TOKENS)
    peak_mib = rss_mib()

    agree = total = 0
    per_part = []
    for seq in ref["sequences"]:
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=max(len(seq["ids"]) + 1, window))
        generator = og.Generator(model, params)
        generator.append_tokens(seq["ids"])
        logits = np.asarray(generator.get_output("logits"))[0]
        end = seq["start"] + len(seq["expected"])
        predicted = logits[seq["start"] : end].argmax(-1).tolist()
        hits = sum(int(p == e) for p, e in zip(predicted, seq["expected"], strict=True))
        per_part.append(hits / len(seq["expected"]))
        agree += hits
        total += len(seq["expected"])
    tokenizer = og.Tokenizer(model)
    print(
        json.dumps(
            {
                "agreement": agree / total,
                "parts": per_part,
                "positions": total,
                "tokens_per_s": sorted(decode)[1],
                "peak_rss_mib": peak_mib,
                "disk_mb": folder_bytes(folder) / 1e6,
                "france": tokenizer.decode(france),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="the recipe (default: smollm2)")
    parser.add_argument("--hf-dir", type=Path, help="float32 transformers folder (reference)")
    parser.add_argument("--work", type=Path, help="where candidates are built (default: temp)")
    parser.add_argument("--only", help="comma-separated candidate names to build")
    parser.add_argument(
        "--folder",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="an already built onnxruntime-genai folder to measure",
    )
    parser.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 4))
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "REF"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return

    with tempfile.TemporaryDirectory(prefix="local-quality-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        hf_dir = args.hf_dir
        if hf_dir is None:
            from privacy_partition._artifacts import ensure_artifact, model_root
            from privacy_partition.local import RECIPES
            from privacy_partition.local._build import gguf_to_transformers

            recipe = RECIPES[args.model]
            source = ensure_artifact(recipe.source, model_root(), progress=print)
            hf_dir = work / "hf"
            if not (hf_dir / "config.json").is_file():
                print("converting the GGUF to float32 transformers ...", flush=True)
                gguf_to_transformers(recipe, source, hf_dir)
        ref = reference(hf_dir)
        ref_path = work / "reference.json"
        ref_path.write_text(json.dumps(ref), encoding="utf-8")
        print(f"{args.model}: float32 transformers greedy answers:")
        for seq in ref["sequences"][1:]:
            print(f"  {seq['prompt']!r} -> {seq['text']!r}")

        folders: dict[str, Path] = {}
        names = (
            [n for n in args.only.split(",") if n] if args.only is not None else list(CANDIDATES)
        )
        for name in names:
            precision, extra = CANDIDATES[name]
            out = work / name
            if not (out / "genai_config.json").is_file():
                took = build_candidate(hf_dir, out, precision, extra, args.threads)
                print(f"built {name} in {took:.0f} s", flush=True)
            folders[name] = out
        for spec in args.folder:
            name, _, path = spec.partition("=")
            folders[name] = Path(path)

        print(
            f"\n{'candidate':<22} {'agree':>7} {'text':>6} {'chat':>6} {'tok/s':>6} "
            f"{'RSS MiB':>8} {'disk MB':>8}  France (greedy)"
        )
        for name, folder in folders.items():
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(folder), str(ref_path)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                print(f"{name:<22} failed: {done.stderr.strip()[-300:]}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            chat = sum(row["parts"][1:]) / len(row["parts"][1:])
            print(
                f"{name:<22} {row['agreement']:>6.1%} {row['parts'][0]:>6.1%} {chat:>6.1%} "
                f"{row['tokens_per_s']:>6.0f} {row['peak_rss_mib']:>8.0f} "
                f"{row['disk_mb']:>8.0f}  {row['france'].strip()[:60]!r}",
                flush=True,
            )


if __name__ == "__main__":
    main()
