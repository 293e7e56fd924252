"""The audit log: a hash chain that names the first bad line, and events that carry no text."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from privacy_partition import PolicyViolation, PrivacyClient
from privacy_partition.audit import GENESIS, AuditEvent, AuditLog, verify
from privacy_partition.cloud import BackgroundGateway, EchoUpstream, GatewayServer
from privacy_partition.detection import Analyzer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "policies" / "default.yaml"


def _event(number: int) -> AuditEvent:
    return AuditEvent(
        request_id=f"req-{number}",
        policy_name="default",
        policy_digest="ab" * 32,
        route="cloud",
        decided_route="cloud",
        outcome="answered",
        entities={"EMAIL_ADDRESS": 1},
        actions={"EMAIL_ADDRESS": ("redact",)},
        rules=("routing.default",),
        timings_ms={"detect": 1.5},
    )


def _write(path: Path, count: int) -> str:
    with AuditLog(path) as log:
        head = GENESIS
        for number in range(count):
            head = log.append(_event(number))
    return head


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_an_intact_log_verifies_and_continues_where_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    head = _write(path, 3)
    result = verify(path, head=head)
    assert result.ok
    assert (result.events, result.head) == (3, head)
    with AuditLog(path) as log:  # a second run continues the chain
        assert log.head == head
        new_head = log.append(_event(3))
    result = verify(path, head=new_head)
    assert result.ok
    assert result.events == 4
    assert [json.loads(line)["seq"] for line in _lines(path)] == [1, 2, 3, 4]
    assert json.loads(_lines(path)[0])["prev"] == GENESIS


def test_an_empty_log_is_intact(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path).close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert (path.parent / "audit.jsonl.head").stat().st_mode & 0o777 == 0o600
    assert verify(path).ok
    assert verify(path, head=GENESIS).ok
    assert verify(path).head == GENESIS


def test_a_changed_event_is_found_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path, 5)
    lines = _lines(path)
    lines[2] = lines[2].replace(b'"route":"cloud"', b'"route":"local"')
    path.write_bytes(b"".join(lines))
    result = verify(path)
    assert (result.ok, result.first_bad_line, result.events) == (False, 3, 2)
    assert "changed" in (result.problem or "")


def test_a_changed_last_event_is_found(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path, 3)
    lines = _lines(path)
    lines[-1] = lines[-1].replace(b'"EMAIL_ADDRESS":1', b'"EMAIL_ADDRESS":2')
    path.write_bytes(b"".join(lines))
    assert verify(path).first_bad_line == 3


def test_a_rewritten_line_with_a_fresh_digest_breaks_the_next_link(tmp_path: Path) -> None:
    from privacy_partition.audit import _line

    path = tmp_path / "audit.jsonl"
    _write(path, 4)
    lines = _lines(path)
    original = json.loads(lines[1])
    forged = {**original["event"], "route": "local"}
    lines[1] = _line(original["seq"], original["prev"], forged) + b"\n"
    path.write_bytes(b"".join(lines))
    result = verify(path)
    assert result.first_bad_line == 3
    assert "chain" in (result.problem or "")


@pytest.mark.parametrize(
    ("edit", "bad_line"),
    [
        (lambda lines: lines[:2] + lines[3:], 3),  # removed
        (lambda lines: [*lines[:2], lines[1], *lines[2:]], 3),  # inserted (a copy)
        (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], 2),  # reordered
        (lambda lines: lines[1:], 1),  # the first removed
    ],
    ids=["removed", "inserted", "reordered", "first-removed"],
)
def test_removed_inserted_and_reordered_lines_are_named(
    tmp_path: Path, edit: object, bad_line: int
) -> None:
    path = tmp_path / "audit.jsonl"
    _write(path, 5)
    assert callable(edit)
    path.write_bytes(b"".join(edit(_lines(path))))
    result = verify(path)
    assert not result.ok
    assert result.first_bad_line == bad_line


def test_a_cut_off_end_is_found_by_the_head_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    head = _write(path, 4)
    path.write_bytes(b"".join(_lines(path)[:-1]))
    assert verify(path, head_file=False).ok  # what a bare chain cannot see
    for result in (verify(path), verify(path, head=head)):
        assert (result.ok, result.first_bad_line) == (False, 4)
    assert "cut off" in (verify(path).problem or "")


def test_an_emptied_log_is_found_by_the_head_file(tmp_path: Path) -> None:
    from privacy_partition import ConfigurationError

    path = tmp_path / "audit.jsonl"
    _write(path, 3)
    path.write_bytes(b"")
    result = verify(path)
    assert (result.ok, result.first_bad_line, result.events) == (False, 1, 0)
    with pytest.raises(ConfigurationError, match="start a new file"):
        AuditLog(path)


def test_a_log_without_its_head_file_does_not_verify(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    head = _write(path, 2)
    (tmp_path / "audit.jsonl.head").unlink()
    assert "missing" in (verify(path).problem or "")
    assert verify(path, head=head).ok  # a head kept elsewhere still checks it
    (tmp_path / "audit.jsonl.head").write_text("not json")
    assert "not an audit head" in (verify(path).problem or "")


def test_a_chain_rewritten_with_its_head_file_is_found_only_with_a_head_kept_elsewhere(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    head = _write(path, 3)
    (tmp_path / "audit.jsonl.head").unlink()
    path.unlink()
    _write(path, 3 + 1)  # a fresh chain, head file and all
    assert verify(path).ok
    result = verify(path, head=head)
    assert not result.ok
    assert "rewritten" in (result.problem or "")


def test_a_line_past_the_head_is_a_crash_between_line_and_head_and_continues(
    tmp_path: Path,
) -> None:
    from privacy_partition.audit import _write_head

    path = tmp_path / "audit.jsonl"
    _write(path, 2)
    events_and_head = json.loads((tmp_path / "audit.jsonl.head").read_bytes())
    _write(path, 1)  # one more line ...
    _write_head(path, events_and_head["events"], events_and_head["head"])  # ... its head lost
    assert verify(path).ok
    with AuditLog(path) as log:
        head = log.append(_event(9))
    assert verify(path).ok
    assert verify(path, head=head).events == 4


def test_the_app_refuses_to_append_once_the_file_is_cut_under_it(tmp_path: Path) -> None:
    from privacy_partition import ConfigurationError

    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        for number in range(3):
            log.append(_event(number))
        path.write_bytes(b"".join(_lines(path)[:-2]))  # cut while the app runs
        with pytest.raises(ConfigurationError, match="does not end where its head file"):
            log.append(_event(3))
    assert len(_lines(path)) == 1  # nothing was chained to the cut file
    with pytest.raises(ConfigurationError, match="line 2"):
        AuditLog(path)


def test_a_log_with_a_broken_chain_is_refused_for_appending(tmp_path: Path) -> None:
    from privacy_partition import ConfigurationError

    path = tmp_path / "audit.jsonl"
    _write(path, 3)
    lines = _lines(path)
    path.write_bytes(lines[0] + lines[2])
    with pytest.raises(ConfigurationError, match="broken at line 2"):
        AuditLog(path)


def test_a_partial_last_line_is_broken_and_refused_for_appending(tmp_path: Path) -> None:
    from privacy_partition import ConfigurationError

    path = tmp_path / "audit.jsonl"
    _write(path, 2)
    with path.open("ab") as handle:
        handle.write(b'{"digest":')
    assert verify(path).first_bad_line == 3
    with pytest.raises(ConfigurationError, match="incomplete"):
        AuditLog(path)


def test_appends_from_threads_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        threads = [
            threading.Thread(target=lambda: [log.append(_event(n)) for n in range(50)])
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        head = log.head
    result = verify(path, head=head)
    assert result.ok
    assert result.events == 400


def test_appends_from_processes_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    script = textwrap.dedent(
        f"""
        from privacy_partition.audit import AuditEvent, AuditLog
        with AuditLog({str(path)!r}) as log:
            for n in range(100):
                log.append(AuditEvent("r", "p", "", "cloud", "cloud", "answered"))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(3)]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0, 0]
    result = verify(path)
    assert result.ok
    assert result.events == 300


