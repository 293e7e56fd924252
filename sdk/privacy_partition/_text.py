"""Character rules shared by detection and transform: case folding and word glue."""

from __future__ import annotations

__all__ = ["fold", "is_word"]

_SPACELESS = (
    (0x3040, 0x30FF),  # kana
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B onwards
)


def fold(text: str) -> str:
    """Case-folded ``text`` of the same length, character for character.

    ``str.lower`` except where it would change the length (then that
    character stays) and with final sigma undone: the result for a character
    never depends on its neighbours, so folding agrees on any chunking.
    """
    low = text.lower()
    if len(low) != len(text):
        low = "".join(lc if len(lc := c.lower()) == 1 else c for c in text)
    return low.replace("ς", "σ")


def is_word(char: str) -> bool:
    """Whether ``char`` glues to a neighbouring surrogate (a letter or digit in a spaced script)."""
    if not char.isalnum():
        return False
    code = ord(char)
    return not any(low <= code <= high for low, high in _SPACELESS)
