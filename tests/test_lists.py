"""Lists of names: an item of a list of people is a person too, and of companies a company."""

from __future__ import annotations

import time

from privacy_partition.detection import Finding
from privacy_partition.detection._lists import LIST_ITEM, complete_lists


def found(text: str, value: str, entity_type: str = "PERSON") -> Finding:
    start = text.index(value)
    return Finding(entity_type, start, start + len(value), 0.85, "TestRecognizer", "en")


def added(text: str, findings: list[Finding]) -> list[str]:
    return [f.value_in(text) for f in complete_lists(text, findings) if f.recognizer == LIST_ITEM]


CAST = "Cast: Nina Flores, Star, Chelsea, Carlos, Mr. Lambert, Nico, Dr. Kapur, and Polly."


def test_leftover_items_of_a_list_of_people_are_people() -> None:
    findings = [found(CAST, v) for v in ("Nina Flores", "Chelsea", "Carlos", "Lambert", "Kapur")]
    findings.append(found(CAST, "Polly", "LOCATION"))  # a wrong type stays as it is
    assert added(CAST, findings) == ["Star", "Nico"]
    result = complete_lists(CAST, findings)
    assert [f.start for f in result] == sorted(f.start for f in result)
    assert all(f.entity_type == "PERSON" for f in result if f.recognizer == LIST_ITEM)


def test_a_list_that_is_mostly_not_people_is_left_alone() -> None:
    text = "Visit Paris, London, Berlin, Tokyo, Anna and Rome."
    assert added(text, [found(text, "Anna")]) == []
    findings = [
        found(text, "Anna"),
        found(text, "Paris", "LOCATION"),
        found(text, "Tokyo", "LOCATION"),
    ]
    assert added(text, findings) == []


def test_leftover_items_of_a_list_of_companies_are_companies() -> None:
    text = "Partnerships with BYD, GOTION HIGH-TECH, Sunwoda Energy, CATL and Zenvora."
    findings = [found(text, v, "ORGANIZATION") for v in ("BYD", "Sunwoda Energy", "CATL")]
    result = complete_lists(text, findings)
    assert [(f.entity_type, f.value_in(text)) for f in result if f.recognizer == LIST_ITEM] == [
        ("ORGANIZATION", "GOTION HIGH-TECH"),
        ("ORGANIZATION", "Zenvora"),
    ]
    # Two companies and two people in four items: no type holds the list.
    text = "Thanks to Acme, Globex, Ann Lee, Bob Ray and Initech."
    findings = [found(text, "Acme", "ORGANIZATION"), found(text, "Globex", "ORGANIZATION")]
    findings += [found(text, "Ann Lee"), found(text, "Bob Ray")]
    assert added(text, findings) == []


def test_short_lists_and_common_words_are_left_alone() -> None:
    text = "Ann Lee, Bob Ray and Star came."
    assert added(text, [found(text, "Ann Lee"), found(text, "Bob Ray")]) == []
    text = "Ann, Bob, Cy, Dee, Star. The star shone."
    findings = [found(text, v) for v in ("Ann", "Bob", "Cy", "Dee")]
    assert added(text, findings) == []


def test_linear_on_a_long_list() -> None:
    text = "Ann, " * 200_000 + "Star"
    findings = [Finding("PERSON", i * 5, i * 5 + 3, 0.85, "T", "en") for i in range(200_000)]
    started = time.perf_counter()
    assert added(text, findings) == ["Star"]
    assert time.perf_counter() - started < 20
