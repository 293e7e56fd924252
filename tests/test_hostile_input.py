"""Hostile input: disguised values, huge and repetitive prompts, broken text, forged handles.

Disguised values (invisible characters, full-width forms, look-alike
letters) are caught because detection reads the text normalized and maps
every finding back onto the text as written. ``variants`` generates disguised
prompts from a fixed seed; ``pytest -s -k variants_are_caught`` prints the
share caught. Full-size hostile inputs run under ``HYPOTHESIS_PROFILE=fuzz``
(``make fuzz``); ``make test`` runs them scaled down. Known defects outside
normalization are strict xfails whose reasons name the module at fault.
"""

from __future__ import annotations

import collections
import io
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy_partition._actions import Route
from privacy_partition._errors import InputError, PolicyError
from privacy_partition._sanitize import Sanitizer
from privacy_partition.cli import main
from privacy_partition.detection import Analyzer, AnalyzerConfig, Finding
from privacy_partition.detection._normalize import normalize
from privacy_partition.policy import analyzer_for, load_policy
from privacy_partition.transform import Keyset, Restorer, TokenScope, Transformer, Vault

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"
FULL = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
MEGABYTE = 1 << 20


class Overtime(BaseException):
    """The deadline passed. Not an ``Exception``: detection must not turn it into its own error."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block (main thread) once ``seconds`` have passed."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Overtime(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- disguised values ------------------------------------------------------------

# Generated variants: a value hidden from a naive recognizer, reading the same to a person.
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")
# Latin letters and digits and the Cyrillic, Greek and Armenian letters that look like them.
LOOKALIKES = {
    "a": "аα",
    "c": "с",
    "d": "ԁ",
    "e": "еε",
    "h": "һ",
    "i": "іι",
    "j": "ј",
    "l": "ӏ",
    "n": "ո",
    "o": "оο",
    "p": "рρ",
    "s": "ѕ",
    "x": "хχ",
    "y": "у",
    "A": "АΑ",
    "E": "ЕΕ",
    "O": "ОΟ",
    "X": "ХΧ",
    "0": "Оο",
    "1": "ӏІ",
    "3": "З",
}

# (entity types that count as caught, prompt template, values)
VALUES: tuple[tuple[frozenset[str], str, tuple[str, ...]], ...] = (
    (
        frozenset({"EMAIL_ADDRESS"}),
        "Please write to {} about the invoice.",
        ("dana.whitfield@example.org", "jose.pereira@acme.com", "priya.nair@mailbox.io"),
    ),
    (
        frozenset({"PHONE_NUMBER"}),
        "Call me at {} tomorrow.",
        ("212-555-0199", "(415) 555-0132", "+1 646 555 0143"),
    ),
    (
        frozenset({"CREDIT_CARD"}),
        "Charge my card {} for the hotel.",
        ("4111 1111 1111 1111", "5500 0000 0000 0004", "4012888888881881"),
    ),
    (frozenset({"US_SSN"}), "My SSN is {} and I need a refund.", ("536-22-1234", "432-71-8865")),
    (frozenset({"CN_RESIDENT_ID"}), "我的身份证号是{}，帮我查社保", ("11010519491231002X",)),
)


def zero_width(value: str, rng: random.Random) -> str:
    chars = list(value)
    for _ in range(rng.randint(1, 3)):
        chars.insert(rng.randint(1, len(chars) - 1), rng.choice(ZERO_WIDTH))
    return "".join(chars)


def full_width(value: str, rng: random.Random) -> str:
    share = rng.choice((0.5, 1.0))
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and rng.random() < share else c for c in value
    )


def homoglyph(value: str, rng: random.Random) -> str:
    chars = list(value)
    spots = [i for i, c in enumerate(chars) if c in LOOKALIKES]
    for i in rng.sample(spots, rng.randint(1, min(3, len(spots)))):
        chars[i] = rng.choice(LOOKALIKES[chars[i]])
    return "".join(chars)


def mixed(value: str, rng: random.Random) -> str:
    return zero_width(full_width(homoglyph(value, rng), rng), rng)


Disguise = Callable[[str, random.Random], str]
DISGUISES: dict[str, Disguise] = {
    "zero-width": zero_width,
    "full-width": full_width,
    "homoglyph": homoglyph,
    "mixed": mixed,
}


@dataclass(frozen=True, slots=True)
class Variant:
    disguise: str
    entities: frozenset[str]
    prompt: str
    start: int  # the disguised value's span in the prompt
    end: int

    def caught(self, findings: Sequence[Finding]) -> bool:
        """Whether a finding of an expected type covers the whole disguised value."""
        return any(
            f.entity_type in self.entities and f.start <= self.start and f.end >= self.end
            for f in findings
        )


def variants(per_value: int, seed: int = 7) -> list[Variant]:
    """``per_value`` variants of each value for each disguise, plus each value plain."""
    rng = random.Random(seed)
    out = []
    for entities, template, values in VALUES:
        for value in values:
            head = template.split("{}")[0]
            plain = [("plain", value)]
            disguised = [
                (name, disguise(value, rng))
                for name, disguise in DISGUISES.items()
                for _ in range(per_value)
            ]
            for name, written in plain + disguised:
                prompt = template.format(written)
                out.append(Variant(name, entities, prompt, len(head), len(head) + len(written)))
    return out


MAIL = "Write to {} today"
CALL = "Call me at {} tomorrow"
CHARGE = "Charge my card {} for the hotel"
DISGUISED = [
    ("zero-width inside an email", MAIL, "EMAIL_ADDRESS", "jane\u200b.doe@exam\u200dple.org"),
    ("soft hyphen and word joiner", MAIL, "EMAIL_ADDRESS", "jane.doe@\u00adexample\u2060.org"),
    ("full-width email", MAIL, "EMAIL_ADDRESS", "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ"),
    ("mathematical letters", MAIL, "EMAIL_ADDRESS", "𝐣𝐚𝐧𝐞@𝐞𝐱𝐚𝐦𝐩𝐥𝐞.𝐨𝐫𝐠"),
    ("Cyrillic а and о in an email", MAIL, "EMAIL_ADDRESS", "jаne.dое@exаmple.org"),
    ("Greek ο in an email", MAIL, "EMAIL_ADDRESS", "jοhn.smith@example.org"),
    ("full-width phone number", CALL, "PHONE_NUMBER", "２１２-５５５-０１９９"),
    ("Cyrillic О for a zero", CALL, "PHONE_NUMBER", "212-555-О199"),
    ("full-width card number", CHARGE, "CREDIT_CARD", "４１１１ １１１１ １１１１ １１１１"),
    ("zero-width in a card number", CHARGE, "CREDIT_CARD", "4111\u200b1111\ufeff1111 1111"),
    ("zero-width in an SSN", "My SSN is {}.", "US_SSN", "536\u200b-22-1234"),
    ("full-width Chinese mobile", "我的手机是{}", "PHONE_NUMBER", "１３８００１３８０００"),
    (
        "full-width Chinese ID",
        "我的身份证号是{}，帮我查社保",
        "CN_RESIDENT_ID",
        "１１０１０５１９４９１２３１００２Ｘ",
    ),
    ("mixed email", "Write to {} now", "EMAIL_ADDRESS", "ｊ\u200bаｎе@ехаmple．org"),
    ("mixed phone", "or call {} now", "PHONE_NUMBER", "＋1 ２１２\u200b-555-０199"),
]


@pytest.mark.parametrize(
    ("template", "entity", "value"),
    [case[1:] for case in DISGUISED],
    ids=[case[0] for case in DISGUISED],
)
def test_a_disguised_value_is_found_exactly_where_it_is_written(
    analyzer: Analyzer, template: str, entity: str, value: str
) -> None:
    prompt = template.format(value)
    found = [f for f in analyzer.analyze(prompt) if f.entity_type == entity]
    # The span covers the value as written, invisible characters inside it included.
    assert [f.value_in(prompt) for f in found] == [value]


def test_the_transform_replaces_the_invisible_characters_inside_a_value(
    analyzer: Analyzer,
) -> None:
    sanitizer = Sanitizer(load_policy(DEFAULT), analyzer=analyzer)
    prompt = (
        "Write to jane\u200b.doe@exam\u00adple.org or ｊаｎｅ＠ｅｘａｍｐｌｅ．ｏｒｇ,"
        " call ２１２-５５５-０１９９."
    )
    result = sanitizer.sanitize(prompt)
    assert (
        result.cloud_text
        == "Write to <EMAIL_ADDRESS_1> or <EMAIL_ADDRESS_2>, call <PHONE_NUMBER_1>."
    )


def test_disguised_variants_are_caught(analyzer: Analyzer) -> None:
    cases = variants(per_value=3)
    found = analyzer.analyze_batch([case.prompt for case in cases])
    total: collections.Counter[str] = collections.Counter()
    caught: collections.Counter[str] = collections.Counter()
    for case, findings in zip(cases, found, strict=True):
        total[case.disguise] += 1
        caught[case.disguise] += case.caught(findings)
    disguised = sum(total[name] for name in DISGUISES)
    hits = sum(caught[name] for name in DISGUISES)
    figure = f"disguised values caught: {hits}/{disguised} ({100 * hits / disguised:.1f}%); " + (
        ", ".join(f"{name} {caught[name]}/{total[name]}" for name in ("plain", *DISGUISES))
    )
    print(figure)
    assert caught["plain"] == total["plain"], figure
    assert hits >= 0.95 * disguised, figure


def test_disguised_prompts_keep_the_analyzer_guarantees(analyzer: Analyzer) -> None:
    prompts = [template.format(value) for _, template, _, value in DISGUISED]
    one_by_one = [analyzer.analyze(prompt) for prompt in prompts]
    assert analyzer.analyze_batch(prompts) == one_by_one
    assert [analyzer.analyze(prompt) for prompt in prompts] == one_by_one  # deterministic
    for (_, _, _, value), findings in zip(DISGUISED, one_by_one, strict=True):
        shown = repr(findings) + json.dumps([f.as_dict() for f in findings])
        assert value not in shown
        assert all(0 <= f.start < f.end for f in findings)
        assert findings == sorted(findings, key=lambda f: f.start)
        assert all(a.end <= b.start for a, b in itertools.pairwise(findings))


@pytest.mark.parametrize(
    "text",
    [
        "Привет, как дела? Москва ждёт.",  # a script of its own is not a disguise
        "Καλημέρα, τι κάνεις;",
        "我的手机：请问，你好！（谢谢）？；",  # Chinese punctuation stays full-width
        "ﬁnance ½ ⑴ …",  # compatibility forms of more than one character stay
        "e\u0301 café",
    ],
)
def test_text_that_disguises_nothing_reads_the_same(text: str) -> None:
    assert normalize(text).text == text


def test_a_word_mixing_scripts_is_read_in_latin() -> None:
    assert normalize("Jоhn Smith, +І 646, 1ӏ0І05").text == "John Smith, +1 646, 110105"
    assert normalize("СО2 and зо1").text == "CO2 and 301"


_INVISIBLE = st.sampled_from([*ZERO_WIDTH, "\u202e", "\u2066", "\ufe0f", "\U000e0041"])
_ANY = st.text(st.characters(codec="utf-8"), max_size=30)


@given(st.lists(st.tuples(_ANY, st.lists(_INVISIBLE, max_size=3)), max_size=8))
def test_normalizing_maps_every_character_back_in_order(
    pieces: list[tuple[str, list[str]]],
) -> None:
    text = "".join(piece + "".join(hidden) for piece, hidden in pieces)
    normalized = normalize(text)
    again = normalize(normalized.text)
    assert again.text == normalized.text  # idempotent
    assert all(again.original_span(i, i + 1) == (i, i + 1) for i in range(len(again.text)))
    origins = [normalized.original_span(i, i + 1) for i in range(len(normalized.text))]
    assert all(end == start + 1 for start, end in origins)
    starts = [start for start, _ in origins]
    assert starts == sorted(set(starts))
    assert len(normalized.text) <= len(text)
    if text.isascii():
        assert normalized.text is text


@given(st.text(st.characters(codec="ascii"), min_size=1, max_size=40), st.data())
def test_invisible_characters_inside_a_span_belong_to_it(text: str, data: st.DataObject) -> None:
    positions = data.draw(st.lists(st.integers(0, len(text)), max_size=5))
    hidden = list(text)
    for position in sorted(positions, reverse=True):
        hidden.insert(position, data.draw(_INVISIBLE))
    written = "".join(hidden)
    normalized = normalize(written)
    assert normalized.text == text
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    a, b = normalized.original_span(start, end)
    # The original span shows the same visible characters, with nothing visible cut.
    assert normalize(written[a:b]).text == text[start:end]
    assert written[a] == text[start]
    assert written[b - 1] == text[end - 1]


# -- size and repetition -----------------------------------------------------------


def test_a_prompt_over_the_limit_is_refused_at_once_without_quoting_it(
    analyzer: Analyzer,
) -> None:
    canary = "canary-8812 jane\u200b@example.org "
    for size in (analyzer.config.max_chars + 1, 1_000_000):
        text = (canary * (size // len(canary) + 1))[:size]
        started = time.perf_counter()
        with pytest.raises(InputError) as caught:
            analyzer.analyze(text)
        assert time.perf_counter() - started < 1.0
        assert "canary" not in str(caught.value)
        assert "example.org" not in str(caught.value)


def test_the_default_limit_is_the_documented_one() -> None:
    from privacy_partition.detection import DEFAULT_MAX_CHARS

    assert AnalyzerConfig().max_chars == DEFAULT_MAX_CHARS == 32_768


def test_a_megabyte_of_disguises_is_normalized_in_linear_time() -> None:
    unit = "jane\u200b@exam\u00adple.org ２１２-５５５-０１９９ jоhn аb Привет "
    text = (unit * (MEGABYTE // len(unit) + 1))[:MEGABYTE]
    started = time.perf_counter()
    normalized = normalize(text)
    assert time.perf_counter() - started < 3.0
    head = normalized.text[:60]
    assert head.startswith("jane@example.org 212-555-0199 john ab Привет ")
    last = normalized.text.rindex("jane@example.org")
    start, end = normalized.original_span(last, last + len("jane@example.org"))
    assert text[start:end] == "jane\u200b@exam\u00adple.org"


@pytest.mark.skipif(not FULL, reason="half a minute of detection: HYPOTHESIS_PROFILE=fuzz runs it")
def test_a_megabyte_prompt_is_analyzed_in_bounded_time(long_analyzer: Analyzer) -> None:
    filler = "The weather was mild and the river was calm that spring. "
    half = filler * (MEGABYTE // len(filler) // 2)
    text = half + "Email jаne\u200b@ехаmple.org today. " + half
    with deadline(120):
        findings = long_analyzer.analyze(text)
    emails = [f.value_in(text) for f in findings if f.entity_type == "EMAIL_ADDRESS"]
    assert emails == ["jаne\u200b@ехаmple.org"]


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# Inputs that once made detection quadratic, each filling the default limit:
# spaCy's tokenizer peeling affixes off a long run one at a time (16,000
# brackets: 16 s; 32,000: 63 s), and Presidio's context enhancer walking every
# token for every finding (100,000 characters of values: over 30 s). Linear,
# each takes under 5 s on two idle cores; the bound leaves room for a loaded
# machine, not for a quadratic one.
_ZH_SENTENCE = "我叫王小明，手机13800138000，住在北京市朝阳区。"
PATHOLOGICAL: dict[str, Callable[[int], str]] = {
    "nested-parens": lambda n: "(" * (n // 2) + ")" * (n - n // 2),
    "markdown-brackets": lambda n: _repeat("[", n // 2) + _repeat("](", n - n // 2),
    "word-then-parens": lambda n: "a" * (n // 2) + ")" * (n - n // 2),
    "a-run": lambda n: "a" * n,
    "one-char-words": lambda n: _repeat("1 ", n),
    "zero-width": lambda n: "\u200b" * (n - 1) + "x",
    "punctuation-run": lambda n: _repeat(".,;:!?-", n),
    "dense-values": lambda n: _repeat("jane@example.org 212-555-0199 john ", n),
    "chinese-without-spaces": lambda n: _repeat(_ZH_SENTENCE, n),
    # One-character words jieba does not know: its part-of-speech HMM costs 220 us a character.
    "one-surname-repeated": lambda n: "王" * n,
    "cue-and-surname-repeated": lambda n: _repeat("我叫王", n),
}


@pytest.mark.parametrize("kind", sorted(PATHOLOGICAL))
def test_pathological_input_at_the_limit_is_analyzed_in_bounded_time(
    analyzer: Analyzer, kind: str
) -> None:
    text = PATHOLOGICAL[kind](analyzer.config.max_chars)
    with deadline(30):
        findings = analyzer.analyze(text)
    assert all(0 <= f.start < f.end <= len(text) for f in findings)


def test_dense_values_far_past_the_limit_are_analyzed_in_linear_time(
    long_analyzer: Analyzer,
) -> None:
    text = PATHOLOGICAL["dense-values"](100_000)
    with deadline(25):
        findings = long_analyzer.analyze(text)
    emails = [f for f in findings if f.entity_type == "EMAIL_ADDRESS"]
    assert len(emails) == text.count("jane@example.org")


def test_a_long_run_is_tokenized_in_pieces_that_read_the_same_text() -> None:
    from spacy.lang.en import English

    from privacy_partition.detection._nlp import _LONGEST_RUN, _RunBoundedTokenizer

    tokenizer = _RunBoundedTokenizer(English().tokenizer)
    for text in (
        "see (" * 3 + "x" * 1000 + ")" * 500 + " done",
        PATHOLOGICAL["chinese-without-spaces"](2000),
        "short (words), kept [as] spaCy splits them.",
    ):
        doc = tokenizer(text)
        assert doc.text == text
        assert all(text[t.idx : t.idx + len(t)] == t.text for t in doc)
        assert max(len(t) for t in doc) <= _LONGEST_RUN
    plain = "Mail (jane@example.org), then call."
    assert [t.text for t in tokenizer(plain)] == [t.text for t in English().tokenizer(plain)]


# -- broken text -----------------------------------------------------------------


REDACT_ALL = """\
apiVersion: privacy-partition/v1
name: redact
entities:
  default: {action: redact}
  EMAIL_ADDRESS: {action: tokenize}
