"""Detection: find personal data in text, offline, in English and Chinese.

:class:`TopicScorer` scores how close a prompt comes to a policy's sensitive
topics with the local MiniLM model that :func:`build_minilm` builds;
:class:`FixedTopicScorer` stands in for it in tests.
"""

from privacy_partition import _presidio  # noqa: F401  (first: Presidio without torch)
from privacy_partition.detection._engine import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MIN_SCORE,
    DEFAULT_NER_MODEL,
    Analyzer,
    AnalyzerConfig,
)
from privacy_partition.detection._finding import Finding
from privacy_partition.detection._minilm_build import build_minilm
from privacy_partition.detection._topics import FixedTopicScorer, TopicScorer, TopicScoring

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MIN_SCORE",
    "DEFAULT_NER_MODEL",
    "Analyzer",
    "AnalyzerConfig",
    "Finding",
    "FixedTopicScorer",
    "TopicScorer",
    "TopicScoring",
    "build_minilm",
]
