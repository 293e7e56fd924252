"""The default local model: its reproducible build and the onnxruntime-genai runtime, for real."""

from __future__ import annotations

import json
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from privacy_partition._errors import ChecksumError, InputError, ModelError
from privacy_partition.local import LocalModel, ModelRegistry, build_smollm2, verify_build
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
