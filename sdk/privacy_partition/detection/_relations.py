"""Relations: whether the text ties a general-looking value to a person.

An organization, place or nationality is general knowledge when a prompt
merely talks about it ("What does Google's search ranking weigh?") and
personal data when the prompt ties it to the user or another private person
("I work at Google as a compliance officer", "my daughter's school in
Dammam", "2015 Arab Open University, Bachelor of Arts" in a resume).
``mark_relations`` sets ``relation="personal"`` on such findings so that a
policy can act on them apart from the bare entity type.

How: the Analyzer runs spaCy without its parser, so relations are read from
lexical cues in a bounded window around each finding, cut at the sentence or
line it stands in:

* a possessive just before it ("my", "our", "her", "我的", "我们");
* a relational verb or role noun before it ("worked at", "graduated from",
  "live in", "engineer at", "就读于", "在…工作") in a clause that belongs to a
  person: a pronoun or kin word ("I", "my son"), a PERSON finding, or no
  subject at all (a resume bullet: "Worked at Napco as ...");
* a relative clause or apposition after it ("..., where I work", "..., my
  employer", "…工作");
* an address cue before it ("address:", "住址");
* for DATE_TIME, only a birth cue ("born", "date of birth", "出生");
* resume and CV shapes: a short line of a multi-line text holding a year.

The opposite mark, ``relation="public"``, goes to a place the whole world
knows (a country or continent, see ``_places``) in a prompt that ties
nothing to anybody: no finding of a personal type (a name, a contact
detail, an identifier), no organization and no finding marked personal.
"Compare the economies of Germany and Japan" names two public places; in
"Ahmed moved to Germany", a resume, or "Napco opened a branch in Germany",
the country narrows down who the person or the organization is.

Guarantees: pure, deterministic, offline and thread-safe; it changes only
``relation``, never a span, a type or the order; every expression runs on a
window of at most ``_WINDOW`` characters, so the cost is linear in the
number of findings (plus one linear pass to find line starts).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from privacy_partition.detection._finding import Finding
from privacy_partition.detection._places import is_public_place

__all__ = ["PERSONAL", "PUBLIC", "RELATED_TYPES", "mark_relations"]

PERSONAL: Final = "personal"
PUBLIC: Final = "public"

# The types that are general knowledge on their own and personal data only
# in context. Identifiers, names and contact details are personal anyway.
RELATED_TYPES: Final = frozenset({"ORGANIZATION", "LOCATION", "NRP", "DATE_TIME"})
# A world-known place is public only in a prompt with none of these: personal
# types, and organizations (a country beside an employer or a school narrows a
# person down as much as a town does).
_PUBLIC_BLOCKERS: Final = frozenset({"ORGANIZATION"})  # plus every type outside RELATED_TYPES

# Dates are everywhere ("on Friday", "in 2019"); only a birth cue makes one
# personal, the resume shape and the other cues would mark far too many.
_BIRTH_ONLY: Final = frozenset({"DATE_TIME"})

# How far (characters) a cue may stand from the finding: a clause, not a
# paragraph. Chinese packs a clause into fewer characters.
_WINDOW: Final = 80
_WINDOW_ZH: Final = 16

# Where a clause ends: sentence punctuation followed by a space, line breaks,
# semicolons and Chinese sentence marks. A period after a single letter or a
# capital and one lower-case letter ("U.S.", "St. Mary's", "Dr. Lee") is an
# abbreviation, not an end.
_CLAUSE_END: Final = re.compile(
    r"(?<![A-Z][a-z])(?<!\b[A-Za-z])\.(?=\s)|[!?](?=\s)|[;\n\r。！？；]"
)

# Words that stand for the user or another private person. A pronoun alone
# does not tie a value ("tell me about Paris"); it has to be the subject of
# a relational verb (below) or a possessive.
_PERSON_WORDS: Final = (
    r"i|i'm|i’m|im|i've|i’ve|i'd|i’d|me|my|myself|we|we're|we’re|we've|our|us|"
    r"he|she|his|her|him|they|their|them|"
    r"daughter|son|child|children|kids?|wife|husband|partner|spouse|mother|mom|mum|"
    r"father|dad|parents?|brother|sister|siblings?|friends?|boyfriend|girlfriend|"
    r"fianc[ée]e?|cousin|uncle|aunt|grandmother|grandfather|grandma|grandpa|niece|"
    r"nephew|colleague|coworker|co-worker|boss|client|patient|customer|neighbou?r|"
    r"roommate|classmate|tenant|applicant|candidate"
)
_PERSON: Final = re.compile(rf"\b(?:{_PERSON_WORDS})\b", re.IGNORECASE)

# Possessives that make the value belong to someone when they stand a few
# words before it: "my daughter's school in Dammam", "our Napco team".
_POSSESSIVE_BEFORE: Final = re.compile(
    r"\b(?:my|our|his|her|their)\b(?:\W{1,3}\w+){0,5}\W*$", re.IGNORECASE
)

# Verbs and role nouns that tie a person to an organization or place. A
# word stem is enough: the window is a clause long, so an unrelated later
# verb rarely stands between it and the value.
_RELATION_WORDS: Final = (
    r"work(?:s|ed|ing)?|employed|employee|employment|hired|join(?:s|ed|ing)?|"
    r"intern(?:s|ed|ing|ship)?|trainee|stud(?:y|ies|ied|ying)|student|graduat(?:e|es|ed|ing)|"
    r"alumn(?:us|a|i|ae)|attend(?:s|ed|ing)?|enrol(?:l|ls|led|ling)?|admitted|accepted|"
    r"live(?:s|d)?|living|resid(?:e|es|ed|ing|ent)|based|moved|relocated|born|raised|"
    r"grew\s+up|hometown|treated|hospitali[sz]ed|diagnosed|stay(?:s|ed|ing)?|"
    r"teach(?:es|ing)?|taught|teacher|serv(?:e|es|ed|ing)|volunteer(?:s|ed|ing)?|"
    r"appl(?:y|ies|ied|ying)|applicant|interview(?:s|ed|ing)?|position|role|job|offer|"
    r"vacancy|career|engineer|manager|director|officer|analyst|consultant|developer|"
    r"assistant|specialist|coordinator|supervisor|lecturer|professor|researcher|nurse|"
    r"physician|accountant|designer|executive|representative|technician|administrator|"
    r"scientist|associate|clerk|worker|agent|cashier|tutor|trainer|"
    r"founder|owner|member|lead|head|ceo|cto|cfo|president|"
    r"experience|attachment|education|degree|bachelor|master|diploma|phd|mba|"
    r"application|letter|resume|cv|located|been\s+(?:with|in|at)|"
    r"go|goes|going|went|travel(?:s|l?ed|l?ing)?|trip|visit(?:s|ed|ing)?|fly|flying|flew|"
    r"flight|host(?:s|ed|ing)?|partner(?:s|ed|ing|ship|ships)?|supplier|vendor|"
    r"company|employer|school|university|college|hospital|clinic|bank|firm|office|"
    r"department|team|organi[sz]ation|branch|store|business|startup|city|town|village|"
    r"country|neighbou?rhood|from"
)
_RELATION_BEFORE: Final = re.compile(
    rf"\b(?:{_RELATION_WORDS})\b(?:\W{{1,3}}\w+){{0,6}}?\W*$", re.IGNORECASE
)

# After the value: a relative clause or apposition naming a person
# ("Napco, where I worked", "Google, my employer", "Google hired me").
_RELATION_AFTER: Final = re.compile(
    rf"^\W{{0,3}}(?:(?:where|which|that|who|whom)\s+(?:{_PERSON_WORDS})\b|"
    r"(?:is|was|are|were|,|-|–|\()\s*(?:my|our|his|her|their)\b|"
    r"(?:hired|employs|employed|accepted|admitted|treated)\s+(?:me|us|him|her|them)\b)",
    re.IGNORECASE,
)

# An address label makes whatever follows someone's address.
_ADDRESS_BEFORE: Final = re.compile(
    r"\b(?:address|addr|residence|domicile)\b\W{0,3}$", re.IGNORECASE
)

# A birth date is personal; other dates are not, on their own.
_BIRTH_BEFORE: Final = re.compile(
    r"\b(?:born|birthday|birth\s*date|date\s+of\s+birth|d\.?o\.?b|birth)\b(?:\W{1,3}\w+){0,3}\W*$",
    re.IGNORECASE,
)

# Chinese: a person word in the clause before the value ...
_ZH_PERSON: Final = re.compile(
    r"我|咱|本人|他|她|儿子|女儿|孩子|老公|老婆|丈夫|妻子|爸|妈|父亲|母亲|哥|姐|弟|妹|朋友|同事|客户|患者|病人|同学|家"
)
# ... and a possessive or relational word right before it, or a relational
# verb right after it ("我在北京工作", "毕业于复旦大学", "我们公司").
_ZH_BEFORE: Final = re.compile(
    r"(?:我的|我们的|他的|她的|他们的|我们|咱们|我家|本人|就读于|毕业于|任职于|就职于|"
    r"供职于|受雇于|工作于|求学于|来自|住在|家住|住址|地址|居住地|居住在|生活在|出生于|"
    r"出生在|生于|入职|加入|考入|考上|录取|在职于|实习于|就诊于|住院于)"
    # "我们公司华为", "我的学校": an institution noun may follow the possessive.
    r"(?:公司|单位|学校|大学|学院|医院|银行|团队|部门|家乡|老家|工厂|店)?[:：\s]{0,2}$"
)
_ZH_AT_BEFORE: Final = re.compile(r"(?:在|于|到|去|从)$")
_ZH_AFTER: Final = re.compile(
    r"^(?:工作|上班|任职|就职|上学|读书|就读|念书|学习|实习|毕业|生活|居住|住|出生|长大|"
    r"治疗|住院|就医|看病|读|的学生|的员工|的老师)"
)
_ZH_BIRTH_BEFORE: Final = re.compile(r"(?:出生于|出生在|出生日期|生日|生于)[:：是为\s]{0,2}$")

# A period of someone's history next to the value: "Napco, Feb 2019 - 2022",
# "BEVPAK Nigeria Limited, Ibadan, June 2010 to December 2010". Resumes in
# prompts are often flattened onto one line, so this reads the clause, not
# the line.
_MONTH: Final = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE_RANGE: Final = re.compile(
    rf"(?<!\d)(?:{_MONTH}\s*)?(?:19|20)\d{{2}}\s*(?:-|–|—|to|until|till)\s*"
    rf"(?:(?:{_MONTH}\s*)?(?:19|20)\d{{2}}(?!\d)|present\b|current\b|now\b|today\b|date\b)",
    re.IGNORECASE,
)

# Resumes and CVs: "2015 Arab Open University - Bachelor of Arts",
# "Napco National Company | 2018 - present". A short line with a year, in a
# text of several lines, is an entry of someone's history.
_YEAR: Final = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)|\bpresent\b|至今", re.IGNORECASE)
_RESUME_LINE_MAX: Final = 120
_RESUME_MIN_LINES: Final = 3


def _is_zh(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


def _clause_left(text: str, start: int, window: int) -> str:
    left = text[max(0, start - window) : start]
    cut = 0
    for match in _CLAUSE_END.finditer(left):
        cut = match.end()
    return left[cut:]


def _clause_right(text: str, end: int, window: int) -> str:
    right = text[end : end + window]
    cut = _CLAUSE_END.search(right)
    return right[: cut.start()] if cut else right


def _subject_ok(clause_before_cue: str, person_spans: bool) -> bool:
    """Whether the clause before a relational cue belongs to a person.

    True with a pronoun or kin word, a PERSON finding, or no subject at all
    (a bullet or a resume line starting with the verb).
    """
    if person_spans or _PERSON.search(clause_before_cue):
        return True
    return not re.search(r"[^\W\d_]", clause_before_cue)


def _english_personal(left: str, right: str, has_person: bool) -> bool:
    if _POSSESSIVE_BEFORE.search(left) or _RELATION_AFTER.search(right):
        return True
    if _ADDRESS_BEFORE.search(left):
        return True
    cue = _RELATION_BEFORE.search(left)
    return cue is not None and _subject_ok(left[: cue.start()], has_person)


def _chinese_personal(left: str, right: str) -> bool:
    if _ZH_BEFORE.search(left):
        return True
    tied = _ZH_AT_BEFORE.search(left) is not None or _ZH_AFTER.search(right) is not None
    return tied and _ZH_PERSON.search(left) is not None


class _Lines:
    """Line starts of a text, found once, for the resume shape."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts = [0] + [m.end() for m in re.finditer(r"\n", text)]

    @property
    def count(self) -> int:
        return len(self._starts)

    def line_at(self, position: int) -> str:
        index = bisect_right(self._starts, position) - 1
        start = self._starts[index]
        end = self._starts[index + 1] - 1 if index + 1 < len(self._starts) else len(self._text)
        return self._text[start:end]


