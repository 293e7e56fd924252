"""The policy document: frozen, closed pydantic models (unknown keys are errors).

The models are the single source of truth for the policy language: the
loader validates YAML against them, ``policies/schema.json`` is generated
from them (``schema_text()``), and the engine
reads them. Every cross-reference (a recipient, a category, a topic, a
language) is checked here, at load, so a loaded ``Policy`` is always usable.

Entity types are UPPER_SNAKE_CASE strings, not a closed list: a policy may
name a type only a custom recognizer or a later detector reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from presidio_analyzer import EntityRecognizer, Pattern
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from privacy_partition._actions import Action, Route
from privacy_partition.detection import DEFAULT_MAX_CHARS, DEFAULT_MIN_SCORE, AnalyzerConfig
from privacy_partition.detection._relations import PERSONAL, PUBLIC
from privacy_partition.policy._recognizers import (
    CompiledPattern,
    PolicyPatternRecognizer,
    compile_deny_list,
    compile_pattern,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_ENTITY_RULE",
    "Condition",
    "Detection",
    "EntityRule",
    "Expectation",
    "Fallback",
    "PatternSpec",
    "Policy",
    "PolicyTest",
    "Recipient",
    "RecognizerSpec",
    "RelationRule",
    "RestoreOptions",
    "RoutingRule",
    "TopicSpec",
    "policy_json_schema",
]

API_VERSION: Final = "privacy-partition/v1"
DEFAULT_TOPIC_THRESHOLD: Final = 0.4

ENTITY_TYPE_PATTERN: Final = r"^[A-Z][A-Z0-9_]*$"
ENTITY_KEY_PATTERN: Final = r"^(default|[A-Z][A-Z0-9_]*)$"
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
# What each pattern means, for error messages.
PATTERN_MEANINGS: Final = {
    ENTITY_TYPE_PATTERN: "an entity type in UPPER_SNAKE_CASE",
    ENTITY_KEY_PATTERN: "'default' or an entity type in UPPER_SNAKE_CASE",
    NAME_PATTERN: "a name of letters, digits, '_', '.' and '-'",
}

EntityType = Annotated[StrictStr, StringConstraints(pattern=ENTITY_TYPE_PATTERN, max_length=64)]
EntityKey = Annotated[StrictStr, StringConstraints(pattern=ENTITY_KEY_PATTERN, max_length=64)]
Name = Annotated[StrictStr, StringConstraints(pattern=NAME_PATTERN, max_length=64)]
Text = Annotated[StrictStr, StringConstraints(min_length=1)]
Score = Annotated[StrictFloat, Field(ge=0.0, le=1.0)]
# The languages the Analyzer supports (detection._engine.SUPPORTED_LANGUAGES).
Language = Literal["en", "zh"]


class _Closed(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=False, use_attribute_docstrings=True
    )


def _reference_error(loc: tuple[str | int, ...], message: str, value: object) -> InitErrorDetails:
    return InitErrorDetails(
        type="value_error", loc=loc, input=value, ctx={"error": ValueError(message)}
    )


# -- detection -----------------------------------------------------------------


class PatternSpec(_Closed):
    """One regular expression of an ad-hoc recognizer (RE2 syntax, see ``_recognizers``)."""

    name: Name | None = None
    """Names the pattern in explanations; default: the entity type and index."""
    regex: Text
    """An RE2 expression, case-insensitive unless it holds ``(?-i)``."""
    score: Score
    """The score of a match before context words raise it."""

    @field_validator("regex")
    @classmethod
    def _compiles(cls, regex: str) -> str:
        compile_pattern(regex)
        return regex


class RecognizerSpec(_Closed):
    """An ad-hoc recognizer in Presidio's shape: patterns and/or a deny list, context words."""

    entity: EntityType
    """The entity type of what it finds."""
    name: Name | None = None
    """The recognizer name findings carry; default: derived from the entity."""
    languages: tuple[Language, ...] | None = Field(default=None, min_length=1)
    """The languages it runs for; default: ``detection.languages``."""
    patterns: tuple[PatternSpec, ...] = ()
    """Regular expressions, each with its own score."""
    deny_list: tuple[Text, ...] = ()
    """Literal terms, matched case-insensitively as whole words."""
    deny_list_score: Score = 1.0
    """The score of a deny-list match."""
    context: tuple[Text, ...] = ()
    """Words that raise a match's score when they occur near it."""

    @model_validator(mode="after")
    def _has_something_to_match(self) -> RecognizerSpec:
        if not self.patterns and not self.deny_list:
            raise ValueError("a recognizer needs patterns, a deny_list or both")
        if self.deny_list:
            compile_deny_list(self.deny_list)
        return self

    @property
    def recognizer_name(self) -> str:
        return self.name or f"Policy{self.entity.title().replace('_', '')}Recognizer"

    def build(self, language: str) -> PolicyPatternRecognizer:
        compiled = [
            CompiledPattern(
                Pattern(p.name or f"{self.entity.lower()}_{i}", p.regex, p.score),
                compile_pattern(p.regex),
            )
            for i, p in enumerate(self.patterns)
        ]
        if self.deny_list:
            compiled.append(
                CompiledPattern(
                    Pattern("deny_list", "|".join(self.deny_list), self.deny_list_score),
                    compile_deny_list(self.deny_list),
                    whole_words=True,
                )
            )
        return PolicyPatternRecognizer(
            entity=self.entity,
            name=self.recognizer_name,
            language=language,
            patterns=compiled,
            deny_list=self.deny_list,
            context=self.context,
        )


