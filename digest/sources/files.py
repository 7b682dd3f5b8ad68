"""Reading listings from the local file system: one file, or every file in a directory."""

from __future__ import annotations

import re
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
        raise FetchError(f"{location}: no such file or directory ({_meant(location)})")
    return [path]


# what an operator may have meant by a source that is no file: an arXiv category, or a web
# address written without its scheme ("huggingface.co/papers")
_CATEGORY = re.compile(
    r"(?:cs|econ|eess|math|stat|physics|astro-ph|cond-mat|gr-qc|hep-(?:ex|lat|ph|th)|math-ph"
    r"|nlin|nucl-(?:ex|th)|quant-ph|q-bio|q-fin)(?:\.[A-Za-z-]{2,8})?(?:\+[\w.-]+)*"
)
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)  # http(s) never reaches here
_HOST = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?(?:/\S*)?", re.IGNORECASE)


def _meant(location: str) -> str:
    """A hint for a source location that names no file."""
    scheme = _SCHEME.match(location)
    if scheme:
        return f"{scheme[0]} is not read: give an http:// or https:// address, or a local path"
    if _CATEGORY.fullmatch(location):
        return f"for the arXiv category's feed, use https://rss.arxiv.org/rss/{location}"
    if _HOST.fullmatch(location) and Path(location).suffix.lower() not in LISTING_SUFFIXES:
        return f"for a web address, write it whole: https://{location}"
    return "check the source's url"


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
