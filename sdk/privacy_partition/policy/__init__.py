"""Policies: the YAML contract that decides, per request, what may leave the device.

The common case::

    policy = load_policy("default")  # a shipped policy, or the path of a file
    analyzer = analyzer_for(policy)
    decision = PolicyEngine(policy).decide(analyzer.analyze(text))

``load_policy`` raises ``PolicyError`` (file, line, column) for any problem;
a loaded ``Policy`` is immutable and ``PolicyEngine.decide`` is pure, so
both may be shared between threads.
"""

from privacy_partition import _presidio  # noqa: F401  (first: Presidio without torch)
from privacy_partition.policy._engine import Decision, PolicyEngine, explain
from privacy_partition.policy._lint import lint, producible_types
from privacy_partition.policy._loader import load_policy, shipped_policies
from privacy_partition.policy._recognizers import analyzer_for
from privacy_partition.policy._schema import (
    API_VERSION,
    Condition,
    Detection,
    EntityRule,
    Expectation,
    Fallback,
    PatternSpec,
    Policy,
    PolicyTest,
    Recipient,
    RecognizerSpec,
    RelationRule,
    RestoreOptions,
    RoutingRule,
    TopicSpec,
    policy_json_schema,
)
from privacy_partition.policy._testing import PolicyTestResult, run_policy_tests

__all__ = [
    "API_VERSION",
    "Condition",
    "Decision",
    "Detection",
    "EntityRule",
    "Expectation",
    "Fallback",
    "PatternSpec",
    "Policy",
    "PolicyEngine",
    "PolicyTest",
    "PolicyTestResult",
    "Recipient",
    "RecognizerSpec",
    "RelationRule",
    "RestoreOptions",
    "RoutingRule",
    "TopicSpec",
    "analyzer_for",
    "explain",
    "lint",
    "load_policy",
    "policy_json_schema",
    "producible_types",
    "run_policy_tests",
    "shipped_policies",
]
