"""Answering on the device: the local chat model and how its default is built.

:class:`LocalModel` runs any onnxruntime-genai model folder; :func:`build_smollm2`
makes the default one (SmolLM2-135M-Instruct, int8) from the registry wheel.
Building needs the ``build`` extra; running needs only onnxruntime-genai.
"""

from __future__ import annotations

from privacy_partition.local._build import SMOLLM2_GGUF, build_smollm2, smollm2_folder, verify_build
from privacy_partition.local._model import (
    DEFAULT_MAX_NEW_TOKENS,
    Generation,
    LocalModel,
    TextStream,
)

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "SMOLLM2_GGUF",
    "Generation",
    "LocalModel",
    "TextStream",
    "build_smollm2",
    "smollm2_folder",
    "verify_build",
]
