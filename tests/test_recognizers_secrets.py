"""The secret recognizers, run through a Presidio AnalyzerEngine.

Fake tokens are assembled at run time and private keys are generated, so that
no string in this file looks like a live credential to a secret scanner.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import string
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from presidio_analyzer import AnalyzerEngine, EntityRecognizer

from engines import blank_engine
from privacy_partition.detection.recognizers._secrets import secret_recognizers

LANGUAGES = ["en", "zh"]
ENTITIES = {"API_KEY", "PRIVATE_KEY", "JWT", "PASSWORD", "CONNECTION_STRING"}
# Far above the ~1 s a linear scan of 1 MB takes; a quadratic one takes hours.
LINEAR_TIME_CEILING_S = 30.0

ALNUM36 = "a1B2" * 9
AWS_BODY = "Q7ZK3J5RX2N4M6PW"
HIGH_ENTROPY = "Zq8xP2mL9vR4tK7wB1nH5cY3"

# Assembled at run time so that no file in the repository holds a private-key marker.
PEM_BEGIN = "-----BEGIN " + "PRIVATE KEY-----"


@pytest.fixture(scope="module")
def analyzer() -> AnalyzerEngine:
    return blank_engine(secret_recognizers, LANGUAGES)


def found(
    analyzer: AnalyzerEngine, text: str, entity: str, language: str = "en"
) -> list[tuple[int, int]]:
    results = analyzer.analyze(text=text, language=language, entities=[entity])
    return sorted((r.start, r.end) for r in results)


def scores(analyzer: AnalyzerEngine, text: str, entity: str, language: str = "en") -> list[float]:
    return [r.score for r in analyzer.analyze(text=text, language=language, entities=[entity])]


def span_of(text: str, value: str) -> list[tuple[int, int]]:
    start = text.index(value)
    return [(start, start + len(value))]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_segment(claims: dict[str, object]) -> str:
    return b64url(json.dumps(claims).encode())


def pem_block(label: str, lines: int = 20) -> str:
    body = base64.b64encode(os.urandom(48 * lines)).decode()
    wrapped = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{wrapped}\n-----END {label}-----"


# --- the public function -------------------------------------------------------


def test_secret_recognizers_builds_fresh_instances_per_language() -> None:
    english, chinese = secret_recognizers("en"), secret_recognizers("zh")

    assert [r.name for r in english] == [
        "ProviderApiKeyRecognizer",
        "SecretAssignmentRecognizer",
        "PemPrivateKeyRecognizer",
        "JwtRecognizer",
        "PasswordAssignmentRecognizer",
        "PasswordPhraseRecognizer",
        "CredentialedUriRecognizer",
        "AdoConnectionStringRecognizer",
    ]
    assert [r.name for r in chinese] == [r.name for r in english]
    assert {r.supported_language for r in english} == {"en"}
    assert {r.supported_language for r in chinese} == {"zh"}
    assert {e for r in english for e in r.supported_entities} == ENTITIES
    assert all(isinstance(r, EntityRecognizer) for r in english)
    assert not {id(r) for r in english} & {id(r) for r in secret_recognizers("en")}


# --- API_KEY: provider tokens ---------------------------------------------------

PROVIDER_TOKENS: dict[str, Callable[[], str]] = {
    "aws_akia": lambda: "AKIA" + AWS_BODY,
    "aws_asia": lambda: "ASIA" + AWS_BODY,
    "github_ghp": lambda: "ghp_" + ALNUM36,
    "github_gho": lambda: "gho_" + ALNUM36,
    "github_ghu": lambda: "ghu_" + ALNUM36,
    "github_ghs": lambda: "ghs_" + ALNUM36,
    "github_ghr": lambda: "ghr_" + ALNUM36,
    "github_pat": lambda: "github_pat_" + ("a1B2_" * 17)[:82],
    "gitlab": lambda: "glpat-" + "a1B2c3D4e5F6g7H8i9J0",
    "slack_bot": lambda: "xoxb-" + "123456789012-1234567890123-" + "aB1cD2eF3gH4iJ5kL6mN7oP8",
    "slack_user": lambda: "xoxp-" + "123456789012-1234567890123-" + "aB1cD2eF3gH4iJ5kL6mN7oP8",
    "slack_webhook": lambda: (
        "https://hooks.slack.com/services/" + "T0A1B2C3D/B0A1B2C3D/" + "a1B2c3D4e5F6g7H8i9J0k1L2"
    ),
    "stripe_sk_live": lambda: "sk_live_" + ALNUM36[:24],
    "stripe_sk_test": lambda: "sk_test_" + ALNUM36[:24],
    "stripe_rk_live": lambda: "rk_live_" + ALNUM36[:24],
    "stripe_pk_live": lambda: "pk_live_" + ALNUM36[:24],
    "openai_legacy": lambda: "sk-" + ALNUM36 + "c3D4e5F6g7H8",
    "openai_project": lambda: "sk-proj-" + ALNUM36 + "-_" + ALNUM36,
    "anthropic": lambda: "sk-ant-" + "api03-" + ALNUM36 + ALNUM36,
    "google_api_key": lambda: "AIza" + ALNUM36[:35],
    "google_oauth": lambda: "ya29." + ALNUM36,
    "twilio": lambda: "SK" + "0123456789abcdef" * 2,
    "sendgrid": lambda: "SG." + ALNUM36[:22] + "." + (ALNUM36 + ALNUM36)[:43],
    "npm": lambda: "npm_" + ALNUM36,
    "pypi": lambda: "pypi-" + "AgEIcHlwaS5vcmc" + ALNUM36 * 2,
    "huggingface": lambda: "hf_" + ("aBcD" * 9)[:34],
}


@pytest.mark.parametrize("make_token", PROVIDER_TOKENS.values(), ids=PROVIDER_TOKENS.keys())
def test_provider_token_is_found_with_its_exact_span(
    analyzer: AnalyzerEngine, make_token: Callable[[], str]
) -> None:
    token = make_token()
    text = f"deploy with ({token}) today"

    assert found(analyzer, text, "API_KEY") == span_of(text, token)
    assert min(scores(analyzer, text, "API_KEY")) >= 0.9


NEAR_MISS_TOKENS: dict[str, Callable[[], str]] = {
    "aws_short": lambda: "AKIA" + AWS_BODY[:-1],
    "aws_long": lambda: "AKIA" + AWS_BODY + "X",
    "aws_lowercase": lambda: "akia" + AWS_BODY.lower(),
    "aws_placeholder": lambda: "AKIA" + "X" * 16,
    "github_short": lambda: "ghp_" + ALNUM36[:-1],
    "github_bad_prefix": lambda: "ghx_" + ALNUM36,
    "github_inside_word": lambda: "xghp_" + ALNUM36,
    "gitlab_short": lambda: "glpat-" + "a1B2c3",
    "slack_webhook_placeholder": lambda: (
        "https://hooks.slack.com/services/" + "T00000000/B00000000/" + "X" * 24
    ),
    "stripe_pk_test": lambda: "pk_test_" + ALNUM36[:24],
    "sklearn_word": lambda: "sk-learn-compatible-estimator",
    "google_short": lambda: "AIza" + ALNUM36[:34],
    "sendgrid_short_segment": lambda: "SG." + ALNUM36[:21] + "." + (ALNUM36 + ALNUM36)[:43],
    "huggingface_digits": lambda: "hf_" + ("aBc1" * 9)[:34],
    "aws_secret_without_label": lambda: "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY",
}


@pytest.mark.parametrize("make_text", NEAR_MISS_TOKENS.values(), ids=NEAR_MISS_TOKENS.keys())
def test_provider_near_miss_is_not_found(
    analyzer: AnalyzerEngine, make_text: Callable[[], str]
) -> None:
    assert found(analyzer, f"value {make_text()} end", "API_KEY") == []


@pytest.mark.parametrize(
    "label",
    [
        "aws_secret_access_key = ",
        "AWS_SECRET_ACCESS_KEY=",
        '"SecretAccessKey": "',
        "aws secret key: ",
    ],
)
def test_aws_secret_key_needs_its_label_and_reports_the_value_only(
    analyzer: AnalyzerEngine, label: str
) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"
    text = f"{label}{secret}"

    assert found(analyzer, text, "API_KEY") == span_of(text, secret)
    assert scores(analyzer, text, "API_KEY") == [0.9]


# --- API_KEY: generic assignments ----------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        'api_key = "{}"',
        "token: {}.",
        "secret={}",
        '{{"client_secret": "{}"}}',
        "OPENAI_API_KEY={}",
        "X-Api-Key: {}",
        "access_token => '{}'",
        "令牌：{}，不要泄露",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={};EndpointSuffix=x",
        "Endpoint=sb://ns.example.net/;SharedAccessKeyName=root;SharedAccessKey={}",
    ],
)
def test_generic_assignment_reports_the_value_not_the_label(
    analyzer: AnalyzerEngine, template: str
) -> None:
    text = template.format(HIGH_ENTROPY)
    language = "zh" if "令牌" in text else "en"

    assert found(analyzer, text, "API_KEY", language) == span_of(text, HIGH_ENTROPY)
    assert 0.7 <= min(scores(analyzer, text, "API_KEY", language)) <= 0.8


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Authorization: Bearer " + HIGH_ENTROPY, HIGH_ENTROPY),
        ("Authorization: Basic " + "dXNlcjpwYXNzd29yZDEyMw==", "dXNlcjpwYXNzd29yZDEyMw=="),
        ("secret = " + "0123456789abcdef", "0123456789abcdef"),
        (
            "api_key = " + "5f2b9c1e-7a3d-4e8f-9b6a-1c2d3e4f5a6b",
            "5f2b9c1e-7a3d-4e8f-9b6a-1c2d3e4f5a6b",
        ),
    ],
)
def test_bearer_tokens_and_hex_values_are_found(
    analyzer: AnalyzerEngine, text: str, value: str
) -> None:
    assert found(analyzer, text, "API_KEY") == span_of(text, value)


@pytest.mark.parametrize(
    "text",
    [
        "api_key = 'aaaaaaaaaaaaaaaaaaaa'",
        "api_key = " + "a1B2" * 4,
        "token = passwordpassword1",
        "secret = secretsecret1234",
        "api_key = settings.OPENAI_API_KEY",
        "api_key: ${API_KEY}",
        "token: abc123",
        "tokens: " + HIGH_ENTROPY,
        "the token is " + HIGH_ENTROPY,
        "api_key_id = " + HIGH_ENTROPY,
    ],
)
def test_generic_near_miss_is_not_found(analyzer: AnalyzerEngine, text: str) -> None:
    assert found(analyzer, text, "API_KEY") == []


def test_labelled_provider_key_is_reported_once_at_the_provider_score(
    analyzer: AnalyzerEngine,
) -> None:
    token = "ghp_" + ALNUM36
    text = f'GITHUB_TOKEN="{token}"'

    assert found(analyzer, text, "API_KEY") == span_of(text, token)
    assert scores(analyzer, text, "API_KEY") == [0.95]


# --- PRIVATE_KEY ---------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    [
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "DSA PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "PGP PRIVATE KEY BLOCK",
    ],
)
def test_pem_block_is_found_whole(analyzer: AnalyzerEngine, label: str) -> None:
    block = pem_block(label)
    text = f"here is the key:\n{block}\nthanks, bob"

    assert found(analyzer, text, "PRIVATE_KEY") == span_of(text, block)
    assert scores(analyzer, text, "PRIVATE_KEY") == [1.0]


def test_json_escaped_pem_block_is_found_whole(analyzer: AnalyzerEngine) -> None:
    escaped = json.dumps(pem_block("PRIVATE KEY"))[1:-1]
    text = '{"private_key": "' + escaped + '\\n", "type": "service_account"}'

    assert found(analyzer, text, "PRIVATE_KEY") == span_of(text, escaped)


def test_pem_block_without_end_reports_the_key_material(analyzer: AnalyzerEngine) -> None:
    truncated = "\n".join(pem_block("RSA PRIVATE KEY").splitlines()[:8])
    text = f"it got cut off:\n{truncated}\n\nPlease rotate this key now."

    assert found(analyzer, text, "PRIVATE_KEY") == span_of(text, truncated)


def test_flattened_pem_block_without_end_is_covered(analyzer: AnalyzerEngine) -> None:
    flattened = " ".join(pem_block("PRIVATE KEY").splitlines()[:8])
    text = f"key: {flattened}"

    assert found(analyzer, text, "PRIVATE_KEY") == span_of(text, flattened)


@pytest.mark.parametrize(
    "text",
    [
        pem_block("PUBLIC KEY"),
        pem_block("CERTIFICATE"),
        pem_block("RSA PUBLIC KEY"),
        "BEGIN PRIVATE KEY and END PRIVATE KEY are PEM markers",
        "-----begin private key-----",
    ],
)
def test_pem_near_miss_is_not_found(analyzer: AnalyzerEngine, text: str) -> None:
    assert found(analyzer, text, "PRIVATE_KEY") == []


def generated_keys() -> dict[str, str]:
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    pem, fmt = serialization.Encoding.PEM, serialization.PrivateFormat
    none = serialization.NoEncryption()
    return {
        "rsa_pkcs8": rsa_key.private_bytes(pem, fmt.PKCS8, none).decode(),
        "rsa_traditional": rsa_key.private_bytes(pem, fmt.TraditionalOpenSSL, none).decode(),
        "rsa_encrypted": rsa_key.private_bytes(
            pem, fmt.TraditionalOpenSSL, serialization.BestAvailableEncryption(b"pw")
        ).decode(),
        "ed25519_openssh": ed_key.private_bytes(pem, fmt.OpenSSH, none).decode(),
    }


def test_generated_private_keys_are_found_whole(analyzer: AnalyzerEngine) -> None:
    for name, key in generated_keys().items():
        block = key.strip()
        text = f"{name}:\n{key}\nbye"

        assert found(analyzer, text, "PRIVATE_KEY") == span_of(text, block), name


# --- JWT -----------------------------------------------------------------------

SIGNATURE = b64url(bytes(range(32)))


def test_jwt_is_found_whole(analyzer: AnalyzerEngine) -> None:
    token = ".".join(
        [jwt_segment({"alg": "HS256", "typ": "JWT"}), jwt_segment({"sub": "42"}), SIGNATURE]
    )
    text = f"Authorization: Bearer {token}."

    assert found(analyzer, text, "JWT") == span_of(text, token)
    assert scores(analyzer, text, "JWT") == [0.95]


def test_unsigned_jwt_keeps_its_empty_signature(analyzer: AnalyzerEngine) -> None:
    token = jwt_segment({"alg": "none"}) + "." + jwt_segment({"sub": "42"}) + "."
    text = f"token={token} ok"

    assert found(analyzer, text, "JWT") == span_of(text, token)


@pytest.mark.parametrize(
    "header",
    [
        b64url(b'{"alg" broken'),
        jwt_segment({"kid": "1"}),
        b64url(('{"alg":' + "[" * 5000 + "]" * 5000 + "}").encode()),
    ],
    ids=["not_json", "no_alg_or_typ", "deeply_nested"],
)
def test_jwt_with_a_bad_header_is_not_found(analyzer: AnalyzerEngine, header: str) -> None:
    text = f"{header}.{jwt_segment({'sub': '42'})}.{SIGNATURE}"

    assert found(analyzer, text, "JWT") == []


def test_two_segment_token_is_not_a_jwt(analyzer: AnalyzerEngine) -> None:
    text = f"{jwt_segment({'alg': 'HS256'})}.{jwt_segment({'sub': '42'})}"

    assert found(analyzer, text, "JWT") == []


# --- PASSWORD ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("password: hunter2", "hunter2"),
        ("pwd=s3cr3t!", "s3cr3t!"),
        ('passwd "correct horse"', "correct horse"),
        ("pass: letmein1", "letmein1"),
        ("PASSWORD=Sup3rS3cret", "Sup3rS3cret"),
        ("DB_PASSWORD='x9!kLm2'", "x9!kLm2"),
        ('{"password": "hunter22"}', "hunter22"),
        ("(password: abc123)", "abc123"),
        ("password: hunter2; user: bob", "hunter2"),
        ("my password is Tr0ub4dor&3.", "Tr0ub4dor&3"),
        ("the password is 'blue sky'", "blue sky"),
        ("password is: hunter22", "hunter22"),
        ("the password was 12345678", "12345678"),
        ("passphrase = correct-horse-battery", "correct-horse-battery"),
    ],
)
def test_password_value_is_found_without_its_label(
    analyzer: AnalyzerEngine, text: str, value: str
) -> None:
    assert found(analyzer, text, "PASSWORD") == span_of(text, value)
    assert scores(analyzer, text, "PASSWORD") == [0.8]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("密码：Abc12345", "Abc12345"),
        ("我的密码是Abc12345，别告诉别人", "Abc12345"),
        ("登录口令=Zx9!kq", "Zx9!kq"),
        ("密码 'abc def'", "abc def"),
    ],
)
def test_chinese_password_is_found(analyzer: AnalyzerEngine, text: str, value: str) -> None:
    assert found(analyzer, text, "PASSWORD", "zh") == span_of(text, value)


@pytest.mark.parametrize(
    "text",
    [
        "password:",
        "password: ",
        "password:\nhunter2",
        "Reset your password by email",
        "password reset link sent",
        "open the password manager",
        "the password field is empty",
        "password is required",
        "the password is wrong!",
        "The password is Monday",
        "password: abc",
        "password: ${DB_PASSWORD}",
        "password: ********",
        "Password: Enter your password",
        "password=self.password",
        "password: Optional[str]",
        "password=getpass()",
        "passport: X1234567",
        "compass: N12E45",
        "密码：",
    ],
)
def test_password_near_miss_is_not_found(analyzer: AnalyzerEngine, text: str) -> None:
    assert found(analyzer, text, "PASSWORD") == []


# --- CONNECTION_STRING ---------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "postgres://user:s3cret@db.example.com:5432/app",
        "postgresql://user:s3cret@db.example.com/app?sslmode=require",
        "mysql://root:pw@localhost/db",
        "mongodb+srv://admin:pw@cluster0.example.net/test?retryWrites=true",
        "mongodb://u:pw@h1:27017,h2:27017/db?replicaSet=rs0",
        "redis://:pw12@cache:6379/0",
        "rediss://default:pw@cache:6380",
        "amqps://guest:pw@mq.example.com/vhost",
        "mssql://sa:pw@sql.example.com:1433/app",
        "sqlserver://sa:pw@sql.example.com",
        "oracle://scott:tiger@db:1521/ORCL",
        "ftp://anon:pw@ftp.example.com/pub",
        "sftp://deploy:pw@host.example.com:22/srv",
        "smtp://mailer:pw@smtp.example.com:587",
        "ldap://cn=admin:pw@ldap.example.com",
        "https://user:tok3n@git.example.com/repo.git",
        "jdbc:postgresql://user:s3cret@db/app",
    ],
)
def test_credentialed_uri_is_found_whole(analyzer: AnalyzerEngine, uri: str) -> None:
    text = f'DATABASE_URL="{uri}" then (see {uri}).'

    start_quoted = text.index(uri)
    start_prose = text.index(uri, start_quoted + 1)
    assert found(analyzer, text, "CONNECTION_STRING") == [
        (start_quoted, start_quoted + len(uri)),
        (start_prose, start_prose + len(uri)),
    ]
    assert min(scores(analyzer, text, "CONNECTION_STRING")) >= 0.9


@pytest.mark.parametrize(
    "text",
    [
        "Server=tcp:db.example.com,1433;Initial Catalog=app;User Id=sa;Password=S3cret!",
        "Driver={ODBC Driver 18 for SQL Server};Server=db;Uid=sa;Pwd=S3cret",
        "Data Source=db;User ID=app; Password=pw word",
    ],
)
def test_ado_connection_string_is_found_whole(analyzer: AnalyzerEngine, text: str) -> None:
    wrapped = f'conn = "{text};" # prod'

    assert found(analyzer, wrapped, "CONNECTION_STRING") == span_of(wrapped, text)
    assert scores(analyzer, wrapped, "CONNECTION_STRING") == [0.9]


@pytest.mark.parametrize(
    "text",
    [
        "postgres://db.example.com/app",
        "postgres://user@db.example.com/app",
        "postgres://user:@db.example.com/app",
        "postgres://user:${DB_PASSWORD}@db/app",
        "https://example.com/a:b@c",
        "http://example.com:8080/path",
        "Server=db;Database=app;Trusted_Connection=True;",
        "Password=S3cret!;",
        "Server=db;Password=;",
    ],
)
def test_connection_string_near_miss_is_not_found(analyzer: AnalyzerEngine, text: str) -> None:
    assert found(analyzer, text, "CONNECTION_STRING") == []


def test_secrets_inside_chinese_text(analyzer: AnalyzerEngine) -> None:
    token = "ghp_" + ALNUM36
    uri = "postgres://admin:S3cret@db/app"
    text = f"这是我的令牌{token}，请保管。数据库连接：{uri}，请勿外传"

    assert found(analyzer, text, "API_KEY", "zh") == span_of(text, token)
    assert found(analyzer, text, "CONNECTION_STRING", "zh") == span_of(text, uri)


# --- guarantees ----------------------------------------------------------------

ADVERSARIAL: dict[str, Callable[[], str]] = {
    "letters": lambda: "a" * 1_000_000,
    "jwt_prefixes": lambda: "eyJ" * 300_000,
    "jwt_segments": lambda: "eyJhbGc.eyJ" * 90_000,
    "pem_unterminated": lambda: PEM_BEGIN + "A" * 1_000_000,
    "pem_begin_lines": lambda: (PEM_BEGIN + " ") * 36_000,
    "password_labels": lambda: "password: " * 100_000,
    "password_quotes": lambda: 'password="' * 100_000,
    "password_is_spaces": lambda: "password is" + " " * 1_000_000,
    "chinese_label_spaces": lambda: "密码是" + " " * 1_000_000,
    "uri_user_info": lambda: "postgres://" + "a:" * 400_000,
    "uri_repeated": lambda: "postgres://a:" * 77_000,
    "ado_pairs": lambda: "Server=a;b=c " * 77_000,
    "ado_braces": lambda: "Driver={" * 125_000,
}


@pytest.mark.parametrize("make_text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_every_recognizer_scans_a_megabyte_in_linear_time(
    make_text: Callable[[], str],
) -> None:
    text = make_text()
    started = time.perf_counter()

    for recognizer in secret_recognizers("en"):
        recognizer.analyze(text, [], None)

    assert time.perf_counter() - started < LINEAR_TIME_CEILING_S


def test_no_secret_reaches_the_logs(
    analyzer: AnalyzerEngine, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = ["ghp_" + ALNUM36, "hunter22", "postgres://u:s3cret@db/app"]
    caplog.set_level(logging.DEBUG)

    results = analyzer.analyze(
        text=f"token {secrets[0]} password: {secrets[1]} url {secrets[2]}", language="en"
    )

    assert len(results) == 3
    assert not any(secret in caplog.text for secret in secrets)


FRAGMENTS = [
    "password",
    "密码",
    "是",
    "：",
    "api_key",
    "Bearer ",
    ":",
    "=",
    " ",
    "\n",
    '"',
    "'",
    ".",
    ";",
    "@",
    "eyJ",
    PEM_BEGIN,
    "-----END PRIVATE KEY-----",
    "postgres://",
    "Server=",
    "Password=",
    "ghp_",
    ALNUM36,
    HIGH_ENTROPY,
]
fragmented_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=30
).map("".join)
EN_RECOGNIZERS = secret_recognizers("en")


@given(fragmented_text)
def test_findings_are_well_formed_for_any_text(text: str) -> None:
    for recognizer in EN_RECOGNIZERS:
        for result in recognizer.analyze(text, [], None):
            assert 0 <= result.start < result.end <= len(text)
            assert result.entity_type in ENTITIES
            assert 0.7 <= result.score <= 1.0


word_boundary = st.text(alphabet=" \n\t:=,;\"'()[]<>{}|", min_size=1, max_size=4)


@given(
    prefix=word_boundary,
    body=st.text(alphabet=string.ascii_letters + string.digits, min_size=36, max_size=36),
    suffix=word_boundary,
)
def test_github_token_is_found_exactly_between_any_delimiters(
    prefix: str, body: str, suffix: str
) -> None:
    provider = EN_RECOGNIZERS[0]
    token = "ghp_" + body
    text = f"x{prefix}{token}{suffix}y"
    repeated_character = any(body[i : i + 8] == body[i] * 8 for i in range(len(body) - 7))

    spans = [(r.start, r.end) for r in provider.analyze(text, [], None)]

    assert spans == ([] if repeated_character else span_of(text, token))


@given(
    st.text(alphabet=string.ascii_letters + string.digits + "!@%^&*-_+/~", min_size=4).filter(
        lambda value: any(c.isdigit() for c in value)
    )
)
def test_password_span_is_the_value_only(value: str) -> None:
    text = f"password: {value}"

    spans = [(r.start, r.end) for r in EN_RECOGNIZERS[4].analyze(text, [], None)]

    assert spans == span_of(text, value)


def test_results_carry_the_recognizer_name(analyzer: AnalyzerEngine) -> None:
    results: list[Any] = analyzer.analyze(
        text="password: hunter22", language="en", return_decision_process=True
    )

    assert [r.recognition_metadata["recognizer_name"] for r in results] == [
        "PasswordAssignmentRecognizer"
    ]
    assert "hunter22" not in str(results[0].analysis_explanation)
