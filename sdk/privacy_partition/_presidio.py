"""Import Presidio without the deep-learning stack it never runs here.

``presidio_analyzer`` imports ``transformers`` (for an NLP engine this
package never builds) and ``torch`` (to look for a CUDA device) whenever they
are installed, as they are wherever ``privacy-partition[build]`` is: that
adds 1.5 s or more to every process that detects anything, the CLI's first
call included. This module imports Presidio with both hidden, so its optional
imports fall back as they do where neither is installed; they stay
importable afterwards, for the model build. Presidio's transformers engine is
then unavailable in this process (an app that wants it imports Presidio
before this package).

``privacy_partition.detection`` and ``privacy_partition.policy``, the only
packages that import Presidio, import this module first.
"""

from __future__ import annotations

import sys

__all__: list[str] = []

_HIDDEN = ("torch", "transformers")


def _import_presidio() -> None:
    if "presidio_analyzer" in sys.modules:
        return
    # A None entry makes `import name` raise ImportError; names already imported stay.
    hidden = [name for name in _HIDDEN if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import presidio_analyzer
        import presidio_analyzer.nlp_engine
        import presidio_analyzer.predefined_recognizers  # noqa: F401
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


_import_presidio()
