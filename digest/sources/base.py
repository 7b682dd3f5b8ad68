"""What every source parser returns: plain records, no I/O."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

_ARXIV_ID = re.compile(r"(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?", re.IGNORECASE)


@dataclass
class PaperRecord:
    """One paper as one listing shows it; every field but the title is optional."""

    title: str
    abstract: str = ""
    arxiv_id: str | None = None
    authors: list[str] = field(default_factory=list)
    author_count: int | None = None
    organization: str | None = None
    published: date | None = None
    listing_date: date | None = None
    upvotes: int | None = None
    comments: int | None = None
    url: str | None = None
    thumbnail: str | None = None
    github_repo: str | None = None
    project_page: str | None = None
    categories: list[str] = field(default_factory=list)
    announce_type: str | None = None
    position: int | None = None

    @property
    def key(self) -> str:
        """The paper's identity: its arXiv id when known, else a hash of its title."""
        return paper_key(self.arxiv_id, self.title)


REPLACEMENT_TYPES = frozenset({"replace", "replace-cross"})


def is_replacement(record: PaperRecord) -> bool:
    """True when the record announces a new version of an old paper (replace, replace-cross)."""
    return (record.announce_type or "").strip().lower() in REPLACEMENT_TYPES


@dataclass
class Listing:
    """The result of parsing one listing page: good records and a count of bad ones."""

    source: str
    records: list[PaperRecord]
    bad_records: int = 0
    listing_date: date | None = None
    fetched_at: datetime | None = None
    problems: list[str] = field(default_factory=list)


@lru_cache(maxsize=1 << 16)
def normalise_title(title: str) -> str:
    """Lower-case, accent-free, punctuation-free form of a title for matching."""
    text = title
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


@lru_cache(maxsize=1 << 16)
def title_key(title: str) -> str:
    """Identity of a paper known only by its title."""
    digest = hashlib.sha1(normalise_title(title).encode("utf-8")).hexdigest()[:16]
    return f"title:{digest}"


def paper_key(arxiv_id: str | None, title: str) -> str:
    """`arxiv:<id without version>` when an id is known, else `title:<hash>`."""
    if arxiv_id:
        return f"arxiv:{strip_version(arxiv_id)}"
    return title_key(title)


def strip_version(arxiv_id: str) -> str:
    """`2605.05242v3` -> `2605.05242`."""
    return re.sub(r"v\d+$", "", arxiv_id.strip())


def find_arxiv_id(text: str) -> str | None:
    """The first arXiv id (without version) in a URL, guid or free text, if any."""
    match = _ARXIV_ID.search(text)
    return match.group(1) if match else None


def collapse_whitespace(text: str) -> str:
    """Fold every run of whitespace (newlines included) into one space."""
    return " ".join(text.split())


KEPT_FIELDS = (  # the first value known stays: later listings only fill what is missing
    "author_count",
    "organization",
    "published",
    "listing_date",
    "url",
    "thumbnail",
    "github_repo",
    "project_page",
)
COUNTS = ("upvotes", "comments")  # counts grow: the latest sighting's value wins


def merge_values(paper: dict[str, Any], record: PaperRecord) -> dict[str, Any]:
    """THE merge rule of one paper, used within a listing (dedupe) and against the history
    (store): the longer title and abstract, the first authors and kept fields, the union of
    categories, the latest counts. `paper` is changed in place and returned."""
    if record.arxiv_id and not paper.get("arxiv_id"):
        paper["arxiv_id"] = strip_version(record.arxiv_id)
    for name in ("title", "abstract"):
        if len(getattr(record, name)) > len(paper.get(name) or ""):
            paper[name] = getattr(record, name)
    if record.authors and not paper.get("authors"):
        paper["authors"] = list(record.authors)
    if record.categories:
        paper["categories"] = sorted(set(paper.get("categories") or []) | set(record.categories))
    for name in KEPT_FIELDS:
        if paper.get(name) is None and getattr(record, name) is not None:
            paper[name] = getattr(record, name)
    for name in COUNTS:
        if getattr(record, name) is not None:
            paper[name] = getattr(record, name)
    return paper


def merge_records(old: PaperRecord, new: PaperRecord) -> PaperRecord:
    """Two records of one paper in one listing, combined by `merge_values`."""
    merged = merge_values(asdict(old), new)
    for name in ("announce_type", "position"):  # about this sighting, not the paper
        merged[name] = merged[name] if merged[name] is not None else getattr(new, name)
    return PaperRecord(**merged)


def dedupe(records: list[PaperRecord]) -> list[PaperRecord]:
    """Merge records of the same paper (same arXiv id or same normalised title)."""
    by_title: dict[str, int] = {}
    by_id: dict[str, int] = {}
    out: list[PaperRecord] = []
    for record in records:
        norm = normalise_title(record.title)
        ident = strip_version(record.arxiv_id) if record.arxiv_id else None
        index = by_id.get(ident) if ident else None
        if index is None:
            index = by_title.get(norm)
            if index is not None and ident and _other_id(out[index], ident):
                index = None
        if index is None:
            by_title[norm] = len(out)
            if ident:
                by_id[ident] = len(out)
            out.append(record)
            continue
        out[index] = merge_records(out[index], record)
        by_title[norm] = index
        if ident:
            by_id[ident] = index
    return out


def _other_id(record: PaperRecord, ident: str) -> bool:
    return record.arxiv_id is not None and strip_version(record.arxiv_id) != ident
