"""Files that hold secrets: refused when anyone but their owner may read or write them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from privacy_partition._errors import ConfigurationError


def check_private(
    path: str | os.PathLike[str],
    what: str,
    error: type[ConfigurationError] = ConfigurationError,
) -> None:
    """Raise ``error`` when the file ``what`` at ``path`` is open to group or others (POSIX).

    A file that cannot be stat'ed is left to the read that follows, which
    reports it. On other systems nothing is checked.
    """
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(Path(path).stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        raise error(
            f"{what} {os.fspath(path)} is open to group or others (mode {mode:04o});"
            f" it holds secret keys: run chmod 600 {os.fspath(path)}"
        )
