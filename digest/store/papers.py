"""Queries on papers, sightings and source state: the history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import col, delete, select

from digest.models import (
    FetchStatus,
    Paper,
    PaperFields,
    SourceState,
)
from digest.store.engine import Queries, as_utc, bulk_insert
from digest.store.tables import ITEM, PAPER, SIGHTING, VECTOR, VOTE


@dataclass
class UpsertResult:
    """What one ingest transaction changed."""

    new: int = 0
    known: int = 0
    ignored: int = 0  # replacement announcements of papers the history does not hold


@dataclass
class PaperWrites:
    """One ingest batch's changes to the history, as decided by `ingest.identity`."""

    inserts: list[dict[str, Any]] = field(default_factory=list)  # new paper rows
    updates: list[dict[str, Any]] = field(default_factory=list)  # merged stored rows
    # stored id -> its row under a new id: a paper known by its title gains its arXiv id
    rekeys: dict[str, dict[str, Any]] = field(default_factory=dict)
    sightings: list[dict[str, Any]] = field(default_factory=list)
    result: UpsertResult = field(default_factory=UpsertResult)


class PaperQueries(Queries):
    """Reads and writes of the paper history and of what is known about each source."""

    def write(
        self,
        ids: Sequence[str],
        title_norms: Sequence[str],
        decide: Callable[[list[dict[str, Any]]], PaperWrites],
    ) -> UpsertResult:
        """In one write transaction: read the stored papers with these ids or normalised
        titles, let `decide` say what changes, and write it (SQL only; the rules are ingest's).
        """
        with self.engine.begin() as conn:
            writes = decide(_rows_matching(conn, ids, title_norms))
            for old_id, row in writes.rekeys.items():
                _rekey(conn, old_id, row)
            if writes.inserts:
                bulk_insert(conn, PAPER, writes.inserts)
            if writes.updates:
                conn.execute(
                    update(PAPER)
                    .where(PAPER.c.id == bindparam("_id"))
                    .values({name: bindparam(name) for name in _MUTABLE}),
                    [{"_id": row["id"], **{n: row[n] for n in _MUTABLE}} for row in writes.updates],
                )
            if writes.sightings:
                bulk_insert(conn, SIGHTING, writes.sightings)
        return writes.result

    def newest(
        self, limit: int | None = None, since: datetime | None = None, words: Sequence[str] = ()
    ) -> list[Paper]:
        """Papers newest first, optionally only those first seen at or after `since` and
        those whose normalised title holds every one of `words`."""
        with self.read() as session:
            # within one fetch, the listing's own date, then the id (arXiv ids grow with time)
            query = select(Paper).order_by(
                col(Paper.first_seen_at).desc(),
                col(Paper.listing_date).desc(),
                col(Paper.published).desc(),
                col(Paper.id).desc(),
            )
            if since is not None:
                query = query.where(Paper.first_seen_at >= since)
            for word in words:
                query = query.where(col(Paper.title_norm).contains(word, autoescape=True))
            if limit is not None:
                query = query.limit(limit)
            return list(session.exec(query))

    def texts(
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
        with self.reader.connect() as conn:
            rows = conn.execute(query).all()
        newest = as_utc(rows[0][2]) if rows else None
        return [(title, abstract or "") for title, abstract, _ in rows], newest

    def popularity(self, paper_ids: Sequence[str]) -> dict[str, float]:
        """Per paper, 0..1: its best upvote count as a share of the day's top on the listing
        that showed it (0.8), and how many listings showed it (0.2, full at four)."""
        out: dict[str, float] = {}
        ids = sorted(set(paper_ids))
        with self.reader.connect() as conn:
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

    def by_ids(self, ids: Sequence[str]) -> dict[str, Paper]:
        """The papers with these ids (those that exist)."""
        out: dict[str, Paper] = {}
        wanted = sorted(set(ids))
        with self.read() as session:
            for start in range(0, len(wanted), 400):
                chunk = wanted[start : start + 400]
                for paper in session.exec(select(Paper).where(col(Paper.id).in_(chunk))):
                    out[paper.id] = paper
        return out

    def by_titles(self, norms: Sequence[str]) -> dict[str, Paper]:
        """The papers whose normalised title is one of these, by normalised title."""
        out: dict[str, Paper] = {}
        with self.read() as session:
            for paper in session.exec(select(Paper).where(col(Paper.title_norm).in_(list(norms)))):
                out.setdefault(paper.title_norm, paper)
        return out

    def remove(self, ids: Sequence[str]) -> Removal:
        """Delete these papers with their sightings, except those a digest or a vote names
        (the archive and the reader's profile must stay whole)."""
        removal = Removal()
        wanted = sorted(set(ids))
        with self.engine.begin() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                found = set(
                    conn.execute(sa_select(PAPER.c.id).where(PAPER.c.id.in_(chunk))).scalars()
                )
                named = _named_by_digests_or_votes(conn, sorted(found))
                gone = sorted(found - named)
                if gone:
                    conn.execute(SIGHTING.delete().where(SIGHTING.c.paper_id.in_(gone)))
                    conn.execute(VECTOR.delete().where(VECTOR.c.paper_id.in_(gone)))
                    conn.execute(PAPER.delete().where(PAPER.c.id.in_(gone)))
                removal.removed += gone
                removal.kept += sorted(named)
                removal.unknown += [i for i in chunk if i not in found]
        return removal

    def prune(self, before: datetime) -> Removal:
        """Delete the papers first seen before this moment, except those a digest or a vote
        names (remove)."""
        with self.reader.connect() as conn:
            query = sa_select(PAPER.c.id).where(PAPER.c.first_seen_at < before)
            ids = [str(i) for i in conn.execute(query).scalars()]
        return self.remove(ids)

    def count(self) -> int:
        """How many distinct papers the history holds."""
        with self.read() as session:
            return int(session.exec(select(func.count()).select_from(Paper)).one())

    def record_fetch(
        self,
        url: str,
        now: datetime,
        *,
        status: FetchStatus,
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


_MUTABLE = (*PaperFields.model_fields, "updated_at")
_CHUNK = 400


@dataclass
class Removal:
    """What removing papers did: the ids removed, kept (a digest or a vote names them) and
    unknown."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _named_by_digests_or_votes(conn: Connection, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    named = set(conn.execute(sa_select(ITEM.c.paper_id).where(ITEM.c.paper_id.in_(ids))).scalars())
    named |= set(
        conn.execute(sa_select(ITEM.c.similar_to).where(ITEM.c.similar_to.in_(ids))).scalars()
    )
    named |= set(conn.execute(sa_select(VOTE.c.paper_id).where(VOTE.c.paper_id.in_(ids))).scalars())
    return {str(i) for i in named}


def _rows_matching(
    conn: Connection, ids: Sequence[str], title_norms: Sequence[str]
) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for column, values in ((PAPER.c.id, ids), (PAPER.c.title_norm, title_norms)):
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            for row in conn.execute(sa_select(PAPER).where(column.in_(chunk))).mappings():
                rows[row["id"]] = dict(row)
    return list(rows.values())


def _rekey(conn: Connection, old_id: str, row: dict[str, Any]) -> None:
    """Store a paper under its new id, carrying its history along."""
    conn.execute(insert(PAPER), [row])
    for table in (SIGHTING, ITEM, VOTE, VECTOR):
        conn.execute(update(table).where(table.c.paper_id == old_id).values(paper_id=row["id"]))
    conn.execute(delete(PAPER).where(PAPER.c.id == old_id))