class TopicSpec(_Closed):
    """A sensitive topic, scored by the local topic model from its examples."""

    description: StrictStr | None = None
    """What the topic covers, for readers."""
    examples: tuple[Text, ...] = Field(min_length=1)
    """Example prompts on the topic, for the local topic model."""
    threshold: Score = DEFAULT_TOPIC_THRESHOLD
    """A topic score at or above this makes the topic present."""


class Detection(_Closed):
    """How the Analyzer is configured for this policy."""

    languages: tuple[Language, ...] = Field(default=("en", "zh"), min_length=1)
    """The languages the Analyzer runs."""
    min_score: Score = DEFAULT_MIN_SCORE
    """Findings scored under this are dropped by the Analyzer."""
    max_chars: StrictInt | None = Field(default=None, ge=1, le=32 * DEFAULT_MAX_CHARS)
    """Characters one request may hold, its new turns together; more is refused.

    Unset: the Analyzer's limit (32,768: about 1 s of detection for prose, 4 s
    at worst, on two cores; detection time grows linearly with the length)."""
    score_thresholds: dict[EntityType, Score] = Field(default_factory=dict)
    """Per-type minimum scores, laid over the Analyzer's own."""
    recognizers: tuple[RecognizerSpec, ...] = ()
    """Ad-hoc recognizers, in Presidio's shape."""
    topics: dict[Name, TopicSpec] = Field(default_factory=dict)
    """Sensitive topics by name, for routing conditions."""

    @field_validator("languages")
    @classmethod
    def _languages_once(cls, languages: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(languages)) != len(languages):
            raise ValueError("a language is listed twice")
        return languages


# -- entities and recipients ---------------------------------------------------


def _check_recipient(action: Action, recipient: str | None) -> None:
    if action is Action.SEAL and recipient is None:
        raise ValueError("action 'seal' needs a recipient")
    if action is not Action.SEAL and recipient is not None:
        raise ValueError(f"a recipient is only for action 'seal', not {action.value!r}")


class RelationRule(_Closed):
    """What happens instead to a finding with a given relation (see ``detection._relations``).

    ``personal``: "I work at Google", "my daughter's school in Dammam": the
    value is personal data there, though the same type is general knowledge
    when a prompt merely talks about it. ``public``: a country or continent
    in a prompt that ties nothing to anybody.
    """

    action: Action
    """What happens to each such finding; ``local`` and ``block`` force the route."""
    recipient: Name | None = None
    """The recipient a ``seal`` action seals to (seal only)."""

    @model_validator(mode="after")
    def _recipient_for_seal(self) -> RelationRule:
        _check_recipient(self.action, self.recipient)
        return self


