"""The policies that ship: they load, their embedded tests pass, the schema is current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privacy_partition._actions import Action
from privacy_partition.detection import AnalyzerConfig, TopicScorer
from privacy_partition.policy import Policy, analyzer_for, load_policy, run_policy_tests
from privacy_partition.policy._schema import schema_text

POLICIES = Path(__file__).resolve().parents[1] / "policies"
SHIPPED = ("default", "strict", "healthcare", "zh-CN")
REGENERATE = (
    '.venv/bin/python -c "from privacy_partition.policy._schema import schema_text; '
    "print(schema_text(), end='')\" > policies/schema.json"
)

GOVERNMENT_IDS = [
    "US_ITIN",
    "US_PASSPORT",
    "UK_NHS",
    "CN_RESIDENT_ID",
    "CN_PASSPORT",
    "GOVERNMENT_ID",
    "TAX_ID",
    "PASSPORT",
    "DRIVER_LICENSE",
    "US_DRIVER_LICENSE",
]
SECRETS = ["API_KEY", "PRIVATE_KEY", "JWT", "PASSWORD", "CONNECTION_STRING"]


def shipped(name: str) -> Policy:
    return load_policy(POLICIES / f"{name}.yaml")


def test_every_policy_file_is_known() -> None:
    assert sorted(p.stem for p in POLICIES.glob("*.yaml")) == sorted(SHIPPED)


def test_committed_schema_is_current() -> None:
    committed = (POLICIES / "schema.json").read_text(encoding="utf-8")
    assert json.loads(committed) == json.loads(schema_text()), f"stale; run: {REGENERATE}"


def failures(policy: Policy, ner_model: bool) -> list[str]:
    """The embedded tests that fail, topics scored by the real topic model as in `policy test`."""
    analyzer = analyzer_for(policy, AnalyzerConfig(ner_model=ner_model))
    scorer = TopicScorer.for_policy(policy) if policy.detection.topics else None
    results = run_policy_tests(policy, analyzer, topic_scorer=scorer)
    return [str(result) for result in results if not result.passed]


@pytest.mark.model
@pytest.mark.parametrize("name", SHIPPED)
def test_embedded_tests_pass(name: str) -> None:
    policy = shipped(name)
    assert policy.name == name
    assert len(policy.tests) >= 5
    failed = failures(policy, ner_model=False)
    assert not failed, "\n".join(failed)


@pytest.mark.model
@pytest.mark.parametrize("name", SHIPPED)
def test_embedded_tests_pass_with_the_ner_model(name: str) -> None:
    failed = failures(shipped(name), ner_model=True)
    assert not failed, "\n".join(failed)


def test_default_policy_actions() -> None:
    policy = shipped("default")

    def action(entity: str) -> Action:
        return policy.entity_rule(entity).action

    assert action("PERSON") is Action.PSEUDONYMIZE
    for entity in ("EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS", "IP_ADDRESS", "URL"):
        assert action(entity) is Action.REDACT, entity
    for entity in ("CREDIT_CARD", "CN_BANK_CARD", "IBAN_CODE", "US_BANK_NUMBER", "BANK_ACCOUNT"):
        assert action(entity) in {Action.TOKENIZE, Action.SEAL}, entity
    assert action("US_SSN") is Action.BLOCK
    for entity in GOVERNMENT_IDS:
        assert action(entity) in {Action.LOCAL, Action.BLOCK}, entity
    for entity in SECRETS:
        assert action(entity) is Action.REDACT, entity
    assert action("DATE_TIME") is Action.KEEP
    assert action("NRP") is Action.REDACT
    for entity in ("LOCATION", "ORGANIZATION"):
        assert action(entity) is Action.PSEUDONYMIZE, entity
    assert action("SOMETHING_NEW") is Action.REDACT


def test_strict_policy_keeps_only_dates() -> None:
    policy = shipped("strict")
    kept = {entity for entity, rule in policy.entities.items() if rule.action is Action.KEEP}
    assert kept == {"DATE_TIME"}
    assert policy.entity_rule("default").action is Action.REDACT
    covered = set().union(*(set(policy.categories[c]) for c in ("government_id", "secret")))
    assert {"US_SSN", *GOVERNMENT_IDS, *SECRETS} <= covered


def test_healthcare_extends_default() -> None:
    policy = shipped("healthcare")
    assert policy.entity_rule("PERSON").action is Action.REDACT
    assert policy.entity_rule("MEDICAL_LICENSE").action is Action.LOCAL
    assert policy.entity_rule("US_SSN").action is Action.BLOCK  # from default.yaml
    assert "health" in policy.detection.topics


def test_zh_cn_policy() -> None:
    policy = shipped("zh-CN")
    assert policy.detection.languages == ("zh", "en")
    assert policy.entity_rule("CN_RESIDENT_ID").action is Action.LOCAL
    assert policy.entity_rule("CN_BANK_CARD").action is Action.TOKENIZE
    assert policy.entity_rule("PERSON").action is Action.PSEUDONYMIZE
    assert policy.entity_rule("PHONE_NUMBER").action is Action.REDACT


def test_digests_differ_and_are_stable() -> None:
    digests = {name: shipped(name).digest for name in SHIPPED}
    assert len(set(digests.values())) == len(SHIPPED)
    assert digests == {name: shipped(name).digest for name in SHIPPED}


def test_default_policy_keeps_only_general_knowledge() -> None:
    policy = shipped("default")
    for entity in ("LOCATION", "NRP", "DATE_TIME", "ORGANIZATION"):
        rule = policy.entity_rule(entity)
        assert rule.for_relation("personal")[0] in {Action.REDACT, Action.PSEUDONYMIZE}, entity
    # A country in a prompt that names nobody, and a date, stay as written.
    assert policy.entity_rule("LOCATION").for_relation("public")[0] is Action.KEEP
    assert policy.entity_rule("LOCATION").for_relation(None)[0] is Action.PSEUDONYMIZE
    assert policy.entity_rule("DATE_TIME").for_relation(None)[0] is Action.KEEP


def test_healthcare_redacts_places_and_organizations() -> None:
    policy = shipped("healthcare")
    for entity in ("LOCATION", "ORGANIZATION"):
        rule = policy.entity_rule(entity)
        assert rule.action is Action.REDACT
        assert rule.for_relation("personal") == (Action.REDACT, None)
    assert policy.entity_rule("LOCATION").for_relation("public") == (Action.KEEP, None)
