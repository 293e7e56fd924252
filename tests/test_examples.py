"""Every example runs as a user would run it."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from privacy_partition.cloud import OpenAICompatibleEcho

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.model
def test_detection_demo_runs_and_finds_values_in_both_languages() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "detection_demo.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    for entity in (
        "PERSON",
        "EMAIL_ADDRESS",
        "US_SSN",
        "CN_RESIDENT_ID",
        "CN_BANK_CARD",
        "API_KEY",
    ):
        assert entity in proc.stdout


def _run(name: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return proc.stdout


@pytest.mark.model
def test_quickstart_answers_in_the_cloud_and_on_the_device() -> None:
    out = _run("quickstart.py")
    assert "route:     cloud" in out
    assert "cloud saw: Write a two-line note to <EMAIL_ADDRESS_1> saying" in out
    assert "reply:     Write a two-line note to jane.doe@example.org" in out  # restored
    assert "route:     local" in out
    assert "refused" not in out


@pytest.mark.model
def test_streaming_chat_keeps_the_local_turn_off_the_cloud() -> None:
    out = _run("streaming_chat.py")
    routes = [line for line in out.splitlines() if line.startswith("[route: ")]
    assert routes == ["[route: cloud]", "[route: local]", "[route: cloud]"]
    seen = [line for line in out.splitlines() if line.startswith("[the cloud saw: ")]
    assert len(seen) == 2
    assert "dana.whitfield@example.org" not in "".join(seen)
    assert "943" not in "".join(seen)
    assert "Sign the note with my email dana.whitfield@example.org." in out  # restored


# -- the boundary demo (make demo) ---------------------------------------------

# What the demo's user types, as it must never appear outside the "you typed" column.
DEMO_VALUES = ("maria.lopez@example.com", "maria", "lopez", "4111", "536-22-1234", "536221234")


def _table(out: str) -> tuple[list[str], list[list[str]]]:
    """The demo's table: its header cells and its rows, each cell's wrapped lines joined."""
    lines = [line for line in out.splitlines() if line.startswith(("+", "|"))]
    edges = [i for i, c in enumerate(lines[0]) if c == "+"]
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines[1:]:
        if line.startswith("+"):
            blocks.append(current)
            current = []
        else:
            current.append(line)
    cells = [
        [
            " ".join(line[a + 1 : b].strip() for line in block).strip()
            for a, b in itertools.pairwise(edges)
        ]
        for block in blocks
    ]
    return cells[0], cells[1:]


def _squashed(text: str) -> str:
    """Lower case, no white space: a value wrapped across lines or spaced out still shows."""
    return re.sub(r"\s+", "", text).lower()


@pytest.mark.model
def test_demo_takes_every_route_and_the_cloud_never_sees_a_typed_value() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    headers, rows = _table(out)
    assert headers == ["you typed", "the cloud saw", "route", "the answer, on the device"]
    assert [row[2] for row in rows] == ["local", "cloud", "cloud", "block"]
    typed = [row[0] for row in rows]
    assert "maria.lopez@example.com" in _squashed(typed[1])
    assert "4111111111111111" in _squashed(typed[2])
    cloud = [row[1] for row in rows]
    assert cloud[0] == cloud[3] == "(nothing was sent)"
    assert "<PERSON_1>" in cloud[1]
    assert "<EMAIL_ADDRESS_1>" in cloud[1]
    assert "<CREDIT_CARD_1>" in cloud[2]
    # Nothing the user typed is printed anywhere but in the first column.
    elsewhere = [cell for row in rows for cell in row[1:]]
    elsewhere += [line for line in out.splitlines() if not line.startswith(("+", "|"))]
    for value in DEMO_VALUES:
        assert value not in _squashed("\n".join(elsewhere)), value
    assert "refused: US_SSN" in rows[3][3]
    assert "<CREDIT_CARD_1> -> card ending 1111" in out  # opened by the booking tool only
    assert "leak check: no replaced value reached the cloud model in 2 calls" in out


def _policy_test(path: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "privacy_partition.cli", "policy", "test", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.model
def test_demo_policy_passes_its_own_tests() -> None:
    out = _policy_test(EXAMPLES / "demo_policy.yaml")
    assert "FAIL" not in out
    assert re.search(r"^[1-9]\d* passed, 0 failed$", out, re.MULTILINE), out


# -- examples/custom_policy ------------------------------------------------------


@pytest.mark.model
def test_custom_policy_passes_its_own_tests() -> None:
    out = _policy_test(EXAMPLES / "custom_policy" / "policy.yaml")
    assert "PASS employee-id-tokenized" in out
    assert "PASS code-name-answered-on-device" in out
    assert "FAIL" not in out


@pytest.mark.model
def test_custom_policy_script_shows_what_the_cloud_would_see() -> None:
    out = _run("custom_policy/run.py")
    assert "policy acme, digest " in out
    tokens = re.findall(r"<TOK:EMPLOYEE_ID:[^>]+>", out)
    assert len(tokens) == 2
    assert tokens[0] == tokens[1]  # the same ID, the same token
    assert "a project code name: route local" in out
    assert "****0199" in out
    assert "an SSN: route block" in out
    for value in ("EMP-204918", "Nightjar", "212-555-0199", "536-22-1234"):
        assert value not in out


# -- examples/tls_gateway --------------------------------------------------------


@pytest.mark.model
def test_tls_gateway_serves_a_client_with_a_certificate_and_refuses_one_without(
    tmp_path: Path,
) -> None:
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "tls_gateway" / "server.py"), "--certs", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("gateway listening on 127.0.0.1:"), line
        target = line.split()[3]
        assert (tmp_path / "client.key").stat().st_mode & 0o077 == 0  # the owner's only
        client = subprocess.run(
            [
                sys.executable,
                str(EXAMPLES / "tls_gateway" / "client.py"),
                *("--gateway", target, "--certs", str(tmp_path)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert client.returncode == 0, client.stdout + client.stderr
        assert "with a client certificate: route cloud" in client.stdout
        assert "the gateway (echo) answered: In one sentence" in client.stdout
        assert "without a client certificate: refused (GatewayUnavailable)" in client.stdout
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            status = server.wait(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    assert status == 0
    assert server.stdout.read().strip().endswith("gateway stopped")


# -- examples/openai_upstream.py ---------------------------------------------------

_UPSTREAM_ENV = ("OPENAI_UPSTREAM_URL", "OPENAI_UPSTREAM_MODEL", "OPENAI_API_KEY")


def _run_openai_upstream(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in _UPSTREAM_ENV}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "openai_upstream.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean, **env},
    )


@pytest.mark.model
def test_openai_upstream_runs_offline_against_the_loopback_echo() -> None:
    proc = _run_openai_upstream()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(model echo)" in proc.stdout
    assert "route: cloud (EMAIL_ADDRESS=redact)" in proc.stdout
    assert "the endpoint received (user): Draft a two-line reminder to <EMAIL_ADDRESS_1>" in (
        proc.stdout
    )
    assert (
        "restored on this device (masked here): Draft a two-line reminder to «EMAIL_ADDRESS»"
        in (proc.stdout)
    )
    assert "jane.doe@example.org" not in proc.stdout


@pytest.mark.model
def test_openai_upstream_uses_the_endpoint_the_environment_names() -> None:
    key = "sk-example-test-41c9"
    with OpenAICompatibleEcho(api_key=key) as endpoint:
        proc = _run_openai_upstream(
            OPENAI_UPSTREAM_URL=endpoint.base_url,
            OPENAI_UPSTREAM_MODEL="served-model",
            OPENAI_API_KEY=key,  # a wrong or missing key would get HTTP 401
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert endpoint.requests == 1
        body = endpoint.seen[-1]
    assert body["model"] == "served-model"
    assert "<EMAIL_ADDRESS_1>" in json.dumps(body)
    assert "jane.doe@example.org" not in json.dumps(body)
    assert f"-> {endpoint.base_url} (model served-model)" in proc.stdout
    assert "jane.doe@example.org" not in proc.stdout
    assert key not in proc.stdout + proc.stderr


# -- examples/openai_drop_in.py ----------------------------------------------------


@pytest.mark.model
def test_openai_drop_in_shows_a_cloud_a_local_and_a_refused_turn() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "openai_drop_in.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    routes = re.findall(r"^route: +(\w+)$", proc.stdout, flags=re.MULTILINE)
    assert routes == ["cloud", "local", "refused"]
    received = re.findall(r"^the cloud received: +(.*)$", proc.stdout, flags=re.MULTILINE)
    assert "<EMAIL_ADDRESS_1>" in received[0]
    assert "Okafor" not in received[0]  # the name left as a surrogate
    assert received[1:] == ["nothing", "nothing"]
    got = re.findall(r"^the app got back: +(.*)$", proc.stdout, flags=re.MULTILINE)
    assert got[0] == "Write two friendly lines to «PERSON» («EMAIL_ADDRESS») about Friday."
    assert "US_SSN" in got[2]
    for value in ("Okafor", "m.okafor@example.org", "943 476 5919", "536-22-1234"):
        assert value not in proc.stdout
