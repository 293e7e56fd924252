"""Which recognizers run for which language.

Presidio's own recognizers are instantiated here explicitly (not from its
YAML defaults) so the set is fixed by this package, reviewed and versioned.
Four are replaced: the email recognizer, whose domain check would fetch the
public suffix list from the network; the UK NHS number recognizer, whose
10-digit pattern also matches every US phone number and so must not win
without NHS context; the credit card recognizer, whose prefixes and
groupings miss cards in use (``recognizers/_cards.py``); and the IBAN
recognizer, which lacks the registry's newer countries and runs on past a
grouped IBAN's end (``recognizers/_iban.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CryptoRecognizer,
    DateRecognizer,
    EmailRecognizer,
    IpRecognizer,
    MacAddressRecognizer,
    MedicalLicenseRecognizer,
    NhsRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
    UsBankRecognizer,
    UsItinRecognizer,
    UsLicenseRecognizer,
    UsPassportRecognizer,
    UsSsnRecognizer,
    UuidRecognizer,
)

from privacy_partition.detection.recognizers._cards import card_recognizers
from privacy_partition.detection.recognizers._cues import cue_recognizers
from privacy_partition.detection.recognizers._iban import iban_recognizers
from privacy_partition.detection.recognizers._organizations import organization_recognizers
from privacy_partition.detection.recognizers._regional_ids import regional_id_recognizers
from privacy_partition.detection.recognizers._secrets import secret_recognizers
from privacy_partition.detection.recognizers._zh import chinese_recognizers

__all__ = ["recognizers_for"]

# The snapshot of the public suffix list bundled with tldextract: no cache
# directory, no URLs, so no file is written and no connection is opened.
_OFFLINE_TLD = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)

# National formats read (E.164 is read for every country). France and the Netherlands
# (numbers with a leading 0) added no span on PUPA_New; Spain's bare 9 digits took a US
# passport number, and Poland's and Italy's national formats turned 15 decimals, SSNs and
# digit lists into phone numbers there; China's mobiles and landlines have their own
# recognizers (tests/test_recognizers_phones.py).
_PHONE_REGIONS = ("US", "UK", "DE", "FE", "IL", "IN", "CA", "BR", "AU", "FR", "NL")


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer, checking domains against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_TLD(pattern_text).fqdn != ""


class ContextualNhsRecognizer(NhsRecognizer):
    """UK NHS numbers: weak alone, certain with NHS context before them.

    A valid NHS checksum alone proves little (one 10-digit number in eleven
    passes it), and the 3-3-4 layout is also a North American phone number,
    so without context the phone reading wins. Context is looked for in the
    raw text before the number, which does not depend on tokenization.
    """

    _CONTEXT_WINDOW = 40

    def __init__(self) -> None:
        weak = Pattern("NHS (weak)", NhsRecognizer.PATTERNS[0].regex, 0.3)
        super().__init__(patterns=[weak])

    def validate_result(self, pattern_text: str) -> bool | None:  # type: ignore[override]
        # None keeps the weak pattern score; True would raise it to 1.0.
        return None if super().validate_result(pattern_text) else False

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = super().analyze(
            text, entities, nlp_artifacts, regex_flags
        )
        for result in results:
            before = text[max(0, result.start - self._CONTEXT_WINDOW) : result.start].lower()
            if any(word in before for word in self.CONTEXT):
                result.score = 1.0
        return results


def _in_windows(
    analyze: Callable[..., list[RecognizerResult]],
    text: str,
    windows: Iterable[tuple[int, int]],
    entities: list[str],
    nlp_artifacts: NlpArtifacts | None,
) -> list[RecognizerResult]:
    """Run ``analyze`` on each window of ``text``, with offsets into ``text``."""
    results: list[RecognizerResult] = []
    for start, end in windows:
        for result in analyze(text[start:end], entities, nlp_artifacts):
            result.start += start
            result.end += start
            results.append(result)
    return results


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for start, end in spans:
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(end, windows[-1][1]))
        else:
            windows.append((start, end))
    return windows


class WindowedPhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recognizer, run only where digits cluster.

    python-phonenumbers scans the whole text once per region and dominates
    the cost of pattern detection. A phone number needs several digits close
    together, so the matcher runs on padded windows around such clusters
    instead: the same matches (checked on every PUPA prompt), a quarter of the work.
    """

    _CLUSTER = re.compile(r"\d[\d\s().\-/]*")
    _MIN_DIGITS = 5
    _PAD = 8

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        clusters = (
            (max(0, m.start() - self._PAD), m.end() + self._PAD)
            for m in self._CLUSTER.finditer(text)
            if sum(c.isdigit() for c in m.group()) >= self._MIN_DIGITS
        )
        return _in_windows(super().analyze, text, _merged(clusters), entities, nlp_artifacts)


