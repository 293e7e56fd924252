"""The audit log: one event per request, in a hash-chained JSON Lines file.

An event says what happened to a request and why, never what it said: UTC
time, request id, policy name and digest, route, entity types and counts,
actions per type, rules fired, fallbacks taken, timings and the outcome. It
has no field for a prompt, an answer, a value or request metadata, so none
can be written by mistake (``AuditEvent`` is the only thing ``AuditLog``
appends).

Each line is canonical JSON (sorted keys, ASCII, no spaces)::

    {"digest": D, "event": {...}, "prev": P, "seq": N}

``seq`` counts lines from 1; ``prev`` is the SHA-256 (hex) of the previous
line's bytes, and of the line 1 is ``GENESIS``; ``digest`` is the SHA-256 of
the line's own ``{"event", "prev", "seq"}`` in canonical JSON. ``verify``
finds a changed, removed, inserted or reordered line and names the first bad
one.

A hash chain alone cannot see its end cut off or the file emptied, so the
log keeps its head beside it: ``FILE.head`` (mode 0600) holds the number of
events and the hash of the last line, rewritten atomically after every
append. ``verify`` checks the file against it by default, and ``AuditLog``
refuses to continue a log whose chain or head does not verify. Someone who
can rewrite both files can still recompute the whole chain: keep
``AuditLog.head`` somewhere they cannot write, and pass it to ``verify``.

``AuditLog.append`` is thread-safe, and safe across processes on POSIX (an
exclusive ``flock`` covers reading the last line, appending the next and
writing the head).
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Final, Literal

from privacy_partition._errors import ConfigurationError

__all__ = [
    "GENESIS",
    "HEAD_SUFFIX",
    "AuditEvent",
    "AuditLog",
    "Outcome",
    "Verification",
    "verify",
]

GENESIS: Final = "0" * 64
"""The ``prev`` of line 1: the chain's fixed start."""

Outcome = Literal["answered", "refused", "cancelled", "failed"]
"""How a request ended: answered, refused by the policy, cancelled by the caller, or an error."""

HEAD_SUFFIX: Final = ".head"
"""The head file of ``FILE`` is ``FILE.head``."""

