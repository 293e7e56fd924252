"""What the local model benchmarks share: their prompts and how they read memory.

Standard library only: the llama.cpp side of ``local_llamacpp.py`` imports it
from a virtual environment without privacy-partition.
"""

from __future__ import annotations

import resource
from pathlib import Path

PROMPT = (
    "My doctor told me last week that my HbA1c is 8.1 and that I should change my diet. "
    "I work night shifts as a nurse, I often skip breakfast, and I drink two cans of soda "
    "a day. What are three practical changes I could make this month?"
)
"""A ~60-token question, the decode and first-token benchmark's prompt."""

FRANCE = "What is the capital of France?"
SAMPLES = (
    FRANCE,
    "My doctor says my HbA1c is 8.1. What does that mean?",
    "Write a two-sentence email to my landlord saying the heater is broken.",
)
"""Questions whose answers the benchmarks print (and the quality bench scores)."""

BASE_SAMPLES = (
    "The capital of France is",
    "HbA1c is a blood test that",
    "Dear landlord, the heater in my flat",
)
"""The same, as text for a base model (no chat template) to continue."""


def rss_mib(field: str = "VmHWM") -> float:
    """This process's resident memory in MiB: ``VmHWM`` (peak) or ``VmRSS`` (now).

    Read from /proc (ru_maxrss would survive an exec on Linux); ru_maxrss
    where there is no /proc.
    """
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
