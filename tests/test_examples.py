"""Every example runs as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.model
def test_detection_demo_runs_and_finds_values_in_both_languages() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "detection_demo.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    for entity in (
        "PERSON",
        "EMAIL_ADDRESS",
        "US_SSN",
        "CN_RESIDENT_ID",
        "CN_BANK_CARD",
        "API_KEY",
    ):
        assert entity in proc.stdout