_LINE_KEYS: Final = frozenset({"digest", "event", "prev", "seq"})
_HEAD_KEYS: Final = frozenset({"events", "head"})
_HEX64: Final = frozenset("0123456789abcdef")
_TAIL_BLOCK: Final = 4096


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    """The current UTC time as ISO 8601 with microseconds and a ``Z``."""
    now = datetime.datetime.now(datetime.UTC)
    return now.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What one request did, in names and numbers only.

    ``entities`` maps entity types to counts; ``actions`` maps entity types
    to the actions their findings got; ``timings_ms`` maps a step (detect,
    decide, transform, cloud, local, restore) to milliseconds. ``error``
    is the type name of the error that failed the request, never its message.
    """

    request_id: str
    policy_name: str
    policy_digest: str
    route: str
    decided_route: str | None
    outcome: Outcome
    entities: Mapping[str, int] = field(default_factory=dict)
    actions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[str, ...] = ()
    fallbacks: tuple[str, ...] = ()
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    mode: Literal["generate", "stream"] = "generate"
    session_id: str | None = None
    error: str | None = None
    time: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entities", _frozen(self.entities))
        object.__setattr__(self, "actions", _frozen(self.actions))
        object.__setattr__(self, "timings_ms", _frozen(self.timings_ms))

    def as_dict(self) -> dict[str, Any]:
        """The event as written in the log."""
        return {
            "time": self.time,
            "request_id": self.request_id,
            "session_id": self.session_id,
            "policy": {"name": self.policy_name, "digest": self.policy_digest},
            "mode": self.mode,
            "route": self.route,
            "decided_route": self.decided_route,
            "outcome": self.outcome,
            "error": self.error,
            "entities": dict(sorted(self.entities.items())),
            "actions": {k: list(v) for k, v in sorted(self.actions.items())},
            "rules": list(self.rules),
            "fallbacks": list(self.fallbacks),
            "timings_ms": {k: round(v, 3) for k, v in sorted(self.timings_ms.items())},
        }


def _line(seq: int, prev: str, event: Mapping[str, Any]) -> bytes:
    body = {"event": event, "prev": prev, "seq": seq}
    return _canonical({**body, "digest": _sha256(_canonical(body))})


def _last_line(handle: BinaryIO, size: int) -> bytes:
    """The last line of a file of ``size`` bytes that ends in a newline, without the newline."""
    position = size - 1  # the final newline
    tail = b""
    while position > 0:
        step = min(_TAIL_BLOCK, position)
        position -= step
        handle.seek(position)
        tail = handle.read(step) + tail
        cut = tail.rfind(b"\n")
        if cut >= 0:
            return tail[cut + 1 :]
    return tail


def head_path(path: str | os.PathLike[str]) -> Path:
    """Where the head of the audit log at ``path`` is kept."""
    return Path(f"{os.fspath(path)}{HEAD_SUFFIX}")


def _read_head(path: Path) -> tuple[int, str] | None:
    """The (events, head) recorded for the log at ``path``; None when there is no head file.

    ``ConfigurationError`` when the head file is unreadable or malformed.
    """
    where = head_path(path)
    try:
        raw = where.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigurationError(
            f"audit head {where}: cannot read ({type(error).__name__})"
        ) from None
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if (
        isinstance(document, dict)
        and set(document) == _HEAD_KEYS
        and type(document["events"]) is int
        and document["events"] >= 0
        and isinstance(document["head"], str)
        and len(document["head"]) == 64
        and set(document["head"]) <= _HEX64
    ):
        return document["events"], document["head"]
    raise ConfigurationError(f"audit head {where}: not an audit head file")


def _write_head(path: Path, events: int, head: str, *, fsync: bool = False) -> None:
    """Record (events, head) for the log at ``path``: written whole or not at all."""
    where = head_path(path)
    temporary = where.with_name(f".{where.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_canonical({"events": events, "head": head}) + b"\n")
            if fsync:
                os.fsync(out.fileno())
        os.replace(temporary, where)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class AuditLog:
    """Appends ``AuditEvent``s to a hash-chained JSONL file. Thread- and process-safe.

    The file is created (mode 0600) when missing, with its head file; an
    existing one is verified whole (chain and head file, see ``verify``) and
    continued where it ends. A log that does not verify, an incomplete last
    line (a crash in the middle of a write) included, is refused with
    ``ConfigurationError``, and so is every append once the file no longer
    ends where its head file says: run ``privacy-partition audit verify`` on
    it and start a new file. ``fsync=True`` makes every append durable
    before it returns.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._lock = threading.Lock()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as error:
            raise ConfigurationError(
                f"audit log {self.path}: cannot open ({type(error).__name__})"
            ) from None
        self._file = os.fdopen(fd, "a+b", buffering=0)
        try:
            with self._locked():
                result = verify(self.path)
                if not result.ok:
                    raise ConfigurationError(f"audit log {self.path}: {result}; start a new file")
                self._seq, self._head = result.events, result.head
                if _read_head(self.path) != (self._seq, self._head):
                    _write_head(self.path, self._seq, self._head, fsync=fsync)
        except BaseException:
            self._file.close()
            raise

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, events={self._seq})"

    @property
    def head(self) -> str:
        """The SHA-256 of the last line this log wrote or found (``GENESIS`` when empty)."""
        with self._lock:
            return self._head

    def _locked(self) -> _FileLock:
        return _FileLock(self._file.fileno())

    def _tail(self) -> tuple[int, str]:
        """The sequence number and hash of the file's last line (0 and ``GENESIS`` if empty),
        checked against the head file: the file must end where the last append left it."""
        size = os.fstat(self._file.fileno()).st_size
        seq, head, prev = 0, GENESIS, GENESIS
        if size:
            self._file.seek(size - 1)
            if self._file.read(1) != b"\n":
                raise ConfigurationError(
                    f"audit log {self.path}: the last line is incomplete;"
                    " verify it and start a new file"
                )
            last = _last_line(self._file, size)
            try:
                document = json.loads(last)
                found, prev = document["seq"], document["prev"]
            except (ValueError, KeyError, TypeError):
                found = None
            if not isinstance(found, int):
                raise ConfigurationError(
                    f"audit log {self.path}: the last line is not an audit event; verify the file"
                )
            seq = found
            head = _sha256(last)
        recorded = _read_head(self.path)
        # One line past the head: the process died between the line and its head.
        if recorded not in ((seq, head), (seq - 1, prev)):
            raise ConfigurationError(
                f"audit log {self.path}: the file does not end where its head file"
                f" ({HEAD_SUFFIX}) says: lines were cut off or the file was replaced;"
                " verify it and start a new file"
            )
        return seq, head

    def append(self, event: AuditEvent) -> str:
        """Append ``event`` chained to the last line; return the new line's hash (the head)."""
        if not isinstance(event, AuditEvent):
            raise TypeError("only an AuditEvent can be appended")
        payload = event.as_dict()
        with self._lock, self._locked():
            # Another process may have appended since: chain to the file, not to memory.
            seq, prev = self._tail()
            line = _line(seq + 1, prev, payload)
            self._file.write(line + b"\n")
            if self._fsync:
                os.fsync(self._file.fileno())
            self._seq, self._head = seq + 1, _sha256(line)
            _write_head(self.path, self._seq, self._head, fsync=self._fsync)
            return self._head

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _FileLock:
    """An exclusive ``flock`` for the span of a ``with`` block."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc_info: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of ``verify``: ``ok``, the number of good lines, and the first bad one.

    ``problem`` says what is wrong with line ``first_bad_line`` (1-based)
    without quoting it; ``head`` is the hash of the last good line;
    ``against`` names what the end of the log was checked against (the head
    file, a head given by the caller), None when nothing was.
    """

    ok: bool
    events: int
    head: str
    first_bad_line: int | None = None
    problem: str | None = None
    against: str | None = None

    def __str__(self) -> str:
        if self.ok:
            checked = f", checked against {self.against}" if self.against else ""
            return f"ok: {self.events} events, head {self.head}{checked}"
        return f"broken at line {self.first_bad_line}: {self.problem}"


