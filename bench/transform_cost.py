#!/usr/bin/env python3
"""Cost of sanitize + restore without detection: a ~2 KB prompt with 50 findings.

Findings cycle through redact, pseudonymize and tokenize; each run uses a new
request vault (the common case: one vault per request), transforms the
prompt, and restores the cloud text as an echo would return it, once whole
and once streamed in 16-character pieces. The transformer is built and warmed
once, as an app would do at start-up; its first-use cost is printed apart.
The goal (issue 7): sanitize + restore p50 at most 2 ms.

    python bench/transform_cost.py [--runs 500] [--seed 0] [--json PATH]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from figures import add_json_option, write_figures
from privacy_partition._actions import Action, FindingAction
from privacy_partition.detection import Finding
from privacy_partition.transform import Keyset, Restorer, Transformer, Vault

SENTENCE = (
    "Please ask {PERSON} ({EMAIL_ADDRESS}, {PHONE_NUMBER}) at {ORGANIZATION} in {LOCATION} "
    "to send the signed lease for {STREET_ADDRESS} before Friday, and remind them that the "
    "deposit is refundable within thirty days of moving out. "
)
VALUES = {
    "PERSON": ["Maria Gonzalez", "Wei Zhang", "Oluwaseun Adeyemi", "Hannah Becker"],
    "EMAIL_ADDRESS": ["maria.g@contoso.com", "wzhang@fabrikam.cn", "seun@adeyemi.ng"],
    "PHONE_NUMBER": ["+1 415 555 0134", "(212) 555-0199", "+44 20 7946 0958"],
    "ORGANIZATION": ["Contoso Ltd", "Fabrikam Inc", "Northwind Traders"],
    "LOCATION": ["Lisbon", "Nairobi", "Osaka", "Toronto"],
    "STREET_ADDRESS": ["12 Rua Augusta", "221B Baker Street", "1-2-3 Umeda"],
}
ACTIONS = (Action.REDACT, Action.PSEUDONYMIZE, Action.TOKENIZE)
FINDINGS = 50
CHUNK = 16
GOAL_P50_MS = 2.0


def build_prompt() -> tuple[str, list[FindingAction]]:
    text = "Hi! I need help drafting a few reminder emails for the tenants listed below. "
    actions: list[FindingAction] = []
    i = 0
    while len(actions) < FINDINGS:
        for part in SENTENCE.split("{"):
            entity, _, rest = part.partition("}") if "}" in part else ("", "", part)
            if entity and len(actions) < FINDINGS:
                value = VALUES[entity][i % len(VALUES[entity])]
                finding = Finding(entity, len(text), len(text) + len(value), 0.9, "bench", "en")
                actions.append(FindingAction(finding, ACTIONS[len(actions) % len(ACTIONS)]))
                text += value
            elif entity:
                text += f"[{entity.lower()}]"
            text += rest
        i += 1
    text += "Keep each email short and polite, and mention the Friday deadline. Thanks!"
    return text, actions


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    add_json_option(parser)
    args = parser.parse_args()

    text, actions = build_prompt()
    keyset = Keyset.generate()
    started = time.perf_counter()
    transformer = Transformer(keyset, faker_seed=args.seed)
    transformer.warm("en")
    warm_ms = (time.perf_counter() - started) * 1e3

    sanitize, restore, stream, total = [], [], [], []
    for _ in range(args.runs):
        vault = Vault.request()
        t0 = time.perf_counter()
        cloud = transformer.apply(text, actions, vault).cloud_text
        t1 = time.perf_counter()
        restorer = Restorer(vault, keyset)
        restored = restorer.restore(cloud)
        t2 = time.perf_counter()
        piece_stream = restorer.stream()
        pieces = [piece_stream.feed(cloud[i : i + CHUNK]) for i in range(0, len(cloud), CHUNK)]
        streamed = "".join(pieces) + piece_stream.finish()
        t3 = time.perf_counter()
        if restored != text or streamed != text:
            raise SystemExit("restore did not give back the prompt")
        sanitize.append((t1 - t0) * 1e3)
        restore.append((t2 - t1) * 1e3)
        stream.append((t3 - t2) * 1e3)
        total.append((t2 - t0) * 1e3)

    kinds = {a.value: sum(1 for x in actions if x.action is a) for a in ACTIONS}
    print(f"python {platform.python_version()} on {platform.machine()}, {args.runs} runs")
    print(f"prompt: {len(text)} chars, {len(actions)} findings {kinds}")
    print(f"transformer start-up incl. surrogate pools: {warm_ms:.0f} ms (once per process)")
    print(f"{'ms':<26}{'p50':>8}{'p99':>8}")
    phases = {
        "sanitize": sanitize,
        "restore (whole)": restore,
        "sanitize + restore": total,
        f"restore (stream, {CHUNK} ch)": stream,
    }
    for name, samples in phases.items():
        print(f"{name:<26}{statistics.median(samples):>8.3f}{percentile(samples, 0.99):>8.3f}")
    write_figures(
        args.json,
        {
            "runs": args.runs,
            "prompt_chars": len(text),
            "findings": len(actions),
            "actions": kinds,
            "warm_ms": warm_ms,
            "goal_p50_ms": GOAL_P50_MS,
            "goal_phase": "sanitize + restore",
            "phases": {
                name: {"p50_ms": statistics.median(samples), "p99_ms": percentile(samples, 0.99)}
                for name, samples in phases.items()
            },
        },
    )


if __name__ == "__main__":
    main()
