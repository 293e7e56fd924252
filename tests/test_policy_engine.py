"""The policy engine, the embedded-test runner, explain and policy recognizers."""

from __future__ import annotations

import json
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import pytest

from privacy_partition._actions import Action, Route
from privacy_partition.detection import Analyzer, AnalyzerConfig, Finding
from privacy_partition.policy import (
    Policy,
    PolicyEngine,
    analyzer_for,
    explain,
    load_policy,
    run_policy_tests,
)


def make_policy(**sections: Any) -> Policy:
    return Policy.model_validate({"apiVersion": "privacy-partition/v1", "name": "test", **sections})


def finding(entity_type: str, start: int = 0, end: int = 4, score: float = 0.9) -> Finding:
    return Finding(entity_type, start, end, score, "TestRecognizer", "en")


ENTITIES = {
    "default": {"action": "redact"},
    "PERSON": {"action": "pseudonymize", "min_score": 0.8},
    "CREDIT_CARD": {"action": "seal", "recipient": "payments"},
    "US_SSN": {"action": "block"},
    "CN_RESIDENT_ID": {"action": "local"},
    "UK_NHS": {"action": "local"},
    "LOCATION": {"action": "keep"},
}
ROUTING = [
    {"name": "health-local", "when": {"topics": ["health"]}, "route": "local"},
    {
        "name": "free-tier",
        "when": {"metadata": {"tier": "trial"}, "entities_any": ["PERSON"]},
        "route": "local",
    },
    {
        "name": "many-ids",
        "when": {"categories": ["government_id"], "min_count": 2},
        "route": "block",
    },
    {"name": "default", "route": "cloud"},
]


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    policy = make_policy(
        entities=ENTITIES,
        recipients={"payments": {"description": "booking tool"}},
        categories={"government_id": ["CN_RESIDENT_ID", "UK_NHS", "US_PASSPORT"]},
        detection={"topics": {"health": {"examples": ["my diagnosis"], "threshold": 0.6}}},
        routing=ROUTING,
    )
    return PolicyEngine(policy)


# -- actions ---------------------------------------------------------------------


def test_one_action_per_finding_in_order_with_recipient_for_seal(engine: PolicyEngine) -> None:
    findings = [finding("LOCATION"), finding("CREDIT_CARD", 5, 9), finding("EMAIL_ADDRESS", 10, 14)]
    decision = engine.decide(findings)
    assert [a.finding for a in decision.actions] == findings
    assert [a.action for a in decision.actions] == [Action.KEEP, Action.SEAL, Action.REDACT]
    assert decision.actions[1].recipient == "payments"
    assert decision.actions[0].recipient is None
    assert decision.route is Route.CLOUD
    assert decision.rules == ("routing.default",)
    assert decision.policy_name == "test"
    assert decision.policy_digest == engine.policy.digest


def test_unlisted_type_gets_the_default_rule_and_no_default_means_redact() -> None:
    decision = PolicyEngine(make_policy()).decide([finding("ANYTHING")])
    assert decision.actions[0].action is Action.REDACT
    assert decision.route is Route.CLOUD
    assert decision.rules == ("routing.<none>",)


def test_finding_under_the_entity_min_score_is_treated_as_absent(engine: PolicyEngine) -> None:
    weak = finding("PERSON", score=0.7)
    decision = engine.decide([weak], metadata={"tier": "trial"})
    assert decision.actions[0].action is Action.KEEP
    assert decision.route is Route.CLOUD  # free-tier needs a PERSON that counts
    assert any("PERSON: 1 finding(s) under min_score 0.8 ignored" in r for r in decision.reasons)
    strong = engine.decide([finding("PERSON", score=0.8)], metadata={"tier": "trial"})
    assert strong.route is Route.LOCAL
    assert strong.rules == ("routing.free-tier",)


# -- route precedence --------------------------------------------------------------


def test_block_beats_local_beats_cloud_and_the_deciding_rule_comes_first(
    engine: PolicyEngine,
) -> None:
    local = engine.decide([finding("CN_RESIDENT_ID")])
    assert local.route is Route.LOCAL
    assert local.rules == ("entities.CN_RESIDENT_ID", "routing.default")
    both = engine.decide([finding("CN_RESIDENT_ID"), finding("US_SSN", 5, 9)])
    assert both.route is Route.BLOCK
    assert both.rules == ("entities.US_SSN", "entities.CN_RESIDENT_ID", "routing.default")
    assert any("route block from entities.US_SSN overrides cloud" in r for r in both.reasons)


