"""Warnings on a valid policy: names that match nothing, rules that can never fire.

A policy is valid when its schema holds, but a typo in an entity type
(``PASPORT``) is valid too and silently stops the rule for passports. ``lint``
finds what schema validation cannot:

* an entity type named in ``entities``, ``categories`` or a routing condition
  that no recognizer of the policy's analyzer produces (with a close match
  suggested);
* a routing rule that can never fire: it follows a rule with no condition, or
  its condition needs an entity type nothing produces.

The producible types come from the policy's own analyzer configuration: its
languages, its ad-hoc recognizers, and the local NER model's types when it is
on (read from the model's label map, without loading it). Warnings name types
and rules, never text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from privacy_partition.policy._engine import _rule_name
from privacy_partition.policy._schema import Condition, Policy

__all__ = ["lint", "producible_types"]


def producible_types(policy: Policy, *, ner_model: bool) -> frozenset[str]:
    """Every entity type the analyzer of ``policy`` can report (loads spaCy, not the NER model)."""
    from privacy_partition.detection import AnalyzerConfig
    from privacy_partition.detection.recognizers._rampart import SUPPORTED_ENTITIES
    from privacy_partition.policy._recognizers import analyzer_for

    analyzer = analyzer_for(policy, AnalyzerConfig(ner_model=False))
    types = set(analyzer.supported_entities)
    if ner_model:
        types.update(SUPPORTED_ENTITIES)
    return frozenset(types)


def lint(policy: Policy, producible: Iterable[str]) -> list[str]:
    """What in ``policy`` names nothing or can never apply, one line each, in file order."""
    known = frozenset(producible)
    warnings = [
        _unknown(entity_type, where, known)
        for entity_type, where in _named_types(policy)
        if entity_type not in known
    ]
    warnings += _dead_rules(policy, known)
    return warnings


def _named_types(policy: Policy) -> Iterator[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()

    def once(entity_type: str, where: str) -> Iterator[tuple[str, str]]:
        if (entity_type, where) not in seen:
            seen.add((entity_type, where))
            yield entity_type, where

    for key in policy.entities:
        if key != "default":
            yield from once(key, "entities")
    for name, members in policy.categories.items():
        for entity_type in members:
            yield from once(entity_type, f"categories.{name}")
    for index, rule in enumerate(policy.routing):
        for entity_type in (*(rule.when.entities or ()), *(rule.when.entities_any or ())):
            yield from once(entity_type, _rule_name(rule, index))


def _unknown(entity_type: str, where: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(entity_type, sorted(known), n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"{where}: no recognizer produces entity type {entity_type}{hint}"


def _dead_rules(policy: Policy, known: frozenset[str]) -> list[str]:
    warnings = []
    catch_all: str | None = None
    for index, rule in enumerate(policy.routing):
        name = _rule_name(rule, index)
        if catch_all is not None:
            warnings.append(f"{name}: never fires: {catch_all} before it always does")
            continue
        if _unsatisfiable(rule.when, known):
            warnings.append(f"{name}: never fires: it needs an entity type nothing produces")
        if rule.when == Condition():
            catch_all = name
    return warnings


def _unsatisfiable(when: Condition, known: frozenset[str]) -> bool:
    if when.entities is not None and any(t not in known for t in when.entities):
        return True
    return when.entities_any is not None and all(t not in known for t in when.entities_any)
