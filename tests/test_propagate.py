"""Repeated values: a value found once is found wherever it recurs."""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_partition.detection import Analyzer, Finding
from privacy_partition.detection._propagate import REPEATED, propagate, share_relations
from privacy_partition.detection._relations import PERSONAL


def found(text: str, value: str, entity_type: str = "ORGANIZATION", nth: int = 0) -> Finding:
    start = -1
    for _ in range(nth + 1):
        start = text.index(value, start + 1)
    return Finding(entity_type, start, start + len(value), 0.85, "TestRecognizer", "en")


def values(text: str, findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.value_in(text), f.entity_type) for f in findings]


def test_every_occurrence_of_a_found_value_is_found() -> None:
    text = "I work at Napco. Napco pays well, and NAPCO is big."
    result = propagate(text, [found(text, "Napco")])
    assert values(text, result) == [("Napco", "ORGANIZATION"), ("Napco", "ORGANIZATION")]
    assert result[1].recognizer == REPEATED
    assert result[1].start == text.index("Napco", 11)


def test_parts_of_a_name_are_followed() -> None:
    text = "John Smith called. Smith said that John would come."
    result = propagate(text, [found(text, "John Smith", "PERSON")])
    assert values(text, result) == [
        ("John Smith", "PERSON"),
        ("Smith", "PERSON"),
        ("John", "PERSON"),
    ]


def test_a_common_word_is_not_followed() -> None:
    # "Health" found once as an organization, but the text uses "health" as a word.
    text = "Health Plus. Your health matters. Health is wealth."
    result = propagate(text, [found(text, "Health Plus")])
    assert values(text, result) == [("Health Plus", "ORGANIZATION")]
    text = "Report from Health. Health said yes; your health matters."
    assert propagate(text, [found(text, "Health")]) == [found(text, "Health")]


def test_only_whole_words_and_no_overlaps() -> None:
    text = "Ann met Annabel. Ann's dog is at Ann Arbor Labs."
    ann = found(text, "Ann", "PERSON")
    labs = found(text, "Ann Arbor Labs")
    result = propagate(text, [ann, labs])
    assert values(text, result) == [
        ("Ann", "PERSON"),
        ("Ann", "PERSON"),
        ("Ann Arbor Labs", "ORGANIZATION"),
    ]


def test_short_values_and_dates_are_not_followed() -> None:
    text = "Li met Li. On 2020 and 2020."
    findings = [found(text, "Li", "PERSON"), found(text, "2020", "DATE_TIME")]
    assert propagate(text, findings) == findings


def test_share_relations_makes_occurrences_agree() -> None:
    text = "I work at Napco. Napco pays well."
    first, second = found(text, "Napco"), found(text, "Napco", nth=1)
    result = share_relations(text, [replace(first, relation=PERSONAL), second])
    assert [f.relation for f in result] == [PERSONAL, PERSONAL]
    assert share_relations(text, [first, second]) == [first, second]


def test_the_analyzer_follows_repeated_values(analyzer: Analyzer) -> None:
    text = "I work at Napco National Company. Napco National Company pays well."
    orgs = [f for f in analyzer.analyze(text) if f.entity_type == "ORGANIZATION"]
    assert len(orgs) == 2
    assert {f.relation for f in orgs} == {PERSONAL}


@st.composite
def text_and_findings(draw: st.DrawFn) -> tuple[str, list[Finding]]:
    words = st.sampled_from(["Napco", "napco", "John Smith", "Smith", "x", " ", ".", "的", "Ann"])
    text = draw(st.lists(words, min_size=1, max_size=30).map(" ".join))
    starts = draw(st.lists(st.integers(0, len(text) - 1), max_size=5, unique=True))
    findings: list[Finding] = []
    end = 0
    for start in sorted(starts):
        if start < end:
            continue
        end = min(len(text), start + draw(st.integers(1, 12)))
        kind = draw(st.sampled_from(["PERSON", "ORGANIZATION", "DATE_TIME"]))
        findings.append(Finding(kind, start, end, 0.8, "TestRecognizer", "en"))
    return text, findings


@settings(max_examples=300, deadline=None)
@given(text_and_findings())
def test_propagation_only_adds_disjoint_copies(case: tuple[str, list[Finding]]) -> None:
    text, findings = case
    result = propagate(text, findings)
    assert [f for f in result if f.recognizer != REPEATED] == findings
    ordered = sorted(result, key=lambda f: f.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(ordered))
    known = {f.value_in(text) for f in findings}
    for copy in (f for f in result if f.recognizer == REPEATED):
        value = copy.value_in(text)
        assert any(value == k or value in k.split() for k in known)
