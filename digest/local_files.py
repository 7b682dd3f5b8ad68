"""Local files an operator names (listings, subscriber imports, the DKIM key): only regular
files, and never more than a limit: a device or a pipe may never end, and a file's size
from stat() says nothing of a file that grows."""

from __future__ import annotations

import stat
from pathlib import Path


class NotAFile(OSError):
    """A device, a pipe or a socket: reading one may never end."""


class TooLarge(OSError):
    """A file over the size limit of what reads it."""


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (NotAFile, TooLarge, OSError)."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise NotAFile("not a regular file")
    with path.open("rb") as file:
        body = file.read(limit + 1)  # not the size stat() gave: the file may be growing
    if len(body) > limit:
        raise TooLarge(f"over the {limit} byte limit")
    return body
