"""`privacy-partition policy check|test|explain` as a policy author runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privacy_partition.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_check_accepts_every_shipped_policy_without_a_warning() -> None:
    for path in sorted((ROOT / "policies").glob("*.yaml")):
        proc = cli("policy", "check", "--strict", str(path))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("ok: ")
        assert "warning" not in proc.stderr


TYPO_POLICY = """\
apiVersion: privacy-partition/v1
name: typo
entities:
  PASPORT: {action: local}
  PERSON: {action: redact}
routing:
  - {name: ids, when: {entities_any: [PASPORT]}, route: local}
  - {name: people, when: {entities_any: [PERSON], min_count: 2}, route: local}
  - {name: default, route: cloud}
  - {name: late, when: {entities_any: [PERSON]}, route: local}
"""


def test_check_warns_on_a_type_nothing_produces_and_a_rule_that_never_fires(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "typo.yaml"
    policy.write_text(TYPO_POLICY)
    proc = cli("policy", "check", str(policy))
    assert proc.returncode == 0, proc.stderr  # valid: warnings only
    warnings = [line.split(": warning: ", 1)[1] for line in proc.stderr.splitlines()]
    assert warnings == [
        f"{policy}: entities: no recognizer produces entity type PASPORT; did you mean PASSPORT?",
        f"{policy}: routing.ids: no recognizer produces entity type PASPORT; "
        "did you mean PASSPORT?",
        f"{policy}: routing.ids: never fires: it needs an entity type nothing produces",
        f"{policy}: routing.late: never fires: routing.default before it always does",
    ]
    assert cli("policy", "check", "--strict", str(policy)).returncode == 1


def test_check_names_file_line_and_column_of_a_misspelt_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: privacy-partition/v1\nname: bad\nentites: {}\n")
    proc = cli("policy", "check", str(bad))
    assert proc.returncode == 1
    assert f"{bad}:3:1:" in proc.stderr
    assert "entites" in proc.stderr


def test_test_exits_1_and_says_what_differed(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "apiVersion: privacy-partition/v1\nname: p\n"
        "tests:\n  - {name: wrong, prompt: 'mail a@example.org', expect: {route: local}}\n"
    )
    proc = cli("policy", "test", "--no-ner-model", str(policy))
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout
    assert "0 passed, 1 failed" in proc.stdout


def test_explain_masks_values() -> None:
    proc = cli(
        "policy",
        "explain",
        "--no-ner-model",
        str(ROOT / "policies" / "default.yaml"),
        "mail jane.doe@example.org",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["route"] == "cloud"
    assert "jane.doe@example.org" not in proc.stdout


@pytest.mark.model
def test_model_info_lists_every_required_model_ready() -> None:
    proc = cli("model", "info")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    required = [r for r in rows if not r.get("optional")]
    assert [r["state"] for r in required] == ["ready"] * len(required)
    assert len(required) < len(rows)  # Gemma 3 270M is in the matrix, built only on request
    assert any(r["name"].startswith("rampart-int8") for r in rows)
    assert any(r["name"].startswith("smollm2") for r in rows)
    assert any(r["name"].startswith("minilm-int8") for r in rows)
    for row in (r for r in rows if r["name"].split()[0] in ("rampart-int8", "minilm-int8")):
        assert row["scheme"] in ("dynamic-s8", "block-int8")
        assert row["checked_on"] == row["this_cpu"]  # built here, so checked here


def test_a_reader_that_goes_away_gets_no_traceback() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "privacy_partition.cli", "analyze", "--no-ner-model", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()  # the reader leaves before the first byte (`| head -0`)
    proc.stdin.write(b"Write to jane.doe@example.org today")
    proc.stdin.close()
    error = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in error
    assert "BrokenPipe" not in error


def test_building_the_parser_imports_no_engine() -> None:
    # --help, --version and every command's parsing stay fast: no detection, gRPC or models.
    code = (
        "import sys; import privacy_partition.cli as cli; cli._parser(); "
        "heavy = {'presidio_analyzer', 'spacy', 'grpc', 'onnxruntime', 'torch', 'transformers'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert proc.stdout.strip() == "[]"
