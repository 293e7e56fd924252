"""`privacy-partition ask` and `chat` as a user runs them: subprocesses against a real gateway.

The gateway is the test's own ``BackgroundGateway`` on loopback (echo
upstream), so the test sees exactly what left the command. Usage errors,
``--help`` and a refusal run in-process: they answer nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from privacy_partition.audit import verify
from privacy_partition.cli import main
from privacy_partition.cloud import BackgroundGateway, EchoUpstream, GatewayServer
from privacy_partition.local import smollm2_folder

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"
EMAIL = "dana.whitfield@example.org"
SSN = "536-22-1234"
NHS = "My NHS number is 943 476 5919. Which clinic should I call?"


@pytest.fixture(scope="module")
def echo() -> EchoUpstream:
    return EchoUpstream(chunk_chars=3)


@pytest.fixture(scope="module")
def gateway(echo: EchoUpstream) -> Iterator[BackgroundGateway]:
    with BackgroundGateway(GatewayServer(echo)) as gw:
        yield gw


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privacy_partition.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _common(gateway: BackgroundGateway) -> list[str]:
    return ["--policy", str(DEFAULT), "--gateway", gateway.target, "--no-ner-model"]


def test_ask_json_from_stdin_with_an_audit_log(
    gateway: BackgroundGateway, echo: EchoUpstream, tmp_path: Path
) -> None:
    prompt = f"Please write to {EMAIL} about the offsite."
    audit = tmp_path / "audit.jsonl"
    proc = _run("ask", *_common(gateway), "--audit", str(audit), "--json", "-", stdin=prompt)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["route"] == "cloud"
    assert out["text"] == prompt  # restored on the device
    assert out["decision"]["entities"] == {"EMAIL_ADDRESS": 1}
    assert out["decision"]["actions"] == {"EMAIL_ADDRESS": ["redact"]}
    assert out["decision"]["policy"]["name"] == "default"
    assert set(out["timings_ms"]) == {"detect", "decide", "transform", "cloud", "local", "restore"}
    assert echo.seen[-1] == "Please write to <EMAIL_ADDRESS_1> about the offsite."
    assert verify(audit).events == 1
    assert EMAIL not in audit.read_text()


def test_chat_streams_each_turn_with_its_route(
    gateway: BackgroundGateway, echo: EchoUpstream
) -> None:
    lines = [
        f"My email is {EMAIL}.",
        "",
        f"Send the notes to {EMAIL} again.",
        f"My SSN is {SSN}.",
        "Thanks!",
        "/exit",
        "never read",
    ]
    proc = _run("chat", *_common(gateway), stdin="\n".join(lines) + "\n")
    assert proc.returncode == 1, proc.stderr  # one turn was refused
    out = proc.stdout.splitlines()
    assert out[0] == f"My email is {EMAIL}."
    assert out[1].startswith("[route: cloud | entities: EMAIL_ADDRESS x1 | actions: EMAIL_ADDRESS")
    assert out[2:4] == [f"My email is {EMAIL}.", f"Send the notes to {EMAIL} again."]
    assert out[4].startswith("[route: cloud")
    assert out[5].startswith("[refused: ")
    assert out[-1].startswith("[route: cloud")
    assert SSN not in proc.stdout + proc.stderr
    # One session: the history is resent, transformed, with the same handle.
    assert echo.seen[-1] == (
        "My email is <EMAIL_ADDRESS_1>.\nSend the notes to <EMAIL_ADDRESS_1> again.\nThanks!"
    )
    assert not any("never read" in seen for seen in echo.seen)


@pytest.mark.model
def test_ask_and_chat_answer_locally_with_the_model(
    gateway: BackgroundGateway, echo: EchoUpstream
) -> None:
    model = ["--local-model", str(smollm2_folder()), "--max-tokens", "12"]
    before = gateway.server.stats.requests
    proc = _run("ask", *_common(gateway), *model, "--json", NHS)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["route"] == "local"
    assert out["text"]
    assert "entities.UK_NHS" in out["decision"]["rules"]
    assert gateway.server.stats.requests == before

    chat = _run("chat", *_common(gateway), *model, stdin=f"{NHS}\nMail {EMAIL} please.\n")
    assert chat.returncode == 0, chat.stderr
    routes = [line for line in chat.stdout.splitlines() if line.startswith("[route: ")]
    assert [r.split(" | ")[0] for r in routes] == ["[route: local", "[route: cloud"]
    assert echo.seen[-1] == "Mail <EMAIL_ADDRESS_1> please."  # the local turn stayed here


# -- in-process: usage and help ------------------------------------------------


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:  # argparse: --help and usage errors
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", [["ask"], ["chat"], ["audit", "verify"]])
def test_help_documents_the_exit_status(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code, out, _ = _main(capsys, *command, "--help")
    assert code == 0
    assert "Exit status: 0" in out
    assert "2 bad usage" in out


def test_ask_refuses_without_quoting_the_value(
    capsys: pytest.CaptureFixture[str], gateway: BackgroundGateway
) -> None:
    before = gateway.server.stats.requests
    code, out, err = _main(capsys, "ask", *_common(gateway), f"My SSN is {SSN}, please file it.")
    assert code == 1
    assert "refused" in err
    assert "entities.US_SSN" in err
    assert SSN not in out + err
    assert gateway.server.stats.requests == before


def test_usage_and_configuration_errors_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _main(capsys, "ask", "hello")[0] == 2  # no --policy
    code, _, err = _main(capsys, "ask", "--policy", str(tmp_path / "none.yaml"), "hello")
    assert code == 2
    assert "none.yaml" in err
    code, _, err = _main(
        capsys, "ask", "--policy", str(DEFAULT), "--local-model", str(tmp_path), "hello"
    )
    assert code == 2
    assert "--local-model" in err
