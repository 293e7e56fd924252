"""Presidio recognizers for Chinese personal data.

Detected entities:

* ``CN_RESIDENT_ID``: 18-character resident identity card numbers (居民身份证).
* ``PHONE_NUMBER``: mainland mobile numbers (optional +86 / 0086 / 86 prefix,
  3-4-4 grouping); landlines only next to a phone context word.
* ``CN_BANK_CARD``: 16-19 digit bank and UnionPay card numbers.
* ``CN_PASSPORT``: passport numbers; confident only next to a passport context word.
* ``PERSON`` and ``LOCATION`` (``zh`` only): names and addresses after a cue
  such as 我叫, 姓名, 王先生 or 住址; Latin-script names after a cue such as
  告诉Tim or 给Tim发.
* ``ORGANIZATION`` (``zh`` only): names ending in 大学, 公司, 医院, 银行 ...
  (the Han characters before the suffix, up to a function word), and quoted
  names after 公众号, 品牌, 产品 ...
* ``LOCATION`` (``zh`` only): a province or major city with its administrative
  suffix (广东省, 杭州市), with the districts and counties that follow it.

Guarantees:

* Resident IDs are reported only when province code, birth date (1900 to today)
  and ISO 7064 MOD 11-2 check character are all valid; bank cards only when
  Luhn-valid. Numbers are never reported from inside a longer digit run.
* Every regular expression runs in linear time: no nested or overlapping
  unbounded quantifiers. Name and address spans are grown by bounded loops.
* Context is read from the raw characters around a match, because spaCy's blank
  ``zh`` tokenizer yields one token per character, which leaves Presidio's
  lemma-based enhancer blind to words such as 身份证. Results boosted here are
  marked so Presidio does not boost them a second time.
* Recognizers hold no per-call state and may be shared between threads.
* A matched value never appears in an exception or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Final

from presidio_analyzer import (
    AnalysisExplanation,
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerResult,
)

if TYPE_CHECKING:
    from presidio_analyzer.nlp_engine import NlpArtifacts

__all__ = ["chinese_recognizers"]

_LANGUAGES: Final = ("zh", "en")

# Characters inspected around a number for context words, as (before, after).
# English words are longer than Han ones, so English text gets a wider window.
_CONTEXT_WINDOWS: Final = {"zh": (20, 6), "en": (40, 15)}
_CONTEXT_BOOST: Final = 0.4

_ID_CONTEXT: Final = ("身份证", "身份证号", "证件号", "证件号码", "身份号码", "公民身份号码")
_ID_CONTEXT_EN: Final = ("id", "identity", "resident", "id card", "id number", "citizen")
_PHONE_CONTEXT: Final = ("手机", "手机号", "电话", "联系方式", "联系电话", "座机", "固话")
_PHONE_CONTEXT_EN: Final = ("phone", "mobile", "cell", "tel", "telephone", "contact")
_CARD_CONTEXT: Final = ("银行卡", "卡号", "储蓄卡", "信用卡", "借记卡", "账号", "账户", "开户行")
_CARD_CONTEXT_EN: Final = (
    "bank card",
    "card number",
    "card no",
    "credit card",
    "debit card",
    "account",
    "bank",
    "unionpay",
)
_PASSPORT_CONTEXT: Final = ("护照", "护照号")
_PASSPORT_CONTEXT_EN: Final = ("passport",)
_NAME_CONTEXT: Final = ("姓名", "我叫", "名字", "联系人", "收件人", "先生", "女士")
_NAME_CONTEXT_EN: Final = ("name",)
_ADDRESS_CONTEXT: Final = ("住址", "地址", "住在", "家住")
_ADDRESS_CONTEXT_EN: Final = ("address",)
_ORG_CONTEXT: Final = ("公司", "单位", "学校", "就读", "毕业", "工作")
_ORG_CONTEXT_EN: Final = ("company", "organization", "university", "school")

_PROVINCE_CODES: Final = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91}
)
_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS: Final = "10X98765432"
_EARLIEST_BIRTH: Final = date(1900, 1, 1)

# About 170 of the most frequent single-character surnames, minus characters that are
# far more often ordinary words (和, 时, 全, 成 ...), which would turn
# "我是成年人" into a name.
_SURNAMES: Final = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩邓冯曹彭曾肖田董潘袁蔡蒋余于杜叶"
    "程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付傅方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺"
    "毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文施洪辛柯庄樊牛齐葛邢安聂章岳兰殷鲁焦翟倪庞颜"
    "耿包祝左欧甘宁柳凌梅童阮舒纪毕裴霍涂苗谷盛翁骆蓝游靳管柴鲍喻蒲房滕屈饶艾尤穆卓吉简"
)
_COMPOUND_SURNAMES: Final = frozenset(
    {"欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙"}
    | {"宇文", "司徒", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "澹台", "呼延"}
)
# Characters that end a name: function words, pronouns and the first
# characters of words that usually follow a name (今年, 住在, 电话, 身份证 ...).
_NAME_STOP_CHARS: Final = frozenset(
    "的是在和了我你他她它们今住电手身年岁来从去说有也就都很不没被把给对跟与及或但而并还又吗呢吧"
    "啊呀哦嗯啦这那人号男位个请让要会想到等用"
)
# Two-character words that end a name although their first character may
# appear in given names (明天 vs 王小明, 家住 vs 王家豪).
_NAME_STOP_WORDS: Final = frozenset(
    {"明天", "明年", "昨天", "家住", "家在", "家里", "性别", "民族", "出生", "籍贯", "职业"}
    | {"先生", "女士", "小姐", "老师", "同学", "医生", "经理", "地址", "邮箱", "单位", "学历"}
    | {"联系", "证件", "护照", "银行", "卡号", "现在", "目前", "刚才", "已经", "正在", "今天"}
)
# Words that precede a name and start with a surname character; the backward
# scan from 先生 stops there ("感谢李先生" is 李, not 谢李).
_PRE_NAME_WORDS: Final = frozenset({"感谢", "谢谢", "多谢", "致谢", "告诉", "通知", "转告"})
_PRE_NAME_CHARS: Final = frozenset("向于")
# Common words that start with a surname character: after a cue, mostly 我是,
# they are a job, a school year or a place, not a person.
_NOT_NAMES: Final = frozenset(
    {"高中", "高级", "高兴", "高手", "程序", "黄金", "金融", "白领", "马上", "方面", "周末"}
    | {"安全", "文科", "文员", "韩国", "江苏", "江西", "安徽", "武汉", "常州", "苏州", "郑州"}
    | {"石家", "包头", "金华", "万一", "余下", "于是", "谢谢", "欧洲", "宁波", "温州"}
    | {"史上", "易于", "严重", "齐全", "管理", "游客", "付款", "范围", "董事", "贾府", "毕业"}
)
_MAX_GIVEN_NAME: Final = 2

# Characters that end a piece of a Chinese address (市, 区, 路, 号, 单元 ...).
_ADDRESS_PIECE_ENDS: Final = frozenset("省市区县旗镇乡村路街道巷弄同号楼栋幢元室层院苑园厦寓")
_ADDRESS_STOP_CHARS: Final = frozenset("的是和我你他她这那")
# The cue words are here too: a run never crosses into the next cue, which
# keeps a text dense with cues linear instead of 60 characters per cue.
_ADDRESS_STOP_WORDS: Final = frozenset(
    {"电话", "手机", "联系", "邮编", "邮箱", "姓名", "身份", "今年", "附近", "工作", "现在"}
    | {"住址", "地址", "住在", "家住", "居住"}
)
_MAX_ADDRESS: Final = 60
_MIN_ADDRESS: Final = 3
_ADDRESS_EXTRA_CHARS: Final = frozenset("-#－")


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


@dataclass(frozen=True, slots=True)
class _Candidate:
    start: int
    end: int
    score: float
    pattern: Pattern
    context_word: str | None = None


def _context_regex(words: Sequence[str]) -> re.Pattern[str]:
    # Han words are matched anywhere (no word boundaries between Han
    # characters); Latin words only as whole words, so "id" misses "valid".
    han = [re.escape(w) for w in words if not w.isascii()]
    latin = [re.escape(w).replace(r"\ ", r"\s+") for w in words if w.isascii()]
    parts = list(han)
    if latin:
        parts.append(r"(?<![A-Za-z])(?:" + "|".join(latin) + r")(?![A-Za-z])")
    return re.compile("|".join(parts), re.IGNORECASE)


class _RawTextRecognizer(PatternRecognizer):
    """Pattern recognizer whose matching and context live in ``_candidates``.

    ``patterns`` stay filled so Presidio tooling (``to_dict``, explanations)
    describes the recognizer, but matching uses the standard ``re`` module on
    the patterns' regexes and per-recognizer logic, never Presidio's loop.
    """

    # Presidio assigns it in __init__ without an annotation.
    name: str

    def __init__(
        self,
        *,
        entity: str,
        language: str,
        patterns: list[Pattern],
        context: Sequence[str],
    ) -> None:
        super().__init__(
            supported_entity=entity,
            name=type(self).__name__,
            supported_language=language,
            patterns=patterns,
            context=list(context),
            global_regex_flags=0,
        )
        self._compiled = [(p, re.compile(p.regex)) for p in patterns]
        self._context_re = _context_regex(context)
        self._window = _CONTEXT_WINDOWS[language]

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        # nlp_artifacts and regex_flags are unused: matching and context both
        # work on the raw text, whatever the tokenizer did with it.
        entity = self.supported_entities[0]
        if entities and entity not in entities:
            return []
        results = [self._result(entity, c) for c in self._candidates(text)]
        return EntityRecognizer.remove_duplicates(results)

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        raise NotImplementedError

    def _context_word(self, text: str, start: int, end: int) -> str | None:
        before, after = self._window
        for window in (text[max(0, start - before) : start], text[end : end + after]):
            found = self._context_re.search(window)
            if found:
                return found.group()
        return None

    def _result(self, entity: str, candidate: _Candidate) -> RecognizerResult:
        explanation = AnalysisExplanation(
            recognizer=self.name,
            original_score=candidate.score,
            pattern_name=candidate.pattern.name,
            pattern=candidate.pattern.regex,
            textual_explanation=f"Detected by `{self.name}` using `{candidate.pattern.name}`",
        )
        metadata: dict[str, str | bool] = {
            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }
        if candidate.context_word is not None:
            explanation.set_supportive_context_word(candidate.context_word)
            metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
        return RecognizerResult(
            entity_type=entity,
            start=candidate.start,
            end=candidate.end,
            score=candidate.score,
            analysis_explanation=explanation,
            recognition_metadata=metadata,
        )


class _NumberRecognizer(_RawTextRecognizer):
    """Digit-based recognizer: the regex group ``value`` is the reported span."""

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for pattern, compiled in self._compiled:
            for match in compiled.finditer(text):
                start, end = match.span("value")
                value = text[start:end]
                context_word = self._context_word(text, start, end)
                score = self._score(value, pattern, context_word is not None)
                if score is None:
                    continue
                boosted = context_word is not None and score > pattern.score
                yield _Candidate(start, end, score, pattern, context_word if boosted else None)

    def _score(self, value: str, pattern: Pattern, in_context: bool) -> float | None:
        """The result's score, or None when ``value`` must not be reported."""
        if self.validate_result(value) is False:
            return None
        return _boost(pattern.score) if in_context else pattern.score


