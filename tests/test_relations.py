"""Relations: which organizations, places and dates the text ties to a person."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy_partition.detection import Analyzer, Finding
from privacy_partition.detection._relations import PERSONAL, PUBLIC, RELATED_TYPES, mark_relations


def relations(analyzer: Analyzer, text: str) -> dict[str, str | None]:
    """The relation of each finding, by its value."""
    return {f.value_in(text): f.relation for f in analyzer.analyze(text)}


def found(text: str, value: str, entity_type: str = "ORGANIZATION") -> Finding:
    start = text.index(value)
    return Finding(entity_type, start, start + len(value), 0.85, "TestRecognizer", "en")


def marked(text: str, value: str, entity_type: str = "ORGANIZATION") -> str | None:
    """The relation ``mark_relations`` gives one finding over ``value``."""
    (finding,) = mark_relations(text, [found(text, value, entity_type)])
    return finding.relation


# -- through the Analyzer --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("I work at Google as a compliance officer.", "Google"),
        ("Can you find my daughter's school in Dammam?", "Dammam"),
        ("I graduated from Harvard University in 2015.", "Harvard University"),
        ("Worked at Napco National Company as a sales engineer.", "Napco National Company"),
        ("Google, where my husband works, is hiring.", "Google"),
        ("我毕业于北京大学，请帮我写一份求职信", "北京大学"),
        ("我住在上海市浦东新区张江路100号", "上海市浦东新区张江路100号"),
    ],
)
def test_tied_values_are_personal(analyzer: Analyzer, text: str, value: str) -> None:
    assert relations(analyzer, text)[value] == PERSONAL


@pytest.mark.parametrize(
    "text",
    [
        "What does Google's search ranking weigh most?",
        "Compare the economies of Germany and Japan.",
        "Microsoft announced new products in Seattle last week.",
        "Tell me about Paris.",
        "The meeting is on Friday in Berlin.",
        "请介绍一下长城的历史",
    ],
)
def test_values_talked_about_stay_general(analyzer: Analyzer, text: str) -> None:
    assert set(relations(analyzer, text).values()) <= {None, PUBLIC}


def test_countries_in_a_prompt_naming_nobody_are_public(analyzer: Analyzer) -> None:
    assert relations(analyzer, "Compare the economies of Germany and Japan.") == {
        "Germany": PUBLIC,
        "Japan": PUBLIC,
    }


def test_a_city_is_not_public() -> None:
    text = "Tell me about Paris and Germany."
    findings = [found(text, "Paris", "LOCATION"), found(text, "Germany", "LOCATION")]
    assert [f.relation for f in mark_relations(text, findings)] == [None, PUBLIC]


@pytest.mark.parametrize(
    ("text", "value", "entity_type"),
    [
        ("Ahmed Hassan moved to Germany.", "Ahmed Hassan", "PERSON"),
        ("Mail jane@example.org about Germany.", "jane@example.org", "EMAIL_ADDRESS"),
        ("Napco Trading opened a branch in Germany.", "Napco Trading", "ORGANIZATION"),
    ],
)
def test_a_country_is_not_public_beside_personal_data(
    text: str, value: str, entity_type: str
) -> None:
    findings = sorted(
        [found(text, "Germany", "LOCATION"), found(text, value, entity_type)],
        key=lambda f: f.start,
    )
    assert PUBLIC not in {f.relation for f in mark_relations(text, findings)}


def test_a_personal_relation_anywhere_takes_public_away() -> None:
    text = "I live in Dammam. Compare Germany and Japan."
    findings = [found(text, v, "LOCATION") for v in ("Dammam", "Germany", "Japan")]
    assert [f.relation for f in mark_relations(text, findings)] == [PERSONAL, None, None]


def test_the_analyzer_marks_relations_in_batches_too(analyzer: Analyzer) -> None:
    texts = ["I work at Google as a compliance officer.", "What does Google's ranking weigh?"]
    assert analyzer.analyze_batch(texts) == [analyzer.analyze(t) for t in texts]


# -- each cue family ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # possessives a few words before
        ("Our Napco team meets on Monday.", "Napco"),
        ("Her office at Acme Corp is on the third floor.", "Acme Corp"),
        # relational verbs and role nouns, with a person as subject
        ("My son is enrolled at Lincoln High School.", "Lincoln High School"),
        ("She was treated at St. Mary's Hospital last week.", "St. Mary's Hospital"),
        ("We moved to Dammam in 2019.", "Dammam"),
        ("I am a nurse at Mercy General.", "Mercy General"),
        ("I am applying for the analyst position at Deloitte.", "Deloitte"),
        ("My client lives in Leeds.", "Leeds"),
        # no subject at all: a resume bullet
        ("- Interned at Aramco, summer of 2021", "Aramco"),
        # a PERSON finding as the subject is checked through the Analyzer below
        # after the value
        ("Acme, my employer, is relocating.", "Acme"),
        ("Acme hired me last year.", "Acme"),
        # an address label
        ("Address: Riverside, Springfield", "Riverside, Springfield"),
        # resume shapes: a date range next to the value, or a short dated line
        ("Sales Associate Synergy Tax Services January 2018 to December 2018", "Synergy Tax"),
        ("Napco National Company | Feb 2019 - present", "Napco National Company"),
        ("Education\n2015 Arab Open University, Bachelor of Arts\nSkills: Excel", "Arab Open"),
        # Chinese
        ("我在腾讯工作三年了", "腾讯"),
        ("我们公司华为最近在招人", "华为"),
        ("她就读于复旦大学", "复旦大学"),
        ("本人任职于阿里巴巴", "阿里巴巴"),
    ],
)
def test_cue_families(text: str, value: str) -> None:
    assert marked(text, value) == PERSONAL


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Who founded Acme Corp?", "Acme Corp"),
        ("Tell me about the history of Leeds.", "Leeds"),
        ("Can you help me understand how Deloitte audits banks?", "Deloitte"),
        ("I wonder why Dammam is so hot.", "Dammam"),
        ("Microsoft was founded in 1975.", "Microsoft"),
        ("腾讯是一家什么样的公司？", "腾讯"),
        # a sentence boundary stops a cue: the second sentence is a question
        ("I work in sales. Is Acme a good company?", "Acme"),
    ],
)
def test_general_mentions_stay_general(text: str, value: str) -> None:
    assert marked(text, value) is None


def test_a_person_finding_is_a_subject() -> None:
    text = "Aly has been with Amazon for 12 months."
    person = Finding("PERSON", 0, 3, 0.85, "TestRecognizer", "en")
    _, amazon = mark_relations(text, [person, found(text, "Amazon")])
    assert amazon.relation == PERSONAL


def test_dates_are_personal_only_when_they_are_birth_dates() -> None:
    assert marked("I was born on March 3, 1990.", "March 3, 1990", "DATE_TIME") == PERSONAL
    assert marked("出生日期：1990年3月3日", "1990年3月3日", "DATE_TIME") == PERSONAL
    assert marked("I worked there on March 3, 1990.", "March 3, 1990", "DATE_TIME") is None
    assert marked("Napco | 2019 - 2022", "2019", "DATE_TIME") is None


def test_other_types_are_never_marked() -> None:
    text = "My email is jane@example.org"
    email = found(text, "jane@example.org", "EMAIL_ADDRESS")
    assert mark_relations(text, [email]) == [email]


def test_already_marked_findings_stay_marked() -> None:
    text = "Tell me about Paris."
    paris = replace(found(text, "Paris", "LOCATION"), relation=PERSONAL)
    assert mark_relations(text, [paris]) == [paris]


# -- guarantees ----------------------------------------------------------------------


@st.composite
def text_and_findings(draw: st.DrawFn) -> tuple[str, list[Finding]]:
    words = st.sampled_from(
        [
            "I",
            "my",
            "work",
            "at",
            "Google",
            "in",
            "2019 - 2022",
            "我",
            "在",
            "工作",
            "\n",
            ". ",
            "的",
        ]
    )
    text = draw(st.lists(st.one_of(words, st.text(max_size=6)), max_size=40).map(" ".join))
    if not text:
        text = "x"
    spans = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(text) - 1),
                st.integers(1, 12),
                st.sampled_from(sorted(RELATED_TYPES | {"PERSON", "EMAIL_ADDRESS"})),
            ),
            max_size=8,
        )
    )
    findings = [
        Finding(kind, start, min(start + length, len(text)), 0.8, "TestRecognizer", "en")
        for start, length, kind in sorted(spans)
    ]
    return text, findings


@settings(max_examples=300, deadline=None)
@given(text_and_findings())
def test_only_the_relation_changes(case: tuple[str, list[Finding]]) -> None:
    text, findings = case
    result = mark_relations(text, findings)
    assert [replace(f, relation=None) for f in result] == findings
    for before, after in zip(findings, result, strict=True):
        assert after.relation in {None, PERSONAL}
        if after.relation is not None:
            assert before.entity_type in RELATED_TYPES


def test_linear_time_on_a_megabyte_of_adversarial_text() -> None:
    # Long runs of the characters the expressions branch on, and one finding
    # every few hundred characters: the cost must stay proportional.
    unit = "my my my at at at 2019 - 2019 - " + "a " * 60 + "我在" * 20 + "\n" * 3
    text = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
    findings = [
        Finding("ORGANIZATION", start, start + 5, 0.8, "TestRecognizer", "en")
        for start in range(10, len(text) - 10, 200)
    ]
    started = time.perf_counter()
    result = mark_relations(text, findings)
    elapsed = time.perf_counter() - started
    assert len(result) == len(findings)
    assert elapsed < 5.0


def test_fast_on_a_prompt() -> None:
    text = ("I worked at Napco National Company as an accountant from 2019 to 2022. " * 17)[:1200]
    findings = [
        found(text, "Napco National Company"),
        Finding("LOCATION", 300, 310, 0.8, "TestRecognizer", "en"),
        Finding("DATE_TIME", 600, 610, 0.8, "TestRecognizer", "en"),
    ]
    mark_relations(text, findings)
    started = time.perf_counter()
    for _ in range(100):
        mark_relations(text, findings)
    assert (time.perf_counter() - started) / 100 < 0.002
