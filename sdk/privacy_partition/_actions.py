"""The vocabulary shared by the policy engine and the transformer.

The policy decides an ``Action`` for each finding and a ``Route`` for the
request; the transformer carries the actions out. Both sides import these
names from here so that neither depends on the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from privacy_partition._finding import Finding

__all__ = ["Action", "FindingAction", "Route"]


class Route(StrEnum):
    """Where a request goes."""

    CLOUD = "cloud"  # transformed text (and sealed values) leave the device
    LOCAL = "local"  # answered on the device; nothing leaves
    BLOCK = "block"  # refused with reasons; nothing leaves


class Action(StrEnum):
    """What happens to one finding of a cloud-bound request (table in DESIGN.md)."""

    KEEP = "keep"
    REDACT = "redact"
    MASK = "mask"
    HASH = "hash"
    PSEUDONYMIZE = "pseudonymize"
    TOKENIZE = "tokenize"
    SEAL = "seal"
    LOCAL = "local"  # forces the whole request to the device
    BLOCK = "block"  # forces the whole request to be refused


@dataclass(frozen=True, slots=True)
class FindingAction:
    """One finding and what the policy decided for it.

    ``recipient`` names the recipient a ``seal`` action seals to; it is None
    for every other action.
    """

    finding: Finding
    action: Action
    recipient: str | None = None
    relation: str | None = None  # e.g. "personal" when the value is tied to a person

    def __post_init__(self) -> None:
        if (self.action is Action.SEAL) != (self.recipient is not None):
            raise ValueError("a recipient is given exactly for the seal action")
