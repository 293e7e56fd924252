"""Run the onnxruntime-genai model builder on configs written by transformers 5.

``python -m privacy_partition.local._ort_builder ARGS`` is
``python -m onnxruntime_genai.models.builder ARGS`` with one adaptation:
transformers 5 writes RoPE settings per attention type (Gemma 3:
``rope_parameters = {"full_attention": {...}, "sliding_attention": {...}}``),
while onnxruntime-genai 0.18's builder reads one flat ``rope_parameters``
plus ``rope_theta`` and, for Gemma 3, ``rope_local_base_freq``. The config the
builder loads is given those flat values (full attention's as the global
ones, sliding attention's as the local theta); the weights and every other
setting are untouched. Configs with flat RoPE settings pass through as they are.

Build-time only, run in a subprocess by :mod:`privacy_partition.local._build`.
"""

from __future__ import annotations

import runpy
from typing import Any

__all__ = ["flatten_layer_rope"]

_GLOBAL = "full_attention"
_LOCAL = "sliding_attention"


def flatten_layer_rope(config: Any) -> None:
    """Give ``config`` the flat RoPE attributes the builder reads, if it has per-type ones."""
    for part in (config, getattr(config, "text_config", None)):
        if part is None:
            continue
        rope = getattr(part, "rope_parameters", None)
        if not isinstance(rope, dict) or not isinstance(rope.get(_GLOBAL), dict):
            continue
        global_rope = dict(rope[_GLOBAL])
        part.rope_parameters = global_rope
        part.rope_theta = global_rope["rope_theta"]
        local = rope.get(_LOCAL)
        if isinstance(local, dict):
            part.rope_local_base_freq = local["rope_theta"]


def main() -> None:
    from transformers import AutoConfig

    load = AutoConfig.from_pretrained

    def from_pretrained(*args: Any, **kwargs: Any) -> Any:
        config = load(*args, **kwargs)
        flatten_layer_rope(config)
        return config

    # The builder's own entry point parses sys.argv; it loads its config only
    # through AutoConfig, so the adaptation is confined to that one call.
    AutoConfig.from_pretrained = from_pretrained  # type: ignore[method-assign]
    runpy.run_module("onnxruntime_genai.models.builder", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
