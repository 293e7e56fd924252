"""Where a restored value could leave the device by itself: links, URLs and markup.

A renderer that shows a model's answer may fetch an image, run a handler or
follow a link on its own; a value restored inside one would be sent to
whoever wrote the link. So where a value may land is decided from a real
parse of the answer, the way a renderer sees it: markdown by markdown-it-py
(CommonMark, raw HTML on), the HTML it produces by ``html.parser``.

A restored value may land only in **prose**: text data of the rendered
HTML, outside ``script`` and ``style``, outside comments and declarations,
never in an attribute (``href``, ``src``, ``srcset``, ``on*``, ``style``,
``content`` of a meta refresh, SVG ``href`` and ``to``, ``alt`` and
``title`` included), not in a run of text that reads as a URL (a scheme,
``//``, ``www.``, a dotted host or an ``@``), which a renderer with
autolinks would turn into a link, and not between brackets left as text
(``[x][<H>]``: a reference label, which a definition elsewhere could turn
into a link whose fetch confirms a guess). Everything else is left as
written.

``BlockSplitter`` cuts an answer into **blocks**: runs of lines that end
before a blank line followed by a new top-level markdown block. No link,
reference definition or inline construct spans such a cut, so a block can
be decided alone, as soon as its end is known. HTML state that does span
blocks (an open ``<iframe src="``, an unclosed ``<style>``) is carried by
``MarkupState`` from one block to the next.

``MarkupState.place`` decides one block in three renders, and fails closed:

1. every candidate replaced by a unique inert marker: a candidate is in
   prose only if its marker is found exactly once in the rendered HTML,
   there in text data that is not a URL;
2. only the prose candidates as markers, the others as written: the prose
   ones must still be prose (else they are dropped and this step repeats);
3. the prose candidates restored to their values: the sinks of the HTML
   (attributes, script and style bodies, comments, URL runs) must be
   exactly those of step 2, so no value reached one, else nothing in the
   block is restored.

Reference definitions count only inside their own block: one elsewhere can
only turn a link destination into text, never text into a destination, so
this errs on the side of "not restored". Markup left open for more than
16 KiB of rendered HTML ends restoring for the rest of the answer (so the
work stays linear). Pure functions of the text: the same blocks and
decisions for any split of the answer into pieces.
"""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Sequence
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["BlockSplitter", "MarkupState"]

_MD = MarkdownIt("commonmark", {"html": True})
# markdown-it reads "\r\n" and "\r" as line ends; the same lengths with "\n" only.
_CRLF = re.compile(r"\r(?=\n)")
_BLANK = re.compile(r"[ \t]*")
_NEW_BLOCK = re.compile(r"(?:\A|\n)[ \t\r]*\n[ \t]*\S[^\n]*\n")
_RUN = re.compile(r"\S+")
_OPENERS = "([{<*_~\"'`"
_CLOSERS = ".,:;!?)]}>*_~\"'`"
# A run a renderer could link or fetch: a scheme, "//", "www.", a dotted host, an address.
_URL_RUN = re.compile(r"//|\\\\|www\.|^[a-z][a-z0-9+.\-]{1,31}:", re.IGNORECASE)
# Where a URL run may be: every run that _URL_RUN flags holds one of these.
_URL_HINT = re.compile(r"//|\\\\|www\.|:", re.IGNORECASE)
_SPACES = " \t\n\r\f\v"
_HOST_RUN = re.compile(r"[\w-]\.[a-z]{2,}|@[\w-]", re.IGNORECASE)
_MAX_ROUNDS = 4
_MAX_OPEN_MARKUP = 16_384


