"""Screens: the gateway's own check that the turns carry no raw value of the policy's types.

The SDK replaces personal values before a request leaves the device; a
caller that is not the SDK may not. A gateway given a ``Screen`` runs it on
the turns of every request, after the limits are checked and before a sealed
value is opened or the upstream is called, and refuses with
PERMISSION_DENIED, naming the entity types found and nothing else, when it
finds any. ``PolicyScreen`` is the screen a policy implies, built with the
SDK's own detection.

Importing this module loads neither the policy loader nor an NLP model:
``PolicyScreen`` loads them when it is built.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Protocol

from privacy_partition.transform._formats import match_digest, match_handle, match_token

if TYPE_CHECKING:
    from privacy_partition.detection import Analyzer, AnalyzerConfig, Finding
    from privacy_partition.policy import EntityRule, Policy

__all__ = ["PolicyScreen", "Screen"]

# The actions whose result the cloud can tell from a raw value: a handle, a token, a
# digest, a mask, or nothing at all (the request stays on the device or is refused).
_SCREENED_ACTIONS: Final = frozenset(
    {"redact", "seal", "tokenize", "hash", "mask", "local", "block"}
)


class Screen(Protocol):
    """Finds the raw personal values a gateway must not forward.

    Called with the text of every turn of one request, in a worker thread
    (it must be thread-safe); returns the entity types it found raw, sorted
    and distinct, or nothing when the turns are clean. What it returns must
    be entity type names (``EMAIL_ADDRESS``), never a value or an offset:
    the gateway sends them to the caller. A screen that raises, or returns
    anything else, refuses the request (fail closed).
    """

    def __call__(self, turns: tuple[str, ...], /) -> Sequence[str]: ...


class PolicyScreen:
    """The screen a policy implies: its Analyzer, run on the turns at the gateway.

    Screened are the types the SDK never sends as written under ``policy``:
    those whose every action (including the ``personal`` and ``public``
    overrides) is ``redact``, ``seal``, ``tokenize``, ``hash`` or ``mask``,
    which the cloud sees as handles, tokens, digests or masks, or ``local``
    or ``block``, which keep the request off the cloud. A finding scored
    under its rule's ``min_score`` is ignored, as the policy ignores it, and
    so is one that lies inside a handle, token or digest the SDK writes.

    Not screened: types the policy may ``keep``, and types it may
    ``pseudonymize``. A surrogate is a realistic name, address or number
    drawn to be indistinguishable from a real one, so a raw value of such a
    type cannot be told from the SDK's replacement for it: this screen does
    not catch it, by design. For the same reason only findings of
    recognizers that read the value itself (patterns, checksums, cue words)
    count, not the guesses of a statistical NER model (spaCy, the optional
    NER model) nor the findings derived from them (a repeated value, an
    item of a list of names): such a model reads a surrogate town as a
    nationality as readily as a real one, and would refuse the SDK's own
    requests. A type found by NER alone, such as ``NRP``, is therefore never
    screened, though the policy replaces it.

    The turns of a chat are screened alike, the assistant's included: a
    conversation in which the upstream model itself wrote, say, an email
    address is refused on its next turn. A turn longer than the Analyzer's
    ``max_chars`` cannot be screened and refuses the request; give the screen
    an ``analyzer_config`` with a larger limit where turns run that long.

    ``analyzer``, when given, is used instead of building one: it must be
    ``analyzer_for(policy)`` or equivalent, as for ``PrivacyClient``, so that
    the gateway detects what the device detects. Thread-safe: the Analyzer
    serializes detection, and the rest is immutable.
    """

    def __init__(
        self,
        policy: Policy,
        *,
        analyzer: Analyzer | None = None,
        analyzer_config: AnalyzerConfig | None = None,
    ) -> None:
        from privacy_partition.detection._lists import LIST_ITEM
        from privacy_partition.detection._propagate import REPEATED
        from privacy_partition.detection._resolve import STATISTICAL_RECOGNIZERS
        from privacy_partition.policy import analyzer_for

        self.policy = policy
        self._analyzer = analyzer or analyzer_for(policy, analyzer_config)
        self._guesses = STATISTICAL_RECOGNIZERS | {REPEATED, LIST_ITEM}
        candidates = {*self._analyzer.supported_entities, *policy.entities} - {"default"}
        self.entity_types: frozenset[str] = frozenset(
            t for t in candidates if _screens(policy.entity_rule(t))
        )
        """The types whose findings count, among those the Analyzer reports or the policy names."""

    @classmethod
    def from_policy(
        cls,
        path: str | os.PathLike[str] | Policy,
        *,
        analyzer: Analyzer | None = None,
        analyzer_config: AnalyzerConfig | None = None,
    ) -> PolicyScreen:
        """The screen for the policy at ``path`` (a shipped policy's name works too)."""
        from privacy_partition.policy import Policy, load_policy

        policy = path if isinstance(path, Policy) else load_policy(path)
        return cls(policy, analyzer=analyzer, analyzer_config=analyzer_config)

    def __repr__(self) -> str:
        return f"PolicyScreen(policy={self.policy.name!r}, types={len(self.entity_types)})"

    def __call__(self, turns: tuple[str, ...], /) -> tuple[str, ...]:
        """The screened types found raw in ``turns``, sorted; empty when they are clean.

        Raises ``InputError`` for a turn over the Analyzer's limit and
        ``DetectionError`` when detection fails; neither names the text.
        """
        found: set[str] = set()
        for text, findings in zip(turns, self._analyzer.analyze_batch(turns), strict=True):
            forms = _Forms(text)
            found.update(f.entity_type for f in findings if self._is_raw(f) and not forms.hold(f))
        return tuple(sorted(found))

    def _is_raw(self, finding: Finding) -> bool:
        if finding.recognizer in self._guesses:
            return False
        rule = self.policy.entity_rule(finding.entity_type)
        if rule.min_score is not None and finding.score < rule.min_score:
            return False
        return _screens(rule)


def _screens(rule: EntityRule) -> bool:
    """Whether every action ``rule`` may take leaves no raw value in what the cloud sees."""
    actions = {rule.action, *(o.action for o in (rule.personal, rule.public) if o is not None)}
    return actions <= _SCREENED_ACTIONS


class _Forms:
    """The handles, tokens and digests written in one text: sorted, disjoint spans."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, text: str) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        pos = text.find("<")
        while pos >= 0:
            end = _form_end(text, pos)
            if end is not None:
                self._starts.append(pos)
                self._ends.append(end)
            # A form holds no "<": the next one starts after this one ends.
            pos = text.find("<", end or pos + 1)

    def hold(self, finding: Finding) -> bool:
        """Whether ``finding`` lies inside one of the forms."""
        index = bisect_right(self._starts, finding.start) - 1
        return index >= 0 and finding.end <= self._ends[index]


def _form_end(text: str, pos: int) -> int | None:
    """Where the handle, token or digest that starts at ``pos`` ends; None if none does."""
    handle = match_handle(text, pos)
    if handle is not None:
        return handle[0]
    token = match_token(text, pos)
    if token is not None:
        return token[0]
    return match_digest(text, pos)
