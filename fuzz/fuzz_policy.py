"""Fuzz the policy loader: any bytes as a policy file, alone and as the base of another.

Checked for every input: ``load_policy`` returns a policy or raises
``PolicyError`` (a ``ConfigurationError``), nothing else; and a file that
extends it without changing anything loads the same policy, or fails too: a
broken base never yields a half-loaded policy. Seed it with the shipped
policies (``make fuzz`` does).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["privacy_partition", "yaml"]):
    from privacy_partition._errors import ConfigurationError
    from privacy_partition.policy import load_policy

FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-policy-"))
BASE = FOLDER / "base.yaml"
CHILD = FOLDER / "child.yaml"
CHILD.write_text("apiVersion: privacy-partition/v1\nextends: base.yaml\n", encoding="utf-8")


def _outcome(path: Path) -> str:
    try:
        return load_policy(path).digest
    except ConfigurationError:  # PolicyError is one; anything else is a finding
        return "refused"


def test_one_input(raw: bytes) -> None:
    BASE.write_bytes(raw)
    alone = _outcome(BASE)
    if _outcome(CHILD) != alone:
        raise AssertionError("a file extending the policy loads differently from the policy")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