class BlockSplitter:
    """Finds the cuts between blocks of a text that grows at its end. Not thread-safe.

    ``cuts(text, final)`` gives the offsets in ``text`` where a new block
    starts: after a blank line, at the first line of a top-level markdown
    block. Unless ``final``, only complete lines count, and the text is
    parsed only when a blank line and a complete line after it arrive, and
    then only once the text has doubled since a parse that found no cut, so
    that a block which never ends (an unclosed fence) costs linear time.
    """

    __slots__ = ("_end", "_parsed")

    def __init__(self) -> None:
        self._end = 0  # length of the complete lines seen
        self._parsed = 0  # length of the text at the last parse that found no cut

    def reset(self) -> None:
        self._end = self._parsed = 0

    def cuts(self, text: str, final: bool) -> list[int]:
        if final:
            complete = text
        else:
            end = text.rfind("\n") + 1
            if end <= self._end:
                return []
            # A blank line and a complete line after it, ending past what was seen.
            start = text.rfind("\n", 0, max(0, self._end - 1))
            start = text.rfind("\n", 0, max(0, start))
            self._end = end
            if end <= 2 * self._parsed or not _NEW_BLOCK.search(text, max(0, start), end):
                return []
            complete = text[:end]
        source = _CRLF.sub(" ", complete).replace("\r", "\n")
        tokens: list[Token] = []
        _MD.block.parse(source, _MD, {}, tokens)
        starts = [0]
        for text_line in source.split("\n"):
            starts.append(starts[-1] + len(text_line) + 1)
        found = []
        for token in tokens:
            # A top-level block that starts after a blank line.
            if token.level or token.nesting < 0 or not token.map or token.map[0] == 0:
                continue
            line = token.map[0]
            if _BLANK.fullmatch(source, starts[line - 1], starts[line] - 1):
                found.append(starts[line])
        self._parsed = 0 if found else len(complete)
        return found


