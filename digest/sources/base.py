"""What a source is (SourceConfig) and what every parser returns: plain records, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError as PydanticError

from digest.errors import ParseError
from digest.models import MAX_INTEGER, PaperFields
from digest.safe_text import without_invisible, without_unsafe
from digest.sources.config import SourceConfig as SourceConfig

# an arXiv id without its version, to be read case-insensitively: new style "2605.05242", or
# old style with an archive of at most 8 letters ("cond-mat/0601001", "math.AG/0101001")
ARXIV_ID = r"\d{4}\.\d{4,5}|\b[a-z\-]{2,12}(?:\.[a-z]{2})?/\d{7}"
_ARXIV_ID = re.compile(rf"({ARXIV_ID})(v\d+)?", re.IGNORECASE)


class PaperRecord(PaperFields):
    """One paper as one listing shows it; every field but the title is optional."""

    announce_type: str | None = None  # arXiv's new / cross / replace: about this sighting
    position: int | None = None  # its place on the listing


def paper_record(**fields: Any) -> PaperRecord:
    """A PaperRecord of these fields; a field no paper can have (an id over the stored
    length, ...) is a ParseError: one bad item costs that item, never its listing."""
    try:
        return PaperRecord(**fields)
    except PydanticError as exc:
        names = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
        raise ParseError(f"unusable {names or 'fields'}") from None


@dataclass
class Listing:
    """The result of parsing one listing page: good records and a count of bad ones."""

    source: str
    records: list[PaperRecord]
    bad_records: int = 0
    listing_date: date | None = None
    fetched_at: datetime | None = None
    problems: list[str] = field(default_factory=list)


def strip_version(arxiv_id: str) -> str:
    """`2605.05242v3` -> `2605.05242`."""
    return re.sub(r"v\d+$", "", arxiv_id.strip())


def find_arxiv_id(text: str) -> str | None:
    """The first arXiv id (without version) in a URL, guid or free text, if any."""
    match = _ARXIV_ID.search(text)
    return match.group(1) if match else None


def count(value: object) -> int | None:
    """A count a listing shows (authors, upvotes, comments): a whole number from 0 to
    MAX_INTEGER, else None (a junk figure must not stop the listing from being stored)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INTEGER:
        return value
    return None


def collapse_whitespace(text: str) -> str:
    """Fold every run of whitespace (newlines included) into one space; controls, direction
    overrides and lone surrogates (a JSON "\\ud800", which no database takes) become spaces
    too: a listing's text reaches the history, emails and terminals. Soft hyphens and
    zero-width spaces go (safe_text.without_invisible)."""
    folded = " ".join(without_invisible(text).split())
    cleaned = without_unsafe(folded)  # `folded` itself when nothing was unsafe
    return folded if cleaned is folded else " ".join(cleaned.split())
