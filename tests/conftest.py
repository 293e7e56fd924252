"""Shared fixtures: one Analyzer per test session (building one takes a second).

Hypothesis profiles, chosen with ``HYPOTHESIS_PROFILE``: ``ci`` (the default,
what ``make test`` runs) and ``fuzz`` (``make fuzz``: 10,000 examples per
property, and the full-size hostile inputs of ``test_hostile_input.py``).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from privacy_partition.detection import Analyzer, AnalyzerConfig

# No deadline: two shared cores make the time of one example too noisy to judge.
settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("fuzz", deadline=None, print_blob=True, max_examples=10_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def analyzer() -> Analyzer:
    return Analyzer(AnalyzerConfig(ner_model=False))


@pytest.fixture(scope="session")
def long_analyzer() -> Analyzer:
    """An Analyzer whose limit admits texts of two million characters (chunked)."""
    return Analyzer(AnalyzerConfig(ner_model=False, max_chars=1 << 21))
