"""The Analyzer end to end: real Presidio, real spaCy pipeline, no mocks."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from privacy_partition import ConfigurationError, DetectionError, InputError, ModelError
from privacy_partition.detection import Analyzer, AnalyzerConfig, Finding

CN_TEXT = "我的身份证号是11010519491231002X，手机13800138000"


def types_at(findings: list[Finding], text: str) -> dict[str, str]:
    return {f.value_in(text): f.entity_type for f in findings}


def test_finding_carries_type_span_score_recognizer_language(analyzer: Analyzer) -> None:
    text = "Write to jane.doe@example.org please."
    (finding,) = analyzer.analyze(text)
    assert finding.entity_type == "EMAIL_ADDRESS"
    assert finding.value_in(text) == "jane.doe@example.org"
    assert finding.score > 0.5
    assert finding.recognizer == "OfflineEmailRecognizer"
    assert finding.language == "en"
    assert "jane" not in repr(finding)


def test_chinese_resident_id_and_mobile(analyzer: Analyzer) -> None:
    found = types_at(analyzer.analyze(CN_TEXT), CN_TEXT)
    assert found["11010519491231002X"] == "CN_RESIDENT_ID"
    assert found["13800138000"] == "PHONE_NUMBER"


def test_resident_id_with_wrong_check_character_is_not_an_id(analyzer: Analyzer) -> None:
    text = CN_TEXT.replace("1002X", "10021")
    assert "CN_RESIDENT_ID" not in {f.entity_type for f in analyzer.analyze(text)}


def test_us_phone_is_a_phone_not_an_nhs_number(analyzer: Analyzer) -> None:
    text = "Call me on 212-555-0199 after six."
    assert types_at(analyzer.analyze(text), text) == {"212-555-0199": "PHONE_NUMBER"}


def test_nhs_number_with_context_is_an_nhs_number(analyzer: Analyzer) -> None:
    text = "My NHS number is 943 476 5919."
    assert types_at(analyzer.analyze(text), text)["943 476 5919"] == "UK_NHS"


def test_email_is_not_an_organization(analyzer: Analyzer) -> None:
    text = "Contact Acme Support at support@acme-corp.com for help."
    found = types_at(analyzer.analyze(text), text)
    assert found["support@acme-corp.com"] == "EMAIL_ADDRESS"
    assert "ORGANIZATION" not in {t for v, t in found.items() if "@" in v or "acme-corp.com" in v}


def test_full_name_is_one_person(analyzer: Analyzer) -> None:
    text = "Yesterday Barack Obama visited Berlin."
    found = types_at(analyzer.analyze(text), text)
    assert found.get("Barack Obama") == "PERSON"


def test_findings_are_sorted_and_disjoint(analyzer: Analyzer) -> None:
    text = (
        "I'm John Smith, john.smith@example.com, 4111 1111 1111 1111, SSN 078-05-1120, "
        "living in Boston; 我叫王小明，手机 138 0013 8000"
    )
    findings = analyzer.analyze(text)
    assert findings
    for left, right in itertools.pairwise(findings):
        assert left.end <= right.start


def test_mixed_chinese_and_english_uses_both_languages(analyzer: Analyzer) -> None:
    text = "你好，my email is li.lei@example.com，我的手机是13912345678"
    findings = analyzer.analyze(text)
    found = types_at(findings, text)
    assert found["li.lei@example.com"] == "EMAIL_ADDRESS"
    assert found["13912345678"] == "PHONE_NUMBER"


def test_forced_language(analyzer: Analyzer) -> None:
    assert analyzer.analyze(CN_TEXT, language="zh")
    with pytest.raises(ConfigurationError):
        analyzer.analyze(CN_TEXT, language="fr")


def test_score_thresholds_are_per_entity() -> None:
    strict = Analyzer(AnalyzerConfig(score_thresholds={"PHONE_NUMBER": 0.9}))
    text = "mail a@example.com or call 212-555-0199"
    assert {f.entity_type for f in strict.analyze(text)} == {"EMAIL_ADDRESS"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"languages": ()},
        {"languages": ("en", "fr")},
        {"min_score": 1.5},
        {"score_thresholds": {"PERSON": -0.1}},
        {"max_chars": 0},
        {"threads": 0},
        {"spacy_pipeline": "no_such_pipeline_xyz"},
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        Analyzer(AnalyzerConfig(**kwargs))  # type: ignore[arg-type]


def test_batch_equals_one_by_one(analyzer: Analyzer) -> None:
    texts = [
        "",
        "   ",
        "Mail jane@example.org",
        CN_TEXT,
        "你好，my name is Peter Parker and I live in New York",
        "Nothing personal here at all.",
        "Call 212-555-0199 or 415-555-0100",
    ]
    assert analyzer.analyze_batch(texts) == [analyzer.analyze(t) for t in texts]


@pytest.mark.parametrize("text", ["", " ", "\n\t", "\x00\x01\x02", "\ud800 lone \udfff surrogates"])
def test_degenerate_text_gives_a_result(analyzer: Analyzer, text: str) -> None:
    assert isinstance(analyzer.analyze(text), list)


def test_control_characters_and_surrogates_do_not_hide_values(analyzer: Analyzer) -> None:
    text = "\x07bell \ud800 mail jane@example.org\x1b[0m now"
    assert "EMAIL_ADDRESS" in {f.entity_type for f in analyzer.analyze(text)}


def test_non_text_is_refused(analyzer: Analyzer) -> None:
    with pytest.raises(InputError):
        analyzer.analyze(b"bytes")  # type: ignore[arg-type]


def test_too_long_text_is_refused_without_quoting_it() -> None:
    small = Analyzer(AnalyzerConfig(max_chars=100))
    text = "secret-canary-4471 " * 10
    with pytest.raises(InputError) as caught:
        small.analyze(text)
    assert "canary" not in str(caught.value)


def test_megabyte_text_completes_and_finds_values_across_chunks(long_analyzer: Analyzer) -> None:
    filler = "The weather was mild and the river was calm that spring. "
    repeats = (1 << 20) // len(filler)
    text = filler * (repeats // 2) + "Email jane@example.org. " + filler * (repeats // 2 - 1)
    findings = long_analyzer.analyze(text)
    emails = [f for f in findings if f.entity_type == "EMAIL_ADDRESS"]
    assert [f.value_in(text) for f in emails] == ["jane@example.org"]


def test_a_value_on_a_chunk_boundary_is_found_whole(long_analyzer: Analyzer) -> None:
    from privacy_partition.detection._engine import _CHUNK_CHARS

    for shift in (-10, -3, 0, 5):
        head = "x" * (_CHUNK_CHARS + shift - 40) + " "
        text = head + "reach me at someone.special@example.org please " + "y " * 200
        emails = [
            f.value_in(text)
            for f in long_analyzer.analyze(text)
            if f.entity_type == "EMAIL_ADDRESS"
        ]
        assert emails == ["someone.special@example.org"]


def test_recognizer_failure_is_an_opaque_detection_error(analyzer: Analyzer) -> None:
    from presidio_analyzer import EntityRecognizer

    class Exploding(EntityRecognizer):  # type: ignore[misc]
        def load(self) -> None:
            pass

        def analyze(
            self, text: str, entities: object, nlp_artifacts: object = None
        ) -> list[object]:
            raise RuntimeError(f"boom while reading {text}")

    broken = Analyzer()
    broken._engine.registry.recognizers.append(
        Exploding(supported_entities=["X"], supported_language="en", name="Exploding")
    )
    with pytest.raises(DetectionError) as caught:
        broken.analyze("my canary value is zebra-7781")
    error = caught.value
    assert "zebra" not in str(error)
    assert error.__cause__ is None
    assert error.__context__ is None


def test_detection_opens_no_network_connection() -> None:
    """Build and use an Analyzer in a process where every connection attempt is recorded."""
    script = textwrap.dedent(
        """
        import socket, time
        attempts = []
        def refuse(*args, **kwargs):
            attempts.append(args[:1])
            raise OSError("network disabled by test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        start = time.perf_counter()
        from privacy_partition.detection import Analyzer
        analyzer = Analyzer()
        text = "Visit https://www.example.co.uk or mail ops@mail.example.com.au, 我的邮箱 a@b.cn"
        found = analyzer.analyze(text)
        print(len(attempts), sorted({f.entity_type for f in found}), time.perf_counter() - start)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split(maxsplit=1)
    assert out[0] == "0", out
    assert "EMAIL_ADDRESS" in out[1]


def test_cli_analyze_reports_the_chinese_id_and_phone() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "privacy_partition.cli", "analyze", CN_TEXT],
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    findings = json.loads(proc.stdout)["findings"]
    assert {f["entity_type"] for f in findings} >= {"CN_RESIDENT_ID", "PHONE_NUMBER"}
    assert "11010519491231002X" not in proc.stdout


