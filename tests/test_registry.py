"""The recognizers this package replaces behave like Presidio's, only cheaper or offline."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from presidio_analyzer.predefined_recognizers import PhoneRecognizer, UrlRecognizer

from privacy_partition.detection._registry import (
    _PHONE_REGIONS,
    ContextualNhsRecognizer,
    OfflineEmailRecognizer,
    WindowedPhoneRecognizer,
    WindowedUrlRecognizer,
)

PIECES = [
    " ",
    "\n",
    ".",
    "-",
    "(",
    ")",
    "+1 ",
    "212",
    "555",
    "0199",
    "44 20 7946 0958",
    "call",
    "www.",
    "example",
    ".com",
    ".co.uk",
    "https://",
    "/path?q=1",
    "'",
    '"',
    "a",
    "7",
]
texts = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


def spans(results: list[object]) -> list[tuple[int, int, float]]:
    return sorted((r.start, r.end, r.score) for r in results)  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(texts)
def test_windowed_phone_matching_equals_presidio(text: str) -> None:
    stock = PhoneRecognizer(supported_regions=_PHONE_REGIONS)
    windowed = WindowedPhoneRecognizer(supported_regions=_PHONE_REGIONS)
    assert spans(windowed.analyze(text, ["PHONE_NUMBER"])) == spans(
        stock.analyze(text, ["PHONE_NUMBER"])
    )


@settings(max_examples=150, deadline=None)
@given(texts)
def test_windowed_url_matching_equals_presidio_less_code_and_file_names(text: str) -> None:
    windowed = WindowedUrlRecognizer()
    stock = [r for r in UrlRecognizer().analyze(text, ["URL"]) if windowed._plausible(text, r)]
    assert spans(windowed.analyze(text, ["URL"])) == spans(stock)


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("visit example.com today", ["example.com"]),
        ("see https://docs.example.org/a.html", ["https://docs.example.org/a.html"]),
        ("go to www.site.py/x", ["www.site.py/x"]),
        # code: the "top-level domain" is the start of a longer word
        ('el = document.createElement("div"); document.body.appendChild(el)', []),
        # file names
        ("open report.pdf and run main.py", []),
    ],
)
def test_urls_in_code_and_file_names_are_not_urls(text: str, urls: list[str]) -> None:
    found = WindowedUrlRecognizer().analyze(text, ["URL"])
    assert [text[r.start : r.end] for r in found] == urls


def test_offline_email_validation_uses_the_bundled_suffix_list() -> None:
    recognizer = OfflineEmailRecognizer()
    assert recognizer.validate_result("a@mail.example.co.uk")
    assert not recognizer.validate_result("a@localhost")


def test_nhs_number_is_weak_without_context_and_certain_with_it() -> None:
    recognizer = ContextualNhsRecognizer()
    (alone,) = recognizer.analyze("ref 943 476 5919", ["UK_NHS"])
    (with_context,) = recognizer.analyze("NHS no. 943 476 5919", ["UK_NHS"])
    assert alone.score < 0.4 <= with_context.score
    assert recognizer.analyze("ref 943 476 5910", ["UK_NHS"]) == []