def test_entity_block_beats_a_local_routing_rule(engine: PolicyEngine) -> None:
    decision = engine.decide([finding("US_SSN")], topics={"health": 0.9})
    assert decision.route is Route.BLOCK
    assert decision.rules == ("entities.US_SSN", "routing.health-local")


def test_routing_block_beats_an_entity_local(engine: PolicyEngine) -> None:
    decision = engine.decide([finding("CN_RESIDENT_ID"), finding("UK_NHS", 5, 9)])
    assert decision.route is Route.BLOCK
    assert decision.rules[0] == "routing.many-ids"
    assert set(decision.rules[1:]) == {"entities.CN_RESIDENT_ID", "entities.UK_NHS"}


def test_first_matching_routing_rule_wins(engine: PolicyEngine) -> None:
    decision = engine.decide(
        [finding("PERSON")], topics={"health": 0.95}, metadata={"tier": "trial"}
    )
    assert decision.rules == ("routing.health-local",)


def test_no_matching_rule_means_cloud() -> None:
    policy = make_policy(routing=[{"when": {"languages": ["zh"]}, "route": "local"}])
    decision = PolicyEngine(policy).decide([], language="en")
    assert decision.route is Route.CLOUD
    assert decision.rules == ("routing.<none>",)
    assert PolicyEngine(policy).decide([], language="zh").rules == ("routing[0]",)


def test_entity_default_action_can_force_a_route() -> None:
    policy = make_policy(entities={"default": {"action": "local"}, "DATE_TIME": {"action": "keep"}})
    engine = PolicyEngine(policy)
    assert engine.decide([finding("DATE_TIME")]).route is Route.CLOUD
    decision = engine.decide([finding("PERSON")])
    assert decision.route is Route.LOCAL
    assert decision.rules[0] == "entities.default"


# -- conditions ------------------------------------------------------------------


def route_for(when: dict[str, Any], findings: list[Finding], **request: Any) -> Route:
    policy = make_policy(
        categories={"gov": ["US_SSN", "UK_NHS"], "contact": ["EMAIL_ADDRESS", "PHONE_NUMBER"]},
        detection={
            "languages": ["en", "zh"],
            "topics": {
                "health": {"examples": ["x"], "threshold": 0.6},
                "finance": {"examples": ["y"], "threshold": 0.5},
            },
        },
        entities={"default": {"action": "redact"}},
        routing=[{"when": when, "route": "local"}],
    )
    return PolicyEngine(policy).decide(findings, **request).route


EMAIL, PHONE, SSN = finding("EMAIL_ADDRESS"), finding("PHONE_NUMBER", 5, 9), finding("US_SSN")


