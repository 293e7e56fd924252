"""The docs hold: generated references are current, and the README's commands work.

The README is checked as a user would read it: every ``privacy-partition``
command it names exists (its ``--help`` runs) with the options it names,
every ``make`` target it names is a Makefile target (and every phony target
is named), every repository path it names exists, every link into it lands
on a heading, its policy and model-list YAML loads, and every ```python
block runs, unless the line before the block says
``<!-- not runnable: REASON -->``. The CLI parser is built once
and called in-process: importing the CLI's stack takes seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_TEXT = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE_TEXT = (ROOT / "Makefile").read_text(encoding="utf-8")

NOT_RUNNABLE = re.compile(r"<!--\s*not runnable:\s*(?P<reason>.*?)\s*-->")
# Shell words that end the command a line runs.
_COMMAND_END = frozenset({"|", "||", "&", "&&", ";", ">", ">>", "<", "2>", "2>&1"})
_PATH = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.\-/*]*")
# Paths that `make` creates: they exist after set-up, not in a fresh clone.
_BUILT = re.compile(r"(\.venv|\.eval|local_model/[^/]+/model|local_model/\.[^/]+)(/|$)")


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # 1-based line of the opening fence
    text: str
    before: str  # the last non-blank line before the fence


def _blocks(text: str) -> list[Block]:
    blocks = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("```"):
            before = next((b for b in reversed(lines[:index]) if b.strip()), "")
            end = index + 1
            while not lines[end].startswith("```"):
                end += 1
            body = "\n".join(lines[index + 1 : end]) + "\n"
            blocks.append(Block(line[3:].strip(), index + 1, body, before))
            index = end
        index += 1
    return blocks


def _prose(text: str) -> str:
    """The README without its fenced blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


BLOCKS = _blocks(README_TEXT)
# A pipe inside code in a table is written `\|`.
INLINE = [s.replace("\\|", "|") for s in re.findall(r"`([^`\n]+)`", _prose(README_TEXT))]
SHELL = [b for b in BLOCKS if b.language in ("sh", "bash", "console")]
PYTHON = [b for b in BLOCKS if b.language == "python"]
RUNNABLE = [b for b in PYTHON if not NOT_RUNNABLE.search(b.before)]


def _shell_lines() -> list[str]:
    lines = []
    for block in SHELL:
        lines += block.text.replace("\\\n", " ").splitlines()
    return lines


# -- the generated references ------------------------------------------------------


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def parser(generate: ModuleType) -> argparse.ArgumentParser:
    built: argparse.ArgumentParser = generate.cli_parser()
    return built


def test_policy_reference_is_current(generate: ModuleType) -> None:
    committed = (ROOT / "docs" / "policy-reference.md").read_text(encoding="utf-8")
    assert committed == generate.policy_reference(), "docs/policy-reference.md: run make docs"


def test_cli_reference_is_current(generate: ModuleType, parser: argparse.ArgumentParser) -> None:
    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == generate.cli_reference(parser), "docs/cli.md: run make docs"


# -- privacy-partition commands ---------------------------------------------------------


def _invocations() -> list[str]:
    """What follows ``privacy-partition`` wherever the README runs it."""
    found = []
    for line in _shell_lines():
        for match in re.finditer(r"(?<![\w./-])privacy-partition(?=\s|$)", line):
            found.append(line[match.end() :])
    for span in INLINE:
        if re.match(r"privacy-partition(\s|$)", span):
            found.append(span[len("privacy-partition") :])
    return found


def _words(invocation: str) -> list[str]:
    try:
        tokens = shlex.split(invocation, comments=True)
    except ValueError:
        tokens = invocation.split()
    for index, token in enumerate(tokens):
        if token in _COMMAND_END:
            return tokens[:index]
    return tokens


