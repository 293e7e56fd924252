#!/usr/bin/env python3
"""How the topic model scores prompts: flag rates on PUPA, separation on probes, cost.

For the topics of a policy (default: ``policies/strict.yaml``, which declares
``health`` and ``finance``) this prints

* **probes**: the share of short hand-written prompts in each group (the
  writer's own health, general medical knowledge, the writer's own money,
  general finance, unrelated) at or above each threshold, for the probes
  the thresholds were chosen on and for held-out ones written afterwards;
* **flag rates** on the PUPA tuning split (``PUPA_New.csv``; never tune on
  ``PUPA_TNB.csv``): the share of prompts at or above each threshold, in all
  and per PUPA category (``predicted_category``, a noisy label: its
  ``healthcare information`` holds chemistry transcripts too), for the
  shipped scheme (``windows``: the most similar 128-token window of the
  prompt) and three others: ``windows256`` (256-token windows), ``first``
  (the first 256 tokens only) and ``sentences`` (also each sentence on its own);
* **spot checks** (``--show TOPIC@THRESHOLD``): the flagged prompts nearest
  the threshold and the unflagged ones nearest below it, cut to 160
  characters, to read for precision;
* **int8 against float32** (``--fp32``): the largest score difference, the
  prompts whose decision flips at each threshold, and the time each model
  takes to embed every window of the prompts (needs the ``build`` extra);
* **latency** of ``TopicScorer.score`` per prompt (p50, p95) and the load time.

    python bench/topic_eval.py --data ../shared/data/pupa/PUPA_New.csv
        [--policy policies/strict.yaml] [--show health@0.55] [--fp32] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from privacy_partition.detection import TopicScorer
from privacy_partition.detection._minilm import SentenceEncoder, minilm_folder
from privacy_partition.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.3, 0.35, 0.38, 0.4, 0.42, 0.45, 0.5, 0.6)
SCHEMES = ("windows", "windows256", "first", "sentences")

# Written for this bench, not taken from any data set.
PROBES: dict[str, tuple[str, ...]] = {
    "own health": (
        "I've had a migraine every morning for a week, what could cause it?",
        "My dermatologist wants to biopsy a mole on my back, should I be worried?",
        "I'm on warfarin, is it safe for me to drink alcohol?",
        "My wife is 30 weeks pregnant and her feet are very swollen.",
        "Since my divorce I feel empty and I cry every day.",
        "My cholesterol came back at 260, do I need statins?",
        "My 4-year-old has been vomiting all night, when should we go to the ER?",
        "I think I have an eating disorder but I'm afraid to tell anyone.",
        "My grandfather had a stroke and can't move his left arm.",
        "I was diagnosed with ADHD at 35, how do I tell my boss?",
    ),
    "general medicine": (
        "What are the common symptoms of type 2 diabetes?",
        "Explain how vaccines train the immune system.",
        "What is the difference between a virus and a bacterium?",
        "Summarize the history of penicillin.",
        "Write a lesson plan about the human heart for 10-year-olds.",
    ),
    "own money": (
        "I owe $12,000 on two credit cards, which should I pay off first?",
        "My employer offers me $82,000, is that fair for a data analyst in Denver?",
        "I forgot to file my taxes last year, what should I do now?",
        "We can't make this month's mortgage payment, what are our options?",
        "I have $30k in a savings account earning nothing, where should I put it?",
        "My ex stopped paying child support and I'm behind on my bills.",
    ),
    "general finance": (
        "Explain how compound interest works.",
        "What caused the 2008 financial crisis?",
        "What is the difference between a Roth IRA and a traditional IRA?",
        "Write a short article about the history of the euro.",
    ),
    "unrelated": (
        "Summarize the causes of the French Revolution.",
        "Write a Python function that checks whether a string is a palindrome.",
        "Give me a recipe for a vegetarian lasagna.",
        "Translate 'where is the train station' into German.",
        "Write a cover letter for a junior accountant position.",
        "Plan a three-day trip to Kyoto in April.",
        "What is the capital of Australia?",
        "Draft an email to my team moving Friday's meeting to Monday.",
    ),
}

# Written after the examples and thresholds were chosen, to check them once.
HELD_OUT: dict[str, tuple[str, ...]] = {
    "own health": (
        "My period is two weeks late and the test was negative.",
        "I get dizzy every time I stand up since I started the new pills.",
        "My baby has a cough that sounds like barking.",
        "The oncologist says my tumour has shrunk after chemo.",
        "I've been hearing a ringing in my left ear for a month.",
        "My dad's blood sugar readings are above 300 every morning.",
        "I relapsed last weekend after six months sober.",
        "Is it normal to feel this exhausted after a miscarriage?",
        "My gums bleed whenever I brush my teeth.",
        "I take 20 mg of lisinopril, can I also take decongestants?",
        "My teenage son told me he has been cutting himself.",
        "My urine test showed protein, what does that mean?",
    ),
    "own money": (
        "I make $4,200 a month after tax and spend almost all of it.",
        "My car loan is at 11 percent, can I get a better rate?",
        "The bank froze my account because of an unpaid overdraft.",
        "I have three medical bills in collections.",
        "How do I file my taxes if I worked two jobs last year?",
        "My husband has a gambling debt I just found out about.",
        "I want to buy a house but my credit score is 610.",
        "My boss cut my hours and I can't cover the utilities.",
    ),
    "other": (
        "How does the kidney filter blood?",
        "What were the main causes of the Great Depression?",
        "Write a haiku about autumn leaves.",
        "Explain the difference between stocks and bonds.",
        "Give me ten names for a bakery.",
        "How do I center a div in CSS?",
        "Summarize the plot of Hamlet.",
        "What is a healthy breakfast for athletes?",
        "Write a product description for a steel water bottle.",
        "What is inflation and how is it measured?",
        "Draft a polite reminder to a client about an overdue invoice.",
        "Which vitamins are found in spinach?",
    ),
}

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="PUPA_New.csv (tuning split)")
    parser.add_argument("--policy", type=Path, default=ROOT / "policies" / "strict.yaml")
    parser.add_argument("--models", type=Path, default=None, help="folder of built models")
    parser.add_argument("--show", action="append", default=[], metavar="TOPIC@THRESHOLD")
    parser.add_argument("--count", type=int, default=12, help="prompts per side in --show")
    parser.add_argument("--fp32", action="store_true", help="compare with the float32 export")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N prompts")
    args = parser.parse_args()
    if "TNB" in args.data.name:
        parser.error("PUPA_TNB.csv is the test split: tune on PUPA_New.csv")

    policy = load_policy(args.policy)
    topics = {name: list(spec.examples) for name, spec in policy.detection.topics.items()}
    started = time.perf_counter()
    scorer = TopicScorer(topics, model_root=args.models)
    print(
        f"policy {policy.name}: topics {', '.join(topics)}; scorer built in "
        f"{time.perf_counter() - started:.2f} s ({sum(map(len, topics.values()))} examples)"
    )

    _probes(scorer)

    with args.data.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if args.limit:
        rows = rows[: args.limit]
    texts = [row["user_query"] for row in rows]
    categories = [row.get("predicted_category") or "-" for row in rows]

    timings, windows = _timed_scores(scorer, texts)
    encoder = SentenceEncoder(minilm_folder(args.models))
    examples = {name: encoder.embed(examples) for name, examples in topics.items()}
    scores = {
        "windows": windows,
        "windows256": _windows256_scores(encoder, texts, examples),
        "first": _scheme_scores(encoder.embed(texts)[:, None, :], examples),
        "sentences": _sentence_scores(encoder, texts, examples, windows),
    }
    median = statistics.median(map(len, texts))
    print(f"\nPUPA {args.data.name}: {len(texts)} prompts, median {median:.0f} chars")
    print(
        f"score latency per prompt: p50 {np.percentile(timings, 50) * 1e3:.1f} ms, "
        f"p95 {np.percentile(timings, 95) * 1e3:.1f} ms, max {max(timings) * 1e3:.0f} ms"
    )
    _flag_rates(scores, categories, list(topics))
    for spec in args.show:
        topic, _, threshold = spec.partition("@")
        _show(texts, categories, scores["windows"][topic], float(threshold), args.count)
    if args.fp32:
        _compare_fp32(args.models, topics, texts, scores["windows"])
    return 0


def _probes(scorer: TopicScorer) -> None:
    header = "".join(f"{t:>6}" for t in THRESHOLDS)
    for title, groups in (("probes used to choose", PROBES), ("held-out probes", HELD_OUT)):
        print(f"\n{title} (hand-written): share scored >= threshold")
        print(f"  {'topic':8} {'group':22}{header}   scores")
        for group, prompts in groups.items():
            results = scorer.score_batch(list(prompts))
            for topic in scorer.topics:
                values = np.array([r[topic] for r in results])
                cells = "".join(f"{(values >= t).mean():6.0%}" for t in THRESHOLDS)
                spread = " ".join(f"{v:.2f}" for v in sorted(values))
                print(f"  {topic:8} {group + f' ({len(prompts)})':22}{cells}   {spread}")


def _timed_scores(
    scorer: TopicScorer, texts: Sequence[str]
) -> tuple[list[float], dict[str, np.ndarray]]:
    timings = []
    results = []
    for text in texts:
        started = time.perf_counter()
        results.append(scorer.score(text))
        timings.append(time.perf_counter() - started)
    return timings, {t: np.array([r[t] for r in results]) for t in scorer.topics}


def _scheme_scores(vectors: np.ndarray, examples: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per topic, the best cosine of each prompt's vectors ([prompts, vectors, 384])."""
    return {
        topic: np.clip((vectors @ matrix.T).max(axis=(1, 2)), 0.0, 1.0)
        for topic, matrix in examples.items()
    }


