"""The one owner of storage: engine, sessions, migrations and every query."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, bindparam, event, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session, col, create_engine, delete, select

from digest.errors import AlreadyExistsError, NotFoundError, StoreError
from digest.models import Delivery, DeliveryItem, Paper, Sighting, SourceState, Subscriber
from digest.sources.base import PaperRecord, is_replacement, normalise_title, strip_version

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000


@dataclass
class UpsertResult:
    """What one ingest transaction changed."""

    new: int = 0
    known: int = 0
    ignored: int = 0  # replacement announcements of papers the history does not hold


def make_engine(url: str) -> Engine:
    """An engine with SQLite made safe for concurrent use: WAL, busy timeout, BEGIN IMMEDIATE."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads then writes fails at once under WAL;
        # taking the write lock up front makes concurrent writers wait instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision, keeping existing data."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot migrate the database {engine.url}: {exc.__class__.__name__}: "
            f"{_first_line(exc)}"
        ) from exc


class Store:
    """Every read and write of the service's history, subscribers and outbox."""

    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        try:
            self.engine = make_engine(url)
            if auto_migrate:
                migrate(self.engine)
        except (OSError, OperationalError) as exc:
            raise StoreError(
                f"cannot open the database {url}: {_first_line(exc)} "
                "(check DIGEST_DATABASE_URL and that its directory is writable)"
            ) from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except Exception:
                session.rollback()
                raise

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    # papers ---------------------------------------------------------------------------

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
            sightings = []
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
                        "paper_id": row["id"],
                        "source": source,
                        "listing_date": record.listing_date,
                        "upvotes": record.upvotes,
                        "position": record.position,
                        "seen_at": now,
                    }
                )
            if inserts:
                conn.execute(insert(PAPER), list(inserts.values()))
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
                conn.execute(insert(SIGHTING), sightings)
        return result

    def papers(self, limit: int | None = None, since: datetime | None = None) -> list[Paper]:
        """Papers newest first, optionally only those first seen at or after `since`."""
        with self.session() as session:
            query = select(Paper).order_by(col(Paper.first_seen_at).desc(), col(Paper.id))
            if since is not None:
                query = query.where(Paper.first_seen_at >= since)
            if limit is not None:
                query = query.limit(limit)
            return list(session.exec(query))

    def count_papers(self) -> int:
        """How many distinct papers the history holds."""
        with self.session() as session:
            return int(session.exec(select(func.count()).select_from(Paper)).one())

    def papers_by_id(self, ids: Iterable[str]) -> dict[str, Paper]:
        """The papers with these ids, by id."""
        wanted = list(ids)
        with self.session() as session:
            rows = session.exec(select(Paper).where(col(Paper.id).in_(wanted)))
            return {paper.id: paper for paper in rows}

    # sources --------------------------------------------------------------------------

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
        with self.session() as session:
            return list(session.exec(select(SourceState).order_by(col(SourceState.url))))

    def source_state(self, url: str) -> SourceState | None:
        """What is remembered about one source URL."""
        with self.session() as session:
            return session.get(SourceState, url)

    # subscribers ----------------------------------------------------------------------

    def add_subscriber(self, subscriber: Subscriber) -> Subscriber:
        """Store a new subscriber; an address already present is an error."""
        try:
            with self.session() as session:
                session.add(subscriber)
                session.flush()
                session.refresh(subscriber)
                return subscriber
        except IntegrityError:
            raise AlreadyExistsError(
                f"{subscriber.email} is already subscribed: "
                f"see `digest subscribers show {subscriber.email}`"
            ) from None

    def get_subscriber(self, email: str) -> Subscriber:
        """The subscriber with this address (case-insensitive)."""
        with self.session() as session:
            found = session.exec(
                select(Subscriber).where(Subscriber.email == email.strip().lower())
            ).first()
        if found is None:
            raise NotFoundError(f"no subscriber {email}: see `digest subscribers list`")
        return found

    def subscribers(self, status: str | None = None) -> list[Subscriber]:
        """Every subscriber, optionally only those with one status, by address."""
        with self.session() as session:
            query = select(Subscriber).order_by(col(Subscriber.email))
            if status is not None:
                query = query.where(Subscriber.status == status)
            return list(session.exec(query))

    def remove_subscriber(self, email: str) -> None:
        """Forget a subscriber and their delivery history."""
        subscriber = self.get_subscriber(email)
        with self.session() as session:
            ids = select(Delivery.id).where(Delivery.subscriber_id == subscriber.id)
            session.exec(delete(DeliveryItem).where(col(DeliveryItem.delivery_id).in_(ids)))
            session.exec(delete(Delivery).where(col(Delivery.subscriber_id) == subscriber.id))
            session.exec(delete(Subscriber).where(col(Subscriber.id) == subscriber.id))

    # deliveries -----------------------------------------------------------------------

    def planned_editions(self, subscriber_ids: Sequence[int]) -> set[tuple[int, str]]:
        """(subscriber id, edition) pairs that already have a delivery."""
        with self.session() as session:
            rows = session.exec(
                select(Delivery.subscriber_id, Delivery.edition).where(
                    col(Delivery.subscriber_id).in_(list(subscriber_ids))
                )
            )
            return {(int(sid), edition) for sid, edition in rows}

    def received_papers(self, subscriber_ids: Sequence[int]) -> dict[int, set[str]]:
        """Per subscriber, the papers already in a delivery that was sent or is on its way."""
        with self.session() as session:
            rows = session.exec(
                select(Delivery.subscriber_id, DeliveryItem.paper_id)
                .join(DeliveryItem, col(DeliveryItem.delivery_id) == col(Delivery.id))
                .where(col(Delivery.subscriber_id).in_(list(subscriber_ids)))
                .where(col(Delivery.status).in_(("queued", "sending", "sent", "retry")))
            )
            out: dict[int, set[str]] = {}
            for sid, paper_id in rows:
                out.setdefault(int(sid), set()).add(paper_id)
            return out

    def last_sent(self, subscriber_ids: Sequence[int]) -> dict[int, datetime]:
        """Per subscriber, when their last digest was planned (sent or on its way)."""
        with self.session() as session:
            rows = session.exec(
                select(Delivery.subscriber_id, func.max(Delivery.created_at))
                .where(col(Delivery.subscriber_id).in_(list(subscriber_ids)))
                .where(col(Delivery.status).in_(("queued", "sending", "sent", "retry")))
                .group_by(col(Delivery.subscriber_id))
            )
            return {int(sid): _aware(when) for sid, when in rows if when is not None}

    def plan_delivery(
        self,
        subscriber_id: int,
        edition: str,
        items: Sequence[tuple[str, float, list[str]]],
        now: datetime,
    ) -> Delivery | None:
        """Insert one delivery and its items atomically; None when the edition already exists."""
        status = "queued" if items else "skipped"
        try:
            with self.session() as session:
                delivery = Delivery(
                    subscriber_id=subscriber_id, edition=edition, status=status, created_at=now
                )
                session.add(delivery)
                session.flush()
                assert delivery.id is not None
                delivery.message_id = f"<digest-{delivery.id}-{edition}@papers-digest>"
                for rank, (paper_id, score, matched) in enumerate(items, start=1):
                    session.add(
                        DeliveryItem(
                            delivery_id=delivery.id,
                            paper_id=paper_id,
                            rank=rank,
                            score=score,
                            matched=matched,
                        )
                    )
                session.add(delivery)
                return delivery
        except IntegrityError:
            return None

    def deliveries(self, status: str | None = None) -> list[Delivery]:
        """Deliveries, oldest first, optionally with one status."""
        with self.session() as session:
            query = select(Delivery).order_by(col(Delivery.id))
            if status is not None:
                query = query.where(Delivery.status == status)
            return list(session.exec(query))

    def deliveries_by_id(self, ids: Sequence[int]) -> list[Delivery]:
        """The deliveries with these ids."""
        with self.session() as session:
            return list(session.exec(select(Delivery).where(col(Delivery.id).in_(list(ids)))))

    def delivery_contents(
        self, delivery_id: int
    ) -> tuple[Subscriber, list[tuple[Paper, DeliveryItem]]]:
        """The subscriber and the stored items (with their papers, in rank order) of a delivery."""
        with self.session() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:
                raise NotFoundError(f"no delivery {delivery_id}: see `digest deliveries`")
            subscriber = session.get(Subscriber, delivery.subscriber_id)
            assert subscriber is not None
            rows = session.exec(
                select(Paper, DeliveryItem)
                .join(DeliveryItem, col(DeliveryItem.paper_id) == col(Paper.id))
                .where(DeliveryItem.delivery_id == delivery_id)
                .order_by(col(DeliveryItem.rank))
            )
            return subscriber, [(paper, item) for paper, item in rows]

    def claim_deliveries(self, now: datetime, limit: int) -> list[int]:
        """Move up to `limit` sendable deliveries (queued, or retry that is due) to `sending`."""
        with self.session() as session:
            ready = (col(Delivery.status) == "queued") | (
                (col(Delivery.status) == "retry") & (col(Delivery.next_attempt_at) <= now)
            )
            ids = list(
                session.exec(
                    select(Delivery.id).where(ready).order_by(col(Delivery.id)).limit(limit)
                )
            )
            if ids:
                session.exec(
                    update(Delivery).where(col(Delivery.id).in_(ids)).values(status="sending")
                )
            return [int(i) for i in ids if i is not None]

    def mark_delivery(
        self,
        delivery_id: int,
        status: str,
        now: datetime,
        *,
        error: str | None = None,
        code: int | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """Record the outcome of one attempt to send a delivery."""
        with self.session() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:
                raise NotFoundError(f"no delivery {delivery_id}")
            delivery.status = status
            delivery.attempts += 1
            delivery.last_error = error
            delivery.smtp_code = code
            delivery.next_attempt_at = retry_at
            if status == "sent":
                delivery.sent_at = now
            session.add(delivery)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


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
    """Give a paper known by its title its arXiv identity, carrying its history along."""
    old_id = row["id"]
    known.drop(row)
    replacement = {**row, "id": new_id}
    known.add(replacement)
    if inserts.pop(old_id, None) is not None:
        inserts[new_id] = replacement
        return replacement
    touched.pop(old_id, None)
    conn.execute(insert(PAPER), [replacement])
    for table in (SIGHTING, DeliveryItem.__table__):  # type: ignore[attr-defined]
        conn.execute(update(table).where(table.c.paper_id == old_id).values(paper_id=new_id))
    conn.execute(delete(PAPER).where(PAPER.c.id == old_id))
    return replacement


def _apply(paper: dict[str, Any], record: PaperRecord, now: datetime) -> None:
    """Fill what the paper lacks from the record; a newer upvote count always wins."""
    if record.arxiv_id and not paper["arxiv_id"]:
        paper["arxiv_id"] = strip_version(record.arxiv_id)
    if len(record.title) > len(paper["title"] or ""):
        paper["title"] = record.title
    if len(record.abstract) > len(paper["abstract"] or ""):
        paper["abstract"] = record.abstract
    if record.authors and not paper["authors"]:
        paper["authors"] = list(record.authors)
    if record.categories:
        paper["categories"] = sorted(set(paper["categories"] or []) | set(record.categories))
    for name in (
        "author_count",
        "organization",
        "published",
        "listing_date",
        "url",
        "thumbnail",
        "github_repo",
        "project_page",
    ):
        if paper[name] is None and getattr(record, name) is not None:
            paper[name] = getattr(record, name)
    for name in ("upvotes", "comments"):
        if getattr(record, name) is not None:
            paper[name] = getattr(record, name)
    paper["updated_at"] = now
