"""`privacy-partition sanitize`: the JSONL contract of DESIGN.md, offline, failing closed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from presidio_analyzer import EntityRecognizer, RecognizerResult

from privacy_partition._sanitize import Sanitizer
from privacy_partition.detection import AnalyzerConfig
from privacy_partition.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"
FAST = AnalyzerConfig(ner_model=False)


@pytest.fixture(scope="module")
def sanitizer() -> Sanitizer:
    return Sanitizer(load_policy(DEFAULT), analyzer_config=FAST)


def run_cli(lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privacy_partition.cli", "sanitize", "--jsonl", *args],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_cli_speaks_the_jsonl_contract() -> None:
    rows = [
        {"id": "a", "text": "Email jane.doe@example.org about the offsite"},
        {"id": 7, "text": "My SSN is 536-22-1234"},
        {"id": "c", "text": "What is the capital of France?"},
    ]
    proc = run_cli([json.dumps(r) for r in rows], "--policy", str(DEFAULT), "--no-ner-model")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", 7, "c"]
    assert all(set(o) == {"id", "route", "cloud_text", "entities", "reasons"} for o in out)
    assert out[0]["route"] == "cloud"
    assert "jane.doe@example.org" not in out[0]["cloud_text"]
    assert "EMAIL_ADDRESS" in out[0]["entities"]
    assert out[1]["route"] == "block"
    assert out[1]["cloud_text"] is None
    assert out[2] == {
        "id": "c",
        "route": "cloud",
        "cloud_text": rows[2]["text"],
        "entities": ["LOCATION"],
        "reasons": out[2]["reasons"],
    }


def test_fail_fast_stops_at_a_malformed_line_without_quoting_it() -> None:
    lines = ['{"id": 1, "text": "ok"}', "not json: canary-5521", '{"id": 3, "text": "ok"}']
    proc = run_cli(lines, "--policy", str(DEFAULT), "--no-ner-model", "--fail-fast")
    assert proc.returncode == 2
    assert "line 2" in proc.stderr
    assert "canary" not in proc.stderr + proc.stdout
    # The rows before the bad line are written, none after it.
    assert [json.loads(line)["id"] for line in proc.stdout.splitlines()] == [1]


QUICK_POLICY = """\
apiVersion: privacy-partition/v1
name: quick
detection:
  languages: [en]
entities:
  EMAIL_ADDRESS: {action: redact}
routing:
  - {route: cloud}
"""

# Malformed lines by line number: each holds a canary, which must never be written out,
# and the id its error row carries (None: the line had none to give).
MALFORMED: dict[int, tuple[bytes, object, str]] = {
    1: (b"not json: canary-1", None, "invalid_json"),
    40: (b'["canary-40"]', None, "not_an_object"),
    41: (b'{"id": "bad-41", "note": "canary-41"}', "bad-41", "missing_field"),
    493: (b'{"id": "bad-493", "text": ["canary-493"]}', "bad-493", "not_a_string"),
    494: (b'{"id": "bad-494", "text": "canary-494 \xff\xfe"}', None, "invalid_utf8"),
    500: (b'{"text": "canary-500"}', None, "missing_field"),
    777: (b'{"id": "bad-777", "text": "canary-777 \\ud800"}', "bad-777", "lone_surrogate"),
    991: (b'{"id": 991, "text": 42}', 991, "not_a_string"),
    1000: (b'{"id": "bad-1000", "text": "canary-1000', None, "invalid_json"),
}


def test_a_malformed_line_loses_no_row(tmp_path: Path) -> None:
    # The attack had one bad line among 10,000 and lost the valid rows of its pending batch
    # (of 32) and all after it; 1,000 lines with bad ones inside batches, at their edges and
    # in the last, pending one prove the same. No topics, no NER model: a few seconds.
    policy = tmp_path / "quick.yaml"
    policy.write_text(QUICK_POLICY)
    lines: list[bytes] = []
    for number in range(1, 1_001):
        if number in MALFORMED:
            lines.append(MALFORMED[number][0])
        elif number % 97 == 0:
            lines.append(json.dumps({"id": number, "text": f"mail u{number}@example.org"}).encode())
        else:
            lines.append(json.dumps({"id": number, "text": f"prompt {number}"}).encode())
    command = ["sanitize", "--jsonl", "--policy", str(policy), "--no-ner-model"]
    proc = subprocess.run(
        [sys.executable, "-m", "privacy_partition.cli", *command],
        input=b"".join(line + b"\n" for line in lines),
        capture_output=True,
        check=False,
        timeout=300,
    )
    stdout, stderr = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 1, stderr
    assert "canary" not in stdout + stderr
    assert f"{len(MALFORMED)} malformed lines (the first: line 1)" in stderr
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert len(rows) == 1_000  # one row per line, in order
    for number, row in enumerate(rows, start=1):
        if number in MALFORMED:
            _, request_id, kind = MALFORMED[number]
            assert set(row) == {"id", "line", "error"}
            assert (row["id"], row["line"]) == (request_id, number)
            assert row["error"].startswith(f"{kind}: ")
        else:
            assert set(row) == {"id", "route", "cloud_text", "entities", "reasons"}
            assert row["id"] == number
            assert row["route"] == "cloud"
            if number % 97 == 0:
                assert row["cloud_text"] == "mail <EMAIL_ADDRESS_1>"


def test_a_prompt_whose_detection_fails_is_blocked_alone(sanitizer: Sanitizer) -> None:
    class ExplodesOnMarker(EntityRecognizer):  # type: ignore[misc]
        def load(self) -> None:
            pass

        def analyze(
            self, text: str, entities: object, nlp_artifacts: object = None
        ) -> list[RecognizerResult]:
            if "zebra" in text:
                raise RuntimeError(text)
            return []

    broken = Sanitizer(load_policy(DEFAULT), analyzer_config=FAST)
    broken._analyzer._engine.registry.recognizers.append(
        ExplodesOnMarker(supported_entities=["X"], supported_language="en", name="Explodes")
    )
    good, bad = broken.sanitize_batch(["mail a@example.org", "the zebra is jane@example.org"])
    assert good.route == "cloud"
    assert bad.route == "block"
    assert bad.cloud_text is None
    assert bad.reasons == ("detection failed",)


def test_seal_without_a_recipient_key_fails_closed(tmp_path: Path) -> None:
    policy_file = tmp_path / "seal.yaml"
    policy_file.write_text(
        textwrap.dedent(
            """
            apiVersion: privacy-partition/v1
            name: seal-test
            entities:
              CREDIT_CARD: {action: seal, recipient: payments}
            recipients:
              payments: {description: no key configured}
            """
        )
    )
    sanitizer = Sanitizer(load_policy(policy_file), analyzer_config=FAST)
    result = sanitizer.sanitize("Charge 4111 1111 1111 1111 please")
    assert result.route == "block"
    assert result.cloud_text is None
    assert "4111" not in " ".join(result.reasons)


def test_sanitize_opens_no_network_connection() -> None:
    script = textwrap.dedent(
        f"""
        import socket
        attempts = []
        def refuse(*args, **kwargs):
            attempts.append(1)
            raise OSError("network disabled by test")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from privacy_partition._sanitize import Sanitizer
        from privacy_partition.detection import AnalyzerConfig
        from privacy_partition.policy import load_policy
        config = AnalyzerConfig(ner_model=False)
        s = Sanitizer(load_policy({str(DEFAULT)!r}), analyzer_config=config)
        r = s.sanitize("I'm John Smith, https://example.co.uk, john@example.com, 4111111111111111")
        print(len(attempts), r.route)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    assert out == ["0", "cloud"]
