"""Loading policies: closed schema, errors with file/line/column, extends, safe regexes."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from presidio_analyzer import PatternRecognizer

from privacy_partition import ConfigurationError
from privacy_partition._errors import PolicyError
from privacy_partition.detection import AnalyzerConfig
from privacy_partition.policy import Policy, load_policy
from privacy_partition.policy._recognizers import MAX_PATTERN_CHARS

HEADER = "apiVersion: privacy-partition/v1\nname: t\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(folder: Path, text: str, name: str = "p.yaml") -> PolicyError:
    path = write(folder, name, text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return caught.value


def test_minimal_policy_loads_with_defaults(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, "p.yaml", HEADER))
    assert policy.name == "t"
    assert policy.detection.languages == ("en", "zh")
    assert policy.entity_rule("PERSON").action == "redact"
    assert policy.source == tmp_path / "p.yaml"
    assert len(policy.digest) == 64
    int(policy.digest, 16)


def test_digest_ignores_layout_and_follows_content(tmp_path: Path) -> None:
    block = HEADER + "entities:\n  PERSON:\n    action: keep\n"
    flow = "# a comment\n" + HEADER + "entities: {PERSON: {action: keep}}\n"
    changed = HEADER + "entities: {PERSON: {action: redact}}\n"
    digests = [
        load_policy(write(tmp_path, f"{i}.yaml", t)).digest
        for i, t in enumerate((block, flow, changed))
    ]
    assert digests[0] == digests[1] != digests[2]


def test_misspelt_key_names_file_line_column_and_the_expected_keys(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "entites:\n  PERSON: {action: keep}\n")
    assert (error.path, error.line, error.column) == (str(tmp_path / "p.yaml"), 3, 1)
    message = str(error)
    assert message.startswith(f"{tmp_path / 'p.yaml'}:3:1: unknown key 'entites'")
    assert "did you mean 'entities'?" in message
    assert "expected one of: apiVersion, categories, description, detection, entities" in message


def test_misspelt_nested_key_lists_the_keys_of_that_mapping(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "routing:\n  - {route: cloud, wen: {}}\n")
    assert (error.line, error.column) == (4, 20)
    assert "unknown key 'wen' (did you mean 'when'? expected one of: name, route, when)" in str(
        error
    )


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "detection:\n  min_score: high\n")
    assert (error.line, error.column) == (4, 14)
    assert "detection.min_score: expected a number" in str(error)


def test_string_where_a_list_is_expected(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "detection:\n  languages: en\n")
    assert "detection.languages: expected a list" in str(error)


def test_out_of_range_score(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "entities:\n  PERSON: {action: keep, min_score: 2}\n")
    assert (error.line, error.column) == (4, 37)
    assert "entities.PERSON.min_score" in str(error)


def test_unknown_action_lists_the_actions(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "entities:\n  US_SSN: {action: blok}\n")
    assert (error.line, error.column) == (4, 20)
    assert (
        "entities.US_SSN.action: expected one of: keep, redact, mask, hash, pseudonymize, "
        "tokenize, seal, local, block (got 'blok')"
    ) in str(error)


def test_entity_key_must_be_an_entity_type(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "entities:\n  person: {action: keep}\n")
    assert (error.line, error.column) == (4, 3)
    assert "'default' or an entity type in UPPER_SNAKE_CASE" in str(error)


def test_seal_to_an_unknown_recipient(tmp_path: Path) -> None:
    text = HEADER + textwrap.dedent(
        """\
        recipients:
          payments: {description: booking tool}
        entities:
          CREDIT_CARD: {action: seal, recipient: paymnets}
        """
    )
    error = load_error(tmp_path, text)
    assert (error.line, error.column) == (6, 42)
    assert "unknown recipient 'paymnets' (declared: payments)" in str(error)


def test_seal_needs_a_recipient_and_only_seal_takes_one(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "entities:\n  CREDIT_CARD: {action: seal}\n")
    assert "action 'seal' needs a recipient" in str(error)
    error = load_error(
        tmp_path,
        HEADER + "recipients: {p: {}}\nentities:\n  CREDIT_CARD: {action: keep, recipient: p}\n",
    )
    assert "a recipient is only for action 'seal'" in str(error)


def test_seal_with_a_declared_recipient_loads(tmp_path: Path) -> None:
    text = (
        HEADER
        + "recipients: {payments: {}}\n"
        + "entities: {CREDIT_CARD: {action: seal, recipient: payments}}\n"
    )
    policy = load_policy(write(tmp_path, "p.yaml", text))
    assert policy.entity_rule("CREDIT_CARD").recipient == "payments"


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    error = load_error(
        tmp_path, HEADER + "entities:\n  PERSON: {action: keep}\n  PERSON: {action: redact}\n"
    )
    assert (error.line, error.column) == (5, 3)
    assert "duplicate key 'PERSON' (first at line 4)" in str(error)


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "name: again\n")
    assert (error.line, error.column) == (3, 1)
    assert "duplicate key 'name'" in str(error)


def test_missing_required_key(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "routing:\n  - {name: x}\n")
    assert (error.line, error.column) == (4, 5)
    assert "missing required key 'route'" in str(error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: t\n", "missing 'apiVersion'"),
        ("apiVersion: privacy-partition/v2\nname: t\n", "unsupported apiVersion"),
    ],
)
def test_api_version_is_required_and_checked(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in str(load_error(tmp_path, text))


def test_yaml_syntax_error_has_a_position(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "entities: {PERSON: [\n")
    assert error.line is not None
    assert error.column is not None
    assert "invalid YAML" in str(error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the policy is empty"),
        ("- a\n- b\n", "expected a mapping at the top level"),
        (HEADER + "base: &b {action: keep}\nentities: {<<: *b}\n", "merge keys"),
        (HEADER + "metadata_test:\n  yes: 1\n", "expected a string key"),
        ("---\n" + HEADER + "---\n" + HEADER, "invalid YAML"),
        (HEADER + "description: !!python/object:os.system ls\n", "invalid value"),
    ],
)
def test_malformed_documents(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in str(load_error(tmp_path, text))


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    error = load_error(tmp_path, HEADER + "\n".join(lines) + "\n")
    assert "more than" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "absent.yaml")


def test_policy_error_is_a_configuration_error() -> None:
    assert issubclass(PolicyError, ConfigurationError)
    assert issubclass(PolicyError, ValueError)


def test_several_errors_are_reported_together_in_file_order(tmp_path: Path) -> None:
    text = HEADER + "entities:\n  US_SSN: {action: blok}\n  PERSON: {action: nope}\n"
    error = load_error(tmp_path, text)
    assert (error.line, error.column) == (4, 20)
    assert f"\n{tmp_path / 'p.yaml'}:5:20: entities.PERSON.action" in str(error)


def test_errors_never_quote_a_test_prompt(tmp_path: Path) -> None:
    text = HEADER + "tests:\n  - {prompt: 'Jane Roe 555-0100', expect: {route: elsewhere}}\n"
    message = str(load_error(tmp_path, text))
    assert "tests[0].expect.route" in message
    assert "Jane" not in message
    assert "555" not in message


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("{categories: [ids]}", "unknown category 'ids' (none declared)"),
        ("{topics_any: [health]}", "unknown topic 'health' (none declared)"),
        ("{languages: [zh]}", "language 'zh' is not in detection.languages"),
    ],
)
def test_routing_references_must_resolve(tmp_path: Path, condition: str, expected: str) -> None:
    text = (
        HEADER
        + f"detection: {{languages: [en]}}\nrouting:\n  - {{when: {condition}, route: local}}\n"
    )
    error = load_error(tmp_path, text)
    assert error.line == 5
    assert expected in str(error)


def test_routing_rule_names_are_unique(tmp_path: Path) -> None:
    text = HEADER + "routing:\n  - {name: a, route: local}\n  - {name: a, route: cloud}\n"
    error = load_error(tmp_path, text)
    assert (error.line, error.column) == (5, 12)
    assert "used twice" in str(error)


def test_metadata_values_must_be_strings(tmp_path: Path) -> None:
    text = HEADER + "routing:\n  - {when: {metadata: {tier: 1}}, route: local}\n"
    error = load_error(tmp_path, text)
    assert "routing[0].when.metadata.tier: expected a string" in str(error)


def test_test_topics_must_be_declared(tmp_path: Path) -> None:
    text = HEADER + "tests:\n  - {prompt: hi, topics: {health: 0.9}, expect: {route: cloud}}\n"
    assert "unknown topic 'health'" in str(load_error(tmp_path, text))


def test_expectation_must_expect_something(tmp_path: Path) -> None:
    text = HEADER + "tests:\n  - {prompt: hi, expect: {}}\n"
    assert "at least one expectation" in str(load_error(tmp_path, text))


# -- extends ---------------------------------------------------------------------


BASE = """\
apiVersion: privacy-partition/v1
name: base
detection: {languages: [en, zh], min_score: 0.6}
entities:
  default: {action: redact}
  PERSON: {action: pseudonymize, min_score: 0.7}
