"""bench/report.py: one markdown report, the machine described, missing prerequisites said."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPORT = Path(__file__).resolve().parents[1] / "bench" / "report.py"
PROMPTS = (
    "Email jane.doe@example.org the minutes of Tuesday's meeting with Contoso.",
    "What is the capital of France?",
    "Call Maria Gonzalez at +1 415 555 0134 about the lease for 221B Baker Street.",
)
NUMBER = r"\d+(?:\.\d+)?"


def run_report(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    out = tmp_path / "report.md"
    done = subprocess.run(
        [sys.executable, str(REPORT), "--quick", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, out.read_text(encoding="utf-8") if out.is_file() else ""


def table_row(markdown: str, first_cell: str) -> list[str]:
    """The cells of the first table row that starts with ``first_cell``."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r}")


def write_prompts(path: Path, column: str = "user_query") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([column])
        writer.writerows([p] for p in PROMPTS)
    return path


@pytest.mark.model
def test_quick_report_describes_the_machine_and_tables_each_benchmark(tmp_path: Path) -> None:
    data = write_prompts(tmp_path / "prompts.csv")
    done, markdown = run_report(
        tmp_path,
        "--only",
        "detect",
        "transform",
        "--data",
        str(data),
        "--bench-python",
        str(tmp_path / "no-venv" / "python"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == markdown  # printed as written

    assert "## Machine" in markdown
    for row in ("CPU", "cores", "memory", "OS", "Python", "onnxruntime", "onnxruntime-genai"):
        assert table_row(markdown, row)[1] not in ("", "unknown")
    assert re.search(rf"{NUMBER} {NUMBER} {NUMBER} at start, .* at end", markdown)
    assert re.fullmatch(r"[0-9a-f]{40}.*", table_row(markdown, "git commit")[1])

    # Detection: every engine timed, speed-up against stock Presidio from the same run.
    assert "## Detection against stock Presidio" in markdown
    stock = table_row(markdown, "stock Presidio")
    assert all(re.fullmatch(NUMBER, cell) for cell in stock[1:5])
    assert stock[5:] == ["1.00x", "1.00x"]
    ours = table_row(markdown, "privacy-partition + ONNX NER")
    assert re.fullmatch(rf"{NUMBER}x", ours[5])
    assert f"{len(PROMPTS)} prompts of prompts.csv" in markdown

    # Transform cost against its 2 ms goal.
    total = table_row(markdown, "sanitize + restore")
    assert re.fullmatch(NUMBER, total[1])
    assert float(total[3].removesuffix("x")) == pytest.approx(float(total[1]) / 2.0, abs=0.006)

    summary = table_row(markdown, "Transform cost, detection excluded")
    assert re.search(r"of the goal \((met|missed)\)", summary[3])
    assert "## Gateway load" not in markdown  # not chosen with --only


def test_missing_prerequisites_are_reported_as_not_run(tmp_path: Path) -> None:
    args = (
        "--only",
        "detect",
        "llamacpp",
        "--data",
        str(tmp_path / "missing.csv"),
        "--bench-python",
        str(tmp_path / "no-venv" / "python"),
    )
    done, markdown = run_report(tmp_path, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    detect = table_row(markdown, "Detection against stock Presidio")
    assert detect[1].startswith("not run: ")
    assert "missing.csv" in detect[1]
    llama = table_row(markdown, "Local model against llama.cpp")
    assert llama[1].startswith("not run: ")
    assert "make bench-local-llamacpp" in llama[1]
    assert "## Local model against llama.cpp" in markdown  # its section says so, too

    strict, _ = run_report(tmp_path, *args, "--require-all")
    assert strict.returncode == 1


def test_a_failing_benchmark_fails_the_report(tmp_path: Path) -> None:
    data = write_prompts(tmp_path / "wrong-column.csv", column="text")
    done, markdown = run_report(tmp_path, "--only", "detect", "--data", str(data))
    assert done.returncode == 1
    cells = table_row(markdown, "Detection against stock Presidio")
    assert cells[1].startswith("**failed**: exit status 1")
    assert "KeyError: 'user_query'" in markdown  # the error's tail is in the report
