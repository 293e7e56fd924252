"""bench/leak_report.py: leak_eval's figure, split by kind and by cause."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "bench" / "leak_report.py"
LEAK_EVAL = ROOT.parent / "shared" / "tools" / "leak_eval.py"

# (prompt, the values PUPA would mark, PUPA's reference redaction)
ROWS = [
    # A pronoun PUPA's annotators marked: no recognizer finds it.
    ("Tell her the plan for the weekend.", "her", "Tell X the plan"),
    # A name: replaced, not leaked.
    ("Write a thank-you note to John Smith for the dinner.", "John Smith", "a note to X"),
    # A country in a prompt that names nobody: found, and kept by the default policy.
    ("Compare the economies of Germany and Japan.", "Germany", "Compare X and Japan"),
    # Counted by leak_eval as a substring of a longer word that reaches the cloud.
    ("Announce the winners of the raffle tomorrow.", "Ann", "Announce the winners"),
    # A plain word the reference redaction keeps as well.
    ("Plan a trip to see a new home for sale.", "new", "Plan a trip to see a new home"),
]


@pytest.mark.skipif(not LEAK_EVAL.exists(), reason="../shared/tools/leak_eval.py is not here")
def test_every_leaked_value_gets_one_cause(tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["conversation_hash", "user_query", "pii_units", "redacted_query"])
        for i, (prompt, value, reference) in enumerate(ROWS):
            writer.writerow([f"c{i}", prompt, value, reference])
    done = subprocess.run(
        [sys.executable, str(REPORT), str(data), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["gold_values"] == 5
    assert result["causes"] == {
        "missed": 1,
        "kept by policy": 1,
        "inside a word": 1,
        "noise?": 1,
    }
    assert result["leak"] == 0.8  # leak_eval's own figure: four of five values
    assert result["per_kind"]["LOCATION"] == {"n": 1, "leak": 1, "kept by policy": 1}
    assert result["per_kind"]["PERSON"] == {"n": 1}
