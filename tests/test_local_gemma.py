"""Gemma 3 270M, the optional second local model: run only where it was built.

It is not built by `make test` (`privacy-partition model build gemma3-270m`
builds it, in about five minutes), so every test here is skipped, saying why,
when its folder does not verify.
"""

from __future__ import annotations

import json

import pytest

from privacy_partition.local import LocalModel, ModelRegistry, ModelSpec


@pytest.fixture(scope="module")
def gemma_spec() -> ModelSpec:
    spec = ModelRegistry.builtin().get("gemma3-270m")
    state = spec.state()
    if state != "ready":
        pytest.skip(
            f"Gemma 3 270M is {state} in {spec.folder}: build it with "
            "`privacy-partition model build gemma3-270m`"
        )
    return spec


@pytest.fixture(scope="module")
def gemma(gemma_spec: ModelSpec) -> LocalModel:
    return gemma_spec.load(threads=2)


@pytest.mark.model
def test_the_build_carries_the_gemma_terms(gemma_spec: ModelSpec) -> None:
    notice = (gemma_spec.folder / "NOTICE").read_text(encoding="utf-8")
    assert notice.startswith(
        "Gemma is provided under and subject to the Gemma Terms of Use found at "
        "ai.google.dev/gemma/terms"
    )
    assert "Gemma Terms of Use" in (gemma_spec.folder / "GEMMA_TERMS.html").read_text("utf-8")
    tokenizer = json.loads((gemma_spec.folder / "tokenizer_config.json").read_text("utf-8"))
    assert tokenizer["add_bos_token"] is True


@pytest.mark.model
def test_the_base_model_continues_text(gemma: LocalModel) -> None:
    first = gemma.complete("The capital of France is", max_new_tokens=12)
    assert first.text.strip()
    assert 0 < first.tokens <= 12
    assert first.finish_reason in ("length", "eos")
    # Greedy decoding is repeatable, and <bos> is added once, not twice.
    assert gemma.complete("<bos>The capital of France is", max_new_tokens=12).text == first.text
    assert gemma.complete("The capital of France is", max_new_tokens=12).text == first.text