def test_cli_reads_standard_input_and_shows_values_on_request() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "privacy_partition.cli", "analyze", "--show-values", "-"],
        input=b"mail jane@example.org",
        capture_output=True,
        check=True,
    )
    assert b'"value": "jane@example.org"' in proc.stdout


def test_cli_usage_error_exits_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "privacy_partition.cli", "analyze", "--lang", "fr", "x"],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 2


def test_analyzer_is_safe_to_share_between_threads(analyzer: Analyzer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"Mail user{i}@example.org or call 212-555-01{i:02d}" for i in range(20)]
    expected = [analyzer.analyze(t) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(analyzer.analyze, texts)) == expected


@pytest.mark.model
def test_default_analyzer_runs_the_local_ner_model() -> None:
    analyzer = Analyzer()
    text = "Send it to Maria Gonzalez, 742 Evergreen Terrace, Springfield."
    found = {(f.entity_type, f.recognizer) for f in analyzer.analyze(text)}
    assert ("STREET_ADDRESS", "RampartRecognizer") in found


def test_missing_ner_model_is_a_model_error_not_a_download(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model build"):
        Analyzer(AnalyzerConfig(ner_model=True, model_root=tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_extra_recognizers_run_beside_the_built_in_ones() -> None:
    from presidio_analyzer import Pattern, PatternRecognizer

    employee = PatternRecognizer(
        supported_entity="EMPLOYEE_ID",
        patterns=[Pattern("emp", r"EMP-\d{6}", 0.9)],
        supported_language="en",
    )
    analyzer = Analyzer(AnalyzerConfig(ner_model=False), recognizers=[employee])
    text = "Badge EMP-123456, mail a@example.org"
    assert {f.entity_type for f in analyzer.analyze(text)} == {"EMPLOYEE_ID", "EMAIL_ADDRESS"}


@pytest.mark.parametrize(
    ("text", "zip_code"),
    [
        ("Ship it to Springfield, IL 62704 by Monday.", "62704"),
        ("My zip code is 94105", "94105"),
        ("Postal code: 10001-1234", "10001-1234"),
    ],
)
def test_us_zip_codes_are_found(analyzer: Analyzer, text: str, zip_code: str) -> None:
    zips = [f for f in analyzer.analyze(text) if f.entity_type == "ZIP_CODE"]
    assert any(zip_code in f.value_in(text) for f in zips)


@pytest.mark.parametrize("text", ["We sold 12345 units", "it took 20500 tries", "in 30301 ways"])
def test_bare_five_digit_numbers_are_not_zip_codes(analyzer: Analyzer, text: str) -> None:
    assert "ZIP_CODE" not in {f.entity_type for f in analyzer.analyze(text)}
