"""Presidio recognizers for secrets: credentials that grant access to whoever holds them.

Entities and the recognizers that report them:

* ``API_KEY``: ``ProviderApiKeyRecognizer`` (tokens whose documented prefix or
  shape names the provider: AWS, GitHub, GitLab, Slack, Stripe, OpenAI,
  Anthropic, Google, Twilio, SendGrid, npm, PyPI, Hugging Face) and
  ``SecretAssignmentRecognizer`` (``api_key = ...``, ``token: ...``,
  ``Authorization: Bearer ...`` whose value passes an entropy check).
* ``PRIVATE_KEY``: ``PemPrivateKeyRecognizer``, a PEM or PGP armored private key.
* ``JWT``: ``JwtRecognizer``, a JSON Web Token whose header decodes to JSON.
* ``PASSWORD``: ``PasswordAssignmentRecognizer`` (``password: ...``,
  ``密码：...``) and ``PasswordPhraseRecognizer`` (``my password is ...``).
* ``CONNECTION_STRING``: ``CredentialedUriRecognizer``
  (``postgres://user:pass@host``) and ``AdoConnectionStringRecognizer``
  (``Server=...;Password=...;``).

Guarantees:

* Every regular expression runs in time linear in the text: a match can start
  only after a character its body cannot contain, or its scan is bounded by a
  constant, so no start re-scans another's run.
* A finding covers the secret, never its label: ``password: `` and
  ``api_key = `` stay visible. PEM blocks, JWTs and connection strings are
  reported whole.
* Recognizers are language-independent, hold no mutable state and are safe to
  share between threads; the patterns compile once, at import.
* Nothing is logged, and no message carries a matched value.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from presidio_analyzer import (
    AnalysisExplanation,
    EntityRecognizer,
    LocalRecognizer,
    RecognizerResult,
)

if TYPE_CHECKING:
    from presidio_analyzer.nlp_engine import NlpArtifacts

__all__ = ["secret_recognizers"]

# Characters that end an unquoted value: whitespace, quotes, markup, and CJK
# text or full-width punctuation, because Chinese prose puts no space after a
# value ("密码：Abc12345，请保管").
_VALUE_STOP = r"\s\"'<>`\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
# Sentence punctuation that follows a value in prose rather than ending it.
_TRAILING_PUNCTUATION = ".,;:)"
# Value groups taken verbatim: their closing quote already bounds them.
_QUOTED_GROUPS = ("double_quoted", "single_quoted")
_QUOTED = r"(?:\"(?P<double_quoted>[^\"\r\n]+)\"|'(?P<single_quoted>[^'\r\n]+)')"
# An unquoted value may not open with a bracket: "(optional)" and "{{var}}"
# are prose and templates, not secrets.
_BARE = rf"(?P<value>[^{_VALUE_STOP}(\[{{][^{_VALUE_STOP}]*)"
# ``key: value``, ``key = value``, ``"key": value``, ``key => value``, ``key：value``.
_ASSIGN = r"[\"']?[ \t]*(?:=>|:=|[:=：])[ \t]*"

_MIN_PASSWORD_LENGTH = 4
_MIN_GENERIC_SECRET_LENGTH = 16
# Bits per character. A random 16-character hex string averages about 3.2
# bits, base64 about 3.8; English words with a number appended stay near 3.
_MIN_ENTROPY = 3.3
_MIN_ENTROPY_HEX = 2.5
_HEX_DIGITS = frozenset("0123456789abcdef")
# A PEM body longer than this (four times a 4096-bit RSA key) is reported as
# truncated rather than scanned further, which bounds the work per BEGIN line.
_PEM_BODY_MAX = 20_000
# A JWT header is a few hundred characters; a cap keeps decoding cheap.
_JWT_HEADER_MAX = 16_384

# Documentation placeholders and environment references, not secrets.
_TEMPLATE_REFERENCE = re.compile(
    r"\$\{[^}]*\}|\{\{[^}]*\}\}|%\([^)]*\)s|\$[A-Z_][A-Z0-9_]*|<[^>]*>"
)
_MASK_CHARACTERS = frozenset("*xX•●·#")
# A provider-shaped token with a long run of one character is a placeholder
# (``AKIAXXXXXXXXXXXXXXXX``, ``T00000000``); random tokens almost never have one.
_FILLER_RUN = re.compile(r"(.)\1{7}")
# A call or subscript on the right of ``password=``: code, not a secret.
_CODE_REFERENCE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*[(\[]")
# Words that follow a password label in forms, docs and type hints.
_NOT_A_PASSWORD = frozenset(
    {
        "blank",
        "bytes",
        "empty",
        "enter",
        "false",
        "hidden",
        "masked",
        "none",
        "null",
        "optional",
        "passphrase",
        "passwd",
        "password",
        "redacted",
        "required",
        "secretstr",
        "string",
        "true",
        "undefined",
        "unknown",
        "your",
    }
)


@dataclass(frozen=True, slots=True)
class _Rule:
    """One pattern of a recognizer and the score of what it finds."""

    name: str
    regex: re.Pattern[str]
    score: float


def _rule(name: str, pattern: str, score: float) -> _Rule:
    return _Rule(name, re.compile(pattern), score)


def _word(token: str, word: str) -> str:
    """``token`` not preceded or followed by a character of the class body ``word``.

    ``word`` must cover every character a variable-length ``token`` body can
    hold: then no match starts inside another's run, which keeps the scan linear.
    """
    return rf"(?<![{word}]){token}(?![{word}])"


class _SecretRecognizer(LocalRecognizer):
    """Finds a secret with regex rules and reports the span of its value.

    A rule reports its first named group that took part in the match, or the
    whole match if none did. A quoted group is reported verbatim; any other
    group loses trailing sentence punctuation (``hunter2.`` gives ``hunter2``).
    """

    ENTITY: ClassVar[str]
    RULES: ClassVar[tuple[_Rule, ...]]
    name: str  # set by EntityRecognizer.__init__, which leaves it untyped

    def __init__(self, supported_language: str) -> None:
        super().__init__(
            supported_entities=[self.ENTITY],
            name=type(self).__name__,
            supported_language=supported_language,
        )

    def load(self) -> None:
        """Nothing to load: the rules are compiled at import."""

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        for rule in self.RULES:
            for match in rule.regex.finditer(text):
                start, end = self._span(match)
                if start < end and self.validate_result(text[start:end]):
                    results.append(self._result(rule, start, end))
        found: list[RecognizerResult] = EntityRecognizer.remove_duplicates(results)
        return found

    def validate_result(self, pattern_text: str) -> bool:
        """Whether the reported text is a secret rather than something shaped like one.

        A gate, unlike ``PatternRecognizer.validate_result``: passing keeps the
        rule's score instead of raising it to 1.0, so a generic assignment still
        ranks below a provider-prefixed key.
        """
        return True

    def _span(self, match: re.Match[str]) -> tuple[int, int]:
        for group, value in match.groupdict().items():
            if value is None:
                continue
            start, end = match.span(group)
            if group not in _QUOTED_GROUPS:
                end = start + len(value.rstrip(_TRAILING_PUNCTUATION))
            return start, end
        return match.span()

    def _result(self, rule: _Rule, start: int, end: int) -> RecognizerResult:
        explanation = AnalysisExplanation(
            recognizer=self.name,
            original_score=rule.score,
            pattern_name=rule.name,
            pattern=rule.regex.pattern,
            textual_explanation=f"Detected by `{self.name}` using rule `{rule.name}`",
        )
        return RecognizerResult(
            entity_type=self.ENTITY,
            start=start,
            end=end,
            score=rule.score,
            analysis_explanation=explanation,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
            },
        )


def _is_placeholder(value: str) -> bool:
    return _TEMPLATE_REFERENCE.fullmatch(value) is not None or set(value) <= _MASK_CHARACTERS


def _is_dotted_identifier(value: str) -> bool:
    """``settings.API_KEY``, ``self.password``: an attribute read in code."""
    return "." in value and all(part.isidentifier() for part in value.split("."))


def _shannon_entropy(value: str) -> float:
    length = len(value)
    return -sum(n / length * math.log2(n / length) for n in Counter(value).values())


def _looks_random(value: str) -> bool:
    """Whether ``value`` has the letters, digits and entropy of a generated secret.

    Hex strings draw on 16 symbols, so they get a lower entropy bar than the
    base64 alphabet; words with a number appended fail both.
    """
    if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return False
    hexadecimal = set(value.lower()) <= _HEX_DIGITS and (value.islower() or value.isupper())
    return _shannon_entropy(value) >= (_MIN_ENTROPY_HEX if hexadecimal else _MIN_ENTROPY)


class ProviderApiKeyRecognizer(_SecretRecognizer):
    """API keys identified by their provider's documented prefix and length."""

    ENTITY = "API_KEY"
    RULES = (
        _rule("aws_access_key_id", _word(r"(?:AKIA|ASIA)[A-Z0-9]{16}", "A-Za-z0-9"), 0.95),
        # Forty base64 characters are only an AWS secret next to their label.
        _rule(
            "aws_secret_access_key",
            r"(?<![A-Za-z0-9])(?i:aws[_\-. ]?secret(?:[_\-. ]?access)?[_\-. ]?key"
            r"|secret[_\-. ]?access[_\-. ]?key)"
            rf"{_ASSIGN}[\"']?(?P<value>[A-Za-z0-9/+=]{{40}})(?![A-Za-z0-9/+=])",
            0.9,
        ),
        _rule("github_token", _word(r"gh[pousr]_[A-Za-z0-9]{36}", "A-Za-z0-9_"), 0.95),
        _rule("github_fine_grained_pat", _word(r"github_pat_[A-Za-z0-9_]{82}", "A-Za-z0-9_"), 0.95),
        _rule("gitlab_pat", _word(r"glpat-[A-Za-z0-9_-]{20,}", "A-Za-z0-9_-"), 0.95),
        _rule("slack_token", _word(r"xox[baprs]-[A-Za-z0-9-]{10,}", "A-Za-z0-9-"), 0.95),
        _rule(
            "slack_webhook",
            r"(?<![A-Za-z0-9])https://hooks\.slack\.com/(?:services|workflows|triggers)/"
            r"[A-Za-z0-9_/+-]{20,}",
            0.95,
        ),
        _rule(
            "stripe_key",
            _word(r"(?:(?:sk|rk)_(?:live|test)|pk_live)_[A-Za-z0-9]{20,}", "A-Za-z0-9_"),
            0.95,
        ),
        # Legacy OpenAI keys are alphanumeric after ``sk-``; requiring 32 of them
        # keeps ``sk-learn`` and other short ``sk-`` words out.
        _rule("openai_key", _word(r"sk-[A-Za-z0-9]{32,}", "A-Za-z0-9_-"), 0.95),
        _rule(
            "openai_scoped_key",
            _word(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}", "A-Za-z0-9_-"),
            0.95,
        ),
        _rule("anthropic_key", _word(r"sk-ant-[A-Za-z0-9_-]{20,}", "A-Za-z0-9_-"), 0.95),
        _rule("google_api_key", _word(r"AIza[A-Za-z0-9_-]{35}", "A-Za-z0-9_-"), 0.95),
        _rule("google_oauth_token", _word(r"ya29\.[A-Za-z0-9_-]{20,}", "A-Za-z0-9_-"), 0.95),
        _rule("twilio_api_key", _word(r"SK[0-9a-fA-F]{32}", "A-Za-z0-9"), 0.9),
        _rule(
            "sendgrid_key",
            _word(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", "A-Za-z0-9_-"),
            0.95,
        ),
        _rule("npm_token", _word(r"npm_[A-Za-z0-9]{36}", "A-Za-z0-9_"), 0.95),
        # The fixed part is the base64 of the macaroon's location, "pypi.org".
        _rule("pypi_token", _word(r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}", "A-Za-z0-9_-"), 0.95),
        _rule("huggingface_token", _word(r"hf_[A-Za-z]{34}", "A-Za-z0-9_"), 0.95),
    )

    def validate_result(self, pattern_text: str) -> bool:
        return _FILLER_RUN.search(pattern_text) is None


_KEY_LABEL = (
    r"(?:(?<![A-Za-z0-9])(?i:"
    r"(?:api|access|auth|client|app|account|refresh|session|private|master|service"
    r"|shared[_-]?access)[_-]?(?:key|token|secret)"
    r"|secret[_-]?key|token|secret"
    r")(?![A-Za-z0-9])|密钥|令牌)"
)
_KEY_VALUE = r"(?P<value>[A-Za-z0-9_\-+/=.]+)"


class SecretAssignmentRecognizer(_SecretRecognizer):
    """A high-entropy value assigned to a key, token or secret label, or sent as a bearer token."""

    ENTITY = "API_KEY"
    RULES = (
        _rule("secret_assignment", rf"{_KEY_LABEL}{_ASSIGN}[\"']?{_KEY_VALUE}", 0.75),
        _rule(
            "authorization_header",
            rf"(?<![A-Za-z0-9])(?i:authorization){_ASSIGN}[\"']?(?i:basic|token)[ \t]+{_KEY_VALUE}",
            0.8,
        ),
        _rule("bearer_token", rf"(?<![A-Za-z0-9])(?i:bearer)[ \t]+{_KEY_VALUE}", 0.8),
    )

    def validate_result(self, pattern_text: str) -> bool:
        return len(pattern_text) >= _MIN_GENERIC_SECRET_LENGTH and _looks_random(pattern_text)


_PEM_LABEL = r"(?:(?:RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?"
# Base64, armor headers ("Proc-Type: 4,ENCRYPTED") and line breaks, real or
# JSON-escaped ("\n" as two characters).
_PEM_BODY = r"[A-Za-z0-9+/=\s:,\-\\]"
_PEM_LINE_BREAK = re.compile(r"(\r?\n|\\r?\\n)")
_PEM_HEADER_LINE = re.compile(r"[A-Za-z][A-Za-z-]*:.*")
_BASE64_CHUNK = re.compile(r"[A-Za-z0-9+/=]+")
_MIN_FLATTENED_CHUNK = 16


class PemPrivateKeyRecognizer(_SecretRecognizer):
    """A PEM or PGP armored private key, BEGIN line to END line.

    A block cut off before its END line is still a secret: it is reported from
    the BEGIN line through the key material that follows it.
    """

    ENTITY = "PRIVATE_KEY"
    # Both branches scan the same class up to the same bound, so when no END
    # line is found the truncated branch consumes everything the lazy branch
    # scanned and no later BEGIN line inside it is tried again.
    RULES = (
        _rule(
            "pem_private_key",
            rf"-----BEGIN {_PEM_LABEL}-----"
            rf"(?:{_PEM_BODY}{{0,{_PEM_BODY_MAX}}}?-----END {_PEM_LABEL}-----"
            rf"|(?P<truncated>{_PEM_BODY}{{0,{_PEM_BODY_MAX}}}))",
            1.0,
        ),
    )

    def _span(self, match: re.Match[str]) -> tuple[int, int]:
        if match.group("truncated") is None:
            return match.span()
        end = position = match.start("truncated")
        for index, piece in enumerate(_PEM_LINE_BREAK.split(match.group("truncated"))):
            line = piece.strip()
            if index % 2 == 0 and line:
                if not _is_key_material(line):
                    break
                end = position + len(piece.rstrip())
            position += len(piece)
        return match.start(), end


def _is_key_material(line: str) -> bool:
    """A base64 line, an armor header, or base64 flattened onto one line with spaces."""
    if _PEM_HEADER_LINE.fullmatch(line):
        return True
    chunks = line.split()
    if not all(_BASE64_CHUNK.fullmatch(chunk) for chunk in chunks):
        return False
    return len(chunks) == 1 or max(map(len, chunks)) >= _MIN_FLATTENED_CHUNK


class JwtRecognizer(_SecretRecognizer):
    """A JSON Web Token: base64url header, payload and signature joined by dots.

    Header and payload start ``eyJ`` (the encoding of ``{"``); the header must
    decode to a JSON object naming ``alg`` or ``typ``. The signature may be
    empty (``alg: none``).
    """

    ENTITY = "JWT"
    RULES = (
        _rule(
            "jwt",
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
            0.95,
        ),
    )

    def validate_result(self, pattern_text: str) -> bool:
        header = pattern_text.partition(".")[0]
        if len(header) > _JWT_HEADER_MAX:
            return False
        try:
            decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
        except (binascii.Error, ValueError, RecursionError):
            return False
        return isinstance(decoded, dict) and ("alg" in decoded or "typ" in decoded)


# Password labels, English and Chinese.
_PW_LABEL_EN = r"(?<![A-Za-z0-9])(?i:pass(?:word|wd|phrase)?|pwd)(?![A-Za-z0-9])"
_PW_LABEL_ZH = r"(?:密码|密碼|口令)"


def _is_password_value(value: str) -> bool:
    return (
        len(value) >= _MIN_PASSWORD_LENGTH
        and not _is_placeholder(value)
        and _CODE_REFERENCE.match(value) is None
        and not _is_dotted_identifier(value)
        and value.lower() not in _NOT_A_PASSWORD
    )


class PasswordAssignmentRecognizer(_SecretRecognizer):
    """The value after a password label and a separator, or a quoted value after the label."""

    ENTITY = "PASSWORD"
    RULES = (
        _rule(
            "password_assignment",
            rf"(?:{_PW_LABEL_EN}|{_PW_LABEL_ZH}){_ASSIGN}(?:{_QUOTED}|{_BARE})",
            0.8,
        ),
        # passwd "x", password is 'x'
        _rule(
            "password_quoted",
            rf"{_PW_LABEL_EN}(?:[ \t]+(?i:is|was)(?:[ \t]*[:：])?)?[ \t]+{_QUOTED}",
            0.8,
        ),
        # 密码 "x", 密码是'x'
        _rule(
            "password_quoted_zh",
            rf"{_PW_LABEL_ZH}[ \t]*(?:(?:是|为|為)[ \t]*)?(?:[:：][ \t]*)?{_QUOTED}",
            0.8,
        ),
    )

    def validate_result(self, pattern_text: str) -> bool:
        return _is_password_value(pattern_text)


class PasswordPhraseRecognizer(_SecretRecognizer):
    """``my password is X`` and ``密码是X`` in prose.

    Prose goes on after "password is" ("required", "wrong"), so X counts only
    if it holds a digit, a symbol or mixed case beyond a capital first letter.
    """

    ENTITY = "PASSWORD"
    RULES = (
        _rule(
            "password_phrase",
            rf"{_PW_LABEL_EN}[ \t]+(?i:is|was)(?:[ \t]*[:：][ \t]*|[ \t]+){_BARE}",
            0.8,
        ),
        _rule(
            "password_phrase_zh",
            rf"{_PW_LABEL_ZH}[ \t]*(?:是|为|為)(?:[ \t]*[:：])?[ \t]*{_BARE}",
            0.8,
        ),
    )

    def validate_result(self, pattern_text: str) -> bool:
        if not _is_password_value(pattern_text):
            return False
        # A sentence's "!" or "?" is not evidence of a secret.
        word = pattern_text.rstrip("!?")
        mixed_case = any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
        return any(not c.isalpha() for c in word) or mixed_case


_URI_SCHEME = (
    r"(?i:(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?"
    r"|mssql|sqlserver|oracle|ftps?|sftp|smtps?|ldaps?|https?))"
)


class CredentialedUriRecognizer(_SecretRecognizer):
    """A URI whose user-info holds a password: ``scheme://user:password@host/...``."""

    ENTITY = "CONNECTION_STRING"
    # User and password exclude "/" so a match cannot run past "://" into
    # another URI, and the password excludes "@" so its end is unambiguous.
    RULES = (
        _rule(
            "credentialed_uri",
            rf"(?<![A-Za-z0-9+.\-])(?P<value>{_URI_SCHEME}://"
            rf"[^{_VALUE_STOP}:@/]*:[^{_VALUE_STOP}@/]+@[^{_VALUE_STOP}]*)",
            0.95,
        ),
    )

    def validate_result(self, pattern_text: str) -> bool:
        # The pattern keeps ":" out of the user and "@" out of both parts, so the
        # first "@" ends the user-info and its first ":" starts the password.
        user_info = pattern_text.partition("://")[2].partition("@")[0]
        password = user_info.partition(":")[2]
        return not _is_placeholder(password)


# First keys of an ADO.NET / ODBC connection string. Anchoring on them, not on
# any "key=", keeps prose with an equals sign from starting a match.
_ADO_FIRST_KEY = (
    r"(?i:server|data source|host|hostname|address|addr|network address|provider|driver"
    r"|dsn|database|initial catalog|user id|userid|uid|user|username|password|pwd)"
)
_ADO_PASSWORD_KEYS = frozenset({"password", "pwd"})
_ADO_HOST_KEYS = frozenset(
    {
        "server",
        "data source",
        "host",
        "hostname",
        "address",
        "addr",
        "network address",
        "dsn",
        "driver",
        "provider",
        "database",
        "initial catalog",
        "user id",
        "userid",
        "uid",
        "user",
        "username",
    }
)
# A value between semicolons may hold spaces ("Initial Catalog=My Db"); the
# bound keeps a line with many "key=" and no ";" from being re-scanned per key.
_ADO_VALUE_MAX = 256


class AdoConnectionStringRecognizer(_SecretRecognizer):
    """``Server=...;User Id=...;Password=...;`` (ADO.NET, ODBC, OLE DB) with a password."""

    ENTITY = "CONNECTION_STRING"
    RULES = (
        _rule(
            "ado_connection_string",
            rf"(?<![A-Za-z0-9_])(?P<value>{_ADO_FIRST_KEY}[ \t]*=[ \t]*"
            rf"(?:\{{[^}}\r\n]{{0,{_ADO_VALUE_MAX}}}\}}|[^;{_VALUE_STOP}{{]*)"
            rf"(?:;[ \t]*[A-Za-z][A-Za-z0-9 _]{{0,39}}="
            rf"(?:[^;\r\n\"'<>`]{{0,{_ADO_VALUE_MAX}}}(?=;)|[ \t]*[^;{_VALUE_STOP}]*))*)",
            0.9,
        ),
    )

    def validate_result(self, pattern_text: str) -> bool:
        keys: set[str] = set()
        has_password = False
        for pair in pattern_text.split(";"):
            key, equals, value = pair.partition("=")
            name = " ".join(key.split()).lower()
            keys.add(name)
            if equals and name in _ADO_PASSWORD_KEYS:
                secret = value.strip()
                has_password = has_password or (bool(secret) and not _is_placeholder(secret))
        return has_password and not keys.isdisjoint(_ADO_HOST_KEYS)


_RECOGNIZERS: tuple[type[_SecretRecognizer], ...] = (
    ProviderApiKeyRecognizer,
    SecretAssignmentRecognizer,
    PemPrivateKeyRecognizer,
    JwtRecognizer,
    PasswordAssignmentRecognizer,
    PasswordPhraseRecognizer,
    CredentialedUriRecognizer,
    AdoConnectionStringRecognizer,
)


def secret_recognizers(language: str) -> list[EntityRecognizer]:
    """Fresh instances of every secret recognizer, tagged with ``language``.

    Secrets look the same in every language, so each call returns the same
    recognizers; labels in the patterns cover English and Chinese.
    """
    return [recognizer(supported_language=language) for recognizer in _RECOGNIZERS]
