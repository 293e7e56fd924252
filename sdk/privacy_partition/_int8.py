"""Int8 builds that keep their accuracy on the CPU they run on, and the manifest that says so.

The models the SDK quantizes itself (the Rampart token classifier and the
MiniLM topic encoder) are built from a float32 ONNX file by the first
*scheme* of the model's candidate list that suits this CPU's instruction-set
class (:func:`privacy_partition._cpu.cpu_class`) and passes the model's
accuracy check against a float reference. Thresholds are the model's own and
never relaxed: when no scheme passes, the build fails.

Schemes, measured in ``local_model/rampart/README.md`` and
``local_model/minilm/README.md``:

* :data:`DYNAMIC_S8`: onnxruntime's dynamic quantization, int8 weights per
  output channel, uint8 activations with one scale per tensor. The fastest
  where the CPU multiplies bytes into 32-bit sums (VNNI, Arm dot products);
  on AVX2 or AVX-512 without VNNI the kernel's 16-bit sums saturate and the
  Rampart model falls to 0.986 token agreement, so it suits only the former.
* :data:`BLOCK_INT8`: ``MatMulNBits`` with int8 weights in blocks of 64 along
  the inner dimension, a scale per block, and activations quantized per
  block too (accuracy level 4). Its integer products cannot overflow on any
  instruction set, and it gave the same figures on AVX-512 VNNI and on an
  emulated Haswell (AVX2).

Beside ``<model>.onnx`` the build writes ``<model>.json``, last: the file's
SHA-256, the scheme, the CPU class it was checked on, the check's metric,
minimum and value, and the reference outputs of the check. Loading verifies
the digest; on a CPU of another class it runs the check again (once per
process and file: one inference on fixed inputs) and refuses the model with a
:class:`~privacy_partition.ModelError` that says how to rebuild it when the
check fails. ``privacy-partition model build`` on that machine then rebuilds
it with a scheme that suits the CPU.

Build-time parts (:func:`build`, the schemes' ``quantize``) need the
``onnx`` package (``pip install 'privacy-partition[build]'``) and import it
inside the functions that use it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from privacy_partition._cpu import AARCH64, AARCH64_DOTPROD, X86_64_AVX512_VNNI, cpu_class
from privacy_partition._errors import ChecksumError, ModelError

__all__ = [
    "BLOCK_INT8",
    "DYNAMIC_S8",
    "MANIFEST_SUFFIX",
    "REBUILD",
    "Checker",
    "Manifest",
    "Scheme",
    "build",
    "manifest_path",
    "read_manifest",
    "reason",
    "recheck",
    "verify",
]

MANIFEST_SUFFIX: Final = ".json"
REBUILD: Final = "run `privacy-partition model build`"
"""The advice every load failure ends with."""
_FORMAT: Final = 1

Checker = Callable[[Path, Any], float]
"""Scores a model file against the reference outputs recorded at build time
(higher is better)."""
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Scheme:
    """One way to quantize a float32 ONNX model to int8."""

    name: str
    summary: str
    classes: frozenset[str] | None
    """The CPU classes whose kernels run it exactly; ``None``: every class."""

    def suits(self, cpu: str) -> bool:
        return self.classes is None or cpu in self.classes

    def quantize(self, source: Path, target: Path, exclude: Sequence[str] = ()) -> None:
        """Write the quantized ``source`` to ``target``; nodes named in ``exclude`` stay float."""
        with _quiet_quantizers():
            self._quantize(source, target, exclude)

    def _quantize(self, source: Path, target: Path, exclude: Sequence[str]) -> None:
        if self is DYNAMIC_S8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(
                str(source),
                str(target),
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=list(exclude),
            )
        elif self is BLOCK_INT8:
            _block_int8(source, target, exclude)
        else:
            raise ModelError(f"unknown quantization scheme {self.name}")


DYNAMIC_S8: Final = Scheme(
    "dynamic-s8",
    "int8 weights per output channel, uint8 activations per tensor (dynamic)",
    frozenset({X86_64_AVX512_VNNI, AARCH64_DOTPROD, AARCH64}),
)
BLOCK_INT8: Final = Scheme(
    "block-int8",
    "int8 weights and activations in blocks of 64, a scale per block (MatMulNBits)",
    None,
)
_SCHEMES: Final = {scheme.name: scheme for scheme in (DYNAMIC_S8, BLOCK_INT8)}
_BLOCK: Final = 64
_ACCURACY_LEVEL_INT8: Final = 4


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a build checked, written beside the model as ``<model>.json``."""

    sha256: str
    scheme: str
    cpu_class: str
    """The instruction-set class of the CPU the check passed on."""
    metric: str
    minimum: float
    value: float
    reference: Any
    """The reference outputs the check compares against (JSON values)."""

    def to_json(self) -> str:
        return json.dumps({"format": _FORMAT, **asdict(self)}, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("format", None) != _FORMAT:
            raise ValueError("not a format 1 manifest")
        manifest = cls(**data)
        if manifest.scheme not in _SCHEMES:
            raise ValueError("unknown scheme")
        return manifest


def manifest_path(model: Path) -> Path:
    """``onnx/model_int8.onnx`` -> ``onnx/model_int8.json``."""
    return model.with_suffix(MANIFEST_SUFFIX)


def read_manifest(name: str, model: Path) -> Manifest:
    """The manifest of ``model``, whose digest it must match.

    Raises :class:`ModelError` when either file is missing or the manifest
    is unreadable, :class:`ChecksumError` when the digest differs.
    """
    recorded = manifest_path(model)
    for required in (model, recorded):
        if not required.is_file():
            raise ModelError(f"{name}: {required.name} is missing from {model.parent}; {REBUILD}")
    try:
        manifest = Manifest.from_json(recorded.read_text(encoding="utf-8"))
    except (ValueError, TypeError) as exc:
        raise ModelError(
            f"{name}: {recorded.name} in {model.parent} is not a manifest this version reads "
            f"({type(exc).__name__}); {REBUILD}"
        ) from None
    if _sha256(model) != manifest.sha256:
        raise ChecksumError(f"{name}: {model.name} in {model.parent} has the wrong digest")
    return manifest


_rechecked: dict[tuple[str, str], float] = {}
_rechecked_lock = threading.Lock()


def verify(name: str, model: Path, checker: Checker) -> Manifest:
    """The manifest of ``model``, after its digest and, off its build's CPU class, its check.

    On a CPU of the class the build checked, only the digest is verified. On
    another class the check runs once per process and file; a model that
    fails it is refused with a :class:`ModelError` that says how to rebuild.
    """
    return recheck(name, model, read_manifest(name, model), checker)


def recheck(name: str, model: Path, manifest: Manifest, checker: Checker) -> Manifest:
    """Run ``model``'s check once per process if this CPU's class is not its build's."""
    here = cpu_class()
    if manifest.cpu_class == here:
        return manifest
    key = (str(model.resolve()), manifest.sha256)
    with _rechecked_lock:
        value = _rechecked.get(key)
        if value is None:
            value = _run_check(name, model, manifest.reference, checker)
            _rechecked[key] = value
    if value < manifest.minimum:
        raise ModelError(
            f"{name}: {model.name} in {model.parent} was built ({manifest.scheme}) and checked "
            f"on a {manifest.cpu_class} CPU; on this {here} CPU its {manifest.metric} is "
            f"{value:.4f}, below {manifest.minimum}; {REBUILD} on this machine"
        )
    return manifest


def reason(error: ModelError) -> str:
    """The message of a load failure without the advice to rebuild (for the build itself)."""
    return str(error).split(f"; {REBUILD}")[0]


def build(
    name: str,
    *,
    source: Path,
    target: Path,
    candidates: Sequence[Scheme],
    checker: Checker,
    reference: Any,
    metric: str,
    minimum: float,
    exclude: Sequence[str] = (),
    progress: Progress | None = None,
) -> Manifest:
    """Quantize ``source`` to ``target`` with the first candidate that suits and passes.

    Writes ``target`` and then its manifest; raises :class:`ModelError`
    when no candidate reaches ``minimum``.
    """
    report = progress or _silent
    here = cpu_class()
    tried: list[str] = []
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=target.parent) as scratch:
        for scheme in candidates:
            if not scheme.suits(here):
                report(f"{name}: {scheme.name} skipped: its kernels are inexact on {here} CPUs")
                continue
            started = time.perf_counter()
            candidate = Path(scratch) / f"{scheme.name}.onnx"
            scheme.quantize(source, candidate, exclude)
            value = _run_check(name, candidate, reference, checker)
            report(
                f"{name}: {scheme.name}: {metric} {value:.4f} "
                f"({candidate.stat().st_size / 1e6:.0f} MB, {time.perf_counter() - started:.1f} s)"
            )
            if value >= minimum:
                manifest = Manifest(
                    sha256=_sha256(candidate),
                    scheme=scheme.name,
                    cpu_class=here,
                    metric=metric,
                    minimum=minimum,
                    value=round(value, 6),
                    reference=reference,
                )
                _install(candidate, target, manifest)
                return manifest
            tried.append(f"{scheme.name} {value:.4f}")
    raise ModelError(
        f"{name}: no int8 scheme reaches {metric} {minimum} on this {here} CPU "
        f"({', '.join(tried) or 'none suits it'})"
    )