def _boost(score: float) -> float:
    return min(1.0, round(score + _CONTEXT_BOOST, 4))


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit() or c in "Xx").upper()


def _is_valid_resident_id(value: str) -> bool:
    """True when an 18-character ID has a known province, a real birth date and
    a correct ISO 7064 MOD 11-2 check character ('x' counts as 'X')."""
    code = _digits(value)
    if len(code) != 18 or not code[:17].isdigit():
        return False
    if int(code[:2]) not in _PROVINCE_CODES:
        return False
    try:
        birth = date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        return False
    if not _EARLIEST_BIRTH <= birth <= date.today():
        return False
    total = sum(int(d) * w for d, w in zip(code[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11] == code[17]


def _is_luhn_valid(digits: str) -> bool:
    """True when ``digits`` passes the Luhn (mod 10) check."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class CnResidentIdRecognizer(_NumberRecognizer):
    """居民身份证号码: region, birth date, sequence and check character."""

    def __init__(self, language: str, context: Sequence[str]) -> None:
        # Optional single spaces allow the common 6-8-4 grouping.
        regex = (
            r"(?<![0-9])(?P<value>[1-9][0-9]{5} ?(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])"
            r"(?:0[1-9]|[12][0-9]|3[01]) ?[0-9]{3}[0-9Xx])(?![0-9Xx])"
        )
        super().__init__(
            entity="CN_RESIDENT_ID",
            language=language,
            patterns=[Pattern("cn_resident_id_18", regex, 0.9)],
            context=context,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return _is_valid_resident_id(pattern_text)


class CnPhoneRecognizer(_NumberRecognizer):
    """Mainland mobile numbers, and landlines next to a phone context word."""

    _LANDLINE = "cn_landline"

    def __init__(self, language: str, context: Sequence[str]) -> None:
        # The separator is captured once and reused, so "138 0013-8000" is
        # not a number but "138 0013 8000" and "138-0013-8000" are; a further
        # separated group means the number is part of a longer run.
        mobile = (
            r"(?<![0-9+])(?P<value>(?:(?:\+|00)86[ -]?|86[ -]?)?"
            r"1[3-9][0-9](?P<sep>[ -]?)[0-9]{4}(?P=sep)[0-9]{4})(?![0-9])(?!(?P=sep)[0-9])"
        )
        landline = (
            r"(?<![0-9])(?P<value>(?:\(0[1-9][0-9]{1,2}\)|0[1-9][0-9]{1,2}[ -]?)"
            r"[2-9][0-9]{6,7})(?![0-9])"
        )
        super().__init__(
            entity="PHONE_NUMBER",
            language=language,
            patterns=[Pattern("cn_mobile", mobile, 0.6), Pattern(self._LANDLINE, landline, 0.25)],
            context=context,
        )

    def _score(self, value: str, pattern: Pattern, in_context: bool) -> float | None:
        # A bare 0xx-xxxxxxxx is as likely an order or invoice number.
        if pattern.name == self._LANDLINE and not in_context:
            return None
        return super()._score(value, pattern, in_context)


class CnBankCardRecognizer(_NumberRecognizer):
    """Luhn-valid 16-19 digit card numbers; UnionPay (62) scores higher."""

    _UNIONPAY_SCORE: Final = 0.5
    _OTHER_SCORE: Final = 0.3

    def __init__(self, language: str, context: Sequence[str]) -> None:
        # Neither a digit nor a separated digit group may touch the number:
        # either means it is a slice of a longer run.
        regex = (
            r"(?<![0-9])(?<![0-9][ -])(?P<value>[0-9]{4}(?P<sep>[ -]?)[0-9]{4}(?P=sep)[0-9]{4}"
            r"(?P=sep)[0-9]{4}(?:(?P=sep)[0-9]{1,3})?)(?![0-9Xx])(?!(?P=sep)[0-9])"
        )
        super().__init__(
            entity="CN_BANK_CARD",
            language=language,
            patterns=[Pattern("cn_bank_card", regex, self._OTHER_SCORE)],
            context=context,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return _is_luhn_valid(_digits(pattern_text))

    def _score(self, value: str, pattern: Pattern, in_context: bool) -> float | None:
        digits = _digits(value)
        if not _is_luhn_valid(digits):
            return None
        # One valid resident ID in ten is also Luhn-valid; without card
        # context the ID reading is far more likely.
        if not in_context and _is_valid_resident_id(digits):
            return None
        base = self._UNIONPAY_SCORE if digits.startswith("62") else self._OTHER_SCORE
        return _boost(base) if in_context else base


class CnPassportRecognizer(_NumberRecognizer):
    """Passport numbers; below 0.4 unless 护照 / passport is nearby."""

    def __init__(self, language: str, context: Sequence[str]) -> None:
        regex = (
            r"(?<![0-9A-Za-z])(?P<value>[EeGgDdSsPp][0-9]{8}|[Ee][A-Za-z][0-9]{7})"
            r"(?![0-9A-Za-z])"
        )
        super().__init__(
            entity="CN_PASSPORT",
            language=language,
            patterns=[Pattern("cn_passport", regex, 0.35)],
            context=context,
        )


_WEAK_NAME_CUES: Final = frozenset({"我是", "本人"})


class CnPersonNameRecognizer(_RawTextRecognizer):
    """Chinese names after a cue (我叫, 姓名：, 联系人 ...) or before 先生/女士/小姐."""

    _STRONG_SCORE: Final = 0.85
    _WEAK_SCORE: Final = 0.6
    _SURNAME_ONLY_SCORE: Final = 0.7

    def __init__(self, language: str, context: Sequence[str]) -> None:
        # The lookahead drops cues not followed by a surname inside the regex
        # engine, so text dense with cues costs no Python call per cue.
        surname_starts = "".join(sorted(_SURNAMES | {s[0] for s in _COMPOUND_SURNAMES}))
        cue = (
            r"(?P<cue>我叫|我是|本人|患者|姓名[是为]?|名字[是叫为]?|联系人|收件人|收货人)"
            rf"[:：]?[ \t\u3000]?(?=[{surname_starts}])"
        )
        title = r"先生|女士|小姐"
        self._cue = Pattern("cn_name_cue", cue, self._STRONG_SCORE)
        self._title = Pattern("cn_title", title, self._STRONG_SCORE)
        super().__init__(
            entity="PERSON", language=language, patterns=[self._cue, self._title], context=context
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        cue_re, title_re = self._compiled[0][1], self._compiled[1][1]
        for match in cue_re.finditer(text):
            start = match.end()
            length = _name_length(_forward_run(text, start))
            if length:
                weak = match.group("cue") in _WEAK_NAME_CUES
                score = self._WEAK_SCORE if weak else self._STRONG_SCORE
                yield _Candidate(start, start + length, score, self._cue)
        for match in title_re.finditer(text):
            end = match.start()
            run = _backward_run(text, end)
            for length in range(len(run), 0, -1):
                surname = _surname_length(run[-length:])
                if surname and length - surname <= _MAX_GIVEN_NAME:
                    full = length > surname
                    score = self._STRONG_SCORE if full else self._SURNAME_ONLY_SCORE
                    if not (full and run[-length:][:2] in _NOT_NAMES):
                        yield _Candidate(end - length, end, score, self._title)
                    break


def _surname_length(run: str) -> int:
    if run[:2] in _COMPOUND_SURNAMES:
        return 2
    return 1 if run[:1] in _SURNAMES else 0


def _forward_run(text: str, start: int) -> str:
    """Han characters from ``start`` up to a stop character or word."""
    end = start
    limit = min(len(text), start + 2 + _MAX_GIVEN_NAME)
    while end < limit and _is_han(text[end]):
        if end > start and (
            text[end] in _NAME_STOP_CHARS or text[end : end + 2] in _NAME_STOP_WORDS
        ):
            break
        end += 1
    return text[start:end]


def _backward_run(text: str, end: int) -> str:
    """Han characters before ``end`` back to a stop character or pre-name word."""
    start = end
    limit = max(0, end - 2 - _MAX_GIVEN_NAME)
    while start > limit:
        char = text[start - 1]
        if not _is_han(char) or char in _NAME_STOP_CHARS or char in _PRE_NAME_CHARS:
            break
        pair = text[max(0, start - 2) : start]
        if pair in _PRE_NAME_WORDS or pair in _NAME_STOP_WORDS:
            break
        start -= 1
    return text[start:end]


def _name_length(run: str) -> int:
    """Length of the name that ``run`` starts with, 0 when it is not one."""
    surname = _surname_length(run)
    given = min(len(run) - surname, _MAX_GIVEN_NAME)
    if not surname or given < 1 or run[:2] in _NOT_NAMES:
        return 0
    return surname + given


class CnAddressRecognizer(_RawTextRecognizer):
    """Addresses after 住址 / 地址 / 住在 / 家住, ending at the last address piece."""

    _MULTI_PIECE_SCORE: Final = 0.85
    _SINGLE_PIECE_SCORE: Final = 0.6

    def __init__(self, language: str, context: Sequence[str]) -> None:
        cue = r"(?:住址|地址|住在|家住|居住地)[:：]?[ \t\u3000]?"
        self._cue = Pattern("cn_address_cue", cue, self._MULTI_PIECE_SCORE)
        super().__init__(
            entity="LOCATION", language=language, patterns=[self._cue], context=context
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for match in self._compiled[0][1].finditer(text):
            start = match.end()
            end = _address_end(text, start)
            if end - start < _MIN_ADDRESS:
                continue
            pieces = sum(1 for c in text[start:end] if c in _ADDRESS_PIECE_ENDS)
            score = self._MULTI_PIECE_SCORE if pieces > 1 else self._SINGLE_PIECE_SCORE
            yield _Candidate(start, end, score, self._cue)


def _address_end(text: str, start: int) -> int:
    """End of the address at ``start``: just after its last address piece."""
    last_piece = start
    limit = min(len(text), start + _MAX_ADDRESS)
    pos = start
    while pos < limit:
        char = text[pos]
        if not (
            _is_han(char) or (char.isascii() and char.isalnum()) or char in _ADDRESS_EXTRA_CHARS
        ):
            break
        if char in _ADDRESS_STOP_CHARS or text[pos : pos + 2] in _ADDRESS_STOP_WORDS:
            break
        pos += 1
        if char in _ADDRESS_PIECE_ENDS:
            last_piece = pos
    return last_piece


# Suffixes that end an organization name, longest first so 有限公司 wins over 公司.
_ORG_SUFFIXES: Final = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "公司",
    "集团",
    "大学",
    "学院",
    "学校",
    "中学",
    "小学",
    "幼儿园",
    "银行",
    "医院",
    "研究所",
    "研究院",
    "事务所",
    "工作室",
    "俱乐部",
    "协会",
    "委员会",
    "出版社",
    "基金会",
)
# Characters that end the backward scan for an organization name: function
# words, pronouns, verbs that precede a name (在哈尔滨工程大学, 考入清华大学),
# demonstratives and numerals (这家公司, 一所大学).
_ORG_STOP_CHARS: Final = frozenset(
    "在于的是我你他她它们去到和与及或、了着过把被给对从向往为让请读考入进自至由"
    "这那该某每哪各本此其贵几两一个上下也都很就还又而并但及即"
)
# Verbs that take an organization as object (建议公司, 加入集团): the scan stops
# after them.
_ORG_STOP_WORDS: Final = frozenset(
    {"建议", "提升", "帮助", "加入", "成立", "创办", "管理", "离开", "负责", "代表", "服务"}
    | {"支持", "推荐", "选择", "收购", "投资", "发展", "运营", "参与", "入职", "面试", "应聘"}
    | {"就职", "任职", "创立", "经营", "介绍", "为了", "作为", "关于", "对于", "通过", "根据"}
)
# Measure words left at the start of a run by a stop character (这家 → 家).
_ORG_MEASURE_CHARS: Final = frozenset("家所间座")
# Words that describe a kind of organization, not one: a run made only of them
# (网络科技公司, 重点大学, 分公司) is no name.
_ORG_GENERIC_WORDS: Final = frozenset(
    {"科技", "网络", "互联网", "软件", "信息", "技术", "贸易", "外贸", "投资", "咨询", "广告"}
    | {"物流", "建筑", "教育", "培训", "金融", "保险", "证券", "商业", "国有", "民营", "私营"}
    | {"外资", "合资", "上市", "大型", "小型", "中型", "知名", "著名", "重点", "普通", "综合"}
    | {"名牌", "顶尖", "国外", "国内", "海外", "外国", "本地", "当地", "地方", "全国", "新"}
    | {"老", "大", "小", "好", "总", "分", "子", "母", "私立", "公立", "民办", "公办", "理想"}
    | {"师范", "医科", "理工", "工业", "农业", "职业", "技术", "艺术", "体育", "音乐", "美术"}
    | {"商学", "法学", "医学", "管理", "设计", "传媒", "文化", "传播", "电子", "研发", "营销"}
    | {"美国", "英国", "中国", "日本", "韩国", "德国", "法国", "世界", "国际", "跨国", "他们"}
    | {"儿童", "社区", "人民", "公司", "集团", "学校", "大学", "银行", "医院", "研究", "开发"}
)
_MAX_ORG_NAME: Final = 12
_MIN_ORG_NAME: Final = 2
# A suffix inside a longer word: the name is no organization's.
_ORG_SUFFIX_BREAKERS: Final = frozenset(
    {"大学生", "中学生", "小学生", "学院派", "公司法", "银行卡", "医院里"}
)


class CnOrganizationRecognizer(_RawTextRecognizer):
    """Organization names ending in 大学, 公司, 医院 ..., and quoted names after
    公众号, 品牌, 产品 ... (the quotes are not part of the name)."""

    _SUFFIX_SCORE: Final = 0.6
    _QUOTED_SCORE: Final = 0.7

    def __init__(self, language: str, context: Sequence[str]) -> None:
        suffix = r"(?<=[\u4e00-\u9fff])(?:" + "|".join(_ORG_SUFFIXES) + ")"
        quoted = (
            r"(?:公众号|品牌|产品|店铺|平台|小程序|网站|账号)(?:名称?|名字)?[:：]?[ \u3000]?"
            r"[“\"「『](?P<value>[^“”\"「」『』\n]{1,30})[”\"」』]"
        )
        self._suffix = Pattern("cn_org_suffix", suffix, self._SUFFIX_SCORE)
        self._quoted = Pattern("cn_org_quoted", quoted, self._QUOTED_SCORE)
        super().__init__(
            entity="ORGANIZATION",
            language=language,
            patterns=[self._suffix, self._quoted],
            context=context,
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        suffix_re, quoted_re = self._compiled[0][1], self._compiled[1][1]
        for match in suffix_re.finditer(text):
            if text[match.end() - 2 : match.end() + 1] in _ORG_SUFFIX_BREAKERS:
                continue
            start = _org_start(text, match.start())
            if start is not None:
                yield _Candidate(start, match.end(), self._SUFFIX_SCORE, self._suffix)
        for match in quoted_re.finditer(text):
            start, end = match.span("value")
            if text[start:end].strip():
                yield _Candidate(start, end, self._QUOTED_SCORE, self._quoted)


def _org_start(text: str, suffix_start: int) -> int | None:
    """Start of the name before ``suffix_start``, None when there is none."""
    start = suffix_start
    limit = max(0, suffix_start - _MAX_ORG_NAME)
    while start > limit and _is_han(text[start - 1]) and text[start - 1] not in _ORG_STOP_CHARS:
        if text[start - 2 : start] in _ORG_STOP_WORDS:
            break
        start -= 1
    while start < suffix_start and text[start] in _ORG_MEASURE_CHARS:
        start += 1
    if suffix_start - start < _MIN_ORG_NAME or _only_generic(text[start:suffix_start]):
        return None
    return start


def _only_generic(run: str) -> bool:
    """True when ``run`` splits into generic words only (greedy, longest first)."""
    pos = 0
    while pos < len(run):
        for size in (3, 2, 1):
            if run[pos : pos + size] in _ORG_GENERIC_WORDS:
                pos += size
                break
        else:
            return False
    return True


_PROVINCES: Final = (
    "北京",
    "天津",
    "上海",
    "重庆",
    "河北",
    "山西",
    "辽宁",
    "吉林",
    "黑龙江",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "海南",
    "四川",
    "贵州",
    "云南",
    "陕西",
    "甘肃",
    "青海",
    "台湾",
    "内蒙古",
    "广西",
    "西藏",
    "宁夏",
    "新疆",
    "香港",
    "澳门",
)
# Provincial capitals and other large cities (sub-provincial and the most
# populous prefecture-level ones).
_MAJOR_CITIES: Final = (
    "广州",
    "深圳",
    "杭州",
    "南京",
    "武汉",
    "成都",
    "西安",
    "苏州",
    "郑州",
    "长沙",
    "沈阳",
    "青岛",
    "济南",
    "大连",
    "宁波",
    "厦门",
    "福州",
    "合肥",
    "昆明",
    "南昌",
    "哈尔滨",
    "长春",
    "石家庄",
    "太原",
    "南宁",
    "贵阳",
    "兰州",
    "西宁",
    "银川",
    "乌鲁木齐",
    "拉萨",
    "呼和浩特",
    "海口",
    "三亚",
    "无锡",
    "佛山",
    "东莞",
    "温州",
    "泉州",
    "常州",
    "南通",
    "徐州",
    "烟台",
    "潍坊",
    "唐山",
    "珠海",
    "中山",
    "惠州",
    "嘉兴",
    "绍兴",
    "金华",
    "台州",
    "扬州",
    "洛阳",
    "襄阳",
    "宜昌",
    "株洲",
    "桂林",
    "绵阳",
    "保定",
    "邯郸",
    "大同",
    "包头",
    "鞍山",
    "吉林",
    "齐齐哈尔",
    "芜湖",
    "赣州",
    "柳州",
    "遵义",
)
_PROVINCE_SUFFIXES: Final = ("省", "市", "自治区", "特别行政区", "壮族自治区", "回族自治区")
# A district or county after a province or city: up to four Han characters and
# the suffix (朝阳区, 余杭区, 昌平县, 昆山市).
_MAX_SUBDIVISIONS: Final = 3
_CITY_WORD_BREAKERS: Final = frozenset({"市场", "市民", "市长", "市委", "市政", "市值"})


class CnLocationRecognizer(_RawTextRecognizer):
    """Provinces and major cities written with their suffix (广东省, 杭州市),
    extended over the districts and counties that follow (北京市朝阳区)."""

    _SCORE: Final = 0.6

    def __init__(self, language: str, context: Sequence[str]) -> None:
        names = sorted(set(_PROVINCES) | set(_MAJOR_CITIES), key=len, reverse=True)
        suffixes = sorted(_PROVINCE_SUFFIXES, key=len, reverse=True)
        # No surrounding Han check on the left: 在广东省 and 去杭州市 are common.
        regex = "(?:" + "|".join(names) + ")(?:" + "|".join(suffixes) + ")"
        self._place = Pattern("cn_province_city", regex, self._SCORE)
        self._piece = re.compile(r"[\u4e00-\u9fff]{1,4}?[区县市]")
        super().__init__(
            entity="LOCATION", language=language, patterns=[self._place], context=context
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for match in self._compiled[0][1].finditer(text):
            # 市场, 市民, 市长 ... after the name make it another word.
            if text[match.end() - 1 : match.end() + 1] in _CITY_WORD_BREAKERS:
                continue
            end = match.end()
            for _ in range(_MAX_SUBDIVISIONS):
                piece = self._piece.match(text, end)
                if piece is None or any(c in _ADDRESS_STOP_CHARS for c in piece.group()):
                    break
                end = piece.end()
            yield _Candidate(match.start(), end, self._SCORE, self._place)


# Cues before a Latin-script name in Chinese text: verbs that take a person
# (告诉Tim) and 给/和/跟 only when a verb of communication follows the name.
_LATIN_NAME_CUES: Final = (
    "告诉",
    "通知",
    "转告",
    "感谢",
    "谢谢",
    "抄送",
    "发给",
    "写给",
    "回复",
    "提醒",
    "邀请",
    "联系",
    "问问",
    "我叫",
    "名字是",
    "亲爱的",
)


class CnLatinNameRecognizer(_RawTextRecognizer):
    """Capitalized Latin-script names after a Chinese cue: 告诉Tim, 给Tim发邮件."""

    _SCORE: Final = 0.6

    def __init__(self, language: str, context: Sequence[str]) -> None:
        name = r"(?P<value>[A-Z][a-z]{1,15}(?: [A-Z][a-z]{1,15})?)(?![A-Za-z])"
        regex = (
            r"(?:"
            + "|".join(_LATIN_NAME_CUES)
            + r")[ ]?"
            + name
            + r"|(?:给|和|跟|与|向)[ ]?"
            + name.replace("value", "paired")
            + r"[ ]?(?=[发写打回寄说讲聊见讨沟汇])"
        )
        self._cue = Pattern("cn_latin_name_cue", regex, self._SCORE)
        super().__init__(entity="PERSON", language=language, patterns=[self._cue], context=context)

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for match in self._compiled[0][1].finditer(text):
            group = "value" if match.group("value") is not None else "paired"
            start, end = match.span(group)
            yield _Candidate(start, end, self._SCORE, self._cue)


def chinese_recognizers(language: str) -> list[EntityRecognizer]:
    """Recognizers for Chinese personal data in ``language`` ("zh" or "en").

    "zh" gets every recognizer; "en" gets the number-based ones, so a Chinese
    ID or phone number inside an English sentence is still found. Each call
    builds new instances; build once and reuse them.
    """
    if language not in _LANGUAGES:
        raise ValueError(f"Chinese recognizers support {_LANGUAGES}, not {language!r}")

    # Mixed text is common, so each language also knows the other's words,
    # its own first.
    def words(zh: tuple[str, ...], en: tuple[str, ...]) -> tuple[str, ...]:
        return zh + en if language == "zh" else en + zh

    recognizers: list[EntityRecognizer] = [
        CnResidentIdRecognizer(language, words(_ID_CONTEXT, _ID_CONTEXT_EN)),
        CnPhoneRecognizer(language, words(_PHONE_CONTEXT, _PHONE_CONTEXT_EN)),
        CnBankCardRecognizer(language, words(_CARD_CONTEXT, _CARD_CONTEXT_EN)),
        CnPassportRecognizer(language, words(_PASSPORT_CONTEXT, _PASSPORT_CONTEXT_EN)),
    ]
    if language == "zh":
        from privacy_partition.detection.recognizers._zh_segmented import (
            CnSegmentedNameRecognizer,
        )

        recognizers += [
            CnPersonNameRecognizer(language, words(_NAME_CONTEXT, _NAME_CONTEXT_EN)),
            CnSegmentedNameRecognizer(language, words(_NAME_CONTEXT, _NAME_CONTEXT_EN)),
            CnAddressRecognizer(language, words(_ADDRESS_CONTEXT, _ADDRESS_CONTEXT_EN)),
            CnOrganizationRecognizer(language, words(_ORG_CONTEXT, _ORG_CONTEXT_EN)),
            CnLocationRecognizer(language, words(_ADDRESS_CONTEXT, _ADDRESS_CONTEXT_EN)),
            CnLatinNameRecognizer(language, words(_NAME_CONTEXT, _NAME_CONTEXT_EN)),
        ]
    return recognizers