def _windows256_scores(
    encoder: SentenceEncoder, texts: Sequence[str], examples: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    from privacy_partition.detection._minilm import MAX_TOKENS, WINDOW_OVERLAP, _windows

    windows = [
        encoder._run(_windows(ids, MAX_TOKENS - 2, WINDOW_OVERLAP))
        for ids in encoder._token_ids(texts)
    ]
    return {
        topic: np.array([np.clip((w @ matrix.T).max(), 0.0, 1.0) for w in windows])
        for topic, matrix in examples.items()
    }


def _sentence_scores(
    encoder: SentenceEncoder,
    texts: Sequence[str],
    examples: dict[str, np.ndarray],
    windows: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    pieces = [[s for s in _SENTENCE_END.split(text) if s.strip()] or [text] for text in texts]
    flat = [s for sentences in pieces for s in sentences]
    vectors = encoder.embed(flat)
    owner = np.repeat(np.arange(len(texts)), [len(p) for p in pieces])
    result = {}
    for topic, matrix in examples.items():
        best = (vectors @ matrix.T).max(axis=1)
        per_text = np.full(len(texts), -1.0)
        np.maximum.at(per_text, owner, best)
        result[topic] = np.clip(np.maximum(per_text, windows[topic]), 0.0, 1.0)
    return result


def _flag_rates(
    scores: dict[str, dict[str, np.ndarray]], categories: Sequence[str], topics: Sequence[str]
) -> None:
    counts = Counter(categories)
    order = [c for c, _ in counts.most_common()]
    cats = np.array(categories)
    header = "".join(f"{t:>7}" for t in THRESHOLDS)
    for topic in topics:
        print(f"\n{topic}: share of prompts flagged (score >= threshold)")
        print(f"  {'scheme':10} {'category':36}{header}")
        for scheme in SCHEMES:
            values = scores[scheme][topic]
            for category in ["all", *order]:
                chosen = values if category == "all" else values[cats == category]
                cells = "".join(f"{(chosen >= t).mean():7.1%}" for t in THRESHOLDS)
                label = f"{category[:28]} ({len(chosen)})"
                print(f"  {scheme:10} {label:36}{cells}")


def _show(
    texts: Sequence[str], categories: Sequence[str], values: np.ndarray, threshold: float, n: int
) -> None:
    above = [i for i in np.argsort(values) if values[i] >= threshold][:n]
    below = [i for i in np.argsort(-values) if values[i] < threshold][:n]
    for title, chosen in (("flagged, nearest the threshold", above), ("not flagged", below)):
        print(f"\n-- {title} ({threshold}):")
        for i in chosen:
            snippet = " ".join(texts[i].split())[:160]
            print(f"  {values[i]:.3f} [{categories[i][:12]}] {snippet}")


def _compare_fp32(
    models: Path | None,
    topics: dict[str, list[str]],
    texts: Sequence[str],
    int8: dict[str, np.ndarray],
) -> None:
    from privacy_partition.detection._minilm_build import _export

    folder = minilm_folder(models)
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = Path(scratch) / "model_fp32.onnx"
        _export(folder, fp32)
        encoder = SentenceEncoder(folder, model_file=fp32)
        examples = {name: encoder.embed(ex) for name, ex in topics.items()}
        windows = encoder.embed_windows(texts)
        per_window = _best_time({"int8": SentenceEncoder(folder), "float32": encoder}, texts)
    print(
        "\nint8 against float32 (windows scheme); ms per window, best of 3 interleaved runs: "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in per_window.items())
    )
    for topic, matrix in examples.items():
        reference = np.array([np.clip((w @ matrix.T).max(), 0.0, 1.0) for w in windows])
        delta = np.abs(reference - int8[topic])
        flips = [int(((reference >= t) != (int8[topic] >= t)).sum()) for t in THRESHOLDS]
        print(
            f"  {topic}: |score difference| mean {delta.mean():.4f}, p99 "
            f"{np.percentile(delta, 99):.4f}, max {delta.max():.4f}; decisions flipped at "
            + ", ".join(f"{t}: {f}" for t, f in zip(THRESHOLDS, flips, strict=True))
        )


def _best_time(
    encoders: dict[str, SentenceEncoder], texts: Sequence[str], rounds: int = 3
) -> dict[str, float]:
    """Milliseconds per window of each encoder; runs alternate, so load hits them alike."""
    sample = list(texts[:60])
    count = sum(len(w) for w in next(iter(encoders.values())).embed_windows(sample))
    best = dict.fromkeys(encoders, float("inf"))
    for _ in range(rounds):
        for name, encoder in encoders.items():
            started = time.perf_counter()
            encoder.embed_windows(sample)
            best[name] = min(best[name], (time.perf_counter() - started) * 1e3 / count)
    return best


if __name__ == "__main__":
    sys.exit(main())