def _install(candidate: Path, target: Path, manifest: Manifest) -> None:
    # The manifest lands last: a model without one is not a build.
    recorded = manifest_path(target)
    recorded.unlink(missing_ok=True)
    # What builds before manifests recorded: the digest alone.
    target.with_name(target.name + ".sha256").unlink(missing_ok=True)
    os.replace(candidate, target)
    staged = candidate.with_suffix(MANIFEST_SUFFIX)
    staged.write_text(manifest.to_json(), encoding="utf-8")
    os.replace(staged, recorded)


def _run_check(name: str, model: Path, reference: Any, checker: Checker) -> float:
    try:
        return float(checker(model, reference))
    except ModelError:
        raise
    except Exception as exc:  # onnxruntime and tokenizers raise bare Exception subclasses
        raise ModelError(
            f"{name}: the accuracy check of {model.name} failed to run ({type(exc).__name__})"
        ) from exc


@contextlib.contextmanager
def _quiet_quantizers() -> Iterator[None]:
    """Silence onnxruntime's quantizers, which log every node and advice on the root logger."""
    loggers = [logging.getLogger(), logging.getLogger("onnxruntime.quantization")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _block_int8(source: Path, target: Path, exclude: Sequence[str]) -> None:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    config = DefaultWeightOnlyQuantConfig(
        block_size=_BLOCK,
        is_symmetric=True,
        accuracy_level=_ACCURACY_LEVEL_INT8,
        bits=8,
    )
    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(source)),
        bits=8,
        block_size=_BLOCK,
        is_symmetric=True,
        accuracy_level=_ACCURACY_LEVEL_INT8,
        nodes_to_exclude=list(exclude),
        algo_config=config,
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _silent(_line: str) -> None:
    return None
