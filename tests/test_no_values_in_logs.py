"""Invariant 3 across a corpus: no personal value reaches a log record, at any level."""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import pytest

from privacy_partition._sanitize import Sanitizer
from privacy_partition.detection import AnalyzerConfig
from privacy_partition.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
PUPA_NEW = ROOT.parent / "shared" / "data" / "pupa" / "PUPA_New.csv"


@pytest.mark.skipif(not PUPA_NEW.exists(), reason="needs ../shared/data/pupa")
def test_sanitizing_pupa_prompts_logs_no_annotated_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    csv.field_size_limit(sys.maxsize)
    with PUPA_NEW.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:60]
    values = {
        unit.strip().lower()
        for row in rows
        for unit in row["pii_units"].split("||")
        if len(unit.strip()) >= 6 and "presidio_anonymized" not in unit.lower()
    }
    with caplog.at_level(logging.DEBUG):
        sanitizer = Sanitizer(
            load_policy(ROOT / "policies" / "default.yaml"),
            analyzer_config=AnalyzerConfig(ner_model=False),
        )
        results = sanitizer.sanitize_batch([row["user_query"] for row in rows])
    assert len(results) == len(rows)
    logged = "\n".join(record.getMessage() for record in caplog.records).lower()
    assert [v for v in values if v in logged] == []
