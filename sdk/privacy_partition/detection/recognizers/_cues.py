"""Presidio recognizers for names and user names that only a nearby cue reveals.

Detected entities:

* ``PERSON`` (``en`` only): a name after a first-person introduction, in any
  case ("i am belal", "I'm Belal", "my name is belal", "call me belal",
  "signed, belal"); an author after "Author:", "@author", "by-" or "©".
* ``LOCATION`` (``en`` only): a country the writer places themselves in,
  in any case ("my country is belarus", "i live in jordan", "we are based in
  oman"); NER finds capitalized ones, lower-case ones only this cue reveals.
  The value must be a country or continent name (``_places``).
* ``USERNAME``: a handle (@name), a value after "username:" / "login=" /
  用户名：, the user part of a ``name/secret`` login pair next to a credential
  word (password, login, доступ, 密码 ...), and the user folder of a path
  (``C:\\Users\\<name>\\``, ``/home/<name>/``, ``/Users/<name>/``). Only the
  user name is reported: the rest of a path is kept for the reader.

Guarantees:

* Introductions exclude spaCy's English stop words and lists of frequent
  adjectives, participles, jobs and nationalities ("i am happy", "I am writing",
  "i am interested", "I am a student" report nothing); a lower-case value must
  be followed by punctuation or a word that continues an introduction ("i am
  belal a gp doctor", "I am beachandbytes, a developer").
* Every regular expression runs in linear time: each match is bounded, and no
  unbounded quantifiers nest or overlap.
* Context is read from the raw text, as in the Chinese recognizers.
* Recognizers hold no per-call state and may be shared between threads.
* A matched value never appears in an exception or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Final

from presidio_analyzer import EntityRecognizer, Pattern
from spacy.lang.en.stop_words import STOP_WORDS

from privacy_partition.detection._places import is_public_place
from privacy_partition.detection.recognizers._zh import _Candidate, _RawTextRecognizer

__all__ = ["cue_recognizers"]

_LANGUAGES: Final = ("en", "zh")

# Words that follow "I am" far more often than a name does.
_NOT_NAME_WORDS: Final = frozenset(
    {"happy", "glad", "sorry", "sure", "fine", "good", "great", "new", "old", "young"}
    | {"tired", "sick", "ill", "ready", "able", "unable", "afraid", "aware", "alone"}
    | {"busy", "free", "late", "right", "wrong", "stuck", "lost", "confused", "curious"}
    | {"excited", "interested", "pleased", "delighted", "thrilled", "grateful", "thankful"}
    | {"hungry", "bored", "worried", "scared", "angry", "sad", "proud", "honored", "eager"}
    | {"familiar", "responsible", "capable", "passionate", "confident", "certain", "keen"}
    | {"currently", "still", "just", "really", "actually", "also", "now", "already"}
    | {"looking", "writing", "trying", "working", "going", "planning", "using", "getting"}
    | {"doing", "making", "having", "building", "creating", "developing", "learning"}
    | {"thinking", "wondering", "asking", "reaching", "applying", "studying", "running"}
    | {"reading", "coming", "feeling", "hoping", "seeking", "preparing", "attaching"}
    | {"sending", "facing", "experiencing", "considering", "based", "located", "from"}
    | {"student", "teacher", "developer", "engineer", "doctor", "nurse", "manager"}
    | {"designer", "writer", "programmer", "researcher", "professor", "lawyer", "scientist"}
    | {"beginner", "expert", "freelancer", "consultant", "founder", "owner", "ceo", "cto"}
    | {"analyst", "admin", "user", "customer", "client", "member", "candidate", "parent"}
    | {"mom", "dad", "mother", "father", "wife", "husband", "girl", "boy", "man", "woman"}
    | {"chinese", "american", "english", "british", "indian", "french", "german", "russian"}
    | {"japanese", "korean", "spanish", "italian", "canadian", "australian", "african"}
    | {"muslim", "christian", "male", "female", "married", "single", "pregnant", "retired"}
    | {"unemployed", "employed", "human", "ai", "chatgpt", "gpt", "bot", "assistant"}
    | {"okay", "ok", "dan", "yes", "no", "hi", "hello", "hey", "dear", "sir", "madam"}
    | {"fluent", "native", "senior", "junior", "lead", "head", "chief", "intern", "there"}
    | {"gone", "done", "back", "home", "away", "alive", "dead", "online", "offline", "lucky"}
    | {"please", "thanks", "regards", "sincerely", "best", "cheers", "team", "example"}
)
# Endings of adjectives, participles and adverbs in lower-case text.
_NOT_NAME_ENDINGS: Final = ("ing", "ed", "ly", "ful", "ous", "ive", "able", "ible", "less")
# After a lower-case name: punctuation, or a word that carries the introduction
# on ("i am belal a gp doctor", "i'm belal from cairo", "i am belal and ...").
_AFTER_LOWER_NAME: Final = re.compile(
    r"\s*(?:[,.;:!?\n)]|$|(?:a|an|the|from|and|here|speaking|by)(?![A-Za-z]))"
)

# Placeholders and system accounts, which name nobody.
_NOT_USER_NAMES: Final = frozenset(
    {"user", "username", "user_name", "yourname", "your_name", "yourusername", "name", "me"}
    | {"your_username", "youruser", "your-username", "you", "public", "default", "shared"}
    | {"all users", "default user", "ubuntu", "pi", "root", "ec2-user", "runner", "vagrant"}
    | {"admin", "administrator", "centos", "debian", "guest", "test", "example", "none"}
    | {"null", "true", "false", "string", "str", "xxx", "xxxx", "required", "optional"}
    | {"john", "johndoe", "john_doe", "jdoe", "foo", "bar", "someone", "somebody", "x"}
    | {"password", "email", "input", "self", "this", "data", "id", "value", "str"}
)
# Handles that are programming syntax: decorators, Javadoc, CSS and Sass rules,
# mentions for everyone.
_NOT_HANDLES: Final = frozenset(
    {"param", "return", "returns", "throws", "throw", "author", "see", "since", "version"}
    | {"deprecated", "override", "property", "staticmethod", "classmethod", "dataclass"}
    | {"media", "import", "keyframes", "interface", "end", "implementation", "charset"}
    | {"supports", "apply", "tailwind", "mixin", "include", "extend", "if", "else", "each"}
    | {"use", "forward", "everyone", "here", "channel", "all", "type", "typedef", "var"}
    | {"link", "example", "todo", "fixme", "test", "before", "after", "inject", "input"}
    | {"output", "component", "injectable", "ngmodule", "entity", "column", "id", "table"}
    | {"gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "mail", "email", "home"}
)

_MAX_INDENT: Final = 80
_HANDLE: Final = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,38}[A-Za-z0-9_])?"
# Introduction cues; the name after them is one or two words.
_INTRO_CUES: Final = (
    r"i\s?am",
    r"i['’]m",
    r"im",
    r"my\s+name\s+is",
    r"my\s+name['’]s",
    r"name['’]s",
    r"call\s+me",
    r"signed,?",
    r"this\s+is",
)
# Words that name credentials; a ``name/secret`` pair counts only next to one.
_CREDENTIAL_CONTEXT: Final = (
    "password",
    "passwd",
    "pwd",
    "login",
    "credentials",
    "credential",
    "access",
    "auth",
    "ssh",
    "snmp",
    "доступ",
    "доступу",
    "пароль",
    "логин",
    "密码",
    "账号",
    "帐号",
    "登录",
)
_USER_CONTEXT: Final = ("user", "username", "login", "account", "handle", "用户名", "账号")
_PERSON_CONTEXT: Final = ("name", "author", "signed", "copyright")
_PLACE_CONTEXT: Final = ("country", "live", "from", "based")


def _is_name_word(word: str) -> bool:
    lower = word.lower()
    if lower in STOP_WORDS or lower in _NOT_NAME_WORDS or len(lower) < 2:
        return False
    return not (word.islower() and lower.endswith(_NOT_NAME_ENDINGS))


class IntroducedNameRecognizer(_RawTextRecognizer):
    """A person's name after "I am", "my name is", "call me", "signed," ...

    A capitalized name is trusted more than a lower-case one, which must also
    be followed by punctuation or a word that carries the introduction on.
    """

    _CAPITALIZED_SCORE: Final = 0.6
    _LOWER_SCORE: Final = 0.5

    def __init__(self, language: str, context: Sequence[str]) -> None:
        regex = (
            r"(?<![A-Za-z])(?i:" + "|".join(_INTRO_CUES) + r")[ \t]+"
            r"(?P<value>[A-Za-z][A-Za-z-]{1,29})(?![A-Za-z'’-])"
            r"(?:[ \t](?P<second>[A-Z][a-z]{1,29})(?![A-Za-z'’-]))?"
        )
        self._cue = Pattern("en_introduction", regex, self._CAPITALIZED_SCORE)
        super().__init__(entity="PERSON", language=language, patterns=[self._cue], context=context)

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for match in self._compiled[0][1].finditer(text):
            word = match.group("value")
            if not _is_name_word(word):
                continue
            start, end = match.span("value")
            capitalized = word[0].isupper() and not word.isupper()
            cue = match.group()[: start - match.start()].strip().lower()
            if not capitalized:
                # "this is x" in lower case is nearly always "this is python".
                if cue.startswith("this") or not _AFTER_LOWER_NAME.match(text, end):
                    continue
                yield _Candidate(start, end, self._LOWER_SCORE, self._cue)
                continue
            second = match.group("second")
            if second is not None and _is_name_word(second):
                end = match.end("second")
            yield _Candidate(start, end, self._CAPITALIZED_SCORE, self._cue)


class AuthorRecognizer(_RawTextRecognizer):
    """The author named by "Author:", "@author", "by-" or a copyright sign."""

    _SCORE: Final = 0.6

    def __init__(self, language: str, context: Sequence[str]) -> None:
        year = r"(?:(?:19|20)[0-9]{2}(?:[ ]?[-–][ ]?(?:19|20)[0-9]{2})?,?[ ]?)?"
        regex = (
            r"(?i:(?<![A-Za-z])author[ \t]{0,3}[:=][ \t]{0,3}[\"']?(?:by[-\s])?"
            r"|@author[ \t]{1,3}"
            r"|(?<![A-Za-z-])by-"
            r"|©[ \t]{0,3}(?:copyright[ \t]{1,3})?" + year + r")"
            r"(?P<value>" + _HANDLE + r")(?![A-Za-z0-9_])"
            r"(?:[ \t](?P<second>[A-Z][a-z]{1,29})(?![A-Za-z]))?"
        )
        self._cue = Pattern("author_cue", regex, self._SCORE)
        super().__init__(entity="PERSON", language=language, patterns=[self._cue], context=context)

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for match in self._compiled[0][1].finditer(text):
            start, end = match.span("value")
            word = match.group("value")
            if word.lower() in STOP_WORDS or word.lower() in _NOT_USER_NAMES or word.isdigit():
                continue
            second = match.group("second")
            if second is not None and second.lower() not in STOP_WORDS:
                end = match.end("second")
            yield _Candidate(start, end, self._SCORE, self._cue)


class UserNameRecognizer(_RawTextRecognizer):
    """Handles, labelled user names and the user part of a ``name/secret`` pair."""

    _LABEL_SCORE: Final = 0.7
    _HANDLE_SCORE: Final = 0.5
    _PAIR_SCORE: Final = 0.6
    _PAIR_WINDOW: Final = 60

    def __init__(self, language: str, context: Sequence[str]) -> None:
        label = (
            r"(?i)(?:(?<![A-Za-z_])(?:user[ _-]?name|user[ _-]?id|login|log-in|nick(?:name)?"
            r"|screen[ _]name|handle)|用户名|登录名|账号|帐号)[ \t]{0,3}[:：=][ \t]{0,3}"
            r"[\"'“]?(?P<value>" + _HANDLE + r")(?![A-Za-z0-9_(\[])"
        )
        handle = r"(?<![A-Za-z0-9_@./:\\-])@(?P<value>" + _HANDLE + r")(?!\.?[A-Za-z0-9_@(=/])"
        pair = (
            r"(?<![A-Za-z0-9_./:\\@-])(?P<value>[A-Za-z][A-Za-z0-9_.-]{2,30})"
            r"/(?P<secret>[^\s/]{6,40})(?![^\s/])"
        )
        self._label = Pattern("username_label", label, self._LABEL_SCORE)
        self._handle = Pattern("username_handle", handle, self._HANDLE_SCORE)
        self._pair = Pattern("username_pair", pair, self._PAIR_SCORE)
        self._credential = re.compile("|".join(_CREDENTIAL_CONTEXT), re.IGNORECASE)
        super().__init__(
            entity="USERNAME",
            language=language,
            patterns=[self._label, self._handle, self._pair],
            context=context,
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        (_, label_re), (_, handle_re), (_, pair_re) = self._compiled
        for match in label_re.finditer(text):
            if match.group("value").lower() not in _NOT_USER_NAMES:
                yield _Candidate(*match.span("value"), self._LABEL_SCORE, self._label)
        for match in handle_re.finditer(text):
            value = match.group("value")
            if _starts_line(text, match.start()):
                continue
            if value.lower() in _NOT_HANDLES or value.isdigit():
                continue
            yield _Candidate(*match.span("value"), self._HANDLE_SCORE, self._handle)
        for match in pair_re.finditer(text):
            user = match.group("value")
            # A dotted name with digits is a version or a file (v2.1/release3).
            if ("." in user and any(c.isdigit() for c in user)) or not _looks_secret(
                match.group("secret")
            ):
                continue
            around = text[
                max(0, match.start() - self._PAIR_WINDOW) : match.end() + self._PAIR_WINDOW
            ]
            if self._credential.search(around):
                yield _Candidate(*match.span("value"), self._PAIR_SCORE, self._pair)


def _starts_line(text: str, pos: int) -> bool:
    """True when only indentation precedes ``pos`` on its line: a decorator
    (@app.route, @property). The look-back is bounded to stay linear."""
    before = text[max(0, pos - _MAX_INDENT) : pos]
    line = before.rsplit("\n", 1)[-1]
    return not line.strip() and ("\n" in before or pos <= _MAX_INDENT)


def _looks_secret(value: str) -> bool:
    """Letters and digits mixed, as in a password, not a word or a version."""
    has_digit = any(c.isdigit() for c in value)
    has_lower = any(c.islower() for c in value)
    has_upper = any(c.isupper() for c in value)
    return has_digit and (has_lower or has_upper) and not value.isdigit()


class UserFolderRecognizer(_RawTextRecognizer):
    """The user name in ``C:\\Users\\<name>``, ``/home/<name>`` and ``/Users/<name>``."""

    _SCORE: Final = 0.7

    def __init__(self, language: str, context: Sequence[str]) -> None:
        separator = r"(?:\\{1,2}|/)"
        folder = r"[^\\/\s:*?\"<>|'“”‘’`;,]{1,40}"
        regex = (
            r"(?:(?<![A-Za-z])[A-Za-z]:"
            + separator
            + r"(?i:users|documents and settings)"
            + separator
            + r"|(?<![A-Za-z0-9_.~-])/(?:home|Users)/)"
            r"(?P<value>" + folder + r")(?=\\|/|[\s\"'“”‘’`;,]|$)"
        )
        self._path = Pattern("user_folder", regex, self._SCORE)
        super().__init__(
            entity="USERNAME", language=language, patterns=[self._path], context=context
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for match in self._compiled[0][1].finditer(text):
            value = match.group("value")
            if value.lower() in _NOT_USER_NAMES or value.startswith(("%", "$", "<", "{", "[")):
                continue
            yield _Candidate(*match.span("value"), self._SCORE, self._path)


class HomeCountryRecognizer(_RawTextRecognizer):
    """The country after "my country is", "I live in", "I am from", "we are based in"."""

    _SCORE: Final = 0.6
    _MAX_WORDS: Final = 3

    def __init__(self, language: str, context: Sequence[str]) -> None:
        regex = (
            r"(?<![A-Za-z])(?i:(?:my|our)[ \t]+(?:home[ \t]?)?(?:country|homeland|motherland)"
            r"[ \t]+(?:is|was)|(?:i|we)[ \t]+(?:(?:am|are|was|were)[ \t]+)?(?:living|live|lived"
            r"|based|residing|reside|staying|stay|come|came|from)(?:[ \t]+(?:in|from))?"
            r"|i['’]m[ \t]+(?:living[ \t]+in|based[ \t]+in|from))[ \t]+(?:the[ \t]+)?"
            r"(?P<value>[A-Za-z][A-Za-z.'’-]{1,29}(?:[ \t][A-Za-z][A-Za-z.'’-]{1,29}){0,2})"
        )
        self._cue = Pattern("home_country", regex, self._SCORE)
        super().__init__(
            entity="LOCATION", language=language, patterns=[self._cue], context=context
        )

    def _candidates(self, text: str) -> Iterator[_Candidate]:
        for match in self._compiled[0][1].finditer(text):
            start = match.start("value")
            words = match.group("value").split()
            # The longest run of words that names a country: "saudi arabia", "oman".
            for count in range(min(len(words), self._MAX_WORDS), 0, -1):
                name = " ".join(words[:count]).rstrip(".")
                if is_public_place(name):
                    yield _Candidate(start, start + len(name), self._SCORE, self._cue)
                    break


def cue_recognizers(language: str) -> list[EntityRecognizer]:
    """Cue-based recognizers for ``language`` ("en" or "zh").

    "en" gets every recognizer; "zh" gets the language-neutral ones (authors,
    handles, labelled user names, login pairs, user folders), so Chinese text
    with code in it is covered too. Each call builds new instances; build once
    and reuse them.
    """
    if language not in _LANGUAGES:
        raise ValueError(f"cue recognizers support {_LANGUAGES}, not {language!r}")
    recognizers: list[EntityRecognizer] = [
        AuthorRecognizer(language, _PERSON_CONTEXT),
        UserNameRecognizer(language, _USER_CONTEXT),
        UserFolderRecognizer(language, _USER_CONTEXT),
    ]
    if language == "en":
        recognizers.insert(0, IntroducedNameRecognizer(language, _PERSON_CONTEXT))
        recognizers.append(HomeCountryRecognizer(language, _PLACE_CONTEXT))
    return recognizers
