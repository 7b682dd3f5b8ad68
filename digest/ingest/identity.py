"""A paper's identity and its one merge rule: which stored paper a record describes, how the
two combine, and what one batch of records changes in the history. Pure: no I/O."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from digest.models import Paper, PaperFields
from digest.paper_links import is_hf_page
from digest.sources.base import PaperRecord, strip_version
from digest.store.papers import PaperWrites

REPLACEMENT_TYPES = frozenset({"replace", "replace-cross"})
COUNTS = ("upvotes", "comments")  # counts grow: the latest sighting's value wins
_MERGED = {"title", "abstract", "arxiv_id", "authors", "categories", *COUNTS}
# every other field: the first value known stays, later listings only fill what is missing
KEPT_FIELDS = tuple(name for name in PaperFields.model_fields if name not in _MERGED)


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


def record_key(record: PaperRecord) -> str:
    """The identity of the paper a record describes."""
    return paper_key(record.arxiv_id, record.title)


def is_replacement(record: PaperRecord) -> bool:
    """True when the record announces a new version of an old paper (replace, replace-cross)."""
    return (record.announce_type or "").strip().lower() in REPLACEMENT_TYPES


def merge_values(paper: dict[str, Any], record: PaperRecord) -> dict[str, Any]:
    """THE merge rule of one paper, used within a listing (dedupe) and against the history:
    the longer title and abstract, the first authors and kept fields, the union of
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
    # two sources of one paper each keep their best: Hugging Face's page (it links the
    # arXiv one, not the reverse) and the earliest listing date (arXiv announces first)
    if is_hf_page(record.url) and not is_hf_page(paper.get("url")):
        paper["url"] = record.url
    if record.listing_date is not None and record.listing_date < paper["listing_date"]:
        paper["listing_date"] = record.listing_date
    for name in COUNTS:
        if getattr(record, name) is not None:
            paper[name] = getattr(record, name)
    return paper


def merge_records(old: PaperRecord, new: PaperRecord) -> PaperRecord:
    """Two records of one paper in one listing, combined by `merge_values`."""
    merged = merge_values(old.model_dump(), new)
    for name in ("announce_type", "position"):  # about this sighting, not the paper
        merged[name] = merged[name] if merged[name] is not None else getattr(new, name)
    return PaperRecord.model_validate(merged)


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


def lookup_keys(records: Sequence[PaperRecord]) -> tuple[list[str], list[str]]:
    """The paper ids and normalised titles under which stored papers may match `records`."""
    keys = sorted({record_key(r) for r in records})
    return keys, sorted({normalise_title(r.title) for r in records})


def plan_writes(
    records: Sequence[PaperRecord], stored: list[dict[str, Any]], *, source: str, now: datetime
) -> PaperWrites:
    """What one batch of records changes, given the stored rows that may match it: new
    papers, merged stored ones, stored ones that gain their arXiv id, one sighting each.

    Replacement announcements (`is_replacement`) update a known paper but never create one.
    """
    known = _Known(stored)
    stored_ids = {id(row): row["id"] for row in stored}
    writes = PaperWrites()
    new_rows: list[dict[str, Any]] = []
    touched: dict[int, dict[str, Any]] = {}
    sighted: list[tuple[dict[str, Any], PaperRecord]] = []
    for record in records:
        norm = normalise_title(record.title)
        row, rekey = known.find(record, norm)
        if row is None:
            if is_replacement(record):
                writes.result.ignored += 1
                continue
            row = _new_row(record, norm, now)
            known.add(row)
            new_rows.append(row)
            writes.result.new += 1
        else:
            if rekey:
                known.drop(row)
                row["id"] = record_key(record)  # sightings of this batch follow the dict
                known.add(row)
            writes.result.known += 1
        merge_values(row, record)
        row["updated_at"] = now
        if id(row) in stored_ids:
            touched[id(row)] = row
        sighted.append((row, record))
    writes.inserts = new_rows
    for key, row in touched.items():
        if row["id"] == stored_ids[key]:
            writes.updates.append(row)
        else:
            writes.rekeys[stored_ids[key]] = row
    writes.sightings = [
        {
            "paper_id": row["id"],
            "source": source,
            "listing_date": record.listing_date,
            "upvotes": record.upvotes,
            "position": record.position,
            "seen_at": now,
        }
        for row, record in sighted
    ]
    return writes


class _Known:
    """Paper rows of one batch, stored or new, findable by id and by normalised title."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_norm: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            self.add(row)

    def add(self, row: dict[str, Any]) -> None:
        self.by_id[row["id"]] = row
        self.by_norm.setdefault(row["title_norm"], []).append(row)

    def drop(self, row: dict[str, Any]) -> None:
        self.by_id.pop(row["id"], None)
        self.by_norm[row["title_norm"]].remove(row)

    def find(self, record: PaperRecord, norm: str) -> tuple[dict[str, Any] | None, bool]:
        """The row this record describes, and whether it must take the record's arXiv key."""
        same_title = self.by_norm.get(norm, [])
        if record.arxiv_id:
            if (row := self.by_id.get(record_key(record))) is not None:
                return row, False
            untitled = [r for r in same_title if r["arxiv_id"] is None]
            return (untitled[0], True) if untitled else (None, False)
        return (same_title[0], False) if same_title else (None, False)


def _new_row(record: PaperRecord, norm: str, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(Paper.model_fields)
    row.update(
        id=record_key(record),
        title_norm=norm,
        title=record.title,
        abstract="",
        authors=[],
        categories=[],
        first_seen_at=now,
    )
    return row


def _other_id(record: PaperRecord, ident: str) -> bool:
    return record.arxiv_id is not None and strip_version(record.arxiv_id) != ident
