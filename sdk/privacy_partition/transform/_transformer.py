"""The transformer: turn a prompt and the policy's actions into the text the cloud may see.

Only ``Transformed.cloud_text`` and ``Transformed.sealed`` are meant to leave
the device. Every personal value in the findings is replaced as its action
says (table in DESIGN.md); everything else in the text is sent unchanged.
A request whose actions cannot all be carried out raises ``TransformError``
and nothing is produced: callers must then not send the request (fail closed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from privacy_partition._actions import Action, FindingAction
from privacy_partition._errors import ConfigurationError, PrivacyPartitionError, TransformError
from privacy_partition.transform._formats import label_for
from privacy_partition.transform._keys import Keyset
from privacy_partition.transform._operators import Digester, mask
from privacy_partition.transform._pseudonyms import (
    SurrogateIndex,
    SurrogateSource,
    is_word,
    locale_for,
)
from privacy_partition.transform._seal import Recipient, SealedValue, seal
from privacy_partition.transform._tokens import Tokenizer
from privacy_partition.transform._vault import Vault

__all__ = ["Replacement", "Transformed", "Transformer"]

logger = logging.getLogger("privacy_partition.transform")


@dataclass(frozen=True, slots=True)
class Replacement:
    """Where one finding was replaced: spans in the prompt and in the cloud text, no value.

    ``action`` is the action carried out: ``pseudonymize`` falls back to
    ``redact`` for types without a surrogate, and wherever a restorer could
    not find the surrogate again exactly there (glued to a neighbouring
    letter, digit or finding, or read as part of another surrogate).
    ``handle`` is the vault handle of ``redact`` and ``seal``.
    """

    entity_type: str
    action: Action
    start: int
    end: int
    cloud_start: int
    cloud_end: int
    handle: str | None = None


@dataclass(frozen=True, slots=True)
class Transformed:
    """What may leave the device: the cloud text and the sealed values, plus a map of spans."""

    cloud_text: str
    sealed: tuple[SealedValue, ...]
    replacements: tuple[Replacement, ...]

    def __repr__(self) -> str:
        return (
            f"Transformed(cloud_text=<{len(self.cloud_text)} chars>, sealed={len(self.sealed)},"
            f" replacements={len(self.replacements)})"
        )


class Transformer:
    """Carries out keep, redact, mask, hash, pseudonymize, tokenize and seal. Thread-safe.

    ``recipients`` maps the names a policy uses to the keys values are sealed
    to. ``faker_seed`` makes surrogates reproducible (tests); leave it None in
    production so that each session draws its own. ``token_context`` is bound
    into every token (e.g. a tenant id): a restorer with another context does
    not restore them.
    """

    __slots__ = ("_digester", "_recipients", "_surrogates", "_tokenizer")

    def __init__(
        self,
        keyset: Keyset,
        recipients: Mapping[str, Recipient] | None = None,
        faker_seed: int | None = None,
        *,
        token_context: str = "",
    ) -> None:
        self._recipients = dict(recipients or {})
        for name, recipient in self._recipients.items():
            if recipient.name != name:
                raise ConfigurationError(
                    f"recipient registered as {name!r} is named {recipient.name!r}"
                )
        self._tokenizer = Tokenizer(keyset, token_context)
        self._digester = Digester(keyset)
        self._surrogates = SurrogateSource(faker_seed)

    def __repr__(self) -> str:
        return f"Transformer(recipients={sorted(self._recipients)!r})"

    def warm(self, language: str = "en") -> None:
        """Load the surrogate pools of ``language`` now instead of in the first request."""
        self._surrogates.warm(locale_for(language))

    def apply(
        self,
        text: str,
        actions: Sequence[FindingAction],
        vault: Vault,
        language: str = "en",
        *,
        request_id: str = "",
    ) -> Transformed:
        """Replace every finding of ``text`` as its action says; record restorables in ``vault``.

        The findings must lie inside ``text``, sorted and not overlapping
        (the Analyzer guarantees it). ``local`` and ``block`` are refused:
        such a request never reaches the cloud. Sealed values are bound to
        ``request_id``: a gateway opens them only inside the request with that id.
        """
        self._check(text, actions)
        vault.observe(text)
        locale = locale_for(language)
        redacted: set[int] = set()
        while True:
            result = self._build(text, actions, vault, locale, redacted, request_id)
            # Each round redacts at least one more finding, so this ends.
            lost = self._lost_surrogates(result, vault)
            if not lost:
                break
            redacted |= lost
        logger.debug(
            "transformed %d findings (%s)",
            len(result.replacements),
            ", ".join(sorted({f"{r.entity_type}:{r.action.value}" for r in result.replacements})),
        )
        return result

    def _build(
        self,
        text: str,
        actions: Sequence[FindingAction],
        vault: Vault,
        locale: str,
        redacted: set[int],
        request_id: str,
    ) -> Transformed:
        parts: list[str] = []
        replacements: list[Replacement] = []
        sealed: dict[tuple[str, str], SealedValue] = {}
        cursor = 0
        length = 0
        for index, item in enumerate(actions):
            finding = item.finding
            label = label_for(finding.entity_type)
            value = text[finding.start : finding.end]
            around = None if index in redacted else self._glued(text, actions, index)
            try:
                out, action, handle = self._replace(
                    item, label, value, vault, locale, around, (request_id, sealed)
                )
            except PrivacyPartitionError:
                raise
            except Exception as exc:
                # from None: a third-party message might quote the value; the type name is enough.
                raise TransformError(
                    f"finding {index} ({finding.entity_type}, {item.action.value}) could not be"
                    f" transformed: {type(exc).__name__}"
                ) from None
            between = text[cursor : finding.start]
            parts += (between, out)
            length += len(between)
            replacements.append(
                Replacement(
                    finding.entity_type,
                    action,
                    finding.start,
                    finding.end,
                    length,
                    length + len(out),
                    handle,
                )
            )
            length += len(out)
            cursor = finding.end
        parts.append(text[cursor:])
        return Transformed("".join(parts), tuple(sealed.values()), tuple(replacements))

    @staticmethod
    def _lost_surrogates(result: Transformed, vault: Vault) -> set[int]:
        """Findings whose surrogate a restorer would not find exactly where it was put.

        Rare, and only possible when text next to a surrogate completes
        another surrogate of the session (spaceless scripts make it likelier).
        """
        placed = {
            (r.cloud_start, r.cloud_end): index
            for index, r in enumerate(result.replacements)
            if r.action is Action.PSEUDONYMIZE
        }
        if not placed:
            return set()
        found = sorted(
            SurrogateIndex(vault.view().pseudonyms).scan(result.cloud_text, "", final=True),
            key=lambda m: (m[0], m[0] - m[1]),
        )
        chosen, cursor = set(), 0
        for start, end, _ in found:  # the restorer's rule: earliest first, then longest
            if start >= cursor:
                chosen.add((start, end))
                cursor = end
        return {index for span, index in placed.items() if span not in chosen}

    def _replace(
        self,
        item: FindingAction,
        label: str,
        value: str,
        vault: Vault,
        locale: str,
        around: tuple[str, str] | None,
        sealing: tuple[str, dict[tuple[str, str], SealedValue]],
    ) -> tuple[str, Action, str | None]:
        """The text that replaces ``value``, the action carried out, and its handle if any."""
        action = item.action
        if action is Action.KEEP:
            return value, action, None
        if action is Action.MASK:
            return mask(value), action, None
        if action is Action.HASH:
            return self._digester.digest(label, value), action, None
        if action is Action.TOKENIZE:
            token = self._tokenizer.tokenize(label, value)
            vault.record_token(token)
            return token, action, None
        if action is Action.PSEUDONYMIZE:
            surrogate = self._pseudonym(label, value, vault, locale, around)
            if surrogate is not None:
                return surrogate, action, None
            action = Action.REDACT
        handle = vault.handle_for(label, value)
        if action is Action.SEAL:
            assert item.recipient is not None  # FindingAction guarantees it
            request_id, sealed = sealing
            key = (handle, item.recipient)
            if key not in sealed:
                recipient = self._recipients[item.recipient]
                sealed[key] = seal(recipient, handle, value, request_id=request_id)
        return handle, action, handle

    def reseal(
        self, sealed: Sequence[SealedValue], vault: Vault, request_id: str
    ) -> tuple[SealedValue, ...]:
        """The values of ``sealed`` sealed again, to this transformer's keys, for ``request_id``.

        For a request the gateway refused because it no longer holds the key
        a value was sealed to: the values come from ``vault`` by handle, with
        fresh randomness. Raises ``TransformError`` if a handle or recipient is unknown.
        """
        handles = vault.view().handles
        out = []
        for index, old in enumerate(sealed):
            recipient = self._recipients.get(old.recipient)
            value = handles.get(old.handle)
            if recipient is None or value is None:
                raise TransformError(f"sealed value {index} cannot be sealed again")
            out.append(seal(recipient, old.handle, value, request_id=request_id))
        return tuple(out)

    def _check(self, text: str, actions: Sequence[FindingAction]) -> None:
        previous_end = 0
        for index, item in enumerate(actions):
            finding = item.finding
            if finding.start < previous_end:
                raise TransformError(
                    f"finding {index} ({finding.start}..{finding.end}) overlaps or precedes"
                    " the one before it; findings must be sorted and disjoint"
                )
            if finding.end > len(text):
                raise TransformError(
                    f"finding {index} ({finding.start}..{finding.end}) lies outside the text"
                    f" of {len(text)} characters"
                )
            if item.action in (Action.LOCAL, Action.BLOCK):
                raise TransformError(
                    f"finding {index} ({finding.entity_type}) has action {item.action.value!r},"
                    " which keeps the whole request off the cloud; it cannot be transformed"
                )
            if item.action is Action.SEAL and item.recipient not in self._recipients:
                raise TransformError(
                    f"finding {index} ({finding.entity_type}) is sealed to unknown recipient"
                    f" {item.recipient!r}"
                )
            previous_end = finding.end

    @staticmethod
    def _glued(text: str, actions: Sequence[FindingAction], index: int) -> tuple[str, str] | None:
        """The characters around finding ``index``, or None if another finding touches it."""
        finding = actions[index].finding
        if index > 0 and actions[index - 1].finding.end == finding.start:
            return None
        if index + 1 < len(actions) and actions[index + 1].finding.start == finding.end:
            return None
        before = text[finding.start - 1] if finding.start else ""
        after = text[finding.end] if finding.end < len(text) else ""
        return before, after

    def _pseudonym(
        self,
        label: str,
        value: str,
        vault: Vault,
        locale: str,
        around: tuple[str, str] | None,
    ) -> str | None:
        """The surrogate for ``value`` here, or None when it must be redacted instead."""
        if around is None or not self._surrogates.supports(label):
            return None
        surrogate = vault.pseudonym_for(
            label, value, lambda n: self._surrogates.candidates(label, locale, n)
        )
        if surrogate is None:
            return None
        before, after = around
        # A surrogate glued to a word could not be told apart from it when restoring.
        if (before and is_word(before) and is_word(surrogate[0])) or (
            after and is_word(after) and is_word(surrogate[-1])
        ):
            return None
        return surrogate
