"""bench/gateway_audit.py: what the real gateway received is what offline ``sanitize`` computes.

Prompts go through ``PrivacyClient`` to the reference gateway on loopback,
where a server interceptor records each request off the wire; the same
prompts go through the offline sanitizer. A sample of PUPA_New and a few
prompts written to take each route of the default policy.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from privacy_partition.detection import AnalyzerConfig
from privacy_partition.policy import load_policy

pytestmark = pytest.mark.model  # the default policy's topics need the MiniLM model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"
PUPA_NEW = ROOT.parent / "shared" / "data" / "pupa" / "PUPA_New.csv"
SAMPLE_ROWS = 20
FAST = AnalyzerConfig(ner_model=False)

# (id, text, expected route, gold personal values)
WRITTEN = [
    (
        "person",
        "Write a birthday note to Dana Whitfield, her email is dana.whitfield@example.org",
        "cloud",
        ["Dana Whitfield", "dana.whitfield@example.org"],
    ),
    ("card", "Charge my card 4111 1111 1111 1111 for the order", "cloud", ["4111 1111 1111 1111"]),
    ("general", "What is the capital of France?", "cloud", []),
    ("health", "My doctor diagnosed me with type 2 diabetes, what should I eat?", "local", []),
    ("passport", "My passport number is 912803456, when does it expire?", "local", ["912803456"]),
    ("ssn", "My SSN is 536-22-1234, is it valid?", "block", ["536-22-1234"]),
]


def _load_audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gateway_audit", ROOT / "bench" / "gateway_audit.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


gateway_audit = _load_audit()


def _pupa_sample() -> list[tuple[str, str, list[str]]]:
    """Every 33rd row of PUPA_New, with its gold values counted as leak_eval.py counts them."""
    if not PUPA_NEW.is_file():
        pytest.skip(f"{PUPA_NEW} is not there")
    with PUPA_NEW.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    sample = []
    for number in range(0, len(rows), len(rows) // SAMPLE_ROWS)[:SAMPLE_ROWS]:
        text = rows[number]["user_query"]
        gold = [
            unit.strip()
            for unit in rows[number]["pii_units"].split("||")
            if len(unit.strip()) >= 3
            and "presidio_anonymized" not in unit.lower()
            and unit.strip().lower() in text.lower()
        ]
        sample.append((f"pupa-{number}", text, gold))
    return sample


@pytest.fixture(scope="module")
def engines() -> Any:
    return gateway_audit.Engines.load(load_policy(DEFAULT), FAST, faker_seed=7)


@pytest.fixture(scope="module")
def prompts() -> list[tuple[str, str, list[str]]]:
    return [(i, text, gold) for i, text, _, gold in WRITTEN] + _pupa_sample()


@pytest.fixture(scope="module")
def audited(engines: Any, prompts: list[tuple[str, str, list[str]]]) -> Iterator[Any]:
    with gateway_audit.GatewayAudit(engines) as audit:
        results = [audit.run(i, text) for i, text, _ in prompts]
        yield results, audit.recorder


@pytest.fixture(scope="module")
def offline(engines: Any, prompts: list[tuple[str, str, list[str]]]) -> list[dict[str, Any]]:
    rows = [(i, text) for i, text, _ in prompts]
    return list(engines.sanitizer().iter_jsonl_batches(rows))


def test_the_written_prompts_take_each_route(audited: Any) -> None:
    results, _ = audited
    by_id = {r.request_id: r for r in results}
    for request_id, _, route, _ in WRITTEN:
        assert by_id[request_id].route.value == route, request_id
    assert {r.route.value for r in results} == {"cloud", "local", "block"}


def test_the_gateway_received_exactly_the_offline_cloud_text(
    audited: Any, offline: list[dict[str, Any]]
) -> None:
    results, recorder = audited
    cloud = 0
    for result, expected in zip(results, offline, strict=True):
        assert result.problems == ()
        assert result.route.value == expected["route"], result.request_id
        if expected["route"] == "cloud":
            cloud += 1
            (received,) = result.received
            assert received.method == "Generate"
            assert [role for role, _ in received.turns] == ["ROLE_USER"]
            assert received.text == expected["cloud_text"], result.request_id
        else:
            assert result.received == (), result.request_id
            assert result.cloud_text is None
    # Nothing arrived besides one request per cloud row.
    assert recorder.count() == cloud >= 3


def test_no_value_sanitize_removed_reached_the_server(
    audited: Any, offline: list[dict[str, Any]], prompts: list[tuple[str, str, list[str]]]
) -> None:
    results, _ = audited
    removed = 0
    for (request_id, _, gold), result, expected in zip(prompts, results, offline, strict=True):
        kept = (expected["cloud_text"] or "").lower()
        for value in gold:
            if value.lower() in kept:
                continue  # sanitize itself let it through: leak_eval counts that as a leak
            removed += 1
            assert all(value.lower() not in r.text.lower() for r in result.received), request_id
    assert removed >= 10  # the check above is not vacuous


def test_comparison_catches_surrogates_drawn_differently(
    engines: Any, audited: Any, offline: list[dict[str, Any]]
) -> None:
    results, _ = audited
    assert gateway_audit.compare([r.as_dict() for r in results], offline).agrees
    reseeded = type(engines)(
        engines.policy, engines.analyzer, engines.topics, engines.keyset, engines.faker_seed + 1
    )
    written = [(i, text) for i, text, _, _ in WRITTEN]
    other = list(reseeded.sanitizer().iter_jsonl_batches(written))
    result = gateway_audit.compare([r.as_dict() for r in results[: len(WRITTEN)]], other)
    assert result.route_differs == ()
    assert result.text_differs == ("person",)  # the pseudonym; the card token is keyed, not drawn


def test_the_command_speaks_the_sanitize_contract(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines: list[dict[str, object]] = [
        {"id": i, "text": text} for i, text, _, _ in WRITTEN[:1] + WRITTEN[-2:]
    ]
    lines.append({"id": 7, "text": "What is the capital of Peru?"})
    stdin = io.TextIOWrapper(io.BytesIO("".join(json.dumps(x) + "\n" for x in lines).encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    status = gateway_audit.main(["--policy", str(DEFAULT), "--no-ner-model"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    out = [json.loads(line) for line in captured.out.splitlines()]
    assert [o["id"] for o in out] == ["person", "passport", "ssn", 7]
    assert all(set(o) == {"id", "route", "cloud_text", "entities", "reasons"} for o in out)
    assert [o["route"] for o in out] == ["cloud", "local", "block", "cloud"]
    assert "Dana Whitfield" not in out[0]["cloud_text"]
    assert "US_SSN" in out[2]["entities"]
    assert "0 differ in route, 0 in cloud text" in captured.err
    assert "Dana" not in captured.err  # stderr names ids and counts, never text


def test_bad_input_is_refused_by_line_number(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b'{"id": 1, "text": "ok"}\nnot json: canary-5521\n'))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert gateway_audit.main(["--policy", str(DEFAULT)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err
    assert "canary" not in err


def test_a_policy_that_does_not_load_is_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"id": 1, "text": "ok"}\n')))
    assert gateway_audit.main(["--policy", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert "missing.yaml" in err
    assert "Traceback" not in err
