"""The text forms a cloud model sees in place of personal values. Low layer.

All of them are ASCII without spaces, enclosed in ``<`` ``>`` so that a model
copies them as one unit and a scanner finds them with a fixed grammar::

    handle   <LABEL_N>                  <PERSON_1>, <EMAIL_ADDRESS_2>     redact, seal
    token    <TOK:LABEL:KEYID:DATA>     <TOK:PERSON:1a2b3c4d:MFRGG...>    tokenize
    digest   <LABEL#HEX>                <PERSON#a1b2c3d4e5f6>             hash

``LABEL`` is the entity type in upper case (letters, digits, ``_``; at most
40 characters), ``N`` a number from 1 without leading zeros (at most 9
digits), ``KEYID`` the 8 hex digits of the key that made the token, ``DATA``
the AES-SIV ciphertext in RFC 4648 base32 without padding (upper case; read
case-insensitively). The grammar is fixed: no pattern is ever built from the
text of a handle, and every pattern here runs in time linear in its input.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_CANDIDATE_CHARS",
    "MAX_TOKEN_VALUE_BYTES",
    "format_digest",
    "format_handle",
    "format_token",
    "handles_in",
    "label_for",
    "match_digest",
    "match_handle",
    "match_token",
    "open_candidate",
]

MAX_LABEL_CHARS = 40
MAX_NUMBER_DIGITS = 9
MAX_TOKEN_VALUE_BYTES = 512
_SIV_TAG_BYTES = 16
MAX_TOKEN_DATA_CHARS = -(-(MAX_TOKEN_VALUE_BYTES + _SIV_TAG_BYTES) * 8 // 5)
# The longest text that can still become a handle or token once more arrives:
# the bound on what a streaming restorer holds back for them.
MAX_CANDIDATE_CHARS = len("<TOK:") + MAX_LABEL_CHARS + 1 + 8 + 1 + MAX_TOKEN_DATA_CHARS + 1

_LABEL_RE = f"[A-Z0-9][A-Z0-9_]{{0,{MAX_LABEL_CHARS - 1}}}"
_DATA_RE = f"[A-Za-z2-7]{{1,{MAX_TOKEN_DATA_CHARS}}}"
_LABEL = re.compile(_LABEL_RE)
_NUMBER = re.compile(f"[1-9][0-9]{{0,{MAX_NUMBER_DIGITS - 1}}}")
_NOT_LABEL_CHAR = re.compile(r"[^A-Z0-9_]+")
# Split at the last underscore in code, not in the pattern: no backtracking.
_HANDLE = re.compile(f"<([A-Z0-9_]{{1,{MAX_LABEL_CHARS + 1 + MAX_NUMBER_DIGITS}}})>")
_TOKEN = re.compile(f"<TOK:({_LABEL_RE}):([0-9a-fA-F]{{8}}):({_DATA_RE})>")
_DIGEST = re.compile(f"<{_LABEL_RE}#[0-9a-f]{{1,64}}>")
# Every proper prefix of a handle or token, matched from a "<" to the end of the text.
_OPEN = re.compile(
    f"<(?:[A-Z0-9][A-Z0-9_]{{0,{MAX_LABEL_CHARS + MAX_NUMBER_DIGITS}}}"
    f"|TOK:(?:{_LABEL_RE}(?::(?:[0-9a-fA-F]{{0,7}}"
    f"|[0-9a-fA-F]{{8}}(?::[A-Za-z2-7]{{0,{MAX_TOKEN_DATA_CHARS}}})?))?)?)?"
)


def label_for(entity_type: str) -> str:
    """The handle label of an entity type: upper case, ``[A-Z0-9_]``, at most 40 characters."""
    label = _NOT_LABEL_CHAR.sub("_", entity_type.upper()).strip("_")[:MAX_LABEL_CHARS]
    return label or "ENTITY"


def format_handle(label: str, number: int) -> str:
    return f"<{label}_{number}>"


def format_token(label: str, key_id: str, data: str) -> str:
    return f"<TOK:{label}:{key_id}:{data}>"


def format_digest(label: str, hex_digest: str) -> str:
    return f"<{label}#{hex_digest}>"


def match_handle(text: str, pos: int) -> tuple[int, str, int] | None:
    """``(end, label, number)`` of a handle starting at ``pos``, else None."""
    m = _HANDLE.match(text, pos)
    if m is None:
        return None
    label, _, number = m.group(1).rpartition("_")
    if not _LABEL.fullmatch(label) or not _NUMBER.fullmatch(number):
        return None
    return m.end(), label, int(number)


def match_token(text: str, pos: int) -> tuple[int, str, str, str] | None:
    """``(end, label, key_id, data)`` of a token starting at ``pos``, else None."""
    m = _TOKEN.match(text, pos)
    if m is None:
        return None
    return m.end(), m.group(1), m.group(2).lower(), m.group(3).upper()


def match_digest(text: str, pos: int) -> int | None:
    """The end of a digest starting at ``pos``, else None."""
    m = _DIGEST.match(text, pos)
    return None if m is None else m.end()


def open_candidate(text: str, pos: int) -> bool:
    """Whether ``text[pos:]`` is a proper prefix of some handle or token (more may complete it)."""
    return _OPEN.fullmatch(text, pos) is not None


def handles_in(text: str) -> list[tuple[str, int]]:
    """``(label, number)`` of every handle written in ``text``."""
    found = []
    pos = text.find("<")
    while pos >= 0:
        hit = match_handle(text, pos)
        if hit is not None:
            found.append((hit[1], hit[2]))
        pos = text.find("<", pos + 1)
    return found
