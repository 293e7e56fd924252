#!/usr/bin/env python3
"""What leaks, by kind and by cause: the per-value view behind leak_eval's one figure.

Loads the data and scores with ``../shared/tools/leak_eval.py`` itself (its
``load`` and ``score``: the one definition of leak), sanitizes in process with
the policy, and sorts every gold value by kind and every leaked value by cause:

kind
    the entity type of the finding that covers the value, else its shape
    (``~name`` capitalized words, ``~number`` mostly digits, ``~email``,
    ``~url``, ``~word`` the rest): PUPA's values carry no types.
cause (leaked values only, first that applies)
    ``inside a word``   the value reaches the cloud only inside a longer word
                        ("Ann" in "announce"): leak_eval counts substrings
    ``noise?``          PUPA's own GPT-4 redaction keeps it as a word too: most
                        such values are public names (a town, a company) the
                        annotators marked; read them before believing either way
    ``kept by policy``  a finding covers the value and the policy sends it as written
    ``span short``      a finding overlaps the value but does not cover it
    ``missed``          no finding touches it

    python bench/leak_report.py ../shared/data/pupa/PUPA_New.csv --policy policies/default.yaml
    python bench/leak_report.py DATA --show missed   # list the values (tuning data only)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LEAK_EVAL = ROOT.parent / "shared" / "tools" / "leak_eval.py"
CAUSES = ("inside a word", "noise?", "kept by policy", "span short", "missed")
REFERENCE_COLUMN = "redacted_query"
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def leak_eval() -> ModuleType:
    spec = importlib.util.spec_from_file_location("leak_eval", LEAK_EVAL)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {LEAK_EVAL}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_word(value: str, text: str) -> bool:
    """Whether ``value`` occurs in ``text`` (case-insensitive) not inside a longer word.

    Chinese and Japanese are written without spaces: any occurrence is a word.
    """
    if CJK.search(value):
        return value.lower() in text.lower()
    pattern = rf"(?<!\w){re.escape(value)}(?!\w)"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def shape(value: str) -> str:
    if "@" in value:
        return "~email"
    if re.search(r"https?://|www\.|\.(com|org|net|io)\b", value, re.IGNORECASE):
        return "~url"
    digits = sum(c.isdigit() for c in value)
    if digits * 2 >= len(value.replace(" ", "")):
        return "~number"
    words = re.findall(r"[^\W\d_]+", value)
    if words and all(w[0].isupper() for w in words):
        return "~name"
    return "~word"


def occurrences(value: str, text: str) -> list[tuple[int, int]]:
    low, needle = text.lower(), value.lower()
    spans, start = [], low.find(needle)
    while start != -1:
        spans.append((start, start + len(needle)))
        start = low.find(needle, start + 1)
    return spans


def classify(value: str, text: str, actions: list[Any]) -> tuple[str, str]:
    """(kind, detection cause) of a value in ``text`` given the decision's actions."""
    covering, touching = [], []
    for span in occurrences(value, text):
        for a in actions:
            f = a.finding
            if f.start <= span[0] and span[1] <= f.end:
                covering.append(a)
            elif f.start < span[1] and span[0] < f.end:
                touching.append(a)
    # The surest finding names the kind (a weak driver's-licence pattern also covers names).
    covering.sort(key=lambda a: -a.finding.score)
    touching.sort(key=lambda a: -a.finding.score)
    if covering:
        kept = [a for a in covering if a.action.value == "keep"]
        return covering[0].finding.entity_type, "kept by policy" if kept else "span short"
    if touching:
        return touching[0].finding.entity_type, "span short"
    start = occurrences(value, text)[0][0]
    return shape(text[start : start + len(value)]), "missed"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data")
    parser.add_argument("--policy", default="policies/default.yaml")
    parser.add_argument("--min-chars", type=int, default=3)
    parser.add_argument(
        "--show",
        choices=CAUSES,
        action="append",
        default=[],
        help="print the leaked values of this cause (tuning data only)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from privacy_partition._sanitize import Sanitizer
    from privacy_partition.policy import load_policy

    le = leak_eval()
    rows = le.load(args.data, None, None, args.min_chars)
    sanitizer = Sanitizer(load_policy(args.policy), faker_seed=0)
    texts = [r["text"] for r in rows]
    results = sanitizer.sanitize_batch(texts)
    outputs = {
        str(r["id"]): res.as_dict(str(r["id"])) for r, res in zip(rows, results, strict=True)
    }
    total = le.score(rows, outputs)

    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    causes: Counter[str] = Counter()
    shown: list[str] = []
    for r, res in zip(rows, results, strict=True):
        if not r["units"]:
            continue
        findings = sanitizer.analyzer.analyze(r["text"])
        _, decision = sanitizer.decide(r["text"], findings)
        actions = list(decision.actions)
        for typ, value in r["units"]:
            kind, detection = classify(value, r["text"], actions)
            per_kind[kind]["n"] += 1
            one = le.score([{**r, "units": [(typ, value)]}], {str(r["id"]): outputs[str(r["id"])]})
            if one["leak"] == 0:
                continue
            per_kind[kind]["leak"] += 1
            cloud = res.cloud_text or ""
            reference = r["row"].get(REFERENCE_COLUMN) if isinstance(r["row"], dict) else None
            if not as_word(value, cloud):
                cause = "inside a word"
            elif reference is not None and as_word(value, reference):
                cause = "noise?"
            else:
                cause = detection
            per_kind[kind][cause] += 1
            causes[cause] += 1
            if cause in args.show:
                start = occurrences(value, r["text"])[0][0]
                context = r["text"][max(0, start - 40) : start + len(value) + 40]
                shown.append(f"{cause:15} {kind:20} {value!r:30} {context!r}")

    n = total["gold_values"]
    if args.json:
        print(json.dumps({**total, "per_kind": per_kind, "causes": causes}))
        return 0
    print(
        f"leak={total['leak']} retention={total['retention']} cloud={total['cloud']}"
        f"  ({n} gold values, {total['prompts']} prompts)"
    )
    print()
    print("| kind | values | leaked | leak | " + " | ".join(CAUSES) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(CAUSES))
    ordered = sorted(per_kind.items(), key=lambda kv: (-kv[1]["leak"], -kv[1]["n"], kv[0]))
    for kind, c in ordered:
        cells = " | ".join(str(c[x] or "") for x in CAUSES)
        print(f"| {kind} | {c['n']} | {c['leak']} | {c['leak'] / c['n']:.3f} | {cells} |")
    leaked = sum(causes.values())
    cells = " | ".join(str(causes[x]) for x in CAUSES)
    print(f"| all | {n} | {leaked} | {leaked / n:.3f} | {cells} |")
    for line in shown:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