@pytest.mark.parametrize(
    ("when", "findings", "request_", "matches"),
    [
        ({"entities": ["EMAIL_ADDRESS", "PHONE_NUMBER"]}, [EMAIL, PHONE], {}, True),
        ({"entities": ["EMAIL_ADDRESS", "PHONE_NUMBER"]}, [EMAIL], {}, False),
        ({"entities_any": ["EMAIL_ADDRESS", "PHONE_NUMBER"]}, [EMAIL], {}, True),
        ({"entities_any": ["PERSON"]}, [EMAIL], {}, False),
        ({"categories": ["gov", "contact"]}, [SSN, EMAIL], {}, True),
        ({"categories": ["gov", "contact"]}, [EMAIL, PHONE], {}, False),
        ({"categories_any": ["gov", "contact"]}, [PHONE], {}, True),
        ({"categories_any": ["gov"]}, [PHONE], {}, False),
        ({"min_count": 2}, [EMAIL, SSN], {}, True),
        ({"min_count": 3}, [EMAIL, SSN], {}, False),
        ({"categories_any": ["contact"], "min_count": 2}, [EMAIL, PHONE], {}, True),
        ({"categories_any": ["contact"], "min_count": 2}, [EMAIL, SSN], {}, False),
        ({"entities": ["EMAIL_ADDRESS"], "min_count": 2}, [EMAIL, EMAIL], {}, True),
        ({"topics": ["health"]}, [], {"topics": {"health": 0.6}}, True),
        ({"topics": ["health"]}, [], {"topics": {"health": 0.59}}, False),
        ({"topics": ["health"]}, [], {}, False),
        ({"topics": ["health", "finance"]}, [], {"topics": {"health": 0.9}}, False),
        ({"topics_any": ["health", "finance"]}, [], {"topics": {"finance": 0.5}}, True),
        ({"topics_any": ["health"]}, [], {"topics": {"unknown": 1.0}}, False),
        ({"languages": ["zh"]}, [], {"language": "zh"}, True),
        ({"languages": ["zh"]}, [], {"language": "en"}, False),
        (
            {"metadata": {"app": "mail", "tier": "free"}},
            [],
            {"metadata": {"app": "mail", "tier": "free", "x": "y"}},
            True,
        ),
        ({"metadata": {"app": "mail", "tier": "free"}}, [], {"metadata": {"app": "mail"}}, False),
        ({"metadata": {"tier": "trial"}}, [], {"metadata": {"tier": "Free"}}, False),
        (
            {"metadata": {"tier": "trial"}, "entities_any": ["EMAIL_ADDRESS"]},
            [EMAIL],
            {"metadata": {"tier": "trial"}},
            True,
        ),
        (
            {"metadata": {"tier": "trial"}, "entities_any": ["EMAIL_ADDRESS"]},
            [],
            {"metadata": {"tier": "trial"}},
            False,
        ),
        ({}, [], {}, True),
    ],
)
def test_conditions(
    when: dict[str, Any], findings: list[Finding], request_: dict[str, Any], matches: bool
) -> None:
    expected = Route.LOCAL if matches else Route.CLOUD
    assert route_for(when, findings, **request_) is expected


# -- properties of a decision ---------------------------------------------------------


def test_reasons_name_types_and_rules_never_values(engine: PolicyEngine) -> None:
    text = "Jane Roe, SSN 536-22-1234, lives in Oslo"
    findings = [finding("PERSON", 0, 8), finding("US_SSN", 14, 25), finding("LOCATION", 36, 40)]
    decision = engine.decide(findings, metadata={"tier": "trial"})
    reasons = " ".join(decision.reasons)
    assert "US_SSN" in reasons
    assert "entities.US_SSN" in reasons
    for f in findings:
        assert f.value_in(text) not in reasons
    assert "trial" not in reasons  # metadata keys are named, values are not
    json.dumps(decision.as_dict())


def test_decision_is_frozen(engine: PolicyEngine) -> None:
    decision = engine.decide([])
    with pytest.raises(FrozenInstanceError):
        decision.route = Route.BLOCK  # type: ignore[misc]


def test_decide_is_pure_and_thread_safe(engine: PolicyEngine) -> None:
    cases = [
        ([finding("US_SSN")], {}),
        ([finding("PERSON")], {"metadata": {"tier": "trial"}}),
        ([finding("LOCATION")], {"topics": {"health": 0.9}}),
        ([finding("CN_RESIDENT_ID"), finding("UK_NHS", 5, 9)], {}),
    ] * 50
    expected = [engine.decide(f, **kw) for f, kw in cases]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda case: engine.decide(case[0], **case[1]), cases))
    assert got == expected


def test_policy_is_immutable(engine: PolicyEngine) -> None:
    with pytest.raises(ValueError, match="frozen"):
        engine.policy.name = "other"  # type: ignore[misc]


# -- policy recognizers, the test runner and explain (real Analyzer) -----------------------

