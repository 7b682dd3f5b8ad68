"""Reading listings from the local file system: one file, or every file in a directory."""

from __future__ import annotations

from pathlib import Path

from digest.errors import FetchError, ParseError
from digest.local_files import NotAFile, NotText, TooLarge, decode_text, read_capped

LISTING_SUFFIXES = (".txt", ".json", ".html", ".htm", ".xml", ".rss", ".atom")
MAX_FILE_BYTES = 20 * 1024 * 1024


def expand(location: str) -> list[Path]:
    """The listing files a path names: itself, or the listing files inside a directory."""
    path = Path(location).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        return [p for p in files if p.suffix.lower() in LISTING_SUFFIXES]
    if not path.exists():
        raise FetchError(f"{location}: no such file or directory (check the source's url)")
    return [path]


def read_bytes(path: Path) -> bytes:
    """A listing file's bytes, with a clear error when it cannot be read."""
    try:
        return read_capped(path, MAX_FILE_BYTES)
    except NotAFile:
        raise FetchError(
            f"{path}: not a regular file (point the source at a listing file)"
        ) from None
    except TooLarge:
        raise FetchError(f"{path}: over the {MAX_FILE_BYTES} byte limit") from None
    except FileNotFoundError:
        raise FetchError(f"{path}: no such file (check the source's url)") from None
    except PermissionError:
        raise FetchError(f"{path}: permission denied (make the file readable)") from None
    except OSError as exc:
        raise FetchError(f"{path}: cannot read: {exc.strerror or exc}") from None


def decode(body: bytes, name: str) -> str:
    """The text of a listing saved as UTF-8 (or as UTF-16 with its byte order mark, as
    Windows editors save "Unicode"); binary or mis-encoded content is a ParseError."""
    try:
        return decode_text(body)
    except NotText as exc:
        raise ParseError(
            f"{name}: {exc}, not a listing: remove it or re-save it as UTF-8"
        ) from None
