"""The rules that turn overlapping recognizer results into findings."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from privacy_partition.detection import Finding
from privacy_partition.detection._resolve import resolve

TEXT = "John Smith mails john@acme.com from Paris, France and 我叫王小明"


def finding(
    start: int, end: int, entity: str, score: float = 0.85, recognizer: str = "SpacyRecognizer"
) -> Finding:
    return Finding(entity, start, end, score, recognizer, "en")


def run(findings: list[Finding], **thresholds: float) -> list[tuple[str, str]]:
    kept = resolve(findings, TEXT, min_score=0.4, thresholds=thresholds)
    return [(f.entity_type, f.value_in(TEXT)) for f in kept]


def test_scores_below_the_threshold_are_dropped() -> None:
    assert run([finding(0, 4, "PERSON", 0.3)]) == []
    assert run([finding(0, 4, "PERSON", 0.5)], PERSON=0.6) == []
    assert run([finding(0, 4, "PERSON", 0.7)], PERSON=0.6) == [("PERSON", "John")]


def test_structured_identifier_beats_statistical_guess_and_takes_the_union() -> None:
    email = TEXT.index("john@")
    org = TEXT.index("acme.com")
    found = run(
        [
            finding(org, org + 8, "ORGANIZATION", 0.85),
            finding(email, email + 13, "EMAIL_ADDRESS", 0.6, "OfflineEmailRecognizer"),
        ]
    )
    assert found == [("EMAIL_ADDRESS", "john@acme.com")]


def test_partial_overlap_keeps_every_character() -> None:
    found = run([finding(0, 7, "PERSON", 0.9), finding(5, 10, "LOCATION", 0.5)])
    assert found == [("PERSON", "John Smith")]


def test_adjacent_parts_of_one_entity_merge() -> None:
    assert run([finding(0, 4, "PERSON"), finding(5, 10, "PERSON")]) == [("PERSON", "John Smith")]
    paris = TEXT.index("Paris")
    france = TEXT.index("France")
    found = run([finding(paris, paris + 5, "LOCATION"), finding(france, france + 6, "LOCATION")])
    assert found == [("LOCATION", "Paris, France")]


def test_different_entities_or_words_between_do_not_merge() -> None:
    paris = TEXT.index("Paris")
    assert len(run([finding(0, 4, "PERSON"), finding(5, 10, "LOCATION")])) == 2
    assert len(run([finding(0, 4, "PERSON"), finding(paris, paris + 5, "PERSON")])) == 2


def test_street_address_takes_in_its_house_number_over_a_date_guess() -> None:
    text = "I live at 1600 Pennsylvania Avenue NW, Washington."
    number, street = text.index("1600"), text.index("Pennsylvania")
    found = resolve(
        [
            finding(number, number + 4, "DATE_TIME", 0.85),
            finding(street, street + 22, "STREET_ADDRESS", 0.7, "RampartRecognizer"),
        ],
        text,
        min_score=0.4,
        thresholds={},
    )
    assert [(f.entity_type, f.value_in(text)) for f in found] == [
        ("STREET_ADDRESS", "1600 Pennsylvania Avenue NW")
    ]


spans = st.tuples(
    st.integers(0, len(TEXT) - 1),
    st.integers(1, 12),
    st.sampled_from(["PERSON", "LOCATION", "EMAIL_ADDRESS"]),
    st.floats(0.0, 1.0),
    st.sampled_from(["SpacyRecognizer", "OfflineEmailRecognizer"]),
).map(lambda t: finding(t[0], min(len(TEXT), t[0] + t[1]), t[2], t[3], t[4]))


@given(st.lists(spans, max_size=12))
def test_result_is_sorted_disjoint_and_covers_every_kept_character(found: list[Finding]) -> None:
    kept = resolve(found, TEXT, min_score=0.4, thresholds={})
    for left, right in itertools.pairwise(kept):
        assert left.end <= right.start
    covered = {i for f in kept for i in range(f.start, f.end)}
    for f in found:
        passes = f.score >= 0.4 and not (
            f.recognizer == "SpacyRecognizer"
            and any("\u4e00" <= c <= "\u9fff" for c in f.value_in(TEXT))
        )
        if passes:
            assert set(range(f.start, f.end)) <= covered
