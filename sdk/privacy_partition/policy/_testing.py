"""The tests a policy carries: prompts and what the policy must decide for them.

Each test analyzes its prompt with the Analyzer it is given (build it with
``analyzer_for(policy)`` so the policy's own recognizers run), decides, and
compares what its ``expect`` states; nothing else is checked. Topic scores
come from the test's ``topics`` and, for the topics it leaves out, from the
topic scorer when one is given (else they score 0), so a test that states
its scores runs without the topic model.

``cloud_text_excludes`` is checked on the decision, not on transformed text,
so that policy tests do not depend on the transformer: each excluded string
must occur in the prompt, and every character of every occurrence must lie
inside a finding whose action replaces the whole value (redact, hash,
pseudonymize, tokenize, seal). ``keep`` sends a value unchanged and ``mask``
reveals part of it, so neither excludes it. A request that does not go to the
cloud sends nothing, which excludes everything.

Failure messages quote the test's own expectations and the decision (types,
offsets, rules), never text beyond what the test itself holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from privacy_partition._actions import Action, Route
from privacy_partition._errors import PrivacyPartitionError
from privacy_partition.detection import Analyzer, TopicScoring
from privacy_partition.detection._language import detect_languages
from privacy_partition.policy._engine import Decision, PolicyEngine
from privacy_partition.policy._schema import Policy, PolicyTest

__all__ = ["PolicyTestResult", "run_policy_tests"]

# Actions after which no character of the value reaches the cloud.
_REPLACING: Final = frozenset(
    {Action.REDACT, Action.HASH, Action.PSEUDONYMIZE, Action.TOKENIZE, Action.SEAL}
)


@dataclass(frozen=True, slots=True)
class PolicyTestResult:
    """The outcome of one embedded test; ``failures`` says what differed."""

    index: int
    name: str
    failures: tuple[str, ...]
    decision: Decision | None  # None when the prompt could not be analyzed

    @property
    def passed(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        if self.passed:
            return f"PASS {self.name}"
        return f"FAIL {self.name}: " + "; ".join(self.failures)


def run_policy_tests(
    policy: Policy, analyzer: Analyzer, topic_scorer: TopicScoring | None = None
) -> list[PolicyTestResult]:
    """Run every test in ``policy`` with ``analyzer`` (and ``topic_scorer``), in order."""
    engine = PolicyEngine(policy)
    return [_run(engine, analyzer, topic_scorer, i, test) for i, test in enumerate(policy.tests)]


def _run(
    engine: PolicyEngine,
    analyzer: Analyzer,
    topic_scorer: TopicScoring | None,
    index: int,
    test: PolicyTest,
) -> PolicyTestResult:
    name = test.name or f"tests[{index}]"
    try:
        findings = analyzer.analyze(test.prompt, test.language)
        scored = topic_scorer.score(test.prompt) if topic_scorer is not None else {}
    except PrivacyPartitionError as error:
        return PolicyTestResult(index, name, (f"analysis failed: {error}",), None)
    language = test.language or detect_languages(test.prompt, analyzer.config.languages)[0]
    decision = engine.decide(
        findings, language=language, topics={**scored, **test.topics}, metadata=test.metadata
    )
    return PolicyTestResult(index, name, tuple(_differences(test, decision)), decision)


def _differences(test: PolicyTest, decision: Decision) -> list[str]:
    expect = test.expect
    failures: list[str] = []
    found = {a.finding.entity_type for a in decision.actions}
    shown = ", ".join(sorted(found)) or "none"
    if expect.route is not None and expect.route is not decision.route:
        failures.append(
            f"route: expected {expect.route.value}, got {decision.route.value} "
            f"(rules: {', '.join(decision.rules)})"
        )
    failures += [
        f"entities: expected {t} among the findings (found: {shown})"
        for t in expect.entities
        if t not in found
    ]
    failures += [f"absent_entities: {t} was found" for t in expect.absent_entities if t in found]
    for entity, action in expect.actions.items():
        got = sorted({a.action.value for a in decision.actions if a.finding.entity_type == entity})
        if not got:
            failures.append(f"actions: expected {entity} to be {action.value}, but none was found")
        elif got != [action.value]:
            failures.append(
                f"actions: expected {entity} to be {action.value}, got {', '.join(got)}"
            )
    for entity, relation in expect.relations.items():
        got = sorted(
            {a.relation or "general" for a in decision.actions if a.finding.entity_type == entity}
        )
        if not got:
            failures.append(f"relations: expected {entity} to be {relation}, but none was found")
        elif got != [relation]:
            failures.append(f"relations: expected {entity} to be {relation}, got {', '.join(got)}")
    failures += [
        f"rules: expected {rule} to fire (fired: {', '.join(decision.rules)})"
        for rule in expect.rules
        if rule not in decision.rules
    ]
    failures += _leaks(test, decision)
    return failures


def _leaks(test: PolicyTest, decision: Decision) -> list[str]:
    prompt = test.prompt
    replaced = [
        (a.finding.start, a.finding.end) for a in decision.actions if a.action in _REPLACING
    ]
    failures = []
    for i, excluded in enumerate(test.expect.cloud_text_excludes):
        starts = _occurrences(prompt, excluded)
        if not starts:
            failures.append(f"cloud_text_excludes[{i}]: does not occur in the prompt")
            continue
        if decision.route is not Route.CLOUD:
            continue
        for start in starts:
            end = start + len(excluded)
            kept = [p for p in range(start, end) if not any(s <= p < e for s, e in replaced)]
            if kept:
                failures.append(
                    f"cloud_text_excludes[{i}]: characters {kept[0]}..{kept[-1] + 1} of the "
                    "prompt would reach the cloud unchanged"
                )
                break
    return failures


def _occurrences(text: str, part: str) -> list[int]:
    starts = []
    start = text.find(part)
    while start != -1:
        starts.append(start)
        start = text.find(part, start + 1)
    return starts