class EntityRule(_Closed):
    """What happens to findings of one entity type."""

    action: Action
    """What happens to each finding of the type."""
    recipient: Name | None = None
    """The recipient a ``seal`` action seals to (seal only)."""
    min_score: Score | None = None
    """Findings scored under this are treated as absent: kept, and ignored by routing."""
    personal: RelationRule | None = None
    """The rule for findings tied to a person (``relation: personal``); default: ``action``."""
    public: RelationRule | None = None
    """The rule for world-known places in a prompt that names nobody (``relation: public``);
    default: ``action``."""

    @model_validator(mode="after")
    def _recipient_for_seal(self) -> EntityRule:
        _check_recipient(self.action, self.recipient)
        return self

    def override(self, relation: str | None) -> RelationRule | None:
        """The rule that replaces ``action`` for a finding with ``relation``, if any."""
        if relation == PERSONAL:
            return self.personal
        if relation == PUBLIC:
            return self.public
        return None

    def for_relation(self, relation: str | None) -> tuple[Action, str | None]:
        """The action and recipient for a finding with ``relation``."""
        rule = self.override(relation)
        if rule is not None:
            return rule.action, rule.recipient
        return self.action, self.recipient


DEFAULT_ENTITY_RULE: Final = EntityRule(action=Action.REDACT)


class Recipient(_Closed):
    """A named party a value can be sealed to (public keys come from the gateway).

    ``key_file``, relative in a file to that file, is relative in a loaded
    policy to the directory of ``Policy.source``, so the digest does not
    depend on where the policies are installed.
    """

    description: StrictStr | None = None
    """Who the recipient is, for readers."""
    key_file: Text | None = None
    """A file holding the recipient's public key."""


# -- routing -------------------------------------------------------------------


class Condition(_Closed):
    """When a routing rule applies. Every condition given must hold; none given: always.

    ``entities``, ``categories`` and ``topics`` need all listed to be present;
    their ``_any`` forms need at least one. ``min_count`` counts the findings
    of the types these conditions name (of every type when they name none)
    that the policy replaces: a finding it keeps as written (a public place,
    a date) is not personal data by its own account and does not count.
    """

    entities: tuple[EntityType, ...] | None = Field(default=None, min_length=1)
    """All of these entity types are found."""
    entities_any: tuple[EntityType, ...] | None = Field(default=None, min_length=1)
    """At least one of these entity types is found."""
    categories: tuple[Name, ...] | None = Field(default=None, min_length=1)
    """Every one of these categories has a finding."""
    categories_any: tuple[Name, ...] | None = Field(default=None, min_length=1)
    """At least one of these categories has a finding."""
    topics: tuple[Name, ...] | None = Field(default=None, min_length=1)
    """All of these topics are present."""
    topics_any: tuple[Name, ...] | None = Field(default=None, min_length=1)
    """At least one of these topics is present."""
    min_count: StrictInt | None = Field(default=None, ge=1)
    """At least this many replaced findings (of the types named here, else of any type)."""
    languages: tuple[Language, ...] | None = Field(default=None, min_length=1)
    """The request's language is one of these."""
    metadata: dict[Name, StrictStr] | None = Field(default=None, min_length=1)
    """The request's metadata has exactly these values."""


class RoutingRule(_Closed):
    """Where a request goes when ``when`` holds; the first rule that matches wins."""

    name: Name | None = None
    """Names the rule in decisions (``routing.<name>``); default ``routing[<index>]``."""
    when: Condition = Field(default_factory=Condition)
    """The conditions, all of which must hold; none: always."""
    route: Route
    """Where the request goes when the rule matches."""


class Fallback(_Closed):
    """What happens when the chosen side is unavailable.

    A request an entity rule keeps on the device (a government ID) never
    falls back to the cloud.
    """

    cloud_unavailable: Literal[Route.LOCAL, Route.BLOCK] = Route.LOCAL
    """Where a cloud-bound request goes when the cloud cannot be reached."""
    local_unavailable: Literal[Route.BLOCK, Route.CLOUD] = Route.BLOCK
    """What happens when no local model is configured: ``block`` refuses; ``cloud`` sends a
    request that a routing rule sent to the device (a topic, a personal document) to the
    cloud, transformed as the entity rules say, unless an entity rule keeps it local."""


