"""Ad-hoc recognizers declared in a policy, run by a linear-time regex engine.

Regex safety: a policy's patterns run under RE2 (``google-re2``), whose match
time is linear in the length of the text whatever the pattern, so a pattern
such as ``(a+)+$`` cannot stall a request. Python's ``re`` and the ``regex``
module Presidio uses both backtrack; Presidio's own guard is a 60-second
timeout after which the pattern is skipped, which fails open (a missed
finding) and stalls the request first. RE2 has no backreferences and no
lookaround: a pattern that uses them is refused when the policy loads, as is a
pattern over ``MAX_PATTERN_CHARS`` or one whose compiled program exceeds RE2's
memory budget.

Pattern syntax is RE2's (https://github.com/google/re2/wiki/Syntax), with
Presidio's default flags: case-insensitive, ``.`` matches a newline, ``^`` and
``$`` match at line ends; ``(?-i)`` inside a pattern makes it case-sensitive.
RE2's ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII-only: write ``\\p{Han}``,
``\\pL`` or ``\\pN`` for other scripts.

Deny-list terms match as whole words: a term edge that is a letter or digit
must not touch another letter or digit, except for Han characters, which
Chinese writes without spaces. Context words are looked for the same way in
the raw characters around a match, so they work for Chinese (whose spaCy
tokens are single characters) as well as English.

Recognizers hold no per-call state and may be shared between threads.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import re2  # type: ignore[import-untyped]
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult

from privacy_partition.detection import Analyzer, AnalyzerConfig
from privacy_partition.detection._language import has_han

if TYPE_CHECKING:
    from presidio_analyzer.nlp_engine import NlpArtifacts

    from privacy_partition.policy._schema import Policy

__all__ = [
    "MAX_PATTERN_CHARS",
    "CompiledPattern",
    "PolicyPatternRecognizer",
    "analyzer_for",
    "compile_deny_list",
    "compile_pattern",
]

MAX_PATTERN_CHARS: Final = 2000
# Presidio's regex defaults (IGNORECASE | DOTALL | MULTILINE), spelt for RE2.
_DEFAULT_FLAGS: Final = "(?ims)"
# Characters searched for context words, before and after a match.
_CONTEXT_BEFORE: Final = 40
_CONTEXT_AFTER: Final = 15
# Presidio's LemmaContextAwareEnhancer defaults, so a policy recognizer scores
# as it would under stock Presidio.
_CONTEXT_BOOST: Final = 0.35
_MIN_SCORE_WITH_CONTEXT: Final = 0.4


def _options() -> Any:
    options = re2.Options()
    # RE2 otherwise logs every rejected pattern to stderr through absl.
    options.log_errors = False
    return options


@functools.cache
def compile_pattern(regex: str) -> Any:
    """``regex`` compiled by RE2 with Presidio's default flags; cached per pattern.

    Raises ValueError naming what is wrong (never any text it would match).
    """
    if len(regex) > MAX_PATTERN_CHARS:
        raise ValueError(f"pattern longer than {MAX_PATTERN_CHARS} characters")
    try:
        compiled = re2.compile(_DEFAULT_FLAGS + regex, _options())
    except re2.error as error:
        raise ValueError(f"pattern refused by RE2: {_re2_reason(error)}") from None
    try:
        # Presidio records each pattern in a Pattern, which parses it with
        # the `regex` module; RE2-only syntax (\C, \Q...\E) would fail there.
        Pattern("check", regex, 0.5)
    except ValueError:
        raise ValueError("pattern uses RE2-only syntax that Presidio cannot record") from None
    return compiled


@functools.cache
def compile_deny_list(terms: tuple[str, ...]) -> Any:
    """One RE2 alternation of the literal ``terms``, longest first so it prefers them."""
    ordered = sorted(set(terms), key=lambda term: (-len(term), term))
    try:
        return re2.compile(_DEFAULT_FLAGS + "|".join(re2.escape(t) for t in ordered), _options())
    except re2.error as error:
        raise ValueError(f"deny list refused by RE2: {_re2_reason(error)}") from None


def _re2_reason(error: Exception) -> str:
    reason = error.args[0] if error.args else "invalid pattern"
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def _is_word(char: str) -> bool:
    return (char.isalnum() or char == "_") and not has_han(char)


def _whole_word(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` does not run into a letter or digit on either side."""
    if start > 0 and _is_word(text[start - 1]) and _is_word(text[start]):
        return False
    return not (end < len(text) and _is_word(text[end - 1]) and _is_word(text[end]))


def _contains_word(haystack: str, word: str) -> bool:
    start = haystack.find(word)
    while start != -1:
        if _whole_word(haystack, start, start + len(word)):
            return True
        start = haystack.find(word, start + 1)
    return False


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    """A pattern ready to run: its Presidio record and its RE2 matcher."""

    pattern: Pattern
    matcher: Any
    whole_words: bool = False  # deny-list terms must not sit inside a longer word


class PolicyPatternRecognizer(PatternRecognizer):
    """A Presidio ``PatternRecognizer`` whose patterns run under RE2.

    Context words raise a match's score here, from the raw characters around
    it; results are marked as already enhanced so Presidio's lemma-based
    enhancer does not raise them a second time.
    """

    def __init__(
        self,
        *,
        entity: str,
        name: str,
        language: str,
        patterns: Sequence[CompiledPattern],
        deny_list: Sequence[str] = (),
        context: Sequence[str] = (),
    ) -> None:
        super().__init__(
            supported_entity=entity,
            name=name,
            supported_language=language,
            patterns=[compiled.pattern for compiled in patterns],
            context=list(context),
            global_regex_flags=None,
        )
        self.deny_list = list(deny_list)
        self._label = name
        self._compiled = tuple(patterns)
        self._context_words = tuple(word.casefold() for word in context)

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for compiled in self._compiled:
            for match in compiled.matcher.finditer(text):
                start, end = match.span()
                if start == end or (compiled.whole_words and not _whole_word(text, start, end)):
                    continue
                results.append(self._result(text, start, end, compiled.pattern))
        removed: list[RecognizerResult] = EntityRecognizer.remove_duplicates(results)
        return removed

    def _result(self, text: str, start: int, end: int, pattern: Pattern) -> RecognizerResult:
        score = pattern.score
        if self._has_context(text, start, end):
            score = min(1.0, max(score + _CONTEXT_BOOST, _MIN_SCORE_WITH_CONTEXT))
        # Presidio annotates validation_result as bool but records None for
        # "not validated", which is what a policy pattern is.
        explanation = self.build_regex_explanation(
            recognizer_name=self._label,
            pattern_name=pattern.name,
            pattern=pattern.regex,
            original_score=score,
            validation_result=None,  # type: ignore[arg-type]
            regex_flags=0,
        )
        explanation.score = score
        return RecognizerResult(
            entity_type=self.supported_entities[0],
            start=start,
            end=end,
            score=score,
            analysis_explanation=explanation,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self._label,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True,
            },
        )

    def _has_context(self, text: str, start: int, end: int) -> bool:
        if not self._context_words:
            return False
        before = text[max(0, start - _CONTEXT_BEFORE) : start].casefold()
        after = text[end : end + _CONTEXT_AFTER].casefold()
        return any(
            _contains_word(before, word) or _contains_word(after, word)
            for word in self._context_words
        )


def analyzer_for(policy: Policy, base: AnalyzerConfig | None = None) -> Analyzer:
    """An Analyzer configured by ``policy`` (over ``base``), running its ad-hoc recognizers.

    Build it once and reuse it: construction loads the NLP models.
    """
    return Analyzer(policy.analyzer_config(base), recognizers=policy.recognizers())