routing:
  - {name: ids, when: {entities: [US_SSN]}, route: block}
  - {name: default, route: cloud}
"""


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    child = write(
        tmp_path,
        "child.yaml",
        """\
        apiVersion: privacy-partition/v1
        extends: base.yaml
        name: child
        detection: {languages: [zh]}
        entities:
          PERSON: {action: redact}
        routing:
          - {name: all-local, route: local}
        """,
    )
    policy = load_policy(child)
    assert policy.name == "child"
    assert policy.detection.languages == ("zh",)
    assert policy.detection.min_score == 0.6
    assert policy.entity_rule("PERSON").action == "redact"
    assert policy.entity_rule("PERSON").min_score == 0.7
    assert policy.entity_rule("EMAIL_ADDRESS").action == "redact"
    assert [rule.name for rule in policy.routing] == ["all-local"]


def test_extended_policy_digest_equals_the_written_out_policy(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", "apiVersion: privacy-partition/v1\nextends: base.yaml\n")
    merged = load_policy(child)
    assert merged.digest == load_policy(tmp_path / "base.yaml").digest


def test_extends_relative_to_the_extending_file(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    write(tmp_path / "shared", "base.yaml", BASE)
    (tmp_path / "apps").mkdir()
    child = write(tmp_path / "apps", "app.yaml", HEADER + "extends: ../shared/base.yaml\n")
    assert load_policy(child).detection.min_score == 0.6


def test_error_in_a_base_names_the_base_file(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE.replace("pseudonymize", "pseudonymise"))
    child = write(tmp_path, "child.yaml", HEADER + "extends: base.yaml\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(child)
    assert caught.value.path == str(tmp_path / "base.yaml")
    assert caught.value.line == 6


def test_extends_cycle_names_the_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", HEADER + "extends: b.yaml\n")
    write(tmp_path, "b.yaml", HEADER + "extends: a.yaml\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "a.yaml")
    message = str(caught.value)
    assert "cycle" in message
    a, b = str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")
    assert f"{a} -> {b} -> {a}" in message
    assert (caught.value.path, caught.value.line) == (b, 3)


def test_extends_itself(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "extends: p.yaml\n")
    assert "cycle" in str(error)


def test_extends_a_missing_file(tmp_path: Path) -> None:
    error = load_error(tmp_path, HEADER + "extends: nowhere.yaml\n")
    assert (error.line, error.column) == (3, 10)
    assert "'nowhere.yaml', which is not a file" in str(error)


def test_base_key_file_stays_relative_to_the_base(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    write(
        tmp_path / "shared",
        "base.yaml",
        HEADER + "recipients: {payments: {key_file: keys/payments.pub}}\n",
    )
    child = write(tmp_path, "child.yaml", HEADER + "extends: shared/base.yaml\n")
    recipient = load_policy(child).recipients["payments"]
    assert recipient.key_file == str(Path("shared/keys/payments.pub"))


# -- recognizers and regex safety ------------------------------------------------------


def recognizer_policy(tmp_path: Path, recognizer: str) -> str:
    return HEADER + f"detection:\n  recognizers:\n    - {recognizer}\n"


def test_invalid_regex_is_refused_at_load_with_its_position(tmp_path: Path) -> None:
    text = recognizer_policy(tmp_path, "{entity: X, patterns: [{regex: 'EMP-(\\d+', score: 0.5}]}")
    error = load_error(tmp_path, text)
    assert (error.line, error.column) == (5, 38)
    assert "detection.recognizers[0].patterns[0].regex: pattern refused by RE2" in str(error)


@pytest.mark.parametrize("regex", [r"(a)\1", r"(?=a)b", r"(?<!\d)\d{4}", r"\Q.\E"])
def test_patterns_a_linear_engine_cannot_run_are_refused(tmp_path: Path, regex: str) -> None:
    text = recognizer_policy(
        tmp_path, f"{{entity: X, patterns: [{{regex: '{regex}', score: 0.5}}]}}"
    )
    assert "pattern" in str(load_error(tmp_path, text))


def test_overlong_pattern_is_refused(tmp_path: Path) -> None:
    regex = "a" * (MAX_PATTERN_CHARS + 1)
    text = recognizer_policy(tmp_path, f"{{entity: X, patterns: [{{regex: {regex}, score: 0.5}}]}}")
    assert f"longer than {MAX_PATTERN_CHARS}" in str(load_error(tmp_path, text))


def test_recognizer_needs_patterns_or_a_deny_list(tmp_path: Path) -> None:
    text = recognizer_policy(tmp_path, "{entity: X, context: [x]}")
    assert "needs patterns, a deny_list or both" in str(load_error(tmp_path, text))


@pytest.mark.parametrize(
    ("regex", "adversary", "benign"),
    [
        (r"(a+)+$", "a" * 50_000 + "!", "aaaa"),
        (r"(a|a)*b", "a" * 50_000, "aab"),
        (r"(\w+\s?)*$", "word " * 10_000 + "!", "two words"),
    ],
)
def test_catastrophic_patterns_run_in_linear_time(regex: str, adversary: str, benign: str) -> None:
    policy = Policy.model_validate(
        {
            "apiVersion": "privacy-partition/v1",
            "name": "t",
            "detection": {
                "languages": ["en"],
                "recognizers": [{"entity": "X", "patterns": [{"regex": regex, "score": 0.9}]}],
            },
        }
    )
    (recognizer,) = policy.recognizers()
    began = time.perf_counter()
    assert recognizer.analyze(adversary, ["X"]) == []
    # A backtracking engine needs years on these inputs; RE2 needs milliseconds.
    assert time.perf_counter() - began < 1.0
    assert [(r.start, r.end) for r in recognizer.analyze(benign, ["X"])] == [(0, len(benign))]


def test_analyzer_config_lays_policy_settings_over_the_base(tmp_path: Path) -> None:
    text = HEADER + "detection: {languages: [zh], min_score: 0.7, score_thresholds: {URL: 0.9}}\n"
    policy = load_policy(write(tmp_path, "p.yaml", text))
    config = policy.analyzer_config(AnalyzerConfig(ner_model=False, max_chars=99))
    assert config.languages == ("zh",)
    assert config.min_score == 0.7
    assert config.max_chars == 99
    assert config.ner_model is False
    assert config.score_thresholds["URL"] == 0.9
    assert config.score_thresholds["US_DRIVER_LICENSE"] == 0.3  # the Analyzer's default stays


@pytest.mark.parametrize(("value", "valid"), [(4000, True), (0, False), (-1, False), ("9", False)])
def test_a_policy_sets_the_character_limit(tmp_path: Path, value: object, valid: bool) -> None:
    text = HEADER + f"detection: {{max_chars: {value!r}}}\n"
    if not valid:
        with pytest.raises(PolicyError, match="max_chars"):
            load_policy(write(tmp_path, "p.yaml", text))
        return
    policy = load_policy(write(tmp_path, "p.yaml", text))
    assert policy.analyzer_config(AnalyzerConfig(ner_model=False)).max_chars == value


def test_recognizers_one_per_language(tmp_path: Path) -> None:
    text = recognizer_policy(tmp_path, "{entity: PROJECT, deny_list: [Apollo]}")
    recognizers = load_policy(write(tmp_path, "p.yaml", text)).recognizers()
    assert sorted(r.supported_language for r in recognizers) == ["en", "zh"]
    assert {r.supported_entities[0] for r in recognizers} == {"PROJECT"}
    assert recognizers[0].name == "PolicyProjectRecognizer"
    assert all(isinstance(r, PatternRecognizer) for r in recognizers)
