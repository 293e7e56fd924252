"""Payment card numbers, from the card schemes' specifications.

The table below restates the schemes' published issuer ranges and lengths on
its own (it is not imported from the recognizer): each row's lowest and highest
prefix, at each length, with a Luhn check digit, in several groupings, must be
found whole; the same digits with a wrong check digit, or a scheme's prefix at
a length it does not issue, must not be, unless a card cue stands before them.
"""

from __future__ import annotations

import time

import pytest

from privacy_partition.detection import Analyzer
from privacy_partition.detection.recognizers._cards import CardRecognizer, luhn_valid

# scheme, lowest prefix, highest prefix, lengths (ISO/IEC 7812 IINs as each scheme publishes)
SPEC: list[tuple[str, str, str, tuple[int, ...]]] = [
    ("Visa", "4", "4", (13, 16, 19)),
    ("Mastercard", "51", "55", (16,)),
    ("Mastercard 2-series", "2221", "2720", (16,)),
    ("American Express", "34", "34", (15,)),
    ("American Express", "37", "37", (15,)),
    ("Discover", "6011", "6011", (16, 17, 18, 19)),
    ("Discover", "644", "649", (16, 19)),
    ("Discover", "65", "65", (16, 19)),
    ("Discover / UnionPay co-brand", "622126", "622925", (16, 19)),
    ("Diners Club", "36", "36", (14, 16, 19)),
    ("Diners Club Carte Blanche", "300", "305", (14, 16, 19)),
    ("Diners Club", "38", "39", (14, 16)),
    ("JCB", "3528", "3589", (16, 17, 18, 19)),
    ("UnionPay", "62", "62", (16, 17, 18, 19)),
    ("UnionPay 81", "8100", "8171", (16, 19)),
    ("Maestro", "5018", "5018", (13, 16, 19)),
    ("Maestro", "6759", "6759", (13, 16, 19)),
    ("Maestro", "6761", "6763", (13, 19)),
    ("Mir", "2200", "2204", (16, 19)),
    ("RuPay", "60", "60", (16,)),
    ("Troy", "9792", "9792", (16,)),
    ("Verve", "506099", "506198", (16, 19)),
]

GROUPINGS = ("contiguous", "fours", "fours-hyphen", "amex", "pairs")


def with_check_digit(body: str) -> str:
    """``body`` and the digit that makes it pass the Luhn check."""
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return body + digit
    raise AssertionError("unreachable")


def card(prefix: str, length: int, fill: str = "7") -> str:
    return with_check_digit((prefix + fill * length)[: length - 1])


def grouped(digits: str, grouping: str) -> str:
    if grouping == "contiguous":
        return digits
    if grouping == "amex":  # 4-6-rest
        return f"{digits[:4]} {digits[4:10]} {digits[10:]}"
    size, sep = (2, " ") if grouping == "pairs" else (4, "-" if "hyphen" in grouping else " ")
    return sep.join(digits[i : i + size] for i in range(0, len(digits), size))


def cases() -> list[tuple[str, str]]:
    found = []
    for scheme, low, high, lengths in SPEC:
        for prefix in sorted({low, high}):
            for length in lengths:
                found.append((f"{scheme} {prefix} {length}", card(prefix, length)))
    return found


def cards_in(analyzer: Analyzer, text: str) -> list[str]:
    return [
        text[f.start : f.end]
        for f in analyzer.analyze(text, language="en")
        if f.entity_type == "CREDIT_CARD"
    ]


@pytest.mark.parametrize(("name", "number"), cases(), ids=[name for name, _ in cases()])
def test_every_scheme_range_and_length_is_found_whole_in_any_grouping(
    analyzer: Analyzer, name: str, number: str
) -> None:
    for grouping in GROUPINGS:
        value = grouped(number, grouping)
        assert cards_in(analyzer, f"Please charge {value} for the order.") == [value], grouping


