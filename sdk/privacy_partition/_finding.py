"""The value object a detection produces."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding"]


@dataclass(frozen=True, slots=True)
class Finding:
    """A span of personal data found in a text.

    A finding holds offsets, never the value itself, so it can be logged,
    printed or put in an audit event without carrying what it points at.
    ``start`` and ``end`` are indexes into the analyzed ``str`` (code points).
    ``relation`` is ``"personal"`` when the text ties the value to the user or
    another private person ("I work at Google", "my daughter's school in
    Dammam"); ``None`` when it is merely talked about.
    """

    entity_type: str
    start: int
    end: int
    score: float
    recognizer: str
    language: str
    relation: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"invalid span {self.start}..{self.end}")

    def value_in(self, text: str) -> str:
        """The characters of ``text`` this finding covers."""
        return text[self.start : self.end]

    def as_dict(self) -> dict[str, str | int | float | None]:
        return {
            "entity_type": self.entity_type,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "recognizer": self.recognizer,
            "language": self.language,
            "relation": self.relation,
        }
