"""How a benchmark hands its figures to ``bench/report.py``: ``--json PATH``, one JSON object.

The human output of a benchmark stays as it is; the JSON file holds the same
figures in plain units (seconds or milliseconds as the key says, MiB, counts),
so that the report computes its ratios from numbers rather than from text.
Standard library only, like ``local_common``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--json PATH``: also write the figures there, as JSON."""
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the figures to PATH as JSON (what bench/report.py reads)",
    )


def write_figures(path: Path | None, figures: Mapping[str, object]) -> None:
    """Write ``figures`` to ``path`` (nothing when ``path`` is None)."""
    if path is not None:
        path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
