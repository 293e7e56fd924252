"""Defaults that serve: shipped policies by name, the built default local model without a flag.

* ``load_policy("default")`` (and ``--policy default`` wherever the CLI takes
  a policy) names a policy that ships inside the package; a file that exists
  wins over a name, and an unknown name lists the shipped ones.
* ``PrivacyClient`` / ``AsyncPrivacyClient`` / ``ask`` / ``chat`` answer local
  requests with the default local model when ``model build`` built it, load it
  once, at construction; ``local_model=False`` / ``--no-local-model`` opt out;
  where it is not built they behave as before (the policy's fallback), and
  nothing is downloaded or built.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from privacy_partition import AsyncPrivacyClient, PolicyViolation, PrivacyClient, Route
from privacy_partition._artifacts import MODELS_ENV_VAR, model_root
from privacy_partition._errors import ConfigurationError, ModelError, PolicyError
from privacy_partition.cli import main
from privacy_partition.cloud import GenerationOptions
from privacy_partition.detection import Analyzer
from privacy_partition.local import LocalModel, ModelRegistry
from privacy_partition.local import _registry as registry_module
from privacy_partition.policy import load_policy, shipped_policies

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_POLICIES = ROOT / "sdk" / "privacy_partition" / "policies"
SHIPPED = ("default", "healthcare", "strict", "zh-CN")
SHORT = GenerationOptions(max_tokens=8)
NHS = "My NHS number is 943 476 5919. Which clinic should I call?"
HEALTH = "I was diagnosed with type 2 diabetes, what should I eat?"
UNAVAILABLE = "the local model is unavailable: block (fallback.local_unavailable)"


def _without_the_default(root: Path) -> Path:
    """``root``: a model root with the detection models but no default local model built."""
    for name in ("rampart", "minilm"):  # the topic model scores the shipped policies' topics
        (root / name).symlink_to(model_root() / name, target_is_directory=True)
    return root


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit_:  # argparse: usage errors
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _cli(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "privacy_partition.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=cwd,
    )


# -- shipped policies by name ------------------------------------------------------


def test_the_shipped_policies_are_package_data_and_the_root_folder_is_them() -> None:
    shipped = shipped_policies()
    assert tuple(shipped) == SHIPPED
    for name, path in shipped.items():
        assert path.parent.samefile(PACKAGE_POLICIES)
        # policies/ at the root (docs, tests, examples) reaches the same files.
        assert path.samefile(ROOT / "policies" / f"{name}.yaml")
    assert (PACKAGE_POLICIES / "schema.json").samefile(ROOT / "policies" / "schema.json")


@pytest.mark.parametrize("name", SHIPPED)
def test_load_policy_takes_a_shipped_name_from_any_folder(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no policies/ here: the name resolves to package data
    policy = load_policy(name)
    assert policy.name == name
    assert policy.source == shipped_policies()[name]
    assert policy.digest == load_policy(ROOT / "policies" / f"{name}.yaml").digest


def test_a_file_that_exists_wins_over_a_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "default").write_text("apiVersion: privacy-partition/v1\nname: mine\n")
    monkeypatch.chdir(tmp_path)
    assert load_policy("default").name == "mine"
    assert load_policy(Path("default")).name == "mine"


def test_an_unknown_name_lists_the_shipped_ones() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy("defualt")
    message = str(caught.value)
    assert "no policy file and no shipped policy named 'defualt'" in message
    assert "(shipped: default, healthcare, strict, zh-CN)" in message
    assert "did you mean 'default'?" in message


def test_a_missing_file_is_still_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy") as caught:
        load_policy(tmp_path / "default.yaml")  # a path, not a name: no fallback to shipped
    assert caught.value.path == str(tmp_path / "default.yaml")
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy("default.yaml")  # a file name is never taken for a shipped policy


def test_cli_takes_shipped_names_and_explains_unknown_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = _main(capsys, "policy", "check", "zh-CN")
    assert code == 0
    assert out.startswith("ok: zh-CN (zh-CN), digest ")
    code, _, err = _main(capsys, "ask", "--policy", "nonesuch", "hello")
    assert code == 2
    assert "no shipped policy named 'nonesuch' (shipped: default, healthcare, strict, zh-CN)" in (
        err
    )


def test_sanitize_with_a_policy_name_from_outside_the_checkout(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "text": "Please email maria.garcia@example.com about the invoice."},
        {"id": 2, "text": "Forward the draft to priya.patel@example.org today."},
    ]
    stdin = "".join(json.dumps(row) + "\n" for row in rows)
    proc = _cli(
        "sanitize", "--policy", "default", "--jsonl", "--no-ner-model", cwd=tmp_path, stdin=stdin
    )
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [row["id"] for row in out] == ["a", 2]
    assert out[0]["cloud_text"] == "Please email <EMAIL_ADDRESS_1> about the invoice."
    assert "priya.patel@example.org" not in out[1]["cloud_text"]


# -- the default local model: absent ----------------------------------------------


def test_an_unbuilt_default_gives_no_model_and_fetches_nothing(tmp_path: Path) -> None:
    assert ModelRegistry.builtin(tmp_path).load_default() is None
    assert ModelRegistry(root=tmp_path).load_default() is None  # no default at all
    assert list(tmp_path.iterdir()) == []  # nothing downloaded, nothing built


def test_a_damaged_default_is_left_out_with_a_warning_that_says_how_to_rebuild(
    analyzer: Analyzer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = _without_the_default(tmp_path)
    spec = ModelRegistry.builtin(root).default
    assert spec is not None
    spec.folder.mkdir(parents=True)
    # A config without the model files and manifest: a build cut short or tampered with.
    (spec.folder / "genai_config.json").write_text("{}", encoding="utf-8")
    rebuild = "rebuild it with `privacy-partition model build`"
    # The registry, asked for the default, says so ...
    with pytest.raises(ModelError, match=rebuild):
        ModelRegistry.builtin(root).load_default()
    # ... and a client, which only tries it, warns and goes on without it.
    monkeypatch.setenv(MODELS_ENV_VAR, str(root))
    with (
        caplog.at_level("WARNING", logger="privacy_partition.client"),
        PrivacyClient.from_policy("default", analyzer=analyzer) as client,
    ):
        assert not client.has_local_model
        with pytest.raises(PolicyViolation) as caught:
            client.generate(NHS)
    assert UNAVAILABLE in caught.value.reasons
    warned = [r for r in caplog.records if r.name == "privacy_partition.client"]
    assert [r.getMessage() for r in warned] == [
        f"no local model: the default local model {spec.name} in {spec.folder} is damaged "
        f"or out of date: {rebuild}"
    ]


def test_a_client_without_a_built_default_behaves_as_before(
    analyzer: Analyzer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _without_the_default(tmp_path)
    # The shared Analyzer has no model_root of its own: the root comes from the environment.
    monkeypatch.setenv(MODELS_ENV_VAR, str(root))
    with PrivacyClient.from_policy("default", analyzer=analyzer) as client:
        assert not client.has_local_model
        with pytest.raises(PolicyViolation) as caught:
            client.generate(NHS)
    assert UNAVAILABLE in caught.value.reasons
    assert sorted(p.name for p in root.iterdir()) == ["minilm", "rampart"]  # nothing fetched


def test_cli_without_a_built_default_follows_the_fallback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = _without_the_default(tmp_path)
    code, out, err = _main(capsys, "--models", str(root), "ask", "--policy", "default", NHS)
    assert code == 1
    assert UNAVAILABLE in err
    assert "943" not in out + err
    assert sorted(p.name for p in root.iterdir()) == ["minilm", "rampart"]  # nothing fetched


def test_local_model_true_is_refused(analyzer: Analyzer) -> None:
    with pytest.raises(ConfigurationError, match="local_model takes"):
        PrivacyClient.from_policy("default", analyzer=analyzer, local_model=True)  # type: ignore[arg-type]


def test_local_model_and_no_local_model_exclude_each_other(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _main(
        capsys, "ask", "--policy", "default", "--local-model", ".", "--no-local-model", "hi"
    )
    assert code == 2
    assert "not allowed with argument" in err


# -- the default local model: built -----------------------------------------------


@pytest.mark.model
def test_the_client_loads_the_built_default_once_and_answers_locally(
    analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[Path] = []
    original = registry_module.LocalModel

    def counted(folder: Path, **kwargs: object) -> LocalModel:
        loads.append(folder)
        return original(folder, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(registry_module, "LocalModel", counted)
    default = ModelRegistry.builtin().default
    assert default is not None
    with PrivacyClient.from_policy("default", analyzer=analyzer, options=SHORT) as client:
        assert client.has_local_model
        assert loads == [default.folder]  # at construction, before any request
        for _ in range(2):
            reply = client.generate(NHS)
            assert reply.route is Route.LOCAL
            assert reply.decision.fallbacks == ()
            assert reply.text
        with client.stream(NHS) as pieces:
            assert "".join(pieces)
        assert loads == [default.folder]  # never again, never per request
    assert not client.has_local_model  # the client released what it loaded


@pytest.mark.model
def test_local_model_false_opts_out(analyzer: Analyzer) -> None:
    with PrivacyClient.from_policy("default", analyzer=analyzer, local_model=False) as client:
        assert not client.has_local_model
        with pytest.raises(PolicyViolation) as caught:
            client.generate(NHS)
    assert UNAVAILABLE in caught.value.reasons


@pytest.mark.model
def test_the_async_client_loads_the_built_default(analyzer: Analyzer) -> None:
    async def run() -> Route:
        async with AsyncPrivacyClient.from_policy(
            "default", analyzer=analyzer, options=SHORT
        ) as client:
            assert client.has_local_model
            return (await client.generate(NHS)).route

    assert asyncio.run(run()) is Route.LOCAL


@pytest.mark.model
def test_ask_and_chat_answer_with_the_built_default_without_a_flag(tmp_path: Path) -> None:
    # The issue's own example: healthcare routes a health question to the device.
    ask = _cli(
        "ask", "--policy", "healthcare", "--max-tokens", "12", "--json", HEALTH, cwd=tmp_path
    )
    assert ask.returncode == 0, ask.stderr
    out = json.loads(ask.stdout)
    assert out["route"] == "local"
    assert out["decision"]["fallbacks"] == []
    assert "routing.health-local" in out["decision"]["rules"]
    assert out["text"]

    chat = _cli("chat", "--policy", "default", "--max-tokens", "8", cwd=tmp_path, stdin=NHS)
    assert chat.returncode == 0, chat.stderr
    decision = chat.stdout.splitlines()[-1]
    assert decision.startswith("[route: local | entities: ")
    assert "UK_NHS=local" in decision


@pytest.mark.model
def test_no_local_model_opts_out_on_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _main(
        capsys, "ask", "--policy", "default", "--no-ner-model", "--no-local-model", NHS
    )
    assert code == 1
    assert UNAVAILABLE in err
    assert "943" not in out + err


@pytest.mark.model
def test_an_explicit_local_model_wins_over_the_default(analyzer: Analyzer, tmp_path: Path) -> None:
    default = ModelRegistry.builtin().default
    assert default is not None
    # The same files elsewhere: the client must load the folder it is given, not the default's.
    copy = tmp_path / "mine"
    copy.mkdir()
    for path in default.folder.iterdir():
        (copy / path.name).symlink_to(path)
    with PrivacyClient.from_policy(
        "default", analyzer=analyzer, local_model=os.fspath(copy), options=SHORT
    ) as client:
        local = client._local
        assert isinstance(local, LocalModel)
        assert local.folder == copy
        assert client.generate(NHS).route is Route.LOCAL
