"""The package's layers: a lower one never imports a higher one at run time.

``_actions`` and ``_errors`` hold the shared vocabulary (``Route``, ``Action``,
the errors) at the bottom; ``detection`` and ``transform`` sit on them, then
``policy``, then ``cloud``, the clients and the proxy. A test per layer
imports it in a fresh interpreter and lists what came with it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HIGHER = {
    "privacy_partition._actions": ["detection", "transform", "policy", "cloud", "client"],
    "privacy_partition._errors": ["detection", "transform", "policy", "cloud", "client"],
    "privacy_partition.detection": ["policy", "cloud", "client", "proxy"],
    "privacy_partition.transform": ["detection", "policy", "cloud", "client", "proxy"],
    "privacy_partition.policy": ["cloud", "client", "proxy"],
    "privacy_partition.cloud": ["client", "proxy"],
    "privacy_partition.client": ["proxy"],
}


@pytest.mark.parametrize("module", sorted(HIGHER))
def test_a_layer_imports_no_layer_above_it(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('privacy_partition.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    loaded = set(done.stdout.split())
    above = {f"privacy_partition.{name}" for name in HIGHER[module]}
    assert loaded & above == set()
