"""Turn the raw, overlapping results of many recognizers into clean findings.

The rules, in order:

1. Thresholds: a result below its entity's threshold (or the global minimum)
   is dropped.
2. A street address takes in the house number written just before it
   ("1600 Pennsylvania Avenue": NER models often tag the number alone as a
   date, or not at all, and a policy that keeps dates would leak it).
3. Overlaps: results whose spans overlap form a cluster, and one finding
   stands for the cluster. Its type comes from the strongest member: a
   structured identifier (pattern, checksum) beats a statistical NER guess,
   a specific type beats a generic one (DATE_TIME, NRP), then the higher
   score, then the longer span. Its span is the union of the
   cluster, so no character that some recognizer thought personal is left
   out. This is how an email address that spaCy also calls ORGANIZATION
   stays an EMAIL_ADDRESS.
4. Adjacent findings of one type separated only by spaces (or a comma, for
   places) merge: "John" + "Smith" is one PERSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from privacy_partition.detection._finding import Finding

__all__ = ["STATISTICAL_RECOGNIZERS", "resolve"]

# Recognizers whose findings are guesses of a statistical model.
STATISTICAL_RECOGNIZERS = frozenset({"SpacyRecognizer", "RampartRecognizer"})

_COMMA_JOINED = frozenset({"LOCATION", "STREET_ADDRESS"})
# Types that say little about a person on their own; policies usually keep them.
_GENERIC = frozenset({"DATE_TIME", "NRP"})
_HOUSE_NUMBER = re.compile(r"(?<![\w-])\d{1,6}[A-Za-z]?(?:-\d{1,6})? $")


def _strength(finding: Finding) -> tuple[int, int, float, int]:
    structured = 0 if finding.recognizer in STATISTICAL_RECOGNIZERS else 1
    specific = 0 if finding.entity_type in _GENERIC else 1
    return (structured, specific, finding.score, finding.end - finding.start)


def _with_house_number(finding: Finding, text: str) -> Finding:
    if finding.entity_type != "STREET_ADDRESS":
        return finding
    match = _HOUSE_NUMBER.search(text, max(0, finding.start - 16), finding.start)
    return replace(finding, start=match.start()) if match else finding


def _passes(finding: Finding, min_score: float, thresholds: Mapping[str, float]) -> bool:
    return finding.score >= thresholds.get(finding.entity_type, min_score)


def _clusters(findings: list[Finding]) -> Iterable[list[Finding]]:
    cluster: list[Finding] = []
    cluster_end = -1
    for finding in sorted(findings, key=lambda f: (f.start, -f.end)):
        if cluster and finding.start >= cluster_end:
            yield cluster
            cluster = []
        cluster.append(finding)
        cluster_end = max(cluster_end, finding.end)
    if cluster:
        yield cluster


def _joinable(left: Finding, right: Finding, text: str) -> bool:
    if left.entity_type != right.entity_type or right.start < left.end:
        return False
    gap = text[left.end : right.start]
    if gap.strip(" \t") == "":
        return len(gap) <= 2
    return left.entity_type in _COMMA_JOINED and gap.strip() == "," and len(gap) <= 3


def resolve(
    findings: Iterable[Finding],
    text: str,
    *,
    min_score: float,
    thresholds: Mapping[str, float],
) -> list[Finding]:
    """Apply the rules above; the result is sorted and free of overlaps."""
    kept = [_with_house_number(f, text) for f in findings if _passes(f, min_score, thresholds)]
    merged: list[Finding] = []
    for cluster in _clusters(kept):
        best = max(cluster, key=_strength)
        start = min(f.start for f in cluster)
        end = max(f.end for f in cluster)
        finding = replace(best, start=start, end=end)
        if merged and _joinable(merged[-1], finding, text):
            previous = merged.pop()
            finding = replace(
                previous if previous.score >= finding.score else finding,
                start=previous.start,
                end=finding.end,
            )
        merged.append(finding)
    return merged