def _is_personal(text: str, finding: Finding, lines: _Lines, person_at: list[int]) -> bool:
    start, end = finding.start, finding.end
    zh = _is_zh(text[start])
    window = _WINDOW_ZH if zh else _WINDOW
    left = _clause_left(text, start, window)
    right = _clause_right(text, end, window)
    if finding.entity_type in _BIRTH_ONLY:
        return bool(_BIRTH_BEFORE.search(left) or _ZH_BIRTH_BEFORE.search(left))
    # Chinese cues read the characters next to the value whatever its script.
    zh_left = _clause_left(text, start, _WINDOW_ZH)
    zh_right = _clause_right(text, end, _WINDOW_ZH)
    if _chinese_personal(zh_left, zh_right):
        return True
    first = bisect_left(person_at, start - len(left))
    has_person = first < len(person_at) and person_at[first] < end + len(right)
    if _english_personal(left, right, has_person):
        return True
    if _DATE_RANGE.search(left) or _DATE_RANGE.search(right):
        return True
    if lines.count >= _RESUME_MIN_LINES:
        line = lines.line_at(start)
        if len(line) <= _RESUME_LINE_MAX and _YEAR.search(line):
            return True
    return False


def mark_relations(text: str, findings: Sequence[Finding]) -> list[Finding]:
    """``findings`` in the same order, with ``relation`` set where the text decides it.

    ``personal`` on findings of ``RELATED_TYPES`` tied to a person; then
    ``public`` on world-known places when nothing in the text is personal.
    The other findings come back unchanged.
    """
    if not any(f.entity_type in RELATED_TYPES for f in findings):
        return list(findings)
    lines = _Lines(text)
    person_at = sorted(f.start for f in findings if f.entity_type == "PERSON")
    marked = [
        replace(f, relation=PERSONAL)
        if f.entity_type in RELATED_TYPES
        and f.relation is None
        and _is_personal(text, f, lines, person_at)
        else f
        for f in findings
    ]
    if any(
        f.entity_type not in RELATED_TYPES
        or f.entity_type in _PUBLIC_BLOCKERS
        or f.relation == PERSONAL
        for f in marked
    ):
        return marked
    return [
        replace(f, relation=PUBLIC)
        if f.entity_type == "LOCATION" and f.relation is None and is_public_place(f.value_in(text))
        else f
        for f in marked
    ]
