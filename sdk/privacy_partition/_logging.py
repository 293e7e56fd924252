"""Keep prompt text out of log records written by the libraries the SDK drives.

Presidio logs the words around every match at DEBUG ("context list is: ...")
and may log decision details at INFO: an app that turns on DEBUG logging
would write personal values to its logs. Records below WARNING from those
loggers are dropped; warnings and errors, which name recognizers and
entities rather than text, still pass. This changes only those loggers, not
the app's own or the root logger.
"""

from __future__ import annotations

import logging

__all__ = ["CONTENT_LOGGERS", "silence_content_loggers"]

# Loggers of third-party libraries known to put analyzed text into records.
CONTENT_LOGGERS = ("presidio-analyzer", "decision_process")


class _WarningsAndAbove(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


_FILTER = _WarningsAndAbove()


def silence_content_loggers() -> None:
    """Install the filter on each content logger; idempotent."""
    for name in CONTENT_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
