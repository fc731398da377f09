"""The data dir and the database hold every transcript and token hash: owner only.

New ones are created private (dir 0700, files 0600). An existing one that others may read
(an older tether made them 0755/0644) is tightened on start, with a warning that says so:
leaving it readable would be the surprise, and the owner can always loosen it again.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("tether")

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) owner-only, or tighten it if it exists."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
        return
    _tighten(path, DIR_MODE)


def private_file(path: Path) -> None:
    """Create `path` empty and owner-only if missing, or tighten it if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        _tighten(path, FILE_MODE)
    else:
        os.close(fd)


def tighten_if_present(path: Path) -> None:
    if path.exists():
        _tighten(path, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    info = path.stat()
    current = stat.S_IMODE(info.st_mode)
    if current & 0o077 == 0 or info.st_uid != os.getuid():
        return  # already private, or not ours to change
    os.chmod(path, current & ~0o077 | (mode & 0o700))
    log.warning(
        "tightened permissions of %s from %04o to %04o: it holds private data",
        path,
        current,
        current & ~0o077 | (mode & 0o700),
    )