class RestoreOptions(_Closed):
    """How the cloud's answer is restored on the device."""

    allow_in_links: StrictBool = False
    """Whether handles inside URLs, links or markup are restored."""


# -- embedded tests ------------------------------------------------------------


class Expectation(_Closed):
    """What an embedded test expects; only what is given is checked."""

    route: Route | None = None
    """The route."""
    entities: tuple[EntityType, ...] = ()
    """Entity types that must be among the findings."""
    absent_entities: tuple[EntityType, ...] = ()
    """Entity types that must not be among the findings."""
    actions: dict[EntityType, Action] = Field(default_factory=dict)
    """The action every finding of a type must get."""
    relations: dict[EntityType, Literal["personal", "general", "public"]] = Field(
        default_factory=dict
    )
    """Whether every finding of a type is tied to a person (``personal``), a world-known
    place in a prompt naming nobody (``public``), or neither (``general``)."""
    rules: tuple[Text, ...] = ()
    """Rules that must fire (``entities.<TYPE>``, ``routing.<name>``)."""
    cloud_text_excludes: tuple[Text, ...] = ()
    """Strings of the prompt that must not reach the cloud."""

    @model_validator(mode="after")
    def _expects_something(self) -> Expectation:
        if not self.model_fields_set:
            raise ValueError("expect must state at least one expectation")
        return self


class PolicyTest(_Closed):
    """A prompt and what the policy must decide for it (run by ``run_policy_tests``)."""

    name: StrictStr | None = None
    """Names the test in reports; default ``tests[<index>]``."""
    prompt: Text
    """The prompt to analyze."""
    language: Language | None = None
    """The prompt's language; default: detected."""
    topics: dict[Name, Score] = Field(default_factory=dict)
    """Topic scores, as the topic model would give them."""
    metadata: dict[Name, StrictStr] = Field(default_factory=dict)
    """Request metadata, for metadata conditions."""
    expect: Expectation
    """What the policy must decide."""


# -- the policy ----------------------------------------------------------------


