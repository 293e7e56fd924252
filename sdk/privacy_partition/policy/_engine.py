"""The policy engine: findings in, a route and one action per finding out.

How a decision is made:

1. Each finding gets its entity type's rule (``entities.<TYPE>``, else
   ``entities.default``, else redact). A finding scored under the rule's
   ``min_score`` is treated as absent: it is kept as it is and counts for no
   condition. A finding the text ties to a person (``relation: personal``)
   gets the rule's ``personal`` override when it has one, recorded as
   ``entities.<TYPE>.personal``; a world-known place in a prompt naming
   nobody (``relation: public``) gets the ``public`` override likewise.
2. A finding whose action is ``block`` or ``local`` forces that route.
3. The first routing rule whose conditions all hold gives a route; when none
   holds the route is ``cloud`` (recorded as ``routing.<none>``).
4. The strictest of these wins: block over local over cloud.

``Decision.rules`` lists every rule that fired, the one that decided the
route first. Reasons name entity types, counts and rules, never a value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from privacy_partition._actions import Action, FindingAction, Route
from privacy_partition.detection import Analyzer, Finding
from privacy_partition.detection._language import detect_languages
from privacy_partition.policy._schema import Condition, EntityRule, Policy, RoutingRule

__all__ = ["Decision", "PolicyEngine", "explain"]

_SEVERITY: Final = {Route.CLOUD: 0, Route.LOCAL: 1, Route.BLOCK: 2}
_FORCED: Final = {Action.LOCAL: Route.LOCAL, Action.BLOCK: Route.BLOCK}
NO_RULE_MATCHED: Final = "routing.<none>"

# What the cloud receives in place of a value, per action (DESIGN.md).
_BECOMES: Final = {
    Action.KEEP: "sent unchanged",
    Action.REDACT: "a placeholder handle, restored on the device",
    Action.MASK: "a partly masked value, not restored",
    Action.HASH: "a keyed digest, not restored",
    Action.PSEUDONYMIZE: "a realistic surrogate, restored on the device",
    Action.TOKENIZE: "a deterministic encrypted token, restored on the device",
    Action.SEAL: "a handle, with the value sealed to the recipient",
    Action.LOCAL: "nothing: the request is answered on the device",
    Action.BLOCK: "nothing: the request is refused",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decided for one request. Holds no text, only offsets and names."""

    route: Route
    actions: tuple[FindingAction, ...]  # one per finding, in input order
    rules: tuple[str, ...]  # the rules that fired, the deciding one first
    reasons: tuple[str, ...]
    policy_name: str
    policy_digest: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serializable view (entity types, spans, actions; no values)."""
        return {
            "route": self.route.value,
            "rules": list(self.rules),
            "reasons": list(self.reasons),
            "policy": {"name": self.policy_name, "digest": self.policy_digest},
            "actions": [
                {
                    **a.finding.as_dict(),
                    "action": a.action.value,
                    "recipient": a.recipient,
                }
                for a in self.actions
            ],
        }


@dataclass(frozen=True, slots=True)
class _Present:
    """The request as the routing conditions see it."""

    counts: Counter[str]  # findings per entity type, absent ones left out
    replaced: Counter[str]  # the same, without the findings the policy keeps as they are
    language: str
    topics: frozenset[str]  # topics at or above their threshold
    metadata: Mapping[str, str]


class PolicyEngine:
    """Applies one policy to findings.

    Pure and thread-safe: ``decide`` reads only its arguments and immutable
    tables built here, so one engine may serve every thread.
    """

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._categories = {name: frozenset(types) for name, types in policy.categories.items()}
        self._thresholds = {
            name: topic.threshold for name, topic in policy.detection.topics.items()
        }
        self._routing = tuple((_rule_name(rule, i), rule) for i, rule in enumerate(policy.routing))

    @property
    def policy(self) -> Policy:
        return self._policy

    def decide(
        self,
        findings: Iterable[Finding],
        *,
        language: str = "en",
        topics: Mapping[str, float] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Decision:
        """The route and per-finding actions for one request.

        ``topics`` maps topic names to scores from the topic model (a topic
        is present at or above its threshold; missing topics score 0).
        ``metadata`` holds request facts such as the app or the user's tier,
        matched exactly by routing conditions.
        """
        actions: list[FindingAction] = []
        ignored: Counter[tuple[str, float]] = Counter()
        forced: dict[str, tuple[Route, str]] = {}  # rule name -> (route, entity type)
        counts: Counter[str] = Counter()
        replaced: Counter[str] = Counter()
        for finding in findings:
            rule_name, rule = self._rule_for(finding)
            if rule.min_score is not None and finding.score < rule.min_score:
                ignored[(finding.entity_type, rule.min_score)] += 1
                actions.append(FindingAction(finding, Action.KEEP))
                continue
            counts[finding.entity_type] += 1
            action, recipient = rule.for_relation(finding.relation)
            if action is not Action.KEEP:
                replaced[finding.entity_type] += 1
            actions.append(
                FindingAction(finding, action, recipient=recipient, relation=finding.relation)
            )
            if action in _FORCED:
                forced.setdefault(rule_name, (_FORCED[action], finding.entity_type))

        present = _Present(
            counts=counts,
            replaced=replaced,
            language=language,
            topics=frozenset(
                name
                for name, threshold in self._thresholds.items()
                if (topics or {}).get(name, 0.0) >= threshold
            ),
            metadata=metadata or {},
        )
        routing_name, routing_route, matched = self._route(present)

        fired = [(route, name) for name, (route, _) in forced.items()]
        fired.append((routing_route, routing_name))
        # Stable sort: among equally strict rules, entity rules come first.
        fired.sort(key=lambda item: -_SEVERITY[item[0]])
        route = fired[0][0]

        reasons = [
            f"{entity}: {count} finding(s) under min_score {threshold} ignored"
            for (entity, threshold), count in sorted(ignored.items())
        ]
        for name, (forced_route, entity) in forced.items():
            verb = "refuses the request" if forced_route is Route.BLOCK else "keeps it local"
            tied = " tied to a person" if name.endswith(".personal") else ""
            reasons.append(f"{entity}{tied} found: rule {name} {verb}")
        if matched is None:
            reasons.append(f"no routing rule matched: {Route.CLOUD.value}")
        else:
            reasons.append(f"routing rule {routing_name} matched ({matched}): {routing_route}")
        if route is not routing_route:
            reasons.append(
                f"route {route.value} from {fired[0][1]} overrides {routing_route.value} "
                "(block > local > cloud)"
            )
        return Decision(
            route=route,
            actions=tuple(actions),
            rules=tuple(name for _, name in fired),
            reasons=tuple(reasons),
            policy_name=self._policy.name,
            policy_digest=self._policy.digest,
        )

    def _rule_for(self, finding: Finding) -> tuple[str, EntityRule]:
        """The rule for ``finding`` and its name, ``.<relation>`` added when an override applies."""
        entities = self._policy.entities
        entity_type = finding.entity_type
        if entity_type in entities:
            name, rule = f"entities.{entity_type}", entities[entity_type]
        else:
            name, rule = "entities.default", self._policy.entity_rule(entity_type)
        if rule.override(finding.relation) is not None:
            name += f".{finding.relation}"
        return name, rule

    def rule_name(self, finding: Finding) -> str:
        """The name of the entity rule that decides ``finding``'s action (for explain)."""
        return self._rule_for(finding)[0]

    def _route(self, present: _Present) -> tuple[str, Route, str | None]:
        """The first matching routing rule: its name, route and why it matched."""
        for name, rule in self._routing:
            why = self._matches(rule.when, present)
            if why is not None:
                return name, rule.route, why
        return NO_RULE_MATCHED, Route.CLOUD, None

    def _matches(self, when: Condition, present: _Present) -> str | None:
        """A short account of why ``when`` holds, or None when it does not."""
        found = set(present.counts)
        checks: list[tuple[bool, str]] = []
        if when.entities:
            checks.append((set(when.entities) <= found, "entities " + ", ".join(when.entities)))
        if when.entities_any:
            hit = sorted(found & set(when.entities_any))
            checks.append((bool(hit), "entities " + ", ".join(hit)))
        if when.categories:
            ok = all(found & self._categories[name] for name in when.categories)
            checks.append((ok, "categories " + ", ".join(when.categories)))
        if when.categories_any:
            hit = [name for name in when.categories_any if found & self._categories[name]]
            checks.append((bool(hit), "categories " + ", ".join(hit)))
        if when.min_count is not None:
            scope = self._scope(when)
            count = sum(n for t, n in present.replaced.items() if scope is None or t in scope)
            checks.append((count >= when.min_count, f"{count} finding(s)"))
        if when.topics:
            checks.append((set(when.topics) <= present.topics, "topics " + ", ".join(when.topics)))
        if when.topics_any:
            hit = sorted(present.topics & set(when.topics_any))
            checks.append((bool(hit), "topics " + ", ".join(hit)))
        if when.languages:
            checks.append((present.language in when.languages, f"language {present.language}"))
        if when.metadata:
            ok = all(present.metadata.get(k) == v for k, v in when.metadata.items())
            checks.append((ok, "metadata " + ", ".join(sorted(when.metadata))))
        if not all(ok for ok, _ in checks):
            return None
        return "; ".join(why for _, why in checks) or "always"

    def _scope(self, when: Condition) -> set[str] | None:
        """The entity types ``min_count`` counts: those the condition names, else every type."""
        scope = set(when.entities or ()) | set(when.entities_any or ())
        for name in (*(when.categories or ()), *(when.categories_any or ())):
            scope |= self._categories[name]
        return scope or None