POLICY = """\
apiVersion: privacy-partition/v1
name: runner
detection:
  languages: [en, zh]
  recognizers:
    - entity: EMPLOYEE_ID
      patterns: [{name: emp, regex: 'EMP-\\d{6}', score: 0.3}]
      context: [employee, 工号]
    - {entity: PROJECT, deny_list: [Apollo, Artemis, 天宫计划], deny_list_score: 0.9}
    - entity: TICKET
      patterns: [{regex: '(?-i)TCK\\d{3}', score: 0.9}]
entities:
  default: {action: redact}
  PERSON: {action: mask}
  LOCATION: {action: keep}
  EMPLOYEE_ID: {action: local}
  PROJECT: {action: redact}
  TICKET: {action: redact}
routing:
  - {name: default, route: cloud}
tests:
  - name: all-right
    prompt: "Email jane@example.org about Apollo"
    expect:
      route: cloud
      entities: [EMAIL_ADDRESS, PROJECT]
      actions: {EMAIL_ADDRESS: redact, PROJECT: redact}
      rules: [routing.default]
      cloud_text_excludes: ["jane@example.org", "Apollo"]
  - name: all-wrong
    prompt: "Email jane@example.org about Apollo in Paris"
    expect:
      route: local
      entities: [PHONE_NUMBER]
      absent_entities: [EMAIL_ADDRESS]
      actions: {EMAIL_ADDRESS: keep, PHONE_NUMBER: redact}
      rules: [entities.EMPLOYEE_ID]
      cloud_text_excludes: [Paris, Tokyo]
  - name: local-sends-nothing
    prompt: "Employee EMP-123456 in Paris"
    expect: {route: local, cloud_text_excludes: [Paris]}
"""


@pytest.fixture(scope="module")
def runner_policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("policy") / "runner.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return load_policy(path)


@pytest.fixture(scope="module")
def policy_analyzer(runner_policy: Policy) -> Analyzer:
    return analyzer_for(runner_policy, AnalyzerConfig(ner_model=False))


def found(analyzer: Analyzer, text: str) -> dict[str, tuple[str, float]]:
    return {f.value_in(text): (f.entity_type, f.score) for f in analyzer.analyze(text)}


def test_policy_pattern_needs_its_context(policy_analyzer: Analyzer) -> None:
    assert "EMP-123456" not in found(policy_analyzer, "Badge EMP-123456 is broken")
    entity, score = found(policy_analyzer, "My employee number is EMP-123456")["EMP-123456"]
    assert entity == "EMPLOYEE_ID"
    assert score == pytest.approx(0.65)
    assert found(policy_analyzer, "我的工号是EMP-123456")["EMP-123456"][0] == "EMPLOYEE_ID"


def test_patterns_are_case_insensitive_unless_they_say_otherwise(
    policy_analyzer: Analyzer,
) -> None:
    assert "emp-123456" in found(policy_analyzer, "employee emp-123456")
    assert "TCK123" in found(policy_analyzer, "see TCK123")
    assert "tck123" not in found(policy_analyzer, "see tck123")


def test_deny_list_matches_whole_words_and_han_inside_chinese(policy_analyzer: Analyzer) -> None:
    assert found(policy_analyzer, "About apollo and Artemis.")["apollo"][0] == "PROJECT"
    assert "Artemis" in found(policy_analyzer, "About apollo and Artemis.")
    assert not any(v[0] == "PROJECT" for v in found(policy_analyzer, "Apollonia came").values())
    assert found(policy_analyzer, "我在天宫计划工作")["天宫计划"][0] == "PROJECT"


def test_test_runner_passes_what_holds_and_says_what_differs(
    runner_policy: Policy, policy_analyzer: Analyzer
) -> None:
    right, wrong, local = run_policy_tests(runner_policy, policy_analyzer)
    assert right.passed, right.failures
    assert str(right) == "PASS all-right"
    assert local.passed, local.failures
    assert not wrong.passed
    assert wrong.decision is not None
    failures = "\n".join(wrong.failures)
    assert "route: expected local, got cloud (rules: routing.default)" in failures
    assert "entities: expected PHONE_NUMBER among the findings" in failures
    assert "absent_entities: EMAIL_ADDRESS was found" in failures
    assert "actions: expected EMAIL_ADDRESS to be keep, got redact" in failures
    assert "actions: expected PHONE_NUMBER to be redact, but none was found" in failures
    assert "rules: expected entities.EMPLOYEE_ID to fire" in failures
    assert (
        "cloud_text_excludes[0]: characters 39..44 of the prompt would reach the cloud" in failures
    )
    assert "cloud_text_excludes[1]: does not occur in the prompt" in failures
    assert "jane" not in failures
    assert str(wrong).startswith("FAIL all-wrong: ")


