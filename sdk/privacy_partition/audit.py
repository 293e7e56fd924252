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
one. What a hash chain cannot see is the end of the file cut off, or a whole
chain recomputed by someone who can rewrite the file: keep ``AuditLog.head``
(the hash of the last line) somewhere else and pass it to ``verify`` to
detect both.

``AuditLog.append`` is thread-safe, and safe across processes on POSIX (an
exclusive ``flock`` covers reading the last line and appending the next).
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

_LINE_KEYS: Final = frozenset({"digest", "event", "prev", "seq"})
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


class AuditLog:
    """Appends ``AuditEvent``s to a hash-chained JSONL file. Thread- and process-safe.

    The file is created (mode 0600) when missing; an existing one is
    continued where it ends. One whose last line is incomplete (a crash in
    the middle of a write) is refused with ``ConfigurationError``: run
    ``privacy-partition audit verify`` on it and start a new file.
    ``fsync=True`` makes every append durable before it returns.
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
        self._head = GENESIS
        with self._locked():
            self._seq, self._head = self._tail()

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
        """The sequence number and hash of the file's last line (0 and ``GENESIS`` if empty)."""
        size = os.fstat(self._file.fileno()).st_size
        if size == 0:
            return 0, GENESIS
        self._file.seek(size - 1)
        if self._file.read(1) != b"\n":
            raise ConfigurationError(
                f"audit log {self.path}: the last line is incomplete;"
                " verify it and start a new file"
            )
        last = _last_line(self._file, size)
        try:
            seq = json.loads(last)["seq"]
        except (ValueError, KeyError, TypeError):
            seq = None
        if not isinstance(seq, int):
            raise ConfigurationError(
                f"audit log {self.path}: the last line is not an audit event; verify the file"
            )
        return seq, _sha256(last)

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
    without quoting it; ``head`` is the hash of the last good line.
    """

    ok: bool
    events: int
    head: str
    first_bad_line: int | None = None
    problem: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.events} events, head {self.head}"
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


def verify(path: str | os.PathLike[str], *, head: str | None = None) -> Verification:
    """Check the chain of the audit log at ``path``; name the first bad line.

    ``head``, a value of ``AuditLog.head`` kept elsewhere, must then be the
    hash of the last line: this also detects lines cut off the end and a
    chain rewritten as a whole. ``OSError`` if the file cannot be read.
    """
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    complete, rest = lines[:-1], lines[-1]
    prev = GENESIS
    for number, raw in enumerate(complete, start=1):
        problem = _check_line(raw, number, prev)
        if problem is not None:
            return Verification(False, number - 1, prev, number, problem)
        prev = _sha256(raw)
    count = len(complete)
    if rest:
        return Verification(False, count, prev, count + 1, "incomplete last line (no newline)")
    if head is not None and head != prev:
        return Verification(
            False,
            count,
            prev,
            count + 1,
            "the log does not end at the expected head: lines were cut off the end,"
            " or the chain was rewritten",
        )
    return Verification(True, count, prev)
