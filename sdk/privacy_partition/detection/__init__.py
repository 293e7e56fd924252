"""Detection: find personal data in text, offline, in English and Chinese."""

from privacy_partition.detection._engine import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MIN_SCORE,
    DEFAULT_NER_MODEL,
    Analyzer,
    AnalyzerConfig,
)
from privacy_partition.detection._finding import Finding

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MIN_SCORE",
    "DEFAULT_NER_MODEL",
    "Analyzer",
    "AnalyzerConfig",
    "Finding",
]