def test_masked_and_kept_values_are_not_excluded_from_the_cloud(
    runner_policy: Policy, policy_analyzer: Analyzer
) -> None:
    document = runner_policy.model_dump(by_alias=True, exclude_none=True)
    document["tests"] = [
        {"prompt": "Write to John Smith", "expect": {"cloud_text_excludes": ["John Smith"]}},
        {"prompt": "Fly to Paris", "expect": {"cloud_text_excludes": ["Paris"]}},
    ]
    masked, kept = run_policy_tests(Policy.model_validate(document), policy_analyzer)
    assert masked.decision is not None
    assert [a.action for a in masked.decision.actions] == [Action.MASK]
    assert masked.failures == (
        "cloud_text_excludes[0]: characters 9..19 of the prompt would reach the cloud unchanged",
    )
    assert kept.failures == (
        "cloud_text_excludes[0]: characters 7..12 of the prompt would reach the cloud unchanged",
    )


def test_explain_is_json_and_shows_values_masked(
    runner_policy: Policy, policy_analyzer: Analyzer
) -> None:
    text = "Email jane@example.org about Apollo, employee EMP-123456"
    view = explain(runner_policy, policy_analyzer, text)
    encoded = json.dumps(view, ensure_ascii=False)
    assert "jane@example.org" not in encoded
    assert "EMP-123456" not in encoded
    assert view["route"] == "local"
    assert view["rules"] == ["entities.EMPLOYEE_ID", "routing.default"]
    assert view["policy"] == {"name": "runner", "digest": runner_policy.digest}
    by_type = {f["entity_type"]: f for f in view["findings"]}
    email = by_type["EMAIL_ADDRESS"]
    assert email["value"] == "j" + "*" * 15
    assert (email["start"], email["end"], email["action"]) == (6, 22, "redact")
    assert email["recognizer"] == "OfflineEmailRecognizer"
    assert "restored" in email["becomes"]
    assert by_type["EMPLOYEE_ID"]["recognizer"] == "PolicyEmployeeIdRecognizer"


