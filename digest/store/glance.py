"""The numbers of `digest stats`, read from a store or straight from a SQLite file.

Reading a SQLite file needs only the standard library: `digest stats` answers without
loading SQLAlchemy and the models (a quarter of a second). A test checks that both ways
give the same numbers."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from digest.store import Store


def as_utc(value: datetime) -> datetime:
    """A datetime read back from the database, made timezone-aware (UTC) if it is naive."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


SQLITE_SIZE = (
    "SELECT page_count * page_size, freelist_count * page_size"
    " FROM pragma_page_count(), pragma_page_size(), pragma_freelist_count()"
)
POSTGRES_SIZE = "SELECT pg_database_size(current_database())"


RECENT = timedelta(days=30)  # the window of the rates mailbox providers judge senders by


@dataclass(frozen=True)
class Recent:
    """The mail of the last RECENT: digests planned then sent or failed, and addresses
    suppressed after a complaint or after bounces (each address once)."""

    sent: int = 0
    complaints: int = 0
    bounced: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Glance:
    """Counts by status, the history's size, the last fetch and the first and last dispatch
    (the oldest digest kept: what `digest deliveries prune` would start from)."""

    subscribers: dict[str, int]
    deliveries: dict[str, int]
    papers: int
    sources: int
    failed_sources: int
    last_fetch: datetime | None
    last_dispatch: datetime | None
    first_dispatch: datetime | None
    size: int | None = None  # bytes the database takes, where it can say
    free: int | None = None  # of those, pages freed by deletes that new rows reuse (SQLite)
    suppressed: dict[str, int] = field(default_factory=dict)  # addresses by reason
    recent: Recent = field(default_factory=Recent)

    @classmethod
    def of_store(cls, store: Store, now: datetime) -> Glance:
        """The numbers, through the store's queries (any database)."""
        from digest.vocabulary import FetchStatus

        states = store.papers.source_states()
        fetched = [as_utc(s.last_fetch_at) for s in states if s.last_fetch_at]
        first, last = store.deliveries.created_range()
        with store.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                size, free = conn.exec_driver_sql(SQLITE_SIZE).one()
            elif conn.dialect.name == "postgresql":
                size, free = conn.exec_driver_sql(POSTGRES_SIZE).scalar(), None
            else:
                size = free = None
        return cls(
            subscribers=store.subscribers.counts(),
            deliveries=store.deliveries.counts(),
            papers=store.papers.count(),
            sources=len(states),
            failed_sources=sum(1 for s in states if s.last_status == FetchStatus.FAILED),
            last_fetch=max(fetched, default=None),
            last_dispatch=last,
            first_dispatch=first,
            size=size,
            free=free,
            suppressed=store.suppression.counts(),
            recent=_recent(
                store.deliveries.concluded_between(now - RECENT, now),
                store.suppression.counts(between=(now - RECENT, now)),
            ),
        )


def sqlite_glance(path: Path, schema: str, now: datetime) -> Glance | None:
    """The numbers, read with sqlite3 from a database file at revision `schema`; None when
    the file is missing or at another revision (the store then opens and migrates it)."""
    if not path.is_file():
        return None
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
            (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            if version != schema:
                return None
            subscribers = _grouped(conn, "SELECT status, count(*) FROM subscriber GROUP BY 1")
            deliveries = _grouped(conn, "SELECT status, count(*) FROM delivery GROUP BY 1")
            (papers,) = conn.execute("SELECT count(*) FROM paper").fetchone()
            sources, failed, fetched = conn.execute(
                "SELECT count(*), coalesce(sum(last_status = 'failed'), 0), max(last_fetch_at)"
                " FROM source_state"
            ).fetchone()
            first, dispatched = conn.execute(
                "SELECT min(created_at), max(created_at) FROM delivery"
            ).fetchone()
            size, free = conn.execute(SQLITE_SIZE).fetchone()
            suppressed = _grouped(conn, "SELECT reason, count(*) FROM suppression GROUP BY 1")
            # stored as SQLAlchemy writes them in SQLite: naive UTC text, which sorts by time
            window = tuple(
                t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") for t in (now - RECENT, now)
            )
            concluded = _grouped(
                conn,
                "SELECT status, count(*) FROM delivery WHERE status IN ('sent', 'failed')"
                " AND created_at BETWEEN ? AND ? GROUP BY 1",
                window,
            )
            lately = _grouped(
                conn,
                "SELECT reason, count(*) FROM suppression WHERE created_at BETWEEN ? AND ?"
                " GROUP BY 1",
                window,
            )
    except (sqlite3.Error, TypeError):
        return None
    return Glance(
        subscribers=subscribers,
        deliveries=deliveries,
        papers=int(papers),
        sources=int(sources),
        failed_sources=int(failed),
        last_fetch=_moment(fetched),
        last_dispatch=_moment(dispatched),
        first_dispatch=_moment(first),
        size=size,
        free=free,
        suppressed=suppressed,
        recent=_recent(concluded, lately),
    )


def _grouped(conn: sqlite3.Connection, sql: str, params: tuple[str, ...] = ()) -> dict[str, int]:
    """A `SELECT key, count(*) ... GROUP BY 1` as a dict."""
    return {str(key): int(n) for key, n in conn.execute(sql, params)}


def _recent(concluded: dict[str, int], suppressed: dict[str, int]) -> Recent:
    return Recent(
        concluded.get("sent", 0),
        suppressed.get("complaint", 0),
        suppressed.get("bounce", 0),
        concluded.get("failed", 0),
    )


def _moment(text: str | None) -> datetime | None:
    """A datetime as SQLAlchemy stores it in SQLite (naive, meaning UTC)."""
    return None if text is None else as_utc(datetime.fromisoformat(text))
