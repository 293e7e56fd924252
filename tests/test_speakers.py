"""Speaker labels: the names that open the lines of a dialogue between people."""

from __future__ import annotations

from privacy_partition.detection import Analyzer, Finding
from privacy_partition.detection._speakers import SPEAKER_LABEL, complete_speakers
from timing import LINEAR_CEILING, growth


def found(text: str, value: str, entity_type: str = "PERSON", nth: int = 0) -> Finding:
    start = -1
    for _ in range(nth + 1):
        start = text.index(value, start + 1)
    return Finding(entity_type, start, start + len(value), 0.85, "TestRecognizer", "en")


def added(text: str, findings: list[Finding]) -> list[str]:
    return [
        f.value_in(text) for f in complete_speakers(text, findings) if f.recognizer == SPEAKER_LABEL
    ]


def test_the_other_labels_of_a_dialogue_between_people_are_people() -> None:
    text = "Summarize:\nAnna: I will call you back.\nTomas: Fine.\nAnna: Thanks, bye."
    result = complete_speakers(text, [found(text, "Tomas")])
    assert [(f.entity_type, f.value_in(text)) for f in result] == [
        ("PERSON", "Anna"),
        ("PERSON", "Tomas"),
        ("PERSON", "Anna"),
    ]
    assert [f.start for f in result] == sorted(f.start for f in result)


def test_timestamps_and_titles_are_read_past() -> None:
    text = "[00:01] Dr. Okafor: How are you feeling?\n[00:04] Nadia Benali: Better, thanks."
    assert added(text, [found(text, "Okafor")]) == ["Nadia Benali"]


def test_roles_fields_stop_words_and_common_words_are_left_alone() -> None:
    text = "Kevin: hi\nMe: hello\nUser: ok\nQ: why?\nCustomer Support: hm\nWill: sure, I will."
    assert added(text, [found(text, "Kevin")]) == []


def test_a_form_or_a_single_label_is_not_a_dialogue_between_people() -> None:
    form = "Name: Jane Roe\nEmployer: Quorvex\nCity: Lyon"
    assert added(form, [found(form, "Jane Roe")]) == []  # the person is a value, not a label
    text = "Anna: I will call you back."
    assert added(text, []) == []
    assert added(text, [found(text, "Anna")]) == []


def test_a_label_holding_another_type_keeps_it() -> None:
    text = "Paris: sunny\nTomas: nice\nLyon: rain"
    findings = [found(text, "Tomas"), found(text, "Paris", "LOCATION")]
    assert added(text, findings) == ["Lyon"]
    result = complete_speakers(text, findings)
    assert [f.entity_type for f in result] == ["LOCATION", "PERSON", "PERSON"]


def test_the_analyzer_finds_a_speaker_that_ner_misses(analyzer: Analyzer) -> None:
    text = "Anna: I will call you back.\nTomas: Fine, after lunch then.\nAnna: Great."
    people = [f.value_in(text) for f in analyzer.analyze(text) if f.entity_type == "PERSON"]
    assert people.count("Anna") == 2


def test_linear_in_the_number_of_lines() -> None:
    def run(n: int) -> None:
        text = "Tomas: hi\n" + "Anna Lee Roe: a b c\n" * n
        complete_speakers(text, [found(text, "Tomas")])

    assert growth(run, 5_000) < LINEAR_CEILING