def test_analyzer_for_runs_only_the_languages_it_analyzes(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            apiVersion: privacy-partition/v1
            name: en-only
            detection:
              languages: [en]
              recognizers: [{entity: PROJECT, deny_list: [Apollo]}]
            """
        ),
        encoding="utf-8",
    )
    analyzer = analyzer_for(load_policy(path), AnalyzerConfig(ner_model=False))
    assert analyzer.config.languages == ("en",)
    assert "PROJECT" in analyzer.supported_entities


# -- relations: values tied to a person ------------------------------------------


def personal(entity_type: str, start: int = 0, end: int = 4) -> Finding:
    return Finding(entity_type, start, end, 0.9, "TestRecognizer", "en", relation="personal")


RELATION_ENTITIES = {
    "ORGANIZATION": {"action": "keep", "personal": {"action": "pseudonymize"}},
    "LOCATION": {"action": "keep", "personal": {"action": "local"}},
    "NRP": {"action": "keep", "personal": {"action": "seal", "recipient": "payments"}},
    "DATE_TIME": {"action": "keep"},
}


@pytest.fixture(scope="module")
def relation_engine() -> PolicyEngine:
    policy = make_policy(
        entities=RELATION_ENTITIES,
        recipients={"payments": {}},
        routing=[{"name": "default", "route": "cloud"}],
    )
    return PolicyEngine(policy)


def test_personal_override_applies_only_to_personal_findings(
    relation_engine: PolicyEngine,
) -> None:
    decision = relation_engine.decide(
        [finding("ORGANIZATION"), personal("ORGANIZATION", 5, 9), personal("DATE_TIME", 10, 14)]
    )
    assert [(a.action, a.relation) for a in decision.actions] == [
        (Action.KEEP, None),
        (Action.PSEUDONYMIZE, "personal"),
        (Action.KEEP, "personal"),  # no override: the rule's own action
    ]
    assert decision.route is Route.CLOUD


def test_public_override_applies_only_to_public_findings() -> None:
    engine = PolicyEngine(
        make_policy(
            entities={"LOCATION": {"action": "pseudonymize", "public": {"action": "keep"}}},
            routing=[{"name": "default", "route": "cloud"}],
        )
    )
    public = Finding("LOCATION", 5, 9, 0.9, "TestRecognizer", "en", relation="public")
    decision = engine.decide([finding("LOCATION"), public, personal("LOCATION", 10, 14)])
    assert [a.action for a in decision.actions] == [
        Action.PSEUDONYMIZE,
        Action.KEEP,
        Action.PSEUDONYMIZE,
    ]
    assert engine.rule_name(public) == "entities.LOCATION.public"
    assert engine.rule_name(finding("LOCATION")) == "entities.LOCATION"


def test_min_count_counts_only_replaced_findings() -> None:
    policy = make_policy(
        entities={"LOCATION": {"action": "pseudonymize", "public": {"action": "keep"}}},
        routing=[{"when": {"entities_any": ["LOCATION"], "min_count": 2}, "route": "local"}],
    )
    engine = PolicyEngine(policy)
    public = [
        Finding("LOCATION", 10 * i, 10 * i + 4, 0.9, "TestRecognizer", "en", relation="public")
        for i in range(5)
    ]
    assert engine.decide(public).route is Route.CLOUD
    assert engine.decide([*public, finding("LOCATION", 60, 64)]).route is Route.CLOUD
    two = [finding("LOCATION", 60, 64), finding("LOCATION", 70, 74)]
    assert engine.decide([*public, *two]).route is Route.LOCAL


def test_personal_override_seals_to_its_recipient(relation_engine: PolicyEngine) -> None:
    (action,) = relation_engine.decide([personal("NRP")]).actions
    assert (action.action, action.recipient) == (Action.SEAL, "payments")


def test_personal_local_override_forces_the_route(relation_engine: PolicyEngine) -> None:
    general = relation_engine.decide([finding("LOCATION")])
    assert general.route is Route.CLOUD
    tied = relation_engine.decide([personal("LOCATION")])
    assert tied.route is Route.LOCAL
    assert tied.rules[0] == "entities.LOCATION.personal"
    assert "LOCATION tied to a person found" in tied.reasons[0]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"action": "keep", "personal": {"action": "seal"}}, "needs a recipient"),
        (
            {"action": "keep", "personal": {"action": "redact", "recipient": "payments"}},
            "only for action 'seal'",
        ),
        ({"action": "keep", "personal": {"action": "seal", "recipient": "nobody"}}, "nobody"),
        ({"action": "keep", "personal": {"action": "keep", "personal": {}}}, "Extra inputs"),
    ],
)
def test_personal_override_is_validated(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_policy(entities={"ORGANIZATION": rule}, recipients={"payments": {}})


def test_embedded_tests_check_relations(analyzer: Analyzer) -> None:
    policy = make_policy(
        entities={"ORGANIZATION": {"action": "keep", "personal": {"action": "redact"}}},
        tests=[
            {
                "prompt": "I work at Google as a compliance officer.",
                "expect": {"relations": {"ORGANIZATION": "personal"}},
            },
            {
                "prompt": "I work at Google as a compliance officer.",
                "expect": {"relations": {"ORGANIZATION": "general"}},
            },
            {
                "prompt": "What does Google's search ranking weigh most?",
                "expect": {"relations": {"ORGANIZATION": "general", "PERSON": "general"}},
            },
        ],
    )
    first, second, third = run_policy_tests(policy, analyzer)
    assert first.passed
    assert second.failures == ("relations: expected ORGANIZATION to be general, got personal",)
    assert third.failures == ("relations: expected PERSON to be general, but none was found",)


def test_explain_shows_relation_and_rule(analyzer: Analyzer) -> None:
    policy = make_policy(
        entities={"ORGANIZATION": {"action": "keep", "personal": {"action": "redact"}}}
    )
    view = explain(policy, analyzer, "I work at Google as a compliance officer.")
    (entry,) = view["findings"]
    assert (entry["relation"], entry["rule"], entry["action"]) == (
        "personal",
        "entities.ORGANIZATION.personal",
        "redact",
    )
    general = explain(policy, analyzer, "What does Google's search ranking weigh most?")
    assert [(f["relation"], f["rule"]) for f in general["findings"]] == [
        (None, "entities.ORGANIZATION")
    ]
