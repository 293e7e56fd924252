"""The topic model: its checks, TopicScorer on the real model, topics in decisions and tests."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from privacy_partition._actions import Route
from privacy_partition._cpu import cpu_class
from privacy_partition._errors import ChecksumError, ConfigurationError, DetectionError, ModelError
from privacy_partition._int8 import BLOCK_INT8, Manifest, manifest_path, read_manifest
from privacy_partition._sanitize import Sanitizer
from privacy_partition.detection import (
    Analyzer,
    AnalyzerConfig,
    FixedTopicScorer,
    TopicScorer,
    _topics,
)
from privacy_partition.detection._minilm import (
    METRIC,
    MINILM,
    MODEL_FILE,
    minilm_folder,
    verify_minilm,
)
from privacy_partition.policy import Policy, analyzer_for, load_policy, run_policy_tests

REPO = Path(__file__).resolve().parents[1]
POLICIES = REPO / "policies"
FAST = AnalyzerConfig(ner_model=False)

# Not among the policies' examples.
HEALTH = "I get dizzy every time I stand up since I started the new blood pressure pills."
MONEY = "I make $4,200 a month after tax and my credit card balance keeps growing."
GENERAL = "Summarize the causes of the French Revolution."
FILLER = (
    "Please review the quarterly planning notes below and keep the structure of each "
    "section as it is, because the committee will compare them with last year's version. "
)


def policy(name: str) -> Policy:
    return load_policy(POLICIES / f"{name}.yaml")


@pytest.fixture(scope="module")
def strict() -> Policy:
    return policy("strict")


@pytest.fixture(scope="module")
def scorer(strict: Policy) -> TopicScorer:
    return TopicScorer.for_policy(strict)


def threshold(policy: Policy, topic: str) -> float:
    return policy.detection.topics[topic].threshold


# -- the model folder: checked before anything is loaded -----------------------


def fake_folder(root: Path, model: bytes, recorded: str) -> Path:
    folder = minilm_folder(root)
    (folder / MODEL_FILE).parent.mkdir(parents=True)
    (folder / MODEL_FILE).write_bytes(model)
    manifest = Manifest(recorded, BLOCK_INT8.name, cpu_class(), METRIC, 0.99, 1.0, [])
    manifest_path(folder / MODEL_FILE).write_text(manifest.to_json())
    return folder


def test_unbuilt_model_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="privacy-partition model build"):
        TopicScorer({"health": ["my diagnosis"]}, model_root=tmp_path)


def test_model_with_the_wrong_digest_is_refused(tmp_path: Path) -> None:
    fake_folder(tmp_path, b"not the model", hashlib.sha256(b"the model").hexdigest())
    with pytest.raises(ChecksumError, match="wrong digest"):
        TopicScorer({"health": ["my diagnosis"]}, model_root=tmp_path)


def test_tokenizer_with_the_wrong_digest_is_refused(tmp_path: Path) -> None:
    model = b"stand-in model"
    folder = fake_folder(tmp_path, model, hashlib.sha256(model).hexdigest())
    (folder / "tokenizer.json").write_text("{}")
    with pytest.raises(ChecksumError, match=r"tokenizer\.json"):
        verify_minilm(folder)


def test_a_topic_needs_examples(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        TopicScorer({}, model_root=tmp_path)
    with pytest.raises(ConfigurationError, match="health"):
        TopicScorer({"health": "a string, not a list"}, model_root=tmp_path)


def test_artifact_pins_the_tokenizer_and_licences() -> None:
    targets = {member.target for member in MINILM.members}
    assert {"model.safetensors", "tokenizer.json", "README.md", "PACKAGE_LICENSE"} <= targets
    assert all(len(member.sha256) == 64 for member in MINILM.members)


# -- scores on the real model --------------------------------------------------


@pytest.mark.model
def test_built_model_with_a_changed_byte_is_refused(tmp_path: Path) -> None:
    built = minilm_folder() / MODEL_FILE
    model = bytearray(built.read_bytes())
    model[len(model) // 2] ^= 0xFF
    recorded = read_manifest("minilm", built).sha256
    folder = fake_folder(tmp_path, bytes(model), recorded)
    (folder / "tokenizer.json").write_bytes((minilm_folder() / "tokenizer.json").read_bytes())
    with pytest.raises(ChecksumError):
        TopicScorer({"health": ["my diagnosis"]}, model_root=tmp_path)


@pytest.mark.model
def test_health_prompt_scores_above_the_threshold_a_general_one_below(
    strict: Policy, scorer: TopicScorer
) -> None:
    health, money, general = scorer.score_batch([HEALTH, MONEY, GENERAL])
    assert health["health"] >= threshold(strict, "health") > general["health"]
    assert money["finance"] >= threshold(strict, "finance") > general["finance"]
    assert health["finance"] < threshold(strict, "finance")
    assert money["health"] < threshold(strict, "health")


@pytest.mark.model
def test_scores_are_in_the_unit_interval_and_name_every_topic(scorer: TopicScorer) -> None:
    for scores in scorer.score_batch([HEALTH, "", "ok", "帮我写一封感谢信。"]):
        assert set(scores) == {"health", "finance"}
        assert all(0.0 <= value <= 1.0 for value in scores.values())


@pytest.mark.model
def test_a_remark_past_the_first_window_still_counts(strict: Policy, scorer: TopicScorer) -> None:
    long = FILLER * 12 + HEALTH  # well past the model's 256 tokens
    assert scorer.score(long)["health"] >= threshold(strict, "health")
    assert scorer.score(FILLER * 12)["health"] < threshold(strict, "health")


@pytest.mark.model
def test_batch_and_threads_give_the_same_scores(scorer: TopicScorer) -> None:
    texts = [HEALTH, MONEY, GENERAL, FILLER * 8 + MONEY]
    expected = [scorer.score(text) for text in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(scorer.score, texts * 3))
    for got, want in zip(scorer.score_batch(texts) + threaded, expected * 4, strict=True):
        assert got == pytest.approx(want, abs=1e-4)


# -- topics in decisions -------------------------------------------------------


def test_topic_scores_decide_the_route_without_the_model(analyzer: Analyzer) -> None:
    healthcare = policy("healthcare")
    # healthcare.yaml inherits default's finance topic, so a scorer must score it too.
    scores = {"finance": 0.0}
    high = Sanitizer(
        healthcare, analyzer=analyzer, topic_scorer=FixedTopicScorer({**scores, "health": 0.9})
    )
    low = Sanitizer(
        healthcare, analyzer=analyzer, topic_scorer=FixedTopicScorer({**scores, "health": 0.1})
    )
    assert high.sanitize(GENERAL).route is Route.LOCAL
    assert high.decide(GENERAL, [])[1].rules[0] == "routing.health-local"
    assert low.sanitize(GENERAL).route is Route.CLOUD
    # Stated scores win over the scorer's.
    assert high.decide(GENERAL, [], topics={"health": 0.0})[1].route is Route.CLOUD


def test_fixed_scores_must_be_scores() -> None:
    with pytest.raises(ConfigurationError, match="health"):
        FixedTopicScorer({"health": 1.5})


@pytest.fixture(scope="module")
def fast_analyzer() -> Analyzer:
    return analyzer_for(policy("healthcare"), FAST)


@pytest.mark.model
def test_healthcare_policy_keeps_a_health_prompt_local(fast_analyzer: Analyzer) -> None:
    sanitizer = Sanitizer(policy("healthcare"), analyzer=fast_analyzer)
    health, general = sanitizer.sanitize_batch([HEALTH, GENERAL])
    assert health.route is Route.LOCAL
    assert health.cloud_text is None
    assert any("routing.health-local" in reason for reason in health.reasons)
    assert general.route is Route.CLOUD
    assert sanitizer.sanitize(HEALTH).route is Route.LOCAL


@pytest.mark.model
def test_decide_scores_the_text_it_is_given(fast_analyzer: Analyzer) -> None:
    sanitizer = Sanitizer(policy("healthcare"), analyzer=fast_analyzer)
    _, decision = sanitizer.decide(HEALTH, [])
    assert decision.route is Route.LOCAL
    _, stated = sanitizer.decide(HEALTH, [], topics={"health": 0.0})
    assert stated.route is Route.CLOUD


@pytest.fixture
def encoders_loaded(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    loaded: list[Path] = []
    real = _topics.SentenceEncoder

    def counting(folder: Path, **kwargs: Any) -> Any:
        loaded.append(folder)
        return real(folder, **kwargs)

    monkeypatch.setattr(_topics, "SentenceEncoder", counting)
    return loaded


@pytest.mark.model
def test_the_model_is_loaded_once_per_sanitizer(
    fast_analyzer: Analyzer, encoders_loaded: list[Path]
) -> None:
    sanitizer = Sanitizer(policy("healthcare"), analyzer=fast_analyzer)
    sanitizer.sanitize_batch([HEALTH, GENERAL, MONEY])
    sanitizer.sanitize(HEALTH)
    sanitizer.decide(GENERAL, [])
    list(sanitizer.iter_jsonl_batches([(1, HEALTH), (2, GENERAL)]))
    assert len(encoders_loaded) == 1


def test_a_policy_without_topics_loads_no_topic_model(
    analyzer: Analyzer, encoders_loaded: list[Path]
) -> None:
    plain = Policy.model_validate({"apiVersion": "privacy-partition/v1", "name": "plain"})
    Sanitizer(plain, analyzer=analyzer).sanitize(GENERAL)
    assert encoders_loaded == []


@pytest.mark.model
def test_a_prompt_whose_scoring_fails_is_blocked_alone(
    fast_analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sanitizer = Sanitizer(policy("healthcare"), analyzer=fast_analyzer)
    scorer = sanitizer._topics
    assert scorer is not None
    real = scorer.score_batch

    def score_batch(texts: list[str]) -> list[dict[str, float]]:
        if HEALTH in texts:
            raise DetectionError("minilm: inference failed (RuntimeException)")
        return real(texts)

    monkeypatch.setattr(scorer, "score_batch", score_batch)
    failed, general = sanitizer.sanitize_batch([HEALTH, GENERAL])
    assert failed.route is Route.BLOCK
    assert failed.cloud_text is None
    assert failed.reasons == ("topic scoring failed",)
    assert general.route is Route.CLOUD


def test_a_scorer_must_cover_the_policy_topics(analyzer: Analyzer) -> None:
    other = FixedTopicScorer({"travel": 0.9})
    with pytest.raises(ConfigurationError, match="health"):
        Sanitizer(policy("healthcare"), analyzer=analyzer, topic_scorer=other)


# -- topics in policy tests ----------------------------------------------------


def with_tests(tmp_path: Path, base: str, tests: str) -> Policy:
    path = tmp_path / "p.yaml"
    path.write_text(
        f"apiVersion: privacy-partition/v1\nname: p\nextends: {POLICIES / base}.yaml\n"
        f"tests:\n{tests}",
        encoding="utf-8",
    )
    return load_policy(path)


@pytest.mark.model
def test_policy_tests_see_the_topic_model(tmp_path: Path, fast_analyzer: Analyzer) -> None:
    tested = with_tests(
        tmp_path,
        "healthcare",
        f"  - {{name: scored, prompt: '{HEALTH}', expect: {{route: local}}}}\n"
        f"  - {{name: stated, prompt: '{HEALTH}', topics: {{health: 0.1}}, "
        "expect: {route: cloud}}\n"
        f"  - {{name: general, prompt: '{GENERAL}', expect: {{route: cloud}}}}\n",
    )
    scorer = TopicScorer.for_policy(tested)
    results = run_policy_tests(tested, fast_analyzer, scorer)
    assert [str(r) for r in results if not r.passed] == []
    # Without the scorer a test that states no scores sees none.
    assert not run_policy_tests(tested, fast_analyzer)[0].passed


@pytest.mark.model
@pytest.mark.parametrize("name", ["healthcare", "strict"])
def test_shipped_policy_tests_pass_with_the_topic_model(name: str, fast_analyzer: Analyzer) -> None:
    shipped = policy(name)
    analyzer = fast_analyzer if name == "healthcare" else analyzer_for(shipped, FAST)
    results = run_policy_tests(shipped, analyzer, TopicScorer.for_policy(shipped))
    assert [str(r) for r in results if not r.passed] == []


@pytest.mark.model
def test_cli_policy_test_scores_topics(tmp_path: Path) -> None:
    tested = tmp_path / "p.yaml"
    tested.write_text(
        f"apiVersion: privacy-partition/v1\nname: p\nextends: {POLICIES / 'healthcare'}.yaml\n"
        f"tests:\n  - {{prompt: '{HEALTH}', expect: {{route: local}}}}\n"
        f"  - {{prompt: '{GENERAL}', expect: {{route: cloud}}}}\n",
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "privacy_partition.cli", "policy", "test"]
    proc = subprocess.run(
        [*command, "--no-ner-model", str(tested)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed, 0 failed" in proc.stdout