def test_only_events_can_be_appended(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.jsonl") as log, pytest.raises(TypeError):
        log.append({"prompt": "anything"})  # type: ignore[arg-type]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from privacy_partition.cli import main

    try:
        code = main(["audit", "verify", *args])
    except SystemExit as exit_:  # argparse's usage errors
        code = int(exit_.code or 0)
    return code, capsys.readouterr().out


def test_cli_audit_verify_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "audit.jsonl"
    head = _write(path, 3)
    code, out = _cli(capsys, str(path), "--head", head)
    assert code == 0
    assert "ok: 3 events" in out
    lines = _lines(path)
    path.write_bytes(lines[0] + lines[1])
    code, out = _cli(capsys, str(path))
    assert code == 1
    assert "cut off" in out
    path.write_bytes(lines[0] + lines[2])
    code, out = _cli(capsys, str(path))
    assert code == 1
    assert "line 2" in out
    assert _cli(capsys, str(tmp_path / "missing.jsonl"))[0] == 2
    assert _cli(capsys, str(path), "--head", "not-a-digest")[0] == 2
    assert _cli(capsys)[0] == 2


# -- the canary: no prompt text ever reaches the audit file --------------------

CANARY = "qx7canary"
CANARY_EMAIL = f"{CANARY}.mail@example.org"
CANARY_PHONE = "212-555-0143"


@pytest.fixture(scope="module")
def echo_gateway() -> Iterator[tuple[BackgroundGateway, EchoUpstream]]:
    echo = EchoUpstream(chunk_chars=4)
    with BackgroundGateway(GatewayServer(echo)) as gateway:
        yield gateway, echo


def test_a_canary_in_prompts_never_reaches_the_audit_file(
    tmp_path: Path, analyzer: Analyzer, echo_gateway: tuple[BackgroundGateway, EchoUpstream]
) -> None:
    gateway, _ = echo_gateway
    path = tmp_path / "audit.jsonl"
    prompts = [
        f"Codename {CANARY}: contact {CANARY_EMAIL} or call {CANARY_PHONE}.",
        f"My SSN is 536-22-1234, codename {CANARY}.",  # refused
        f"My NHS number is 943 476 5919, codename {CANARY}.",  # local, no model: refused
    ]
    with PrivacyClient.from_policy(
        DEFAULT, gateway=gateway.target, analyzer=analyzer, local_model=False, audit=path
    ) as client:
        reply = client.generate(prompts[0])
        assert CANARY in reply.text  # the answer has it; the audit must not
        with client.stream(prompts[0]) as pieces:
            assert CANARY_EMAIL in "".join(pieces)
        for prompt in prompts[1:]:
            with pytest.raises(PolicyViolation):
                client.generate(prompt)
        session = client.session(system=f"Remember {CANARY}.")
        session.send(prompts[0])
    data = path.read_text()
    for secret in (CANARY, CANARY_EMAIL, CANARY_PHONE, "536-22-1234", "943 476 5919", "Codename"):
        assert secret not in data
    events = [json.loads(line)["event"] for line in data.splitlines()]
    assert [e["outcome"] for e in events] == [
        "answered",
        "answered",
        "refused",
        "refused",
        "answered",
    ]
    assert [e["mode"] for e in events][:2] == ["generate", "stream"]
    assert events[0]["entities"]["EMAIL_ADDRESS"] == 1
    assert events[0]["actions"]["EMAIL_ADDRESS"] == ["redact"]
    assert events[0]["policy"]["digest"] == client.policy.digest
    assert events[0]["time"].endswith("Z")
    assert events[3]["fallbacks"] == ["local_unavailable->block"]
    assert events[4]["session_id"] is not None
    assert verify(path).ok