@pytest.mark.parametrize(("name", "number"), cases()[::3], ids=[n for n, _ in cases()[::3]])
def test_a_wrong_check_digit_is_not_a_card(analyzer: Analyzer, name: str, number: str) -> None:
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert cards_in(analyzer, f"Reference {wrong} for the order.") == []


def test_lengths_a_scheme_does_not_issue_need_a_cue(analyzer: Analyzer) -> None:
    mastercard_17 = card("5412", 17)
    amex_16 = card("3712", 16)
    for number in (mastercard_17, amex_16):
        assert cards_in(analyzer, f"Reference {number} for the order.") == []
        assert cards_in(analyzer, f"My card number is {number}.") == [number]


def test_any_luhn_valid_run_right_after_a_card_cue(analyzer: Analyzer) -> None:
    private_label = card("9990", 16)
    for text in (
        f"card: {private_label}",
        f"Credit card no. {private_label}",
        f"my debit card is {private_label}",
        f"卡号：{private_label}",
    ):
        language = "zh" if "卡号" in text else "en"
        findings = [f for f in analyzer.analyze(text, language=language)]
        # In Chinese the bank-card recognizer reports it (CN_BANK_CARD); the type is a card's.
        assert any(
            f.entity_type in ("CREDIT_CARD", "CN_BANK_CARD")
            and text[f.start : f.end] == private_label
            for f in findings
        ), text
    # Too far from the cue, or with digits between: not a card.
    far = f"card was declined, so the order (ref {private_label}) failed"
    assert cards_in(analyzer, far) == []


@pytest.mark.parametrize(
    "text",
    [
        # Published test numbers of the processors' sandboxes.
        "4111111111111111",
        "4222222222222",
        "5555555555554444",
        "2223003122003222",
        "378282246310005",
        "6011111111111117",
        "3566002020360505",
        "30569309025904",
        "38520000023237",
        "6200000000000005",
        "6205500000000000004",
    ],
)
def test_the_processors_test_numbers(analyzer: Analyzer, text: str) -> None:
    assert cards_in(analyzer, f"Use {text} in the sandbox.") == [text]


@pytest.mark.parametrize(
    "text",
    [
        "Call me at +1 415 555 0100 or 020 7946 0958.",
        "Order 1234567890123 shipped.",  # not Luhn-valid
        "IMEI 490154203237518 of my phone",  # Luhn-valid, 15 digits, no scheme issues it
        "The 2024-01-15 report",
        "Account 4111 1111 1111 1111 1111 2 is closed.",  # 21 digits: no card inside
        "serial 44111111111111111111",  # 20 digits
    ],
)
def test_numbers_that_are_not_cards(analyzer: Analyzer, text: str) -> None:
    assert cards_in(analyzer, text) == []


def test_linear_on_a_megabyte_of_digits_and_separators() -> None:
    recognizer = CardRecognizer("en")
    # Long runs of grouped digits (no card inside) between cards that stand alone.
    text = ("4111 1111-1111 1111 " * 4 + "1" * 37 + " - 4111 1111 1111 1111. ") * 8000
    started = time.perf_counter()
    results = recognizer.analyze(text[:1_000_000], ["CREDIT_CARD"])
    assert time.perf_counter() - started < 20  # generous: linear time takes about a second
    assert len(results) == text[:1_000_000].count("4111 1111 1111 1111.")


def test_in_chinese_a_bank_card_stays_a_cn_bank_card(analyzer: Analyzer) -> None:
    text = "请帮我查一下银行卡6222021234567890128的余额"
    types = {f.entity_type for f in analyzer.analyze(text, language="zh")}
    assert "CN_BANK_CARD" in types
    assert "CREDIT_CARD" not in types
    # Grouped in a way the bank-card pattern does not read: still a card.
    other = "卡号 6222 021234 567890128"
    assert [f.entity_type for f in analyzer.analyze(other, language="zh")] == ["CREDIT_CARD"]
