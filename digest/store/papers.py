"""Queries on papers, sightings and source state: the history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, Table, bindparam, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import col, delete, select

from digest.models import DeliveryItem, Paper, Sighting, SourceState, Vote
from digest.sources.base import (
    PaperRecord,
    is_replacement,
    merge_values,
    normalise_title,
)
from digest.store.engine import StoreBase, as_utc, bulk_insert


@dataclass
class UpsertResult:
    """What one ingest transaction changed."""

    new: int = 0
    known: int = 0
    ignored: int = 0  # replacement announcements of papers the history does not hold


class PaperQueries(StoreBase):
    """Reads and writes of the paper history and of what is known about each source."""

    def upsert_records(
        self, records: Sequence[PaperRecord], source: str, now: datetime
    ) -> UpsertResult:
        """Insert new papers, update known ones and record a sighting of each, atomically.

        Replacement announcements (`is_replacement`) update a known paper but never create one.
        """
        result = UpsertResult()
        if not records:
            return result
        with self.engine.begin() as conn:
            known = _Known(_existing_rows(conn, records))
            inserts: dict[str, dict[str, Any]] = {}
            touched: dict[str, dict[str, Any]] = {}
            sightings: list[dict[str, Any]] = []
            for record in records:
                norm = normalise_title(record.title)
                row, rekey = known.find(record, norm)
                if row is None:
                    if is_replacement(record):
                        result.ignored += 1
                        continue
                    row = _new_row(record, norm, now)
                    inserts[row["id"]] = row
                    known.add(row)
                    result.new += 1
                else:
                    if rekey:
                        row = _rekey(conn, known, inserts, touched, row, record.key)
                    result.known += 1
                _apply(row, record, now)
                if row["id"] not in inserts:
                    touched[row["id"]] = row
                sightings.append(
                    {
                        "paper": row,  # its id may still change within this batch
                        "source": source,
                        "listing_date": record.listing_date,
                        "upvotes": record.upvotes,
                        "position": record.position,
                        "seen_at": now,
                    }
                )
            if inserts:
                bulk_insert(conn, PAPER, list(inserts.values()))
            if touched:
                conn.execute(
                    update(PAPER)
                    .where(PAPER.c.id == bindparam("_id"))
                    .values({name: bindparam(name) for name in _MUTABLE}),
                    [
                        {"_id": row["id"], **{n: row[n] for n in _MUTABLE}}
                        for row in touched.values()
                    ],
                )
            if sightings:
                for sighting in sightings:
                    paper: dict[str, Any] = sighting.pop("paper")
                    sighting["paper_id"] = paper["id"]
                bulk_insert(conn, SIGHTING, sightings)
        return result

    def papers(self, limit: int | None = None, since: datetime | None = None) -> list[Paper]:
        """Papers newest first, optionally only those first seen at or after `since`."""
        with self.read() as session:
            query = select(Paper).order_by(col(Paper.first_seen_at).desc(), col(Paper.id))
            if since is not None:
                query = query.where(Paper.first_seen_at >= since)
            if limit is not None:
                query = query.limit(limit)
            return list(session.exec(query))

    def paper_texts(
        self, after: datetime | None = None, limit: int | None = None
    ) -> tuple[list[tuple[str, str]], datetime | None]:
        """(title, abstract) of papers first seen after `after`, newest first, and the newest
        first-seen time among them (None when there are none)."""
        query = sa_select(PAPER.c.title, PAPER.c.abstract, PAPER.c.first_seen_at).order_by(
            PAPER.c.first_seen_at.desc()
        )
        if after is not None:
            query = query.where(PAPER.c.first_seen_at > after)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        newest = as_utc(rows[0][2]) if rows else None
        return [(title, abstract or "") for title, abstract, _ in rows], newest

    def popularity(self, paper_ids: Sequence[str]) -> dict[str, float]:
        """Per paper, 0..1: its best upvote count as a share of the day's top on the listing
        that showed it (0.8), and how many listings showed it (0.2, full at four)."""
        out: dict[str, float] = {}
        ids = sorted(set(paper_ids))
        with self.engine.connect() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                days = (
                    sa_select(SIGHTING.c.listing_date)
                    .where(SIGHTING.c.paper_id.in_(chunk))
                    .distinct()
                    .scalar_subquery()
                )
                top = (
                    sa_select(
                        SIGHTING.c.source,
                        SIGHTING.c.listing_date,
                        func.max(SIGHTING.c.upvotes).label("top"),
                    )
                    .where(SIGHTING.c.listing_date.in_(days))
                    .group_by(SIGHTING.c.source, SIGHTING.c.listing_date)
                    .subquery()
                )
                share = func.max(
                    func.coalesce(SIGHTING.c.upvotes * 1.0 / func.nullif(top.c.top, 0), 0.0)
                )
                listings = func.count(
                    func.distinct(
                        SIGHTING.c.source
                        + "|"
                        + func.coalesce(func.cast(SIGHTING.c.listing_date, String), "")
                    )
                )
                query = (
                    sa_select(SIGHTING.c.paper_id, share, listings)
                    .select_from(
                        SIGHTING.outerjoin(
                            top,
                            (top.c.source == SIGHTING.c.source)
                            & (top.c.listing_date == SIGHTING.c.listing_date),
                        )
                    )
                    .where(SIGHTING.c.paper_id.in_(chunk))
                    .group_by(SIGHTING.c.paper_id)
                )
                for paper_id, best, seen in conn.execute(query):
                    out[paper_id] = 0.8 * float(best or 0.0) + 0.2 * min(1.0, (seen - 1) / 3)
        return out

    def count_papers(self) -> int:
        """How many distinct papers the history holds."""
        with self.read() as session:
            return int(session.exec(select(func.count()).select_from(Paper)).one())

    def record_fetch(
        self,
        url: str,
        now: datetime,
        *,
        status: str,
        error: str | None = None,
        result: UpsertResult | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> SourceState:
        """Remember the outcome of one fetch of one source."""
        with self.session() as session:
            state = session.get(SourceState, url) or SourceState(url=url)
            state.last_fetch_at = now
            state.last_status = status
            state.last_error = error
            state.consecutive_failures = state.consecutive_failures + 1 if error else 0
            if result is not None:
                state.papers_new, state.papers_known = result.new, result.known
            if etag is not None:
                state.etag = etag
            if last_modified is not None:
                state.last_modified = last_modified
            session.add(state)
            return state

    def source_states(self) -> list[SourceState]:
        """Every source the service has fetched, by URL."""
        with self.read() as session:
            return list(session.exec(select(SourceState).order_by(col(SourceState.url))))

    def source_state(self, url: str) -> SourceState | None:
        """What is remembered about one source URL."""
        with self.read() as session:
            return session.get(SourceState, url)


PAPER: Table = Paper.__table__  # type: ignore[attr-defined]
SIGHTING: Table = Sighting.__table__  # type: ignore[attr-defined]
_MUTABLE = (
    "arxiv_id",
    "title",
    "abstract",
    "authors",
    "author_count",
    "organization",
    "published",
    "listing_date",
    "upvotes",
    "comments",
    "url",
    "thumbnail",
    "github_repo",
    "project_page",
    "categories",
    "updated_at",
)
_CHUNK = 400


class _Known:
    """Existing paper rows of one ingest batch, findable by id and by normalised title."""

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
            if (row := self.by_id.get(record.key)) is not None:
                return row, False
            untitled = [r for r in same_title if r["arxiv_id"] is None]
            return (untitled[0], True) if untitled else (None, False)
        return (same_title[0], False) if same_title else (None, False)


def _existing_rows(conn: Connection, records: Sequence[PaperRecord]) -> list[dict[str, Any]]:
    keys = sorted({r.key for r in records})
    norms = sorted({normalise_title(r.title) for r in records})
    rows: dict[str, dict[str, Any]] = {}
    for column, values in ((PAPER.c.id, keys), (PAPER.c.title_norm, norms)):
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            for row in conn.execute(sa_select(PAPER).where(column.in_(chunk))).mappings():
                rows[row["id"]] = dict(row)
    return list(rows.values())


def _new_row(record: PaperRecord, norm: str, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {column.name: None for column in PAPER.columns}
    row.update(
        id=record.key,
        title_norm=norm,
        title=record.title,
        abstract="",
        authors=[],
        categories=[],
        first_seen_at=now,
        updated_at=now,
    )
    return row


def _rekey(
    conn: Connection,
    known: _Known,
    inserts: dict[str, dict[str, Any]],
    touched: dict[str, dict[str, Any]],
    row: dict[str, Any],
    new_id: str,
) -> dict[str, Any]:
    """Give a paper known by its title its arXiv identity, carrying its history along.

    The row dict changes in place, so sightings of this batch that hold it follow.
    """
    old_id = row["id"]
    known.drop(row)
    row["id"] = new_id
    known.add(row)
    if inserts.pop(old_id, None) is not None:
        inserts[new_id] = row
        return row
    touched.pop(old_id, None)
    conn.execute(insert(PAPER), [row])
    for table in (SIGHTING, DeliveryItem.__table__, Vote.__table__):  # type: ignore[attr-defined]
        conn.execute(update(table).where(table.c.paper_id == old_id).values(paper_id=new_id))
    conn.execute(delete(PAPER).where(PAPER.c.id == old_id))
    return row


def _apply(paper: dict[str, Any], record: PaperRecord, now: datetime) -> None:
    """Merge a record into a stored paper by the one merge rule (sources.base.merge_values)."""
    merge_values(paper, record)
    paper["updated_at"] = now
