"""IBANs of every country in the SWIFT IBAN registry, from the registry's own examples.

Each example below is the one the registry publishes for its country (not derived from
the recognizer's length table): found whole, contiguous and in the print format's groups
of four, never taking in the next word; one wrong check digit, or a character more or
less, is not an IBAN.
"""

from __future__ import annotations

import time

import pytest

from privacy_partition.detection import Analyzer
from privacy_partition.detection.recognizers._iban import LENGTHS, IsoIbanRecognizer

REGISTRY_EXAMPLES = [
    "AL47212110090000000235698741",
    "AD1200012030200359100100",
    "AT611904300234573201",
    "AZ21NABZ00000000137010001944",
    "BH67BMAG00001299123456",
    "BE68539007547034",
    "BA391290079401028494",
    "BR1800360305000010009795493C1",
    "BG80BNBG96611020345678",
    "CR05015202001026284066",
    "HR1210010051863000160",
    "CY17002001280000001200527600",
    "CZ6508000000192000145399",
    "DK5000400440116243",
    "DO28BAGR00000001212453611324",
    "EE382200221020145685",
    "FO6264600001631634",
    "FI2112345600000785",
    "FR1420041010050500013M02606",
    "GE29NB0000000101904917",
    "DE89370400440532013000",
    "GI75NWBK000000007099453",
    "GR1601101250000000012300695",
    "GL8964710001000206",
    "GT82TRAJ01020000001210029690",
    "HU42117730161111101800000000",
    "IS140159260076545510730339",
    "IE29AIBK93115212345678",
    "IL620108000000099999999",
    "IT60X0542811101000000123456",
    "JO94CBJO0010000000000131000302",
    "KZ86125KZT5004100100",
    "XK051212012345678906",
    "KW81CBKU0000000000001234560101",
    "LV80BANK0000435195001",
    "LB62099900000001001901229114",
    "LI21088100002324013AA",
    "LT121000011101001000",
    "LU280019400644750000",
    "MK07250120000058984",
    "MT84MALT011000012345MTLCAST001S",
    "MR1300020001010000123456753",
    "MU17BOMM0101101030300200000MUR",
    "MD24AG000225100013104168",
    "MC5811222000010123456789030",
    "ME25505000012345678951",
    "NL91ABNA0417164300",
    "NO9386011117947",
    "PK36SCBL0000001123456702",
    "PS92PALS000000000400123456702",
    "PL61109010140000071219812874",
    "PT50000201231234567890154",
    "QA58DOHB00001234567890ABCDEFG",
    "RO49AAAA1B31007593840000",
    "SM86U0322509800000000270100",
    "SA0380000000608010167519",
    "RS35260005601001611379",
    "SK3112000000198742637541",
    "SI56263300012039086",
    "ES9121000418450200051332",
    "SE4550000000058398257466",
    "CH9300762011623852957",
    "TN5910006035183598478831",
    "TR330006100519786457841326",
    "AE070331234567890123456",
    "GB29NWBK60161331926819",
    "VG96VPVG0000012345678901",
    "UA213223130000026007233566001",
    "EG380019000500000000263180002",
    "IQ98NBIQ850123456789012",
    "LY83002048000020100120361",
    "SC18SSCB11010000000000001497USD",
    "ST68000100010051845310112",
    "SV62CENR00000000000000700025",
    "TL380080012345678910157",
    "BY13NBRB3600900000002Z00AB00",
    "LC55HEMM000100010012001200023015",
    "SD2129010501234001",
    "BI4210000100010000332045181",
    "DJ2100010000000154000100186",
    "RU0304452522540817810538091310419",
    "SO211000001001000100141",
    "FK88SC123456789012",
    "MN121234123456789123",
    "NI45BAPR00000013000003558124",
    "OM810180000001299123456",
    "YE15CBYE0001018861234567891234",
    "HN88CABF00000000000250005469",
    "VA59001123000012345678",
]


def printed(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def ibans_in(analyzer: Analyzer, text: str) -> list[str]:
    return [
        text[f.start : f.end]
        for f in analyzer.analyze(text, language="en")
        if f.entity_type == "IBAN_CODE"
    ]


def test_every_registry_country_has_an_example() -> None:
    assert {iban[:2] for iban in REGISTRY_EXAMPLES} == set(LENGTHS)


@pytest.mark.parametrize("iban", REGISTRY_EXAMPLES, ids=[i[:2] for i in REGISTRY_EXAMPLES])
def test_the_registry_example_is_found_whole_contiguous_and_printed(
    analyzer: Analyzer, iban: str
) -> None:
    for form in (iban, printed(iban), iban.lower()):
        text = f"Please wire the deposit to {form}, thanks."
        assert ibans_in(analyzer, text) == [form], form
    # A full last group followed by a short word: the word stays out.
    text = f"IBAN {printed(iban)} from Anna"
    assert ibans_in(analyzer, text) == [printed(iban)]


@pytest.mark.parametrize(
    "iban", REGISTRY_EXAMPLES[::7], ids=[i[:2] for i in REGISTRY_EXAMPLES[::7]]
)
def test_a_wrong_check_digit_or_length_is_not_an_iban(analyzer: Analyzer, iban: str) -> None:
    wrong_check = iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:]
    one_short = iban[:-1]
    for text in (wrong_check, one_short, iban + "7"):
        assert ibans_in(analyzer, f"Reference {text} for the order.") == [], text


def test_linear_on_a_megabyte_of_near_ibans() -> None:
    recognizer = IsoIbanRecognizer("en")
    text = ("DE89 3704 0044 0532 0130 01 " + "GB" + "9" * 40 + " ") * 15000
    started = time.perf_counter()
    results = recognizer.analyze(text[:1_000_000], ["IBAN_CODE"])
    assert time.perf_counter() - started < 20  # generous: linear time takes about a second
    assert results == []
