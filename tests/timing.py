"""Linear time as a test: growth against a smaller input timed in the same run, not seconds.

A bound in seconds fails on a loaded machine and passes a quadratic algorithm
on a fast one. ``growth`` times the same work at ``n`` and at ``4n`` (the best
of a few tries each, alternating) and returns the ratio: about 4 when linear,
about 16 when quadratic, whatever the machine's speed or load.
"""

from __future__ import annotations

import time
from collections.abc import Callable

LINEAR_CEILING = 9.0  # between linear (4) and quadratic (16), with room for noise


def growth(work: Callable[[int], object], n: int, *, tries: int = 3) -> float:
    """The time of ``work(4 * n)`` over that of ``work(n)``, each the best of ``tries``."""
    small = large = float("inf")
    for _ in range(tries):
        for size in (n, 4 * n):
            started = time.perf_counter()
            work(size)
            elapsed = time.perf_counter() - started
            if size == n:
                small = min(small, elapsed)
            else:
                large = min(large, elapsed)
    return large / max(small, 1e-6)
