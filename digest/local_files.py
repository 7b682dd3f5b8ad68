"""Local files an operator names (listings, subscriber imports, the DKIM key): only regular
files, and never more than a limit: a device or a pipe may never end, and a file's size
from stat() says nothing of a file that grows. Their text is UTF-8, or UTF-16 with a byte
order mark (what Windows programs save as "Unicode")."""

from __future__ import annotations

import codecs
import stat
from pathlib import Path

from digest.errors import DigestError, NotFoundError, ValidationError

MAX_IMPORT_BYTES = 512 * 1024 * 1024  # a CSV of millions of subscribers


class NotAFile(OSError):
    """A device, a pipe or a socket: reading one may never end."""


class TooLarge(OSError):
    """A file over the size limit of what reads it."""


class NotText(ValueError):
    """Bytes that are no text this service reads; the message says what they are instead."""


def read_capped(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (NotAFile, TooLarge, OSError)."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise NotAFile("not a regular file")
    with path.open("rb") as file:
        body = file.read(limit + 1)  # not the size stat() gave: the file may be growing
    if len(body) > limit:
        raise TooLarge(f"over the {limit} byte limit")
    return body


def read_import_csv(path: Path) -> str:
    """The text of a subscriber CSV to import; each way it can be unreadable is one clear error."""
    try:
        data = read_capped(path, MAX_IMPORT_BYTES)
    except FileNotFoundError:
        raise NotFoundError(f"no such file {str(path)!r}: nothing was imported") from None
    except NotAFile:
        raise ValidationError(f"{path} is not a regular file: nothing was imported") from None
    except TooLarge:
        raise ValidationError(f"{path} is over {MAX_IMPORT_BYTES} bytes: split it") from None
    except OSError as exc:
        raise DigestError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return decode_text(data)
    except NotText as exc:
        raise ValidationError(
            f"cannot read {path}: {exc}; save it as CSV UTF-8 (or as Unicode text) and "
            "import it again; nothing was imported"
        ) from None


def decode_text(data: bytes) -> str:
    """Text saved as UTF-8 (a byte order mark allowed) or as UTF-16 with its byte order mark;
    NotText says why other bytes are not."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise NotText("it is broken UTF-16 text") from None
    if b"\x00" in data:
        raise NotText("it contains binary data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotText(f"it is not UTF-8 text (byte {exc.start})") from None