def _rule_name(rule: RoutingRule, index: int) -> str:
    return f"routing.{rule.name}" if rule.name else f"routing[{index}]"


def masked(value: str) -> str:
    """``value`` as explain shows it: its first character, then one '*' per character."""
    return value[:1] + "*" * (len(value) - 1) if len(value) > 1 else "*"


def explain(
    policy: Policy,
    analyzer: Analyzer,
    text: str,
    *,
    language: str | None = None,
    topics: Mapping[str, float] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Why ``policy`` decides what it does for ``text``, as JSON-serializable data.

    Values appear masked (first character, then '*'). ``language`` defaults
    to the main language of ``text``. Each finding shows its ``relation``
    (``personal`` when the text ties it to a person, ``public`` for a
    world-known place in a prompt naming nobody, else ``null``) and the
    rule that gave its action. ``topics`` are the text's topic scores (from
    ``TopicScorer``; the view shows them): a policy that routes by topic
    decides without them as if no topic were present.
    """
    findings = analyzer.analyze(text, language)
    request_language = language or detect_languages(text, analyzer.config.languages)[0]
    engine = PolicyEngine(policy)
    decision = engine.decide(findings, language=request_language, topics=topics, metadata=metadata)
    view = decision.as_dict()
    view["language"] = request_language
    view["topics"] = {name: round(score, 4) for name, score in sorted((topics or {}).items())}
    for entry, action in zip(view["actions"], decision.actions, strict=True):
        entry["value"] = masked(action.finding.value_in(text))
        entry["rule"] = engine.rule_name(action.finding)
        entry["becomes"] = _BECOMES[action.action]
    view["findings"] = view.pop("actions")
    return view
