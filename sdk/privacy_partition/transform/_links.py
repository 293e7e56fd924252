"""Where a restored value could leave the device by itself: URLs, link targets, markup.

A renderer that shows a model's answer may fetch an image or follow a link
on its own; a value restored inside one would be sent to whoever wrote the
link. ``LinkContext`` follows a text from left to right and says whether the
next character sits inside

* a URL: a run of characters other than spaces and ``>`` that contains
  ``://`` or starts with ``www.``, ``mailto:`` or ``data:`` (after opening
  brackets or quotes);
* a markdown link or image target: ``[x](...)``, ``![x](...)``, up to the
  matching ``)`` or the end of the line;
* a URL-valued attribute of an HTML tag: ``href="..."``, ``src=...``,
  ``srcset``, ``action``, ``poster``, ``style`` and the like.

It looks only backwards (a bounded tail of what it was fed), so it answers
the same for any split of the text into pieces, and it runs in linear time.
It errs on the side of "inside": a bare ``example.com/<PERSON_1>`` without
scheme or ``www.`` is the one form it does not recognise.
"""

from __future__ import annotations

import re

__all__ = ["LinkContext"]

(
    _NORMAL,
    _TARGET,
    _TAG,
    _TAG_QUOTED,
    _VALUE_START,
    _VALUE_BARE,
    _ATTR_START,
    _ATTR_QUOTED,
    _ATTR_BARE,
) = range(9)
_TAIL = 32
_HEAD = 16
_NORMAL_EVENT = re.compile(r"[(<]")
_TARGET_EVENT = re.compile(r"[()\n]")
# In a tag, only "=" opens a value: a quote anywhere else is part of an attribute
# name (HTML's tokenizer), so it must not hide the attributes that follow.
_TAG_EVENT = re.compile(r"[>=]")
_NON_SPACE = re.compile(r"\S")
_BARE_END = re.compile(r"[\s>]")
# A URL runs to the next space or ">" (never valid in a URL; it closes the tag around a link).
_RUN_END = re.compile(r"[\s>](?=[^\s>]*\Z)")
_URL_ATTRIBUTE = re.compile(
    r"(?<![\w:-])(?:xlink:href|href|src|srcset|srcdoc|data-src|data-href|action|formaction"
    r"|poster|background|cite|data|longdesc|lowsrc|dynsrc|ping|manifest|codebase|icon"
    r"|style|content)\s*\Z",
    re.IGNORECASE,
)
_URL_STARTS = ("www.", "mailto:", "data:")
_OPENERS = "([{<\"'*_`"


class LinkContext:
    """Follows a text fed in pieces; ``inside`` tells whether the next character is in a link."""

    __slots__ = ("_depth", "_quote", "_run_head", "_run_scheme", "_state", "_tail")

    def __init__(self) -> None:
        self._state = _NORMAL
        self._depth = 0
        self._quote = ""
        self._tail = ""  # the last characters fed, for look-behind across pieces
        self._run_head = ""  # the first characters of the current non-space run
        self._run_scheme = False  # whether the current run contains "://"

    @property
    def inside(self) -> bool:
        if self._state in (_TARGET, _ATTR_START, _ATTR_QUOTED, _ATTR_BARE) or self._run_scheme:
            return True
        return self._run_head.lstrip(_OPENERS).lower().startswith(_URL_STARTS)

    @property
    def last_char(self) -> str:
        """The last character fed ('' at the start)."""
        return self._tail[-1:]

    def advance(self, text: str) -> None:
        """Move past ``text``."""
        if not text:
            return
        self._follow_run(text)
        self._follow_markup(text)
        self._tail = (self._tail + text[-_TAIL:])[-_TAIL:]

    def _follow_run(self, text: str) -> None:
        end = _RUN_END.search(text)
        if end is None:
            # The run goes on; "://" may straddle the previous piece and this one.
            self._run_scheme = self._run_scheme or "://" in self._tail[-2:] + text
            if len(self._run_head) < _HEAD:
                self._run_head = (self._run_head + text)[:_HEAD]
        else:
            run = text[end.end() :]
            self._run_scheme = "://" in run
            self._run_head = run[:_HEAD]

    def _before(self, text: str, pos: int) -> str:
        return (self._tail + text[max(0, pos - _TAIL) : pos])[-_TAIL:]

    def _follow_markup(self, text: str) -> None:
        i, n = 0, len(text)
        first = text[0]
        if (
            self._state == _NORMAL
            and self._tail.endswith("<")
            and first.isascii()
            and first.isalpha()
        ):
            # A "<" that ended the previous piece opens a tag: a letter follows.
            self._state = _TAG
            i = 1
        while i < n:
            state = self._state
            if state == _NORMAL:
                m = _NORMAL_EVENT.search(text, i)
                if m is None:
                    return
                j = m.start()
                if text[j] == "(":
                    if (text[j - 1] if j else self._tail[-1:]) == "]":
                        self._state, self._depth = _TARGET, 1
                    i = j + 1
                elif j + 1 < n:
                    if text[j + 1].isascii() and text[j + 1].isalpha():
                        self._state = _TAG
                    i = j + 1
                else:
                    return  # a "<" at the very end: decided with the next piece
            elif state == _TARGET:
                m = _TARGET_EVENT.search(text, i)
                if m is None:
                    return
                c = m.group()
                if c == "(":
                    self._depth += 1
                elif c == "\n":
                    self._state = _NORMAL
                else:
                    self._depth -= 1
                    if self._depth == 0:
                        self._state = _NORMAL
                i = m.end()
            elif state == _TAG:
                m = _TAG_EVENT.search(text, i)
                if m is None:
                    return
                c, j = m.group(), m.start()
                if c == ">":
                    self._state = _NORMAL
                elif _URL_ATTRIBUTE.search(self._before(text, j)):
                    self._state = _ATTR_START
                else:
                    self._state = _VALUE_START
                i = j + 1
            elif state in (_TAG_QUOTED, _ATTR_QUOTED):
                j = text.find(self._quote, i)
                if j < 0:
                    return
                self._state = _TAG
                i = j + 1
            elif state in (_VALUE_START, _ATTR_START):
                m = _NON_SPACE.search(text, i)
                if m is None:
                    return
                c, j = m.group(), m.start()
                url = state == _ATTR_START
                if c in "\"'":
                    self._state, self._quote = (_ATTR_QUOTED if url else _TAG_QUOTED), c
                    i = j + 1
                elif c == ">":
                    self._state = _NORMAL
                    i = j + 1
                else:
                    self._state = _ATTR_BARE if url else _VALUE_BARE
                    i = j
            else:  # _VALUE_BARE or _ATTR_BARE: an unquoted value ends at a space or ">"
                m = _BARE_END.search(text, i)
                if m is None:
                    return
                self._state = _NORMAL if m.group() == ">" else _TAG
                i = m.end()
