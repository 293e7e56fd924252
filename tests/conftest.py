"""Shared fixtures: one Analyzer per test session (building one takes a second)."""

from __future__ import annotations

import pytest

from privacy_partition.detection import Analyzer, AnalyzerConfig


@pytest.fixture(scope="session")
def analyzer() -> Analyzer:
    return Analyzer(AnalyzerConfig(ner_model=False))
