"""Answering on the device: the local models, which one fits, and how they are built.

:class:`ModelRegistry` is the model matrix (:meth:`ModelRegistry.builtin` is
the one the SDK ships, in ``models.yaml``; add your own onnxruntime-genai
folders with :meth:`ModelRegistry.register` or a file of the same format) and
:meth:`ModelRegistry.pick` chooses the largest model that fits a memory budget.
:class:`LocalModel` runs any onnxruntime-genai folder; :class:`LocalChatModel`
is what ``PrivacyClient`` needs of one, so that a test double can stand in.
The built-in models are made from registry GGUFs (:func:`build_gguf_model`;
the default, SmolLM2, with :func:`build_smollm2`). Building needs the
``build`` extra; running needs only onnxruntime-genai.
"""

from __future__ import annotations

from privacy_partition.local._build import (
    GEMMA3_270M,
    RECIPES,
    SMOLLM2,
    GgufRecipe,
    build_gguf_model,
    build_smollm2,
    recipe_folder,
    smollm2_folder,
    verify_build,
)
from privacy_partition.local._model import (
    DEFAULT_MAX_NEW_TOKENS,
    Generation,
    LocalChatModel,
    LocalModel,
    TextStream,
)
from privacy_partition.local._registry import (
    ABILITIES,
    FROM_FOLDER,
    NO_CHAT_TEMPLATE,
    ModelRegistry,
    ModelSpec,
)
from privacy_partition.local._sources import GEMMA3_GGUF, SMOLLM2_GGUF

__all__ = [
    "ABILITIES",
    "DEFAULT_MAX_NEW_TOKENS",
    "FROM_FOLDER",
    "GEMMA3_270M",
    "GEMMA3_GGUF",
    "NO_CHAT_TEMPLATE",
    "RECIPES",
    "SMOLLM2",
    "SMOLLM2_GGUF",
    "Generation",
    "GgufRecipe",
    "LocalChatModel",
    "LocalModel",
    "ModelRegistry",
    "ModelSpec",
    "TextStream",
    "build_gguf_model",
    "build_smollm2",
    "recipe_folder",
    "smollm2_folder",
    "verify_build",
]
