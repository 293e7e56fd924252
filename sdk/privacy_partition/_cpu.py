"""The instruction-set class of the CPU this process runs on.

Integer kernels of onnxruntime differ by instruction set, and so can the
accuracy of an int8 model: without VNNI, x86 CPUs multiply unsigned by
signed bytes with ``vpmaddubsw``, which saturates 16-bit sums, so a model
quantized to signed int8 weights loses accuracy there that it keeps on a CPU
with VNNI. A built model records the class it was checked on
(:mod:`privacy_partition._int8`), and loading it on another class checks it
again.

The features are the ones the CPU reports to this process (numpy's runtime
dispatch reads them with ``cpuid`` on x86 and from the auxiliary vector on
Arm), not the host's ``/proc/cpuinfo``: under an emulator such as
``qemu-x86_64 -cpu Haswell`` they are the emulated CPU's.
"""

from __future__ import annotations

import functools
import platform
from typing import Final

__all__ = [
    "AARCH64",
    "AARCH64_DOTPROD",
    "X86_64",
    "X86_64_AVX2",
    "X86_64_AVX512",
    "X86_64_AVX512_VNNI",
    "cpu_class",
]

X86_64_AVX512_VNNI: Final = "x86-64-avx512-vnni"
"""AVX-512 with VNNI: Cascade Lake, Ice Lake, Sapphire Rapids (AMX too), Zen 4 and 5."""
X86_64_AVX512: Final = "x86-64-avx512"
"""AVX-512 without VNNI: Skylake-SP and -X."""
X86_64_AVX2: Final = "x86-64-avx2"
"""AVX2 and FMA without AVX-512: Haswell to Coffee Lake, Zen 1 to 3, most laptops."""
X86_64: Final = "x86-64"
"""An x86-64 CPU without AVX2."""
AARCH64_DOTPROD: Final = "aarch64-dotprod"
"""64-bit Arm with the dot-product instructions: Apple M, Graviton 2 and later."""
AARCH64: Final = "aarch64"
"""64-bit Arm without them."""


@functools.cache
def cpu_class() -> str:
    """The class of this CPU, one of the constants above or the machine name."""
    features = _features()
    machine = platform.machine().lower()
    if features.get("AVX2") or machine in ("x86_64", "amd64"):
        if features.get("AVX512F"):
            return X86_64_AVX512_VNNI if features.get("AVX512VNNI") else X86_64_AVX512
        return X86_64_AVX2 if features.get("AVX2") and features.get("FMA3") else X86_64
    if features.get("ASIMD") or machine in ("aarch64", "arm64"):
        return AARCH64_DOTPROD if features.get("ASIMDDP") else AARCH64
    return machine or "unknown"


def _features() -> dict[str, bool]:
    import importlib

    # numpy's runtime dispatch table; numpy 1.x kept it under numpy.core.
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            table = importlib.import_module(module).__cpu_features__
        except (ImportError, AttributeError):
            continue
        return {str(name): bool(on) for name, on in table.items()}
    return {}
