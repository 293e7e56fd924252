"""The default local model: its reproducible build and the onnxruntime-genai runtime, for real."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from privacy_partition import _artifacts
from privacy_partition._cpu import X86_64_AVX2, X86_64_AVX512_VNNI, cpu_class
from privacy_partition._errors import ChecksumError, InputError, ModelError
from privacy_partition.local import (
    SMOLLM2,
    LocalModel,
    ModelRegistry,
    ModelSpec,
    _build,
    build_gguf_model,
    build_smollm2,
    verify_build,
)
from privacy_partition.local._model import _safe_end

COUNT = [{"role": "user", "content": "Count from 1 to 20, separated by commas."}]


@pytest.fixture(scope="module")
def folder() -> Path:
    return build_smollm2()


@pytest.fixture(scope="module")
def model(folder: Path) -> LocalModel:
    return LocalModel(folder)


@pytest.mark.parametrize(
    ("text", "sent", "expected"),
    [
        ("hello", 0, (5, False)),
        ("hello wor", 0, (6, False)),  # "wor" may begin "world": held back
        ("hello world!", 0, (6, True)),
        ("abc", 3, (3, False)),
        ("xEN", 0, (1, False)),
    ],
)
def test_safe_end_holds_back_possible_stop_prefixes(
    text: str, sent: int, expected: tuple[int, bool]
) -> None:
    assert _safe_end(text, sent, ("world", "END")) == expected


@pytest.mark.model
def test_build_is_idempotent_and_verified(folder: Path) -> None:
    manifest = (folder / "manifest.json").stat().st_mtime_ns
    started = time.perf_counter()
    assert build_smollm2() == folder
    assert time.perf_counter() - started < 5.0
    assert (folder / "manifest.json").stat().st_mtime_ns == manifest
    config = json.loads((folder / "genai_config.json").read_text())
    assert config["model"]["decoder"]["session_options"]["intra_op_num_threads"] >= 1


@pytest.mark.model
def test_the_matrix_picks_the_built_default(folder: Path) -> None:
    registry = ModelRegistry.builtin()
    smollm2 = registry.get("smollm2")
    assert registry.pick(smollm2.memory_mib) == smollm2
    assert smollm2.folder == folder
    assert smollm2.state() == "ready"
    # Apache-2.0 travels with the built weights.
    assert "Apache License" in (folder / "LICENSE").read_text(encoding="utf-8")


@pytest.mark.model
def test_verify_build_rejects_a_changed_file(folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).symlink_to(path)
    (copy / "genai_config.json").unlink()
    shutil.copyfile(folder / "genai_config.json", copy / "genai_config.json")
    verify_build(copy)
    with (copy / "genai_config.json").open("a") as handle:
        handle.write(" ")
    with pytest.raises(ChecksumError):
        verify_build(copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(ModelError):
        verify_build(copy)


@pytest.mark.model
def test_answers_through_the_chat_template(model: LocalModel) -> None:
    prompt = model.apply_chat_template([{"role": "user", "content": "Say hello."}])
    assert prompt.endswith("<|im_start|>assistant\n")
    answer = model.generate(
        [{"role": "user", "content": "What is the capital of Italy?"}], max_new_tokens=12
    )
    assert answer.text.strip()
    assert 0 < answer.tokens <= 12
    assert answer.ttft_s > 0.0


@pytest.mark.model
def test_complete_continues_text_without_the_template(model: LocalModel) -> None:
    result = model.complete("1, 2, 3, 4,", max_new_tokens=4)
    assert result.text.strip()
    assert 0 < result.tokens <= 4
    with pytest.raises(InputError):
        model.complete("")


@pytest.mark.model
def test_greedy_stream_equals_generate(model: LocalModel) -> None:
    whole = model.generate(COUNT, max_new_tokens=16)
    chunks = model.stream(COUNT, max_new_tokens=16)
    assert "".join(chunks) == whole.text
    assert whole.finish_reason == "length"
    assert whole.tokens == 16


@pytest.mark.model
def test_stop_sequence_ends_the_answer(model: LocalModel) -> None:
    whole = model.generate(COUNT, max_new_tokens=16)
    assert "3" in whole.text
    stopped = model.generate(COUNT, max_new_tokens=16, stop=["3"])
    assert stopped.finish_reason == "stop"
    assert stopped.text == whole.text[: whole.text.index("3")]
    assert "".join(model.stream(COUNT, max_new_tokens=16, stop=["3"])) == stopped.text


@pytest.mark.model
def test_cancellation_stops_a_stream(model: LocalModel) -> None:
    cancel = threading.Event()
    chunks = model.stream(COUNT, max_new_tokens=200, cancel=cancel)
    next(chunks)
    cancel.set()
    rest = list(chunks)
    assert len(rest) <= 1  # at most the held-back tail
    # Closing a stream half-way frees the model for the next caller.
    abandoned = model.stream(COUNT, max_new_tokens=200)
    next(abandoned)
    abandoned.close()
    assert model.generate(COUNT, max_new_tokens=2).tokens == 2


@pytest.mark.model
def test_concurrent_calls_are_queued(model: LocalModel) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: model.generate(COUNT, max_new_tokens=8).text, range(3)))
    assert len(set(results)) == 1


@pytest.mark.model
def test_bad_options_and_messages_are_refused(model: LocalModel) -> None:
    with pytest.raises(InputError):
        model.generate(COUNT, max_new_tokens=0)
    with pytest.raises(InputError):
        model.generate([{"role": "robot", "content": "hi"}])
    with pytest.raises(InputError):
        model.generate([])


# -- the accuracy check: recorded at build time, run again off the build's CPU class ---------


def linked_copy(folder: Path, target: Path) -> Path:
    """``folder`` as links to its files, with a manifest of its own to rewrite."""
    target.mkdir()
    for path in folder.iterdir():
        (target / path.name).symlink_to(path)
    (target / "manifest.json").unlink()
    shutil.copyfile(folder / "manifest.json", target / "manifest.json")
    return target


def rewrite_manifest(folder: Path, **changes: Any) -> dict[str, Any]:
    path = folder / "manifest.json"
    manifest: dict[str, Any] = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))
    return manifest


def another_class() -> str:
    return X86_64_AVX2 if cpu_class() != X86_64_AVX2 else X86_64_AVX512_VNNI


def wrong_reference(check: dict[str, Any]) -> dict[str, Any]:
    return {**check, "reference": [token + 1 for token in check["reference"]]}


@pytest.fixture
def checks_run(monkeypatch: pytest.MonkeyPatch) -> list[Sequence[int]]:
    """The inputs of every accuracy check run from now on."""
    runs: list[Sequence[int]] = []
    greedy = _build.greedy_tokens

    def counted(folder: Path, input_ids: Sequence[int]) -> list[int]:
        runs.append(input_ids)
        return greedy(folder, input_ids)

    monkeypatch.setattr(_build, "greedy_tokens", counted)
    return runs


@pytest.mark.model
def test_the_manifest_records_the_cpu_class_and_the_check(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == 2
    assert manifest["cpu_class"] == cpu_class()
    check = manifest["check"]
    assert check["metric"] == _build.METRIC
    assert check["minimum"] == _build.MIN_AGREEMENT == 0.95
    assert 0.95 <= check["value"] <= 1.0
    assert 100 <= len(check["input_ids"]) == len(check["reference"]) <= 200
    assert len(check["input_ids"]) / 2 < len(check["scored"]) < len(check["input_ids"])
    # The check runs again from the manifest alone, with onnxruntime-genai.
    predicted = _build.greedy_tokens(folder, check["input_ids"])
    agreed = [predicted[i] == check["reference"][i] for i in check["scored"]]
    assert sum(agreed) / len(agreed) == pytest.approx(check["value"])


@pytest.mark.model
def test_off_its_build_class_a_model_that_fails_its_check_is_refused(
    folder: Path, tmp_path: Path
) -> None:
    copy = linked_copy(folder, tmp_path / "model")
    check = json.loads((folder / "manifest.json").read_text())["check"]
    rewrite_manifest(copy, cpu_class=another_class(), check=wrong_reference(check))
    refusal = r"below 0\.95; run `privacy-partition model build` on this machine"
    with pytest.raises(ModelError, match=refusal):
        LocalModel(copy)
    with pytest.raises(ModelError, match=refusal):
        verify_build(copy)
    spec = ModelSpec(
        name="smollm2",
        folder=copy,
        memory_mib=350,
        abilities=frozenset({"chat"}),
        build_recipe="smollm2",
    )
    assert spec.state() == "damaged"


@pytest.mark.model
def test_off_its_build_class_a_model_that_passes_its_check_loads_once_checked(
    folder: Path, tmp_path: Path, checks_run: list[Sequence[int]]
) -> None:
    copy = linked_copy(folder, tmp_path / "model")
    rewrite_manifest(copy, cpu_class=another_class())
    model = LocalModel(copy)
    LocalModel(copy)
    assert len(checks_run) == 1  # once per process
    assert model.complete("1, 2, 3,", max_new_tokens=2).tokens == 2


@pytest.mark.model
def test_on_its_build_class_only_the_digests_are_checked(
    folder: Path, tmp_path: Path, checks_run: list[Sequence[int]]
) -> None:
    copy = linked_copy(folder, tmp_path / "model")
    check = json.loads((folder / "manifest.json").read_text())["check"]
    rewrite_manifest(copy, check=wrong_reference(check))
    LocalModel(copy)
    assert checks_run == []
    (copy / "tokenizer_config.json").unlink()
    shutil.copyfile(folder / "tokenizer_config.json", copy / "tokenizer_config.json")
    with (copy / "tokenizer_config.json").open("a") as handle:
        handle.write(" ")
    with pytest.raises(ChecksumError):
        LocalModel(copy)


@pytest.mark.model
def test_a_manifest_without_the_check_asks_for_a_rebuild(folder: Path, tmp_path: Path) -> None:
    copy = linked_copy(folder, tmp_path / "model")
    manifest = rewrite_manifest(copy, format=1)
    with pytest.raises(ModelError, match=r"format .*; run `privacy-partition model build`"):
        LocalModel(copy)
    del manifest["check"], manifest["cpu_class"]
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format": 2}))
    with pytest.raises(ModelError, match=r"no accuracy check .*privacy-partition model build"):
        LocalModel(copy)


@pytest.mark.model
def test_a_build_that_fails_its_check_here_is_rebuilt_step_by_step(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_artifacts, "HEARTBEAT_S", 0.5)
    copy = linked_copy(folder, tmp_path / "model")
    recorded = json.loads((folder / "manifest.json").read_text())
    rewrite_manifest(copy, cpu_class=another_class(), check=wrong_reference(recorded["check"]))
    lines: list[str] = []
    assert build_gguf_model(SMOLLM2, target=copy, progress=lines.append) == copy
    text = "\n".join(lines)
    assert re.search(r"^smollm2: .*below 0\.95; rebuilding$", text, re.M)
    assert re.search(r"^smollm2-gguf: 2 files verified$", text, re.M)
    for step, outcome in [
        (r"converting SmolLM2-135M-Instruct\.Q4_1\.gguf \(98 MB\) to float32", r"5\d\d MB"),
        (r"float32 next tokens of the check text", r"130 tokens, \d+ decisive"),
        (r"onnxruntime-genai builder \(-p int8 -e cpu\)", r"27\d MB"),
        (r"checking int8 against float32", r"agreement 1\.0000 .*minimum 0\.95.*"),
    ]:
        assert re.search(rf"^smollm2: {step} \.\.\.$", text, re.M), step
        assert re.search(rf"^smollm2: {step}: {outcome} in \d+\.\d s$", text, re.M), step
        # Long steps are never silent: a line every HEARTBEAT_S seconds.
        if "converting" in step or "builder" in step:
            assert re.search(rf"^smollm2: {step}: \d+ s", text, re.M), step
    assert re.search(r"builder .*: \d+ s, (reading|quantizing|saving) ", text)
    assert re.search(r"^smollm2: installed .* \(27\d MB\) in \d+\.\d s; built in", text, re.M)
    rebuilt = json.loads((copy / "manifest.json").read_text())
    assert rebuilt["cpu_class"] == cpu_class()
    assert rebuilt["check"]["input_ids"] == recorded["check"]["input_ids"]
    assert rebuilt["check"]["value"] == 1.0
    LocalModel(copy)
