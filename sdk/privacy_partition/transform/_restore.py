"""Restore: put the original values back into a model's answer, whole or while it streams.

What is restored:

* a handle (``<PERSON_1>``) only if this vault issued it; an invented one, or
  one from another vault, stays as written (and its number is never issued
  by this vault afterwards);
* a token only if it authenticates under the keyset and the token context,
  and, with ``TokenScope.VAULT``, only if this vault issued it; with
  ``strict=True`` a token that fails raises the opaque ``RestoreError``;
* a surrogate of this vault, case-insensitively and between word boundaries
  (``JOHN SMITH's`` → the original followed by ``'s``);
* none of these anywhere but in prose, unless ``allow_in_links=True``:
  where a value may land is decided from a parse of the answer's markdown
  and HTML (``_links``), so nothing is restored in a link or image
  destination, a reference definition, an autolink, any HTML attribute, a
  script or style body, or a bare or scheme-relative URL. A renderer may
  fetch such a place by itself and carry the value off the device.

Scanning is left to right and greedy (the earliest match wins, then the
longest), with a fixed grammar for handles and tokens and plain substring
search for surrogates: linear in the text for a given vault, no pattern
built from vault contents. A stream's output, concatenated, equals
``restore`` of the whole text for any chunking. What it holds back:

* by default, a block (lines up to a blank line followed by a new
  top-level markdown block) is decided only once it is complete, because
  text after a value can make it part of a link (``[x](`` ... ``<H>)``). So
  the text of the current block is final up to its first handle, token or
  surrogate, and held from there to the end of the block: one paragraph,
  list, code block or HTML block, however long (an unclosed fence, to the
  end of the answer);
* with ``allow_in_links=True``, only the shortest suffix that could still
  become a match: less than ``MAX_CANDIDATE_CHARS`` characters for a
  handle or token and less than the longest surrogate of the vault (at
  most 120 characters) for a pseudonym.

A restorer and its streams read a snapshot of the vault taken when the
stream starts. ``Restorer`` is thread-safe; one ``RestoreStream`` belongs to
one consumer.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from enum import Enum, StrEnum

from privacy_partition._errors import InputError, RestoreError
from privacy_partition.transform._formats import (
    format_token,
    match_handle,
    match_token,
    open_candidate,
)
from privacy_partition.transform._keys import Keyset
from privacy_partition.transform._links import BlockSplitter, MarkupState
from privacy_partition.transform._pseudonyms import SurrogateIndex
from privacy_partition.transform._tokens import Tokenizer
from privacy_partition.transform._vault import Vault, VaultView

__all__ = ["RestoreStream", "Restorer", "TokenScope"]

logger = logging.getLogger("privacy_partition.restore")


class TokenScope(StrEnum):
    """Which authentic tokens a restorer accepts."""

    KEYSET = "keyset"  # any token made under this keyset and context (tokens are stateless)
    VAULT = "vault"  # only tokens that this vault's requests carried


class _Kind(Enum):
    OPEN = 0  # might still become a match: hold back from here
    HANDLE = 1
    TOKEN = 2
    PSEUDONYM = 3
    FORGED = 4  # a token that failed authentication, in strict mode


@dataclass(frozen=True, slots=True)
class _Match:
    start: int
    end: int
    kind: _Kind
    value: str = ""

    def __repr__(self) -> str:
        return f"_Match({self.start}, {self.end}, {self.kind.name})"


class Restorer:
    """Restores the handles, tokens and surrogates of one vault. Thread-safe.

    ``restore(text)`` for a whole answer, ``stream()`` for one that arrives
    in pieces; both give the same result.
    """

    __slots__ = ("_allow_in_links", "_cache", "_scope", "_strict", "_tokenizer", "_vault")

    def __init__(
        self,
        vault: Vault,
        keyset: Keyset,
        allow_in_links: bool = False,
        *,
        strict: bool = False,
        token_scope: TokenScope = TokenScope.KEYSET,
        token_context: str = "",
    ) -> None:
        self._vault = vault
        self._allow_in_links = allow_in_links
        self._strict = strict
        self._scope = TokenScope(token_scope)
        self._tokenizer = Tokenizer(keyset, token_context)
        self._cache: tuple[VaultView, SurrogateIndex] | None = None

    def restore(self, text: str) -> str:
        """``text`` with everything this vault and keyset can restore put back."""
        stream = self.stream()
        stream._pending = text
        return stream.finish()

    def stream(self) -> RestoreStream:
        """A stream over the vault as it is now: ``feed`` each piece, then ``finish``."""
        view = self._vault.view()
        cache = self._cache
        if cache is None or cache[0] is not view:
            # Rebuilt only when the vault changed; a race rebuilds twice, harmlessly.
            cache = (view, SurrogateIndex(view.pseudonyms))
            self._cache = cache
        return RestoreStream(self, view, cache[1])

    def __repr__(self) -> str:
        return (
            f"Restorer({self._vault!r}, allow_in_links={self._allow_in_links},"
            f" strict={self._strict}, token_scope={self._scope.value!r})"
        )


class RestoreStream:
    """Restores an answer that arrives in pieces. Not thread-safe: one consumer.

    ``feed(chunk)`` returns what is final so far; ``finish()`` the rest. The
    concatenation equals ``Restorer.restore`` of the whole answer.
    """

    __slots__ = (
        "_before",
        "_blocks",
        "_counts",
        "_done",
        "_emitted",
        "_held",
        "_markup",
        "_pending",
        "_restorer",
        "_surrogates",
        "_tokens",
        "_view",
    )

    def __init__(self, restorer: Restorer, view: VaultView, surrogates: SurrogateIndex) -> None:
        self._restorer = restorer
        self._view = view
        self._surrogates = surrogates
        self._markup = MarkupState()
        self._blocks = BlockSplitter()
        self._pending = ""  # with links guarded: the current block, from its start
        self._emitted = 0  # the part of _pending already output
        self._held = False  # a value seen in the current block: hold the rest until it ends
        self._before = ""  # the character before _pending, for word boundaries
        self._done = False
        self._tokens: dict[str, str | None] = {}  # token text -> value, for held-back rescans
        self._counts = dict.fromkeys(("handles", "tokens", "pseudonyms", "in_links"), 0)

    def feed(self, chunk: str) -> str:
        """Take the next piece of the answer; return the part of the output that is final."""
        if self._done:
            raise InputError("the stream is finished")
        self._pending += chunk
        return self._drain(final=False)

    def finish(self) -> str:
        """Return everything still held back; the stream takes no more input."""
        if self._done:
            raise InputError("the stream is finished")
        self._done = True
        out = self._drain(final=True)
        logger.debug(
            "restored %(handles)d handles, %(tokens)d tokens, %(pseudonyms)d surrogates;"
            " left %(in_links)d outside prose",
            self._counts,
        )
        return out

    def __repr__(self) -> str:
        return (
            f"RestoreStream(pending={len(self._pending) - self._emitted} chars, done={self._done})"
        )

    # -- scanning -----------------------------------------------------------

    def _token_value(self, label: str, key_id: str, data: str) -> str | None:
        text = format_token(label, key_id, data)
        if text not in self._tokens:
            restorer = self._restorer
            value = restorer._tokenizer.detokenize(label, key_id, data)
            if restorer._scope is TokenScope.VAULT and text not in self._view.tokens:
                value = None
            self._tokens[text] = value
        return self._tokens[text]

    def _bracketed(self, buf: str, final: bool) -> list[_Match]:
        found = []
        strict = self._restorer._strict
        handles = self._view.handles
        pos = buf.find("<")
        while pos >= 0:
            handle = match_handle(buf, pos)
            if handle is not None:
                end, label, number = handle
                original = handles.get(buf[pos:end])
                if original is not None:
                    found.append(_Match(pos, end, _Kind.HANDLE, original))
                else:
                    self._restorer._vault.reserve(label, number)
            else:
                token = match_token(buf, pos)
                if token is not None:
                    end, label, key_id, data = token
                    value = self._token_value(label, key_id, data)
                    if value is not None:
                        found.append(_Match(pos, end, _Kind.TOKEN, value))
                    elif strict:
                        found.append(_Match(pos, end, _Kind.FORGED))
                elif not final and open_candidate(buf, pos):
                    found.append(_Match(pos, pos, _Kind.OPEN))
            pos = buf.find("<", pos + 1)
        return found

    def _pseudonyms(self, buf: str, before: str, final: bool) -> list[_Match]:
        if not self._surrogates:
            return []
        return [
            _Match(start, end, _Kind.OPEN)
            if original is None
            else _Match(start, end, _Kind.PSEUDONYM, original)
            for start, end, original in self._surrogates.scan(buf, before, final)
        ]

    def _matches(self, buf: str, before: str, final: bool) -> list[_Match]:
        matches = self._bracketed(buf, final) + self._pseudonyms(buf, before, final)
        # Earliest first; at one start, a possible longer match first, then the longest.
        matches.sort(key=lambda m: (m.start, m.kind is not _Kind.OPEN, m.start - m.end))
        return matches

    def _drain(self, final: bool) -> str:
        if self._restorer._allow_in_links:
            return self._drain_anywhere(final)
        buf = self._pending
        out: list[str] = []
        bounds = [0, *self._blocks.cuts(buf, final)]
        if final:
            bounds.append(len(buf))
        for start, end in itertools.pairwise(bounds):
            before = buf[start - 1] if start else self._before
            # What was output already has no value in it: the same in the block's output.
            out.append(self._block(buf[start:end], before)[max(0, self._emitted - start) :])
        if bounds[-1]:
            self._emitted = max(0, self._emitted - bounds[-1])
            self._held = False
            self._before = buf[bounds[-1] - 1]
            buf = self._pending = buf[bounds[-1] :]
            self._blocks.reset()
        if not final and not self._held:
            # Before the block's first value the text is final: output it now.
            at = self._emitted
            matches = self._matches(buf[at:], buf[at - 1] if at else self._before, False)
            self._held = any(m.kind is not _Kind.OPEN for m in matches)
            self._emitted = at + (matches[0].start if matches else len(buf) - at)
            out.append(buf[at : self._emitted])
        return "".join(out)

    def _block(self, block: str, before: str) -> str:
        spans, kinds = [], []
        cursor = 0
        for match in self._matches(block, before, True):
            if match.start < cursor:
                continue
            if match.kind is _Kind.FORGED:
                raise RestoreError
            spans.append((match.start, match.end, match.value))
            kinds.append(match.kind)
            cursor = match.end
        out, placed = self._markup.place(block, spans)
        for i, kind in enumerate(kinds):
            self._counts[_COUNTER[kind] if i in placed else "in_links"] += 1
        return out

    def _drain_anywhere(self, final: bool) -> str:
        buf = self._pending
        if not buf:
            return ""
        out: list[str] = []
        cursor = 0  # output is final up to here
        hold = len(buf)
        for match in self._matches(buf, self._before, final):
            if match.start < cursor:
                continue
            if match.kind is _Kind.OPEN:
                hold = match.start
                break
            if match.kind is _Kind.FORGED:
                raise RestoreError
            out.append(buf[cursor : match.start])
            out.append(match.value)
            self._counts[_COUNTER[match.kind]] += 1
            cursor = match.end
        out.append(buf[cursor:hold])
        if hold:
            self._before = buf[hold - 1]
        self._pending = buf[hold:]
        return "".join(out)


_COUNTER = {_Kind.HANDLE: "handles", _Kind.TOKEN: "tokens", _Kind.PSEUDONYM: "pseudonyms"}
