#!/usr/bin/env python3
"""Detection on a few English and Chinese prompts, then what a policy lets through.

First what the Analyzer finds in each prompt, then the route and the text the
cloud would see under policies/default.yaml (offline: nothing is sent).

python examples/detection_demo.py
"""

from __future__ import annotations

import time
from pathlib import Path

from privacy_partition._sanitize import Sanitizer
from privacy_partition.detection import Analyzer
from privacy_partition.policy import load_policy

POLICY = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"

PROMPTS = [
    "Hi, I'm Sarah Connor. Email me at sarah.connor@example.com or call 212-555-0199.",
    "My SSN is 536-22-1234 and my card 4111 1111 1111 1111 expires 09/27.",
    "I live at 1600 Pennsylvania Avenue NW, Washington, DC 20500. Is that near the Mall?",
    "deploy with AWS key AKIAIOSFODNN7EXAMPLE and postgres://admin:s3cretPw@db.internal:5432/app",
    "What does Google's search ranking weigh most?",
    "I work at Google as a compliance officer and my daughter studies in Dammam.",
    "我的身份证号是11010519491231002X，手机13800138000",
    "我叫王小明，住址：北京市朝阳区建国路88号，银行卡 6222 0202 0000 0000 006",
    "姓名：李娜，email: li.na@example.cn, passport 护照号 E12345678",
]


def main() -> None:
    start = time.perf_counter()
    analyzer = Analyzer()
    print(f"Analyzer built in {time.perf_counter() - start:.2f} s\n")
    for prompt in PROMPTS:
        start = time.perf_counter()
        findings = analyzer.analyze(prompt)
        elapsed = (time.perf_counter() - start) * 1e3
        print(f"{prompt}\n  ({elapsed:.1f} ms)")
        for f in findings:
            print(
                f"  {f.entity_type:<18} {f.start:>3}-{f.end:<3} score {f.score:.2f} "
                f"[{f.language}, {f.recognizer}]  {f.value_in(prompt)!r}"
            )
        print()

    sanitizer = Sanitizer(load_policy(POLICY))
    print(f"Under {POLICY.name}: route, then what the cloud would see\n")
    for prompt, result in zip(PROMPTS, sanitizer.sanitize_batch(PROMPTS), strict=True):
        print(f"{prompt}\n  -> {result.route.value}: {result.cloud_text or '(nothing leaves)'}\n")


if __name__ == "__main__":
    main()