def _check_line(raw: bytes, number: int, prev: str) -> str | None:
    """What is wrong with line ``number`` given the hash of the line before, or None."""
    try:
        document = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return "not a JSON audit line"
    if not isinstance(document, dict) or set(document) != _LINE_KEYS:
        return "not an audit line (unexpected fields)"
    try:
        canonical = _canonical(document)
    except (TypeError, ValueError):
        return "not an audit line (unexpected values)"
    if canonical != raw:
        return "not in canonical form: the line was edited"
    body = {key: document[key] for key in ("event", "prev", "seq")}
    if document["digest"] != _sha256(_canonical(body)):
        return "its digest does not match its content: the event was changed"
    if document["seq"] != number:
        return (
            f"sequence number {document['seq']!r} where {number} was expected:"
            " a line was removed, inserted or moved"
        )
    if document["prev"] != prev:
        return (
            "it does not chain to the line before it:"
            " a line was changed, removed, inserted or moved"
        )
    if not isinstance(document["event"], dict):
        return "its event is not an object"
    return None


def verify(
    path: str | os.PathLike[str], *, head: str | None = None, head_file: bool = True
) -> Verification:
    """Check the chain of the audit log at ``path``; name the first bad line.

    The log must also end where its head file (``FILE.head``) says, which
    catches lines cut off the end and an emptied file; a log with events and
    no head file does not verify. ``head``, a value of ``AuditLog.head`` kept
    elsewhere, is checked instead of the head file and also catches a chain
    rewritten as a whole, head file included. ``head_file=False`` checks the
    chain alone. ``OSError`` if the log cannot be read.
    """
    path = Path(path)
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete, rest = lines[:-1], lines[-1]
    prev = before = GENESIS
    for number, raw in enumerate(complete, start=1):
        problem = _check_line(raw, number, prev)
        if problem is not None:
            return Verification(False, number - 1, prev, number, problem)
        prev, before = _sha256(raw), prev
    count = len(complete)
    if rest:
        return Verification(False, count, prev, count + 1, "incomplete last line (no newline)")
    if head is not None:
        if head != prev:
            return Verification(
                False,
                count,
                prev,
                count + 1,
                "the log does not end at the expected head: lines were cut off the end,"
                " or the chain was rewritten",
            )
        return Verification(True, count, prev, against="the given head")
    if not head_file:
        return Verification(True, count, prev)
    where = head_path(path).name
    try:
        recorded = _read_head(path)
    except ConfigurationError:
        return Verification(False, count, prev, count + 1, f"{where} is not an audit head file")
    if recorded is None:
        if count == 0:
            return Verification(True, count, prev)
        return Verification(
            False, count, prev, count + 1, f"{where} is missing: the end cannot be checked"
        )
    events = recorded[0]
    # One line past the head: the writer died between the line and its head.
    if (count, prev) == recorded or (count - 1, before) == recorded:
        return Verification(True, count, prev, against=where)
    if count < events:
        problem = f"{where} records {events} events: lines were cut off the end or the file emptied"
    else:
        problem = f"the log does not end where {where} says: the chain was rewritten or extended"
    return Verification(False, count, prev, min(count, events) + 1, problem)