class _Scan(HTMLParser):
    """Sorts rendered HTML into prose (text data) and sinks (everything a renderer may act on)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.prose: list[str] = []
        self.sinks: list[tuple[str, ...]] = []

    def fork(self) -> _Scan:
        scan = copy.copy(self)
        scan.prose, scan.sinks = [], []
        return scan

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.sinks.extend(("attribute", tag, name, value or "") for name, value in attrs)

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        if self.cdata_elem is not None:
            self.sinks.append(("raw text", data))  # a script or style body
        else:
            self.prose.append(data)

    def handle_comment(self, data: str) -> None:
        self.sinks.append(("comment", data))

    def handle_decl(self, decl: str) -> None:
        self.sinks.append(("declaration", decl))

    def handle_pi(self, data: str) -> None:
        self.sinks.append(("instruction", data))

    def unknown_decl(self, data: str) -> None:
        self.sinks.append(("declaration", data))


class _Rendered:
    __slots__ = ("_sunk", "html", "prose", "scan", "sinks")

    def __init__(self, state: _Scan, text: str) -> None:
        self.html = _MD.render(text)
        self.scan = state.fork()
        self.scan.feed(self.html)
        self.prose = "".join(self.scan.prose)
        sinks = self.scan.sinks
        if self.scan.rawdata:  # a tag, comment or entity not yet closed: undecided
            sinks.append(("pending", self.scan.rawdata))
        sinks.extend(("url", run) for run in _url_runs(self.prose))
        self.sinks = sinks
        self._sunk = "\0".join(part for sink in sinks for part in sink)

    def in_prose(self, markers: re.Pattern[str]) -> set[int]:
        """The markers (numbered by ``markers``' group 1) found exactly once, in text data
        that is not after an unclosed ``<``, not between brackets, in no URL run."""
        html, prose = self.html, self.prose
        seen: dict[int, int] = {}
        lt = gt = -1
        last = 0
        for hit in markers.finditer(html):
            i, at = int(hit.group(1)), hit.start()
            lt, gt = max(lt, html.rfind("<", last, at)), max(gt, html.rfind(">", last, at))
            # After an unclosed "<" it is markup, whatever a tokenizer says.
            seen[i] = seen.get(i, 0) + (2 if lt > gt else 1)
            last = at
        for hit in markers.finditer(self._sunk):
            seen[int(hit.group(1))] = 2
        found: set[int] = set()
        counts: dict[int, int] = {}
        hits = list(markers.finditer(prose))
        for hit in hits:
            counts[int(hit.group(1))] = counts.get(int(hit.group(1)), 0) + 1
        opened = closed = -1
        closing = prose.rfind("]")
        span, last = (0, 0), 0
        for hit in hits:
            i, at = int(hit.group(1)), hit.start()
            opened = max(opened, prose.rfind("[", last, at))
            closed = max(closed, prose.rfind("]", last, at))
            last = at
            if seen.get(i) != 1 or counts[i] != 1:
                continue
            if opened > closed and closing > at:
                # A reference label: a definition elsewhere could make it a link whose
                # fetch confirms a guess of the value.
                continue
            if at >= span[1]:
                span = _run_around(prose, at, span[1])
            run = prose[span[0] : span[1]].lstrip(_OPENERS).rstrip(_CLOSERS)
            if not (_URL_RUN.search(run) or _HOST_RUN.search(run)):
                found.add(i)
        return found


def _run_around(text: str, at: int, floor: int) -> tuple[int, int]:
    """The span of the run of non-space characters around ``text[at]``, not before ``floor``."""
    start = max(floor, max(text.rfind(c, floor, at) for c in _SPACES) + 1)
    for run in _RUN.finditer(text, start):
        if run.end() > at:
            return run.start(), run.end()
    return at, at


def _url_runs(prose: str) -> list[str]:
    """The runs of ``prose`` that read as a URL, in one linear pass."""
    runs, floor = [], 0
    for hint in _URL_HINT.finditer(prose):
        if hint.start() < floor:
            continue
        start, floor = _run_around(prose, hint.start(), floor)
        floor = max(floor, hint.end())
        run = prose[start:floor]
        if _URL_RUN.search(run.lstrip(_OPENERS).rstrip(_CLOSERS)):
            runs.append(run)
    return runs


class MarkupState:
    """The HTML state of an answer up to the current block. Not thread-safe: one stream.

    ``place(block, spans)`` returns the block with the values of the spans
    that land in prose, and the indices of those spans; the state moves on
    past the block as output.
    """

    __slots__ = ("_nonce", "_scan")

    def __init__(self) -> None:
        self._scan = _Scan()
        # Markers a model cannot write ahead of time, letters only: whether a marker reads
        # as part of a host or a number must not depend on the draw.
        self._nonce = "".join(chr(ord("a") + b % 26) for b in secrets.token_bytes(12))

    def place(self, block: str, spans: Sequence[tuple[int, int, str]]) -> tuple[str, set[int]]:
        """``spans``: sorted, disjoint ``(start, end, value)`` in ``block``."""
        if len(self._scan.rawdata) > _MAX_OPEN_MARKUP:
            # Markup left open for that long (an unclosed tag or comment) holds the rest of
            # the answer: nothing more is restored, and nothing more is parsed (linear time).
            return block, set()
        if not spans:
            if "<" not in block and not self._scan.rawdata and self._scan.cdata_elem is None:
                return block, set()  # no raw HTML, nothing open: the state stays as it is
            return block, self._advance(_Rendered(self._scan, block), set())
        base = f"q{self._nonce}x"
        markers = [f"{base}{i}z" for i in range(len(spans))]
        pattern = re.compile(f"{base}([0-9]+)z")
        if base in block.lower():
            return block, self._advance(_Rendered(self._scan, block), set())

        def build(restored: set[int], marked: set[int]) -> str:
            parts, cursor = [], 0
            for i, (start, end, value) in enumerate(spans):
                parts.append(block[cursor:start])
                if i in restored:
                    parts.append(value)
                elif i in marked:
                    parts.append(markers[i])
                else:
                    parts.append(block[start:end])
                cursor = end
            parts.append(block[cursor:])
            return "".join(parts)

        chosen = set(range(len(spans)))
        for _ in range(_MAX_ROUNDS):
            marked = _Rendered(self._scan, build(set(), chosen))
            kept = chosen & marked.in_prose(pattern)
            if kept == chosen:
                break
            chosen = kept
        else:
            chosen = set()
        if not chosen:
            return block, self._advance(_Rendered(self._scan, block), set())
        restored = build(chosen, set())
        output = _Rendered(self._scan, restored)
        if output.sinks != marked.sinks:
            # A value changed what is markup (it holds markup itself): restore nothing here.
            return block, self._advance(_Rendered(self._scan, block), set())
        return restored, self._advance(output, chosen)

    def _advance(self, rendered: _Rendered, chosen: set[int]) -> set[int]:
        scan = rendered.scan
        scan.prose, scan.sinks = [], []
        self._scan = scan
        return chosen