"""


def test_lone_surrogates_keep_offsets_and_hide_nothing(analyzer: Analyzer, tmp_path: Path) -> None:
    text = "\ud800 mail jane\u200b@example.org \udfff or call ２１２-５５５-０１９９\udc80"
    found = {f.entity_type: f.value_in(text) for f in analyzer.analyze(text)}
    assert found["EMAIL_ADDRESS"] == "jane\u200b@example.org"
    assert found["PHONE_NUMBER"] == "２１２-５５５-０１９９"
    (tmp_path / "redact.yaml").write_text(REDACT_ALL)
    policy = load_policy(tmp_path / "redact.yaml")
    result = Sanitizer(policy, analyzer=analyzer).sanitize(text)
    assert result.cloud_text is not None
    assert result.cloud_text.startswith("\ud800 mail <TOK:EMAIL_ADDRESS:")
    assert result.cloud_text.endswith("> \udfff or call <PHONE_NUMBER_1>\udc80")


@pytest.mark.model
def test_a_lone_surrogate_does_not_block_a_prompt_under_a_policy_with_topics(
    analyzer: Analyzer,
) -> None:
    result = Sanitizer(load_policy(DEFAULT), analyzer=analyzer).sanitize("mail \ud800 Paris")
    assert result.route is not Route.BLOCK, result.reasons


@pytest.mark.model
def test_a_disguised_sensitive_topic_stays_on_the_device(analyzer: Analyzer) -> None:
    sanitizer = Sanitizer(load_policy(DEFAULT), analyzer=analyzer)
    plain = "I was prescribed sertraline for my depression, what side effects should I expect?"
    disguised = plain.replace("a", "а").replace("e", "е").replace("o", "о")  # Cyrillic
    assert sanitizer.sanitize(plain).route is Route.LOCAL
    assert sanitizer.sanitize(disguised).route is Route.LOCAL


SANITIZE = ["sanitize", "--jsonl", "--policy", str(DEFAULT), "--no-ner-model"]
GOOD_LINE = b'{"id": 1, "text": "hello"}\n'


def test_cli_refuses_a_line_that_is_not_utf8_by_number_only() -> None:
    bad_line = b'{"id": 2, "text": "caf\xff canary-6610 \xc3"}\n'

    def run(*flags: str) -> subprocess.CompletedProcess[bytes]:
        # A subprocess: how standard input decodes depends on the locale, which is the point.
        return subprocess.run(
            [sys.executable, "-m", "privacy_partition.cli", *SANITIZE, *flags],
            input=GOOD_LINE + bad_line,
            capture_output=True,
            check=False,
            timeout=300,
        )

    proc = run()
    assert proc.returncode == 1  # every line has its row; the run failed for one
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [row["id"] for row in rows] == [1, None]
    assert rows[1] == {"id": None, "line": 2, "error": "invalid_utf8: not valid UTF-8 (byte 22)"}
    assert b"canary" not in proc.stdout + proc.stderr
    proc = run("--fail-fast")
    assert proc.returncode == 2  # bad input: the CLI contract's usage error
    assert proc.stderr.decode() == "privacy-partition: error: line 2: not valid UTF-8 (byte 22)\n"
    assert b"canary" not in proc.stdout


def test_cli_refuses_a_lone_surrogate_by_line_number_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_line = b'{"id": 2, "text": "canary-6610 \\ud800 x"}\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(GOOD_LINE + bad_line)))
    assert main(SANITIZE) == 1
    out, err = capsys.readouterr()
    reason = "holds a lone surrogate, which is not text"
    row = json.loads(out.splitlines()[1])
    assert row == {"id": 2, "line": 2, "error": f"lone_surrogate: {reason}"}
    assert "canary" not in out + err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(GOOD_LINE + bad_line)))
    assert main([*SANITIZE, "--fail-fast"]) == 2
    out, err = capsys.readouterr()
    assert err == f"privacy-partition: error: line 2: {reason}\n"
    assert "canary" not in out


# -- prompts that imitate handles ------------------------------------------------------


def test_handles_written_in_a_prompt_are_never_restored_to_another_value(
    analyzer: Analyzer, tmp_path: Path
) -> None:
    policy_file = tmp_path / "redact.yaml"
    policy_file.write_text(REDACT_ALL)
    keyset = Keyset.generate()
    sanitizer = Sanitizer(load_policy(policy_file), analyzer=analyzer, keyset=keyset)
    forged = f"<TOK:EMAIL_ADDRESS:{keyset.primary_id}:AAAAAAAAAAAAAAAAAAAAAAAAAA>"
    prompt = (
        f"Ask <PERSON_1> whether Ann Lee got <PERSON_2>, {forged} and <TOK:PERSON:0123abcd:MFRGG>;"
        " email ann.lee@example.org"
    )
    findings = analyzer.analyze(prompt)
    language, decision = sanitizer.decide(prompt, findings)
    vault = Vault.request()
    cloud = Transformer(keyset).apply(prompt, decision.actions, vault, language).cloud_text
    issued = vault.view().handles
    assert not {"<PERSON_1>", "<PERSON_2>"} & set(issued)
    # (A key id such as "a3224560" reads as a driver's licence now and then: a second handle.)
    (ann,) = [handle for handle, value in issued.items() if value == "Ann Lee"]
    restorer = Restorer(vault, keyset, token_scope=TokenScope.VAULT)
    assert restorer.restore(cloud) == prompt
    # A model's answer: the imitations come back as written, only what was issued is restored.
    answer = f"<PERSON_1> and <PERSON_2> met {ann}; {forged} <TOK:PERSON:0123abcd:MFRGG>"
    assert restorer.restore(answer) == answer.replace(ann, "Ann Lee")


# -- hostile policies ------------------------------------------------------------------


def test_a_catastrophic_policy_regex_runs_in_linear_time(tmp_path: Path) -> None:
    policy_file = tmp_path / "regex.yaml"
    policy_file.write_text(
        textwrap.dedent(
            """\
            apiVersion: privacy-partition/v1
            name: regex
            detection:
              languages: [en]
              max_chars: 100001
              recognizers:
                - {entity: REPEAT, patterns: [{regex: '(a+)+$', score: 0.9}]}
                - {entity: REPEAT, patterns: [{regex: '(a|a)*b', score: 0.9}]}
            """
        )
    )
    analyzer = analyzer_for(load_policy(policy_file), AnalyzerConfig(ner_model=False))
    # A backtracking engine needs years here; RE2 needs milliseconds per pattern.
    with deadline(10):
        analyzer.analyze("a" * 100_000 + "!")
    assert "REPEAT" in {f.entity_type for f in analyzer.analyze("say aaaa")}


@pytest.mark.parametrize("nested", ["[" * 600 + "]" * 600, "{a: " * 600 + "1" + "}" * 600])
def test_a_deeply_nested_policy_is_a_policy_error(tmp_path: Path, nested: str) -> None:
    policy_file = tmp_path / "deep.yaml"
    policy_file.write_text(f"apiVersion: privacy-partition/v1\nname: deep\nx: {nested}\n")
    with pytest.raises(PolicyError):
        load_policy(policy_file)
