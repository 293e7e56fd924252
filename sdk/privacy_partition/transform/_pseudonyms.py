"""Pseudonymize: realistic surrogates drawn from Faker, and the rules to find them again.

Kinds: PERSON → name, EMAIL_ADDRESS → an address at example.com/.net/.org
(never a real mailbox), PHONE_NUMBER → phone number, LOCATION → city,
STREET_ADDRESS → street address, ORGANIZATION → company. Other types have no
surrogate and are redacted instead. The locale follows the text's language:
``zh`` → zh_CN, anything else → en_US.

Faker's weighted draws cost 30-100 µs each, so surrogates come from a pool of
distinct draws made once per locale and kind, with fresh draws only when the
pool is exhausted for a session. The first use of a locale costs about 0.1 s
for Faker itself and 5-20 ms per kind (``Transformer.warm`` pays it at
start-up). With a seed every draw is reproducible: the n-th pseudonym of a
session depends on the seed, its type and n, never on the real value, so a
surrogate says nothing about the value it stands for.

Matching is case-insensitive, character by character (``fold``), and needs a
word boundary on each side where the surrogate starts or ends with a letter
or digit outside the Han, kana and Hangul scripts (which have no spaces).
"""

from __future__ import annotations

import hashlib
import random
import secrets
import threading
from collections.abc import Iterable, Iterator

from faker import Faker

from privacy_partition._text import fold, is_word

__all__ = ["SurrogateIndex", "SurrogateSource", "fold", "is_word", "locale_for"]

_KINDS = {
    "PERSON": "name",
    "EMAIL_ADDRESS": "safe_email",
    "PHONE_NUMBER": "phone_number",
    "LOCATION": "city",
    "STREET_ADDRESS": "street_address",
    "ORGANIZATION": "company",
}
_LOCALES = {"en": "en_US", "zh": "zh_CN"}
_DEFAULT_LOCALE = "en_US"
POOL_DRAWS = 200
POOL_TRIES = 12
FRESH_TRIES = 8
MAX_SURROGATE_CHARS = 120


def locale_for(language: str) -> str:
    return _LOCALES.get(language.split("-")[0].split("_")[0].lower(), _DEFAULT_LOCALE)


def _usable(surrogate: str) -> bool:
    # Nothing a scanner could take for markup, a handle or a line break.
    return (
        0 < len(surrogate) <= MAX_SURROGATE_CHARS
        and surrogate.isprintable()
        and not any(c in surrogate for c in "<>[]()\"'`=")
        and "://" not in surrogate
    )


class SurrogateSource:
    """Faker surrogates per locale and kind. Thread-safe: Faker runs under one lock."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._fakers: dict[str, Faker] = {}
        self._pools: dict[tuple[str, str], tuple[str, ...]] = {}

    @staticmethod
    def supports(label: str) -> bool:
        return label in _KINDS

    def _random(self, *parts: object) -> random.Random:
        if self._seed is None:
            return random.Random(secrets.randbits(64))  # noqa: S311 - picks, not keys
        material = ":".join(str(p) for p in (self._seed, *parts)).encode()
        return random.Random(int.from_bytes(hashlib.sha256(material).digest()[:8], "big"))  # noqa: S311

    def _draw(self, locale: str, kind: str, rng: random.Random) -> str:
        # Caller holds the lock: a Faker instance is not safe to share unguarded.
        faker = self._fakers.get(locale)
        if faker is None:
            faker = self._fakers[locale] = Faker(locale)
        faker.seed_instance(rng.getrandbits(64))
        return str(getattr(faker, kind)())

    def _pool(self, locale: str, kind: str) -> tuple[str, ...]:
        with self._lock:
            pool = self._pools.get((locale, kind))
            if pool is None:
                rng = self._random("pool", locale, kind)
                drawn = (self._draw(locale, kind, rng) for _ in range(POOL_DRAWS))
                pool = tuple(dict.fromkeys(s for s in drawn if _usable(s)))
                self._pools[(locale, kind)] = pool
            return pool

    def warm(self, locale: str) -> None:
        """Build every pool of ``locale`` now rather than on first use."""
        for kind in _KINDS.values():
            self._pool(locale, kind)

    def candidates(self, label: str, locale: str, sequence: int) -> Iterator[str]:
        """Surrogates to try, in order, for the ``sequence``-th pseudonym of a session."""
        kind = _KINDS[label]
        pool = self._pool(locale, kind)
        rng = self._random("pick", label, locale, sequence)
        for _ in range(POOL_TRIES if pool else 0):
            yield pool[rng.randrange(len(pool))]
        for _ in range(FRESH_TRIES):
            with self._lock:
                surrogate = self._draw(locale, kind, rng)
            if _usable(surrogate):
                yield surrogate


class SurrogateIndex:
    """Finds the surrogates of one vault snapshot in a text. Immutable and thread-safe.

    Plain substring search on the folded text, one pass per surrogate: no
    pattern is built from a surrogate, and the cost is linear in the text.
    """

    __slots__ = ("_entries", "_firsts", "_prefixes", "longest")

    def __init__(self, pseudonyms: Iterable[tuple[str, str]]) -> None:
        """``pseudonyms``: (folded surrogate, original) pairs."""
        entries = []
        prefixes: set[str] = set()
        for folded, original in pseudonyms:
            entries.append((folded, original, is_word(folded[0]), is_word(folded[-1])))
            prefixes.update(folded[:k] for k in range(1, len(folded)))
        self._entries = tuple(entries)
        self._prefixes = frozenset(prefixes)
        self._firsts = frozenset(folded[0] for folded, *_ in entries)
        self.longest = max((len(folded) for folded, *_ in entries), default=0)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __repr__(self) -> str:
        return f"SurrogateIndex({len(self._entries)} surrogates)"

    def scan(self, text: str, before: str, final: bool) -> Iterator[tuple[int, int, str | None]]:
        """Every ``(start, end, original)`` of a surrogate in ``text``, overlaps included.

        ``before`` is the character preceding ``text`` ('' at the start).
        Unless ``final``, also ``(start, start, None)`` where more text could
        still complete a match: a surrogate cut off by the end of ``text``, or
        one that ends there and waits for its word boundary.
        """
        folded = fold(text)
        n = len(text)
        for surrogate, original, need_left, need_right in self._entries:
            pos = folded.find(surrogate)
            while pos >= 0:
                end = pos + len(surrogate)
                prev = text[pos - 1] if pos else before
                if not (need_left and prev and is_word(prev)):
                    if end < n:
                        if not (need_right and is_word(text[end])):
                            yield pos, end, original
                    elif final or not need_right:
                        yield pos, end, original
                    else:
                        yield pos, pos, None
                pos = folded.find(surrogate, pos + 1)
        if not final:
            # The earliest start of a surrogate cut off by the end of the text.
            for pos in range(max(0, n - self.longest + 1), n):
                if folded[pos] in self._firsts and folded[pos:] in self._prefixes:
                    prev = text[pos - 1] if pos else before
                    if not (is_word(folded[pos]) and prev and is_word(prev)):
                        yield pos, pos, None
                        return
