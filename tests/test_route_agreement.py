"""Every way of asking where a prompt goes gives one answer: explain, tests, sanitize, generate.

``policy explain`` once decided without topic scores and said ``cloud`` where
``sanitize`` and ``generate`` answered on the device. The same engines decide
here four ways, on every shipped policy's embedded tests and on a quarter of
PUPA_New (every fourth row) under the default policy.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from privacy_partition import PolicyViolation, PrivacyClient
from privacy_partition._sanitize import Sanitizer
from privacy_partition.cloud import BackgroundGateway, EchoUpstream, GatewayServer, HostedRecipient
from privacy_partition.detection import AnalyzerConfig, TopicScorer
from privacy_partition.policy import (
    analyzer_for,
    load_policy,
    run_policy_tests,
    shipped_policies,
)

pytestmark = pytest.mark.model  # the topic model scores the prompts

PUPA_NEW = Path(__file__).resolve().parents[2] / "shared" / "data" / "pupa" / "PUPA_New.csv"


@pytest.fixture(scope="module")
def gateway() -> Iterator[BackgroundGateway]:
    server = GatewayServer(EchoUpstream(), [HostedRecipient.generate("booking")])
    with BackgroundGateway(server) as gateway:
        yield gateway


def _routes(name: str, prompts: list[str], gateway: BackgroundGateway) -> Iterator[tuple[str, ...]]:
    """(``PrivacyClient.explain``, ``sanitize``, ``generate``) routes of each prompt."""
    policy = load_policy(name)
    analyzer = analyzer_for(policy, AnalyzerConfig(ner_model=False))
    scorer = TopicScorer.for_policy(policy) if policy.detection.topics else None
    sanitizer = Sanitizer(policy, analyzer=analyzer, topic_scorer=scorer)
    with PrivacyClient(
        policy,
        gateway=gateway.target,
        analyzer=analyzer,
        topic_scorer=scorer,
        local_model=False,
    ) as client:
        for prompt in prompts:
            explained = client.explain(prompt)["route"]
            sanitized = sanitizer.sanitize(prompt).route.value
            try:
                generated = client.generate(prompt).route.value
            except PolicyViolation as refused:
                # No local model here: a local decision ends in its fallback, a refusal.
                local = any("local_unavailable" in r for r in refused.reasons)
                generated = "local" if local else "block"
            yield explained, sanitized, generated


@pytest.mark.parametrize("name", shipped_policies())
def test_the_embedded_tests_decide_as_every_other_path(
    name: str, gateway: BackgroundGateway
) -> None:
    policy = load_policy(name)
    analyzer = analyzer_for(policy, AnalyzerConfig(ner_model=False))
    scorer = TopicScorer.for_policy(policy) if policy.detection.topics else None
    # Tests with fixed topic scores, metadata or a forced language ask something a plain
    # request cannot: they are left out.
    plain = [
        (t, r)
        for t, r in zip(policy.tests, run_policy_tests(policy, analyzer, scorer), strict=True)
        if not t.topics and not t.metadata and t.language is None
    ]
    assert plain
    prompts = [t.prompt for t, _ in plain]
    for (test, result), routes in zip(plain, _routes(name, prompts, gateway), strict=True):
        assert result.decision is not None
        assert routes == (result.decision.route.value,) * 3, test.name


@pytest.mark.skipif(not PUPA_NEW.exists(), reason="../shared/data/pupa is not here")
def test_a_quarter_of_pupa_new_decides_alike_on_every_path(gateway: BackgroundGateway) -> None:
    csv.field_size_limit(sys.maxsize)
    with PUPA_NEW.open(newline="", encoding="utf-8") as f:
        prompts = [row["user_query"] for row in csv.DictReader(f)][::4]
    differing = [
        (index * 4, routes)
        for index, routes in enumerate(_routes("default", prompts, gateway))
        if len(set(routes)) != 1
    ]
    assert differing == []


def test_policy_explain_scores_topics_as_a_request_would() -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "privacy_partition.cli", "policy", "explain",
            "--no-ner-model", "healthcare", "I have had chest pain for two days, should I worry?",
        ],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    report = json.loads(done.stdout)
    assert report["route"] == "local"
    assert report["topics"]["health"] > 0.4
