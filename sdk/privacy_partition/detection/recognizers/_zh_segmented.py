"""Chinese person names without a cue, from word segmentation with part-of-speech tags.

The cue recognizer (``CnPersonNameRecognizer``) finds a name after 我叫 or
before 先生; a bare name in 给X发个消息, in a list or at the head of a
dialogue line has no cue. jieba segments the text with its dictionary and an
HMM for unknown words and tags person names (``nr``, ``nrfg``, ``nrt``).
Its tags alone are too eager: its dictionary tags thousands of two-character
common words ``nr`` (杜绝, 高峰, 叶子, 谢谢). So a name is taken when

* a tagged word of three characters, or four after a compound surname,
  starts with a surname (张学友, 欧阳晓岚): jieba's three-character ``nr``
  entries that start with a surname are names almost without exception;
* a tagged two-character word starts with a surname and is not in jieba's
  dictionary, which makes it the HMM's guess for an unknown word (张伟,
  赵敏), unless 张 is a measure word there (这张卡, 两张票);
* a surname stands alone as a word and the next word, of one or two
  characters, is tagged as a name, a noun, a place or a time: jieba split a
  name whose given name is also a word (林|志强, 郑|国庆, 何|建国);
* a two-to-four-character word that starts with a surname heads a line and
  is followed by a colon (a speaker label: ``张伟：好的``);
* a name-tagged word that starts with a surname is joined by 和, 、 or a like word to
  a name found above, or by 和, 跟, 与 or 同 to a personal pronoun
  (``我和李娜``): jieba's dictionary holds common names as words.

jieba ships its dictionary in its package and runs offline. It is loaded
once per process, the first time a recognizer is built.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Final

from presidio_analyzer import Pattern

from privacy_partition.detection.recognizers._zh import (
    _COMPOUND_SURNAMES,
    _NAME_STOP_CHARS,
    _NAME_STOP_WORDS,
    _NOT_NAMES,
    _SURNAMES,
    _Candidate,
    _is_han,
    _RawTextRecognizer,
)

__all__ = ["CnSegmentedNameRecognizer"]

# Surnames beyond the cue recognizer's: rarer ones, and characters that are
# often words too (华, 强, 解, 单, 米), which is safe here because the segmenter
# decides where words end and every rule needs a name tag or a colon.
_MORE_SURNAMES: Final = frozenset(
    "华仇边强权祁佘项解甄米娄危詹单麦车刁巫窦储卜戚桂蒙池阎冉苟晏伍蔺隋瞿宗冷鞠栾尚温连商宫谈邬荣"
)
_ALL_SURNAMES: Final = _SURNAMES | _MORE_SURNAMES
_NAME_TAGS: Final = frozenset({"nr", "nrfg", "nrt"})
# Words that join the names of a list or a pair (张伟跟胡杨, 王亮、陈柳).
_JOINERS: Final = frozenset({"、", "和", "跟", "与", "及", "或", "同", "；", ";", "，", ","})
# Pronouns that stand for people, and the conjunctions that join a person to them.
_PERSONAL_PRONOUNS: Final = frozenset(
    {"我", "你", "您", "他", "她", "我们", "咱们", "你们", "他们", "她们"}
)
_PERSON_JOINERS: Final = frozenset({"和", "跟", "与", "同"})
# What a given name split off by the segmenter is tagged as: a name, a noun,
# a place, a time (国庆), a descriptive word (婷婷), a morpheme.
_GIVEN_NAME_TAGS: Final = _NAME_TAGS | {"n", "ns", "nz", "t", "z", "ng", "a", "ag"}
# Before 张, a word that makes it a measure word (这张卡), not a surname.
_MEASURE_BEFORE: Final = frozenset("这那哪每一二两三四五六七八九十几半整数0123456789")
_SPEAKER_END: Final = frozenset(":：")
_HAN_RUN: Final = re.compile(r"[\u4e00-\u9fff]+")
_LONGEST_SINGLES: Final = 16

_lock = threading.Lock()
_segmenter: Any = None


def _load_segmenter() -> Any:
    """jieba's part-of-speech segmenter, loaded once per process (about 0.5 s)."""
    global _segmenter
    with _lock:
        if _segmenter is None:
            import jieba
            import jieba.posseg

            # jieba logs its loading at DEBUG to a handler of its own, on standard error.
            logging.getLogger("jieba").setLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _segmenter = jieba.posseg.POSTokenizer(tokenizer)
        return _segmenter


def _surname_length(word: str) -> int:
    if word[:2] in _COMPOUND_SURNAMES:
        return 2
    return 1 if word[:1] in _ALL_SURNAMES else 0


