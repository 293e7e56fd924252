"""Which languages a text is written in, from its scripts.

Only English and Chinese are detected, so counting scripts beats a
statistical detector: it is deterministic, needs no model, takes microseconds
and is right on the short, mixed prompts users write ("我叫John，email是...").
"""

from __future__ import annotations

import re

__all__ = ["detect_languages", "has_han"]

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def has_han(text: str) -> bool:
    return _HAN.search(text) is not None


def detect_languages(text: str, supported: tuple[str, ...]) -> tuple[str, ...]:
    """The supported languages to analyze ``text`` in, main language first.

    Text with Han characters is Chinese; if it also holds Latin words it is
    analyzed in English too, so an English name or sentence inside a Chinese
    prompt is not missed. Everything else is analyzed in English.
    """
    if "zh" in supported and has_han(text):
        if "en" in supported and _LATIN_WORD.search(text):
            return ("zh", "en")
        return ("zh",)
    if "en" in supported:
        return ("en",)
    return supported[:1]