class Policy(_Closed):
    """A loaded, validated policy. Immutable; safe to share between threads.

    ``digest`` is the SHA-256 (hex) of the canonical JSON of the policy after
    ``extends`` is merged, so an audit record names exactly what decided.
    """

    api_version: Literal["privacy-partition/v1"] = Field(alias="apiVersion")
    """The policy language version: ``privacy-partition/v1``."""
    name: Name
    """The policy's name, recorded with every decision."""
    description: StrictStr | None = None
    """What the policy is for, for readers."""
    detection: Detection = Field(default_factory=Detection)
    """How findings are detected."""
    categories: dict[Name, tuple[EntityType, ...]] = Field(default_factory=dict)
    """Named groups of entity types, for routing conditions."""
    entities: dict[EntityKey, EntityRule] = Field(default_factory=dict)
    """The rule per entity type; ``default`` covers every type not listed."""
    recipients: dict[Name, Recipient] = Field(default_factory=dict)
    """Named recipients for the ``seal`` action."""
    routing: tuple[RoutingRule, ...] = ()
    """Routing rules; the first that matches gives the route."""
    fallback: Fallback = Field(default_factory=Fallback)
    """What happens when the chosen side is unavailable."""
    restore: RestoreOptions = Field(default_factory=RestoreOptions)
    """How answers are restored on the device."""
    tests: tuple[PolicyTest, ...] = ()
    """Prompts and the decisions the policy must make for them."""

    _digest: str = PrivateAttr(default="")
    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _references_resolve(self) -> Policy:
        errors = [*self._entity_errors(), *self._routing_errors(), *self._test_errors()]
        languages = set(self.detection.languages)
        for i, spec in enumerate(self.detection.recognizers):
            for j, language in enumerate(spec.languages or ()):
                if language not in languages:
                    loc = ("detection", "recognizers", i, "languages", j)
                    errors.append(_reference_error(loc, _not_detected(language), language))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def _entity_errors(self) -> list[InitErrorDetails]:
        errors = []
        for entity, rule in self.entities.items():
            personal = rule.personal.recipient if rule.personal else None
            public = rule.public.recipient if rule.public else None
            for loc, recipient in (
                (("entities", entity, "recipient"), rule.recipient),
                (("entities", entity, "personal", "recipient"), personal),
                (("entities", entity, "public", "recipient"), public),
            ):
                if recipient is not None and recipient not in self.recipients:
                    message = f"unknown recipient {recipient!r} ({_declared(self.recipients)})"
                    errors.append(_reference_error(loc, message, recipient))
        return errors

    def _routing_errors(self) -> list[InitErrorDetails]:
        errors = []
        seen: set[str] = set()
        for i, rule in enumerate(self.routing):
            if rule.name is not None:
                if rule.name in seen:
                    message = f"routing rule name {rule.name!r} is used twice"
                    errors.append(_reference_error(("routing", i, "name"), message, rule.name))
                seen.add(rule.name)
            when = rule.when
            for key, declared in (
                ("categories", self.categories),
                ("categories_any", self.categories),
                ("topics", self.detection.topics),
                ("topics_any", self.detection.topics),
            ):
                for j, name in enumerate(getattr(when, key) or ()):
                    if name not in declared:
                        kind = "category" if key.startswith("categories") else "topic"
                        message = f"unknown {kind} {name!r} ({_declared(declared)})"
                        loc = ("routing", i, "when", key, j)
                        errors.append(_reference_error(loc, message, name))
            for j, language in enumerate(when.languages or ()):
                if language not in self.detection.languages:
                    loc = ("routing", i, "when", "languages", j)
                    errors.append(_reference_error(loc, _not_detected(language), language))
        return errors

    def _test_errors(self) -> list[InitErrorDetails]:
        errors = []
        for i, test in enumerate(self.tests):
            for topic in test.topics:
                if topic not in self.detection.topics:
                    message = f"unknown topic {topic!r} ({_declared(self.detection.topics)})"
                    errors.append(_reference_error(("tests", i, "topics", topic), message, topic))
            if test.language is not None and test.language not in self.detection.languages:
                message = _not_detected(test.language)
                errors.append(_reference_error(("tests", i, "language"), message, test.language))
        return errors

    def model_post_init(self, context: Any, /) -> None:
        canonical = json.dumps(
            self.model_dump(mode="json", by_alias=True),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        self._digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of this policy."""
        return self._digest

    @property
    def source(self) -> Path | None:
        """The file this policy was loaded from; None when built in code."""
        return self._source

    def entity_rule(self, entity_type: str) -> EntityRule:
        """The rule for ``entity_type``: its own, else ``entities.default``, else redact."""
        rule = self.entities.get(entity_type) or self.entities.get("default")
        return rule or DEFAULT_ENTITY_RULE

    def analyzer_config(self, base: AnalyzerConfig | None = None) -> AnalyzerConfig:
        """``base`` (default: ``AnalyzerConfig()``) with this policy's detection settings.

        The policy's ``score_thresholds`` are laid over the base's, type by type.
        """
        base = base or AnalyzerConfig()
        thresholds: Mapping[str, float] = {
            **base.score_thresholds,
            **self.detection.score_thresholds,
        }
        return replace(
            base,
            languages=self.detection.languages,
            min_score=self.detection.min_score,
            score_thresholds=thresholds,
            max_chars=self.detection.max_chars or base.max_chars,
        )

    def recognizers(self) -> list[EntityRecognizer]:
        """Fresh Presidio recognizers for the ad-hoc ones, one per recognizer and language.

        Their patterns were compiled when the policy loaded.
        """
        return [
            spec.build(language)
            for spec in self.detection.recognizers
            for language in spec.languages or self.detection.languages
        ]


def _declared(names: Mapping[str, object]) -> str:
    return "declared: " + ", ".join(sorted(names)) if names else "none declared"


def _not_detected(language: str) -> str:
    return f"language {language!r} is not in detection.languages"


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file (committed as ``policies/schema.json``)."""
    schema = Policy.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "privacy-partition policy"
    # `extends` exists only in files: the loader merges it away.
    schema["properties"]["extends"] = {
        "type": "string",
        "description": "A policy file this one is laid over, relative to this file.",
    }
    return schema


def schema_text() -> str:
    """``policy_json_schema()`` as the text committed in ``policies/schema.json``."""
    return json.dumps(policy_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