class CnSegmentedNameRecognizer(_RawTextRecognizer):
    """Chinese names that no cue announces, from jieba's segmentation and tags."""

    _TAGGED_SCORE: Final = 0.6
    _GUESSED_SCORE: Final = 0.5

    def __init__(self, language: str, context: Sequence[str]) -> None:
        self._segmenter = _load_segmenter()
        self._dictionary: dict[str, int] = self._segmenter.tokenizer.FREQ
        self._pattern = Pattern("cn_segmented_name", r"jieba:nr", self._TAGGED_SCORE)
        super().__init__(
            entity="PERSON", language=language, patterns=[self._pattern], context=context
        )

    def _words(self, text: str) -> list[tuple[int, str, str]]:
        """(start, word, tag) for every word jieba cuts ``text`` into."""
        words, position = [], 0
        for pair in self._segmenter.cut(self._without_long_unknown_runs(text)):
            words.append((position, pair.word, pair.flag))
            position += len(pair.word)
        return words

    def _without_long_unknown_runs(self, text: str) -> str:
        """``text`` with every run of more than ``_LONGEST_SINGLES`` one-character words
        replaced, character for character, by commas.

        jieba tags such a run with a part-of-speech HMM at about 220 us per
        character (``王王王...``), against about 10 for prose; no sentence is made
        of seventeen one-character words in a row, and a name needs two characters.
        Finding the runs costs a dictionary walk, a few us per character.
        """
        tokenizer = self._segmenter.tokenizer
        masked: list[tuple[int, int]] = []
        for block in _HAN_RUN.finditer(text):
            sentence = block.group()
            if len(sentence) <= _LONGEST_SINGLES:
                continue
            dag = tokenizer.get_DAG(sentence)
            route: dict[int, tuple[float, int]] = {}
            tokenizer.calc(sentence, dag, route)
            position, run_start = 0, 0
            while position < len(sentence):
                end = route[position][1] + 1
                if end - position > 1:
                    if position - run_start > _LONGEST_SINGLES:
                        masked.append((block.start() + run_start, block.start() + position))
                    run_start = end
                position = end
            if position - run_start > _LONGEST_SINGLES:
                masked.append((block.start() + run_start, block.start() + position))
        if not masked:
            return text
        pieces, last = [], 0
        for start, end in masked:
            pieces += [text[last:start], "，" * (end - start)]
            last = end
        return "".join([*pieces, text[last:]])

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        if not any(_is_han(char) for char in text):
            return
        words = self._words(text)
        found: dict[int, tuple[int, float]] = {}  # word index -> (length, score)
        index = 0
        while index < len(words):
            name = self._name_at(text, words, index)
            if name is None:
                index += 1
                continue
            length, score, taken = name
            found[index] = (length, score)
            index += taken
        # A name-tagged word joined to a name (和, 跟, 、) is a name too: jieba's
        # dictionary holds common names as words (李娜, 王平, 胡杨). So is one joined
        # to a personal pronoun by a conjunction: only people go with 我 (我和李娜).
        pronouns = {i for i, (_, word, _) in enumerate(words) if word in _PERSONAL_PRONOUNS}
        for index in sorted(found.keys() | pronouns):
            joiners = _JOINERS if index in found else _PERSON_JOINERS
            for other in (index - 2, index + 2):
                between = words[min(index, other) + 1][1] if 0 <= other < len(words) else ""
                if between in joiners and other not in found and self._is_joined_name(words[other]):
                    found[other] = (len(words[other][1]), self._GUESSED_SCORE)
        for index, (length, score) in sorted(found.items()):
            start = words[index][0]
            yield _Candidate(start, start + length, score, self._pattern)

    @staticmethod
    def _is_joined_name(word: tuple[int, str, str]) -> bool:
        _, text, tag = word
        surname = _surname_length(text)
        return tag in _NAME_TAGS and bool(surname) and 1 <= len(text) - surname <= 2

    def _name_at(
        self, text: str, words: list[tuple[int, str, str]], index: int
    ) -> tuple[int, float, int] | None:
        """(length, score, words taken) of a name that starts at word ``index``, or None."""
        start, word, tag = words[index]
        surname = _surname_length(word)
        if not surname or not all(_is_han(char) for char in word):
            return None
        # 王先生 and 李老师 are the cue recognizer's (the surname alone); 高中生 is no name.
        if word[surname:] in _NAME_STOP_WORDS or word[:2] in _NOT_NAMES:
            return None
        if self._is_speaker_label(text, words, index) and 2 <= len(word) <= 4:
            return len(word), self._TAGGED_SCORE, 1
        if tag in _NAME_TAGS and len(word) - surname == 2:
            return len(word), self._TAGGED_SCORE, 1
        if (
            tag in _NAME_TAGS
            and len(word) == 2
            and surname == 1
            and not self._dictionary.get(word)  # prefixes of entries are there, at 0
            and not (word[0] == "张" and text[start - 1 : start] in _MEASURE_BEFORE)
        ):
            return 2, self._GUESSED_SCORE, 1
        if len(word) == surname and index + 1 < len(words):
            _, given, given_tag = words[index + 1]
            if (
                1 <= len(given) <= 2
                and given_tag in _GIVEN_NAME_TAGS
                and all(_is_han(char) for char in given)
                # 王|先生, 李|老师: a title, not a given name (the cue recognizer's).
                and given not in _NAME_STOP_WORDS
                and given[0] not in _NAME_STOP_CHARS
            ):
                return len(word) + len(given), self._GUESSED_SCORE, 2
        return None

    @staticmethod
    def _is_speaker_label(text: str, words: list[tuple[int, str, str]], index: int) -> bool:
        """Whether word ``index`` heads a line and a colon follows it."""
        start = words[index][0]
        heads_line = start == 0 or text[start - 1] == "\n"
        return heads_line and index + 1 < len(words) and words[index + 1][1][:1] in _SPEAKER_END
