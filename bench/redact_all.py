#!/usr/bin/env python3
"""A sanitizer that redacts every finding, speaking the `sanitize --jsonl` contract.

The recall proxy of the detection engine until the policy engine exists:
every prompt goes to the cloud with each finding replaced by `<TYPE>`.

    python bench/redact_all.py [--ner-model|--no-ner-model] < in.jsonl > out.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys

from privacy_partition.detection import DEFAULT_NER_MODEL, Analyzer, AnalyzerConfig


def redact(text: str, analyzer: Analyzer) -> tuple[str, list[str]]:
    findings = analyzer.analyze(text)
    pieces: list[str] = []
    cursor = 0
    for finding in findings:
        pieces += [text[cursor : finding.start], f"<{finding.entity_type}>"]
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces), sorted({f.entity_type for f in findings})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--ner-model", action=argparse.BooleanOptionalAction, default=DEFAULT_NER_MODEL
    )
    args = parser.parse_args()
    analyzer = Analyzer(AnalyzerConfig(ner_model=args.ner_model))
    for line in sys.stdin:
        if not line.strip():
            continue
        row = json.loads(line)
        cloud_text, entities = redact(row["text"], analyzer)
        out = {
            "id": row["id"],
            "route": "cloud",
            "cloud_text": cloud_text,
            "entities": entities,
            "reasons": [],
        }
        print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