def _subcommands(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _resolve(root: argparse.ArgumentParser, tokens: list[str]) -> tuple[list[list[str]], list[str]]:
    """The command paths ``tokens`` name (several for ``a|b``) and what is wrong with them."""
    words: list[str] = []
    problems: list[str] = []
    current = root
    index = 0
    while index < len(tokens):
        token = tokens[index].strip("[]")
        index += 1
        where = " ".join(["privacy-partition", *words])
        if token.startswith("-") and token != "-":
            flag, _, value = token.partition("=")
            action = current._option_string_actions.get(flag)
            if action is None:
                problems.append(f"{where}: no option {flag}")
            elif action.nargs != 0 and not value:
                index += 1  # the option's value
            continue
        subcommands = _subcommands(current)
        if subcommands is None:
            continue  # a positional argument
        names = token.split("|")
        unknown = [name for name in names if name not in subcommands.choices]
        if unknown:
            problems.append(f"{where}: no command {', '.join(unknown)}")
            return [words], problems
        if len(names) > 1:
            return [[*words, name] for name in names], problems
        words.append(token)
        current = subcommands.choices[token]
    return [words], problems


def test_the_readme_names_privacy_partition_commands() -> None:
    assert len(_invocations()) >= 10


def test_every_command_the_readme_names_exists(parser: argparse.ArgumentParser) -> None:
    problems: list[str] = []
    helped: set[tuple[str, ...]] = set()
    for invocation in _invocations():
        paths, wrong = _resolve(parser, _words(invocation))
        problems += wrong
        for path in paths:
            if tuple(path) in helped:
                continue
            helped.add(tuple(path))
            out = io.StringIO()
            with (
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(out),
                pytest.raises(SystemExit) as exited,
            ):
                parser.parse_args([*path, "--help"])
            if exited.value.code != 0 or "usage:" not in out.getvalue():
                problems.append(f"privacy-partition {' '.join(path)} --help failed")
    assert not problems, "\n".join(problems)


# -- make targets ---------------------------------------------------------------------


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", MAKEFILE_TEXT, flags=re.M))


def _readme_make_targets() -> set[str]:
    texts = [*INLINE, *_shell_lines()]
    return {m for text in texts for m in re.findall(r"(?<![\w-])make ([a-z][\w-]*)", text)}


def test_every_make_target_the_readme_names_exists() -> None:
    named = _readme_make_targets()
    assert {"demo", "test"} <= named
    unknown = sorted(named - _makefile_targets())
    assert not unknown, f"not Makefile targets: {unknown}"


def test_the_readme_lists_every_phony_target() -> None:
    phony = re.search(r"^\.PHONY:(.*)$", MAKEFILE_TEXT, flags=re.M)
    assert phony is not None
    missing = sorted(set(phony.group(1).split()) - _readme_make_targets())
    assert not missing, f"Makefile targets the README does not name: {missing}"


def test_the_readme_starts_with_make_demo_and_make_test() -> None:
    first = BLOCKS[0]
    assert first.language == "sh"
    assert [line.split("#")[0].strip() for line in first.text.splitlines()] == [
        "make demo",
        "make test",
    ]


# -- paths and links ----------------------------------------------------------------------


def _is_repo_path(token: str) -> bool:
    return (
        "/" in token
        and _PATH.fullmatch(token) is not None
        and not token.startswith(("../", "./../", "/"))
        and not _BUILT.match(token)
    )


def _readme_paths() -> set[str]:
    paths = {span for span in INLINE if _is_repo_path(span)}
    for line in _shell_lines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            tokens = line.split()
        paths |= {token for token in tokens if _is_repo_path(token)}
    for block in BLOCKS:
        if block.language != "text":
            continue
        parent = None  # a layout: indented names sit in the last unindented folder
        for line in block.text.splitlines():
            if not line.strip():
                continue
            first = line.split()[0]
            if not line[0].isspace():
                parent = first if first.endswith("/") and _is_repo_path(first) else None
                if parent:
                    paths.add(parent)
            elif parent and re.fullmatch(r"[\w.-]+/|[\w-]+\.\w+", first):
                paths.add(parent + first)
    for target in re.findall(r"\]\(([^)\s]+)\)", README_TEXT):
        path = target.split("#", 1)[0]
        if path and "://" not in path and not path.startswith("mailto:"):
            paths.add(path)
    return paths


def test_every_path_the_readme_names_exists() -> None:
    paths = _readme_paths()
    assert len(paths) >= 20
    missing = sorted(p for p in paths if not any(ROOT.glob(p.rstrip("/"))))
    assert not missing, f"paths named in README.md that do not exist: {missing}"


def _anchor(heading: str) -> str:
    text = re.sub(r"`", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_every_link_into_the_readme_lands_on_a_heading() -> None:
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.*)$", _prose(README_TEXT), flags=re.M)}
    links = set(re.findall(r"\]\(#([^)]+)\)", README_TEXT))
    broken = sorted(links - anchors)
    assert not broken, f"links to no heading of README.md: {broken}"


# -- YAML blocks --------------------------------------------------------------------------


def test_yaml_blocks_load(tmp_path: Path) -> None:
    from privacy_partition.local import ModelRegistry
    from privacy_partition.policy import load_policy

    # A policy block is read as if it were examples/custom_policy/policy.yaml.
    (tmp_path / "policies").symlink_to(ROOT / "policies")
    folder = tmp_path / "examples" / "custom_policy"
    folder.mkdir(parents=True)
    kinds = set()
    for block in BLOCKS:
        if block.language != "yaml":
            continue
        path = folder / f"readme-{block.line}.yaml"
        path.write_text(block.text, encoding="utf-8")
        if block.text.startswith("apiVersion: privacy-partition/v1"):
            load_policy(path)
            kinds.add("policy")
        elif block.text.startswith("version: 1"):
            ModelRegistry(root=tmp_path).load_file(path)
            kinds.add("models")
        else:
            pytest.fail(f"README.md:{block.line}: a YAML block of an unknown kind")
    assert kinds == {"policy", "models"}


# -- Python blocks ----------------------------------------------------------------------------


def test_every_python_block_runs_or_says_why_not() -> None:
    assert len(RUNNABLE) >= 4
    for block in PYTHON:
        marker = NOT_RUNNABLE.search(block.before)
        if marker is None and "not runnable" in block.before:
            pytest.fail(f"README.md:{block.line}: write <!-- not runnable: REASON -->")
        if marker is not None:
            assert marker.group("reason"), f"README.md:{block.line}: say why it does not run"


@pytest.mark.model
@pytest.mark.parametrize("block", RUNNABLE, ids=[f"README.md:{b.line}" for b in RUNNABLE])
def test_python_block_runs(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the README runs its blocks from the repository root
    code = compile(block.text, f"README.md:{block.line}", "exec")
    exec(code, {"__name__": "__readme__"})  # noqa: S102 - the README's own code, on purpose