class WindowedUrlRecognizer(UrlRecognizer):
    """Presidio's URL recognizer, run only on the words that could hold a URL.

    Its patterns (a 6 KB alternation of top-level domains) cannot match
    whitespace and need a dot followed by a letter, so they run on the
    whitespace-delimited runs that contain one: the same matches (checked on
    every PUPA prompt) for a fraction of the scanning.

    Two kinds of its matches are dropped, both without a scheme or "www.":
    one that stops inside a word (``document.cr`` of ``document.createElement``:
    the top-level domain is a prefix of a longer word, so it is code), and a
    file name whose "top-level domain" is a common file extension (``main.py``,
    ``notes.md``).
    """

    _RUN = re.compile(r"\S+")
    _DOMAIN_DOT = re.compile(r"\.[A-Za-z]")
    _SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.)", re.IGNORECASE)
    _FILE_EXTENSIONS = frozenset(
        [
            "py",
            "js",
            "ts",
            "md",
            "sh",
            "pl",
            "rs",
            "cs",
            "cc",
            "go",
            "rb",
            "kt",
            "swift",
            "java",
            "json",
            "yaml",
            "yml",
            "toml",
            "txt",
            "csv",
            "pdf",
            "doc",
            "docx",
            "xls",
            "xlsx",
            "ppt",
            "pptx",
            "zip",
            "gz",
            "tar",
            "png",
            "jpg",
            "jpeg",
            "gif",
            "svg",
            "mp3",
            "mp4",
            "mov",
            "html",
            "htm",
            "css",
            "php",
            "sql",
            "h",
            "hpp",
            "cpp",
            "c",
            "ipynb",
            "env",
            "lock",
            "log",
            "cfg",
            "ini",
        ]
    )

    def _plausible(self, text: str, result: RecognizerResult) -> bool:
        value = text[result.start : result.end]
        if self._SCHEME.match(value):
            return True
        if result.end < len(text) and text[result.end].isalnum():
            return False
        host = value.split("/", 1)[0].rstrip(".")
        return host.rsplit(".", 1)[-1].lower() not in self._FILE_EXTENSIONS

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        def analyze_run(
            run: str, found: list[str], artifacts: NlpArtifacts | None
        ) -> list[RecognizerResult]:
            results: list[RecognizerResult] = super(WindowedUrlRecognizer, self).analyze(
                run, found, artifacts, regex_flags
            )
            return results

        runs = (
            (m.start(), m.end())
            for m in self._RUN.finditer(text)
            if self._DOMAIN_DOT.search(m.group())
        )
        results = _in_windows(analyze_run, text, runs, entities, nlp_artifacts)
        return [r for r in results if self._plausible(text, r)]


def _us_zip_code() -> PatternRecognizer:
    """US ZIP codes: after a two-letter state code ("Washington, DC 20500"), or
    anywhere with ZIP context; a bare five-digit number is too often not one."""
    return PatternRecognizer(
        supported_entity="ZIP_CODE",
        name="UsZipCodeRecognizer",
        patterns=[
            Pattern("ZIP after state", r"(?<=\b(?-i:[A-Z]{2}) )\d{5}(?:-\d{4})?\b", 0.6),
            Pattern("ZIP (weak)", r"\b\d{5}(?:-\d{4})?\b", 0.1),
        ],
        context=["zip", "zipcode", "postal", "postcode"],
    )


def _presidio_english() -> list[EntityRecognizer]:
    return [
        UsBankRecognizer(),
        UsLicenseRecognizer(),
        UsItinRecognizer(),
        UsPassportRecognizer(),
        UsSsnRecognizer(),
        ContextualNhsRecognizer(),
        CryptoRecognizer(),
        DateRecognizer(),
        OfflineEmailRecognizer(),
        IpRecognizer(),
        MedicalLicenseRecognizer(),
        MacAddressRecognizer(),
        WindowedPhoneRecognizer(supported_regions=_PHONE_REGIONS),
        WindowedUrlRecognizer(),
        UuidRecognizer(),
        _us_zip_code(),
    ]


def _presidio_language_neutral(language: str) -> list[EntityRecognizer]:
    """Presidio recognizers whose patterns do not depend on the language."""
    return [
        CryptoRecognizer(supported_language=language),
        OfflineEmailRecognizer(supported_language=language),
        IpRecognizer(supported_language=language),
        MacAddressRecognizer(supported_language=language),
        WindowedUrlRecognizer(supported_language=language),
    ]


def recognizers_for(languages: Sequence[str]) -> list[EntityRecognizer]:
    """Fresh instances of every pattern recognizer for ``languages``.

    NER recognizers (spaCy, the local ONNX model) are added by the Analyzer,
    which owns the models they need.
    """
    recognizers: list[EntityRecognizer] = []
    for language in languages:
        if language == "en":
            recognizers += _presidio_english()
        else:
            recognizers += _presidio_language_neutral(language)
        recognizers += card_recognizers(language)
        recognizers += iban_recognizers(language)
        recognizers += chinese_recognizers(language)
        recognizers += regional_id_recognizers(language)
        recognizers += secret_recognizers(language)
        recognizers += cue_recognizers(language)
        recognizers += organization_recognizers(language)
    return recognizers
