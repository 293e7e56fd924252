"""Hong Kong and Taiwan identity cards and the regions' travel permits, from their rules.

The check algorithms are restated here from the issuers' published rules (Hong Kong's
MOD 11 over letter values A=10 ... Z=35 with a space as 36; Taiwan's area codes and
weights 1, 9, 8 ... 1), independently of the recognizers' code.
"""

from __future__ import annotations

import pytest

from privacy_partition.detection import Analyzer

TW_AREA = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16, "H": 17, "I": 34,
    "J": 18, "K": 19, "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24, "R": 25,
    "S": 26, "T": 27, "U": 28, "V": 29, "W": 32, "X": 30, "Y": 31, "Z": 33,
}  # fmt: skip


def hk_id(letters: str, digits: str) -> str:
    padded = " " * (2 - len(letters)) + letters
    values = [36 if c == " " else ord(c) - ord("A") + 10 for c in padded]
    values += [int(d) for d in digits]
    remainder = sum(v * w for v, w in zip(values, [9, 8, 7, 6, 5, 4, 3, 2], strict=True)) % 11
    check = (11 - remainder) % 11
    return f"{letters}{digits}({'A' if check == 10 else check})"


def tw_id(letter: str, body: str) -> str:
    """``letter`` and the first eight digits; the ninth makes the weighted sum a multiple of 10."""
    area = TW_AREA[letter]
    weights = [1, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    digits = [area // 10, area % 10, *map(int, body)]
    total = sum(d * w for d, w in zip(digits, weights, strict=True))
    return f"{letter}{body}{(10 - total % 10) % 10}"


def found(analyzer: Analyzer, text: str, entity: str, language: str = "en") -> list[str]:
    return [
        text[f.start : f.end]
        for f in analyzer.analyze(text, language=language)
        if f.entity_type == entity
    ]


HK_IDS = [hk_id("A", "123456"), hk_id("Z", "683365"), hk_id("AB", "987654"), hk_id("K", "000007")]
TW_IDS = ["A123456789", tw_id("F", "12345678"), tw_id("O", "20000000"), tw_id("W", "81234567")]


def test_the_published_examples_check_out() -> None:
    assert hk_id("A", "123456") == "A123456(3)"
    assert tw_id("A", "12345678") == "A123456789"


@pytest.mark.parametrize("value", HK_IDS)
def test_hong_kong_identity_cards(analyzer: Analyzer, value: str) -> None:
    assert found(analyzer, f"My HKID is {value}.", "HK_ID") == [value]
    assert found(analyzer, f"香港身份证号码：{value}", "HK_ID", "zh") == [value]
    bare = value.replace("(", "").replace(")", "")
    assert found(analyzer, f"My HKID is {bare}.", "HK_ID") == [bare]
    wrong = value[:-2] + ("0" if value[-2] != "0" else "1") + ")"
    assert found(analyzer, f"My HKID is {wrong}.", "HK_ID") == []


@pytest.mark.parametrize("value", TW_IDS)
def test_taiwan_identification_numbers(analyzer: Analyzer, value: str) -> None:
    assert found(analyzer, f"身分證字號 {value}", "TW_ID", "zh") == [value]
    assert found(analyzer, f"Her ID is {value}.", "TW_ID") == [value]
    wrong = value[:-1] + str((int(value[-1]) + 1) % 10)
    assert found(analyzer, f"Her ID is {wrong}.", "TW_ID") == []


@pytest.mark.parametrize(
    ("text", "value", "language"),
    [
        ("我的港澳通行证号码是C12345678", "C12345678", "zh"),
        ("港澳通行证：CA1234567", "CA1234567", "zh"),
        ("旧版通行证 W12345678", "W12345678", "zh"),
        ("往来台湾通行证 L12345678", "L12345678", "zh"),
        ("回乡证号码 H12345678", "H12345678", "zh"),
        ("回鄉證 M1234567890", "M1234567890", "zh"),
        ("台胞证号码 12345678", "12345678", "zh"),
        ("台胞證 1234567890(B)", "1234567890(B)", "zh"),
        ("My home return permit is H87654321.", "H87654321", "en"),
        ("travel permit number L87654321", "L87654321", "en"),
    ],
)
def test_travel_permits_next_to_a_permit_word(
    analyzer: Analyzer, text: str, value: str, language: str
) -> None:
    assert found(analyzer, text, "CN_TRAVEL_PERMIT", language) == [value]


@pytest.mark.parametrize(
    "text",
    [
        "Order 12345678 shipped on 20240115.",
        "The build C12345678 passed.",  # a letter and eight digits alone: below the bar
        "ticket H12345678",
        "hash c0ffee12345678ab",
    ],
)
def test_no_permit_without_a_permit_word(analyzer: Analyzer, text: str) -> None:
    assert found(analyzer, text, "CN_TRAVEL_PERMIT") == []


def test_linear_on_a_megabyte_of_near_matches() -> None:
    import time

    from privacy_partition.detection.recognizers._regional_ids import regional_id_recognizers

    text = ("AB1234567 C1234567A8 12345678901(x) 通行证 H123456789012 " * 20000)[:1_000_000]
    started = time.perf_counter()
    for recognizer in regional_id_recognizers("zh"):
        recognizer.analyze(text, recognizer.supported_entities, None)
    assert time.perf_counter() - started < 30  # generous: linear time takes a few seconds
