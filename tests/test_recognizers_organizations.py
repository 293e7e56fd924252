"""Organizations that only their surroundings reveal: legal forms, naming phrases,
employers written in lower case, stock tickers; through a real Presidio engine."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from presidio_analyzer import AnalyzerEngine, RecognizerResult

from engines import blank_engine
from privacy_partition.detection.recognizers._organizations import organization_recognizers


@pytest.fixture(scope="module")
def analyzer() -> AnalyzerEngine:
    return blank_engine(organization_recognizers, languages=("en",))


def spans(analyzer: AnalyzerEngine, text: str) -> list[str]:
    results: list[RecognizerResult] = analyzer.analyze(
        text, language="en", entities=["ORGANIZATION"], score_threshold=0.4
    )
    return [text[r.start : r.end] for r in sorted(results, key=lambda r: r.start)]


def test_english_only() -> None:
    assert {r.name for r in organization_recognizers("en")} == {
        "LegalFormRecognizer",
        "NamedThingRecognizer",
        "EmployerRecognizer",
        "TickerRecognizer",
    }
    assert organization_recognizers("zh") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("info given below Aurionpro solutions ltd Rs 310", ["Aurionpro solutions ltd"]),
        ('One Liner "Quasi Ventures Inc. is an AI marketplace', ["Quasi Ventures Inc."]),
        ("The D’Amico Company has a beta of 1.56.", ["D’Amico Company"]),
        ("we signed with the Acme GmbH last year", ["Acme GmbH"]),
        (
            "Microsoft Corporation and Apple Inc. and X Ltd",
            ["Microsoft Corporation", "Apple Inc.", "X Ltd"],
        ),
        ("Shenzhen Baoan Trading Co., Ltd. ships today", ["Shenzhen Baoan Trading Co., Ltd."]),
    ],
)
def test_a_name_before_its_legal_form(
    analyzer: AnalyzerEngine, text: str, expected: list[str]
) -> None:
    assert spans(analyzer, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the company was founded in 2001",
        "offer valid while supplies limited, feedback incorporated",
        "a software company and a consulting group",
        "which company has the best benefits?",
        "ask the group about it",
    ],
)
def test_a_plain_word_form_names_nothing(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a commercial for a company called tech stop, that is located in madera", ["tech stop"]),
        ('instrumental for an application named "Mario". Philip has', ["Mario"]),
        ("I run a bakery called Sweet Crumbs in Leeds", ["Sweet Crumbs"]),
        ("a startup known as “Blue Fern” raised money", ["Blue Fern"]),
    ],
)
def test_a_name_after_a_naming_phrase(
    analyzer: AnalyzerEngine, text: str, expected: list[str]
) -> None:
    assert spans(analyzer, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Im a sort of a pen tester at cloudflare and ive been tasked", ["cloudflare"]),
        ("generate why i want to work for rev.", ["rev"]),
        ("I am a data analyst at copart, based in Dallas", ["copart"]),
    ],
)
def test_a_lower_case_employer_after_a_job(
    analyzer: AnalyzerEngine, text: str, expected: list[str]
) -> None:
    assert spans(analyzer, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I work at home and I work for free.",
        "I work for a company in Berlin.",
        "engineers work for hours at night",
        "a job for life",
        "focus on the job at hand. I am an engineer at heart.",
        "I want to work at google because",  # not at a clause end: spaCy's job, if capitalized
    ],
)
def test_common_complements_are_no_employer(analyzer: AnalyzerEngine, text: str) -> None:
    assert spans(analyzer, text) == []


def test_tickers_in_a_holdings_table_with_cashtags_and_exchanges(analyzer: AnalyzerEngine) -> None:
    table = "IBM $146,62 $6,64 2,66\nMCD $284,90 $6,08 1,81\nAAPL $179,96 $0,96 1,95"
    assert spans(analyzer, table) == ["IBM", "MCD", "AAPL"]
    assert spans(analyzer, "Should I sell $NVDA or NASDAQ: MSFT?") == ["NVDA", "MSFT"]


def test_one_priced_word_or_a_currency_is_no_ticker(analyzer: AnalyzerEngine) -> None:
    assert spans(analyzer, "The TV $499 deal") == []
    assert spans(analyzer, "Total USD $100, EUR $90, GBP $80") == []
    assert spans(analyzer, "It costs $5 and pays $USD") == []


def adversarial_texts() -> Iterator[str]:
    size = 1_000_000
    for unit in (
        "a ",
        "A ",
        "a ltd ",
        "Aa, ",
        "company called ",
        "called a ",
        "work at a ",
        "AB $1 ",
        "$A",
    ):
        yield (unit * (size // len(unit) + 1))[:size]


def test_every_recognizer_completes_on_an_adversarial_megabyte() -> None:
    recognizers = organization_recognizers("en")
    for text in adversarial_texts():
        started = time.perf_counter()
        for recognizer in recognizers:
            assert isinstance(recognizer.analyze(text, recognizer.supported_entities, None), list)
        # Generous: linear scans of a megabyte take well under a second each.
        assert time.perf_counter() - started < 30
