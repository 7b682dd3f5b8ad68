"""Queries on the outbox: deliveries and their items, and claims."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, String, func, type_coerce, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from digest.models import (
    Delivery,
    DeliveryStatus,
    Subscriber,
)
from digest.store.contents import Contents, ItemRow, PaperRow, read_contents
from digest.store.engine import (
    PLANNING_CACHE_KB,
    Queries,
    as_utc,
    bulk_insert_ids,
    bulk_insert_rows,
    bulk_update_rows,
    keep_pages,
)
from digest.store.outcomes import (
    SendResult,
    cancel_waiting,
    count_bounce,
    plain,
    stop_if_full_too_long,
    write_outcomes,
    write_plain_sqlite,
)
from digest.store.tables import DELIVERY, ITEM, SUBSCRIBER

LIVE = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.RETRY)
_LIVE_VALUES = frozenset(map(str, LIVE))
# what a digest can end as: never waiting to be sent, or on its way
FINISHED = (
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.SKIPPED,
    DeliveryStatus.CANCELLED,
)
PRUNE_CHUNK = 2_000  # deliveries removed a transaction: a long prune never holds a long lock
ITEM_NAMES = ("delivery_id", "rank", *ItemRow._fields)


@dataclass
class NewDelivery:
    """One planned digest to store: the outbox row, its items and the next send time."""

    subscriber_id: int
    edition: str
    message_id: str
    items: list[ItemRow]
    next_send_at: datetime
    status: DeliveryStatus = DeliveryStatus.QUEUED


class DeliveryQueries(Queries):
    """Reads and writes of deliveries, the outbox and ledger."""

    def planned_editions(
        self, subscriber_ids: Sequence[int], editions: Collection[str]
    ) -> set[tuple[int, str]]:
        """(subscriber id, edition) pairs among these editions that already have a delivery."""
        with self.read() as session:
            rows = session.exec(
                select(Delivery.subscriber_id, Delivery.edition)
                .where(col(Delivery.subscriber_id).in_(list(subscriber_ids)))
                .where(col(Delivery.edition).in_(list(editions)))
            )
            return {(int(sid), edition) for sid, edition in rows}

    def last_editions(self, subscriber_ids: Sequence[int]) -> dict[int, str]:
        """Per subscriber, their latest edition that has a delivery of any status."""
        with self.read() as session:
            rows = session.exec(
                select(Delivery.subscriber_id, func.max(Delivery.edition))
                .where(col(Delivery.subscriber_id).in_(list(subscriber_ids)))
                .group_by(col(Delivery.subscriber_id))
            )
            return {int(sid): str(edition) for sid, edition in rows}

    def received_papers(
        self, subscriber_ids: Sequence[int], since: datetime
    ) -> dict[int, set[str]]:
        """Per subscriber, the papers in a delivery planned since `since` that was sent or is
        on its way (a paper first seen after `since` is in no earlier delivery)."""
        # bounded by time and looked up by subscriber, the status checked here: a status in
        # the query let SQLite read every live delivery ever planned through the status index
        query = (
            sa_select(
                DELIVERY.c.subscriber_id, ITEM.c.paper_id, type_coerce(DELIVERY.c.status, String)
            )
            .join(ITEM, ITEM.c.delivery_id == DELIVERY.c.id)
            .where(DELIVERY.c.subscriber_id.in_(list(subscriber_ids)))
            .where(DELIVERY.c.created_at >= since)
            # the same bound on (subscriber, edition), which the index reads as a range: an
            # edition is a local date, at most a day before the UTC date it was planned on
            .where(
                DELIVERY.c.edition >= (since.astimezone(UTC) - timedelta(days=1)).date().isoformat()
            )
        )
        out: dict[int, set[str]] = {}
        with self.reader.connect() as conn:
            for sid, paper_id, status in conn.execute(query):
                if status in _LIVE_VALUES:
                    out.setdefault(sid, set()).add(paper_id)
        return out

    def last_sent(self, subscriber_ids: Sequence[int]) -> dict[int, datetime]:
        """Per subscriber, when their last digest was planned (sent or on its way)."""
        # the latest edition's, found walking (subscriber, edition) back from the newest: the
        # max over all of them read every digest a subscriber ever had, for each page planned
        latest = (
            sa_select(DELIVERY.c.created_at)
            .where(DELIVERY.c.subscriber_id == SUBSCRIBER.c.id, DELIVERY.c.status.in_(LIVE))
            .order_by(DELIVERY.c.edition.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = sa_select(SUBSCRIBER.c.id, latest).where(SUBSCRIBER.c.id.in_(list(subscriber_ids)))
        with self.reader.connect() as conn:
            return {int(sid): as_utc(when) for sid, when in conn.execute(query) if when is not None}

    def plan(self, plans: Sequence[NewDelivery], now: datetime) -> int:
        """Store deliveries with their items and move each subscriber's next send time, in one
        transaction; an edition that already exists is left alone. Returns how many were new."""
        if not plans:
            return 0
        try:
            with self.engine.begin() as conn:
                return self._insert_plans(conn, plans, now)
        except IntegrityError:
            if len(plans) > 1:
                return sum(self.plan([p], now) for p in plans)
            first = plans[0]
            if (first.subscriber_id, first.edition) not in self.planned_editions(
                [first.subscriber_id], [first.edition]
            ):
                raise  # not a race with another planner: a real error, never a lost digest
        # another planner stored this edition first: only move the next send time on
        with self.engine.begin() as conn:
            conn.execute(
                update(SUBSCRIBER)
                .where(SUBSCRIBER.c.id == plans[0].subscriber_id)
                .values(next_send_at=plans[0].next_send_at)
            )
        return 0

    def _insert_plans(self, conn: Connection, plans: Sequence[NewDelivery], now: datetime) -> int:
        # each item's paper is checked in the history's key index, which must not be read from
        # the OS again for every page of digests; only connections that plan keep that much
        keep_pages(conn, PLANNING_CACHE_KB)
        names = ["subscriber_id", "edition", "status", "message_id", "attempts", "created_at"]
        rows = [(p.subscriber_id, p.edition, p.status.value, p.message_id, 0, now) for p in plans]
        ids = bulk_insert_ids(conn, DELIVERY, names, rows, key=2)  # (subscriber, edition)
        items = [
            (delivery_id, rank, *item)
            for delivery_id, plan in zip(ids, plans, strict=True)
            for rank, item in enumerate(plan.items, start=1)
        ]
        bulk_insert_rows(conn, ITEM, ITEM_NAMES, items)
        moved = [(p.subscriber_id, p.next_send_at) for p in plans]
        bulk_update_rows(conn, SUBSCRIBER, "id", ["next_send_at"], moved)
        return len(ids)

    def refresh_statistics(self) -> None:
        """Have the database learn the outbox as planning left it (PostgreSQL; SQLite plans by
        its indexes alone). Until its autovacuum caught up, PostgreSQL knew nothing of a day's
        million items and read all of them, on parallel workers, for every batch it sent."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE delivery, delivery_item")

    def prune(self, before: datetime, progress: Callable[[int], None] | None = None) -> int:
        """Delete the finished deliveries (FINISHED) planned before `before`, with their
        items, PRUNE_CHUNK a transaction, oldest first (`progress` told each chunk's size);
        how many were deleted."""
        removed = 0
        old = sa_select(DELIVERY.c.id).where(
            DELIVERY.c.created_at < before, DELIVERY.c.status.in_(FINISHED)
        )
        while True:
            with self.engine.begin() as conn:
                ids = list(conn.execute(old.order_by(DELIVERY.c.id).limit(PRUNE_CHUNK)).scalars())
                if not ids:
                    return removed
                conn.execute(ITEM.delete().where(ITEM.c.delivery_id.in_(ids)))
                conn.execute(DELIVERY.delete().where(DELIVERY.c.id.in_(ids)))
            removed += len(ids)
            if progress is not None:
                progress(len(ids))

    def listed(
        self,
        status: DeliveryStatus | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        subscriber_id: int | None = None,
    ) -> list[Delivery]:
        """Deliveries, oldest (or newest) first, optionally with one status or of one
        subscriber, at most `limit`."""
        with self.read() as session:
            order = col(Delivery.id).desc() if newest_first else col(Delivery.id)
            query = select(Delivery).order_by(order)
            if status is not None:
                query = query.where(Delivery.status == status)
            if subscriber_id is not None:
                query = query.where(Delivery.subscriber_id == subscriber_id)
            if limit is not None:
                query = query.limit(limit)
            return list(session.exec(query))

    def created_range(self) -> tuple[datetime | None, datetime | None]:
        """When the oldest and the newest delivery kept were planned (None before the first)."""
        with self.read() as session:
            created = col(Delivery.created_at)
            row = session.exec(select(func.min(created), func.max(created))).first()
        first, last = row if row is not None else (None, None)
        return (None if first is None else as_utc(first)), (None if last is None else as_utc(last))

    def concluded_between(self, start: datetime, end: datetime) -> dict[str, int]:
        """Of the digests planned from `start` to `end`, how many were sent and how many
        failed."""
        with self.read() as session:
            rows = session.exec(
                select(Delivery.status, func.count())
                .where(
                    col(Delivery.status).in_((DeliveryStatus.SENT, DeliveryStatus.FAILED)),
                    col(Delivery.created_at).between(start, end),
                )
                .group_by(col(Delivery.status))
            )
            return {str(status): int(n) for status, n in rows}

    def counts(self) -> dict[str, int]:
        """How many deliveries have each status."""
        with self.read() as session:
            rows = session.exec(
                select(Delivery.status, func.count()).group_by(col(Delivery.status))
            )
            return {status: int(n) for status, n in rows}

    def contents(
        self, ids: Sequence[int], papers: dict[str, PaperRow] | None = None
    ) -> dict[int, Contents]:
        """The deliveries with these ids, each with its subscriber and papers in rank order;
        papers already in `papers` are not read again, and those read are added to it."""
        with self.reader.connect() as conn:
            return read_contents(conn, ids, {} if papers is None else papers)

    def attempts(self, ids: Sequence[int]) -> dict[int, tuple[int, datetime]]:
        """Per delivery, the attempts made so far and when it was planned."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa_select(DELIVERY.c.id, DELIVERY.c.attempts, DELIVERY.c.created_at).where(
                    DELIVERY.c.id.in_(list(ids))
                )
            )
            return {int(i): (int(n), as_utc(at)) for i, n, at in rows}

    def recipient_of(
        self, delivery_id: int | None = None, message_id: str | None = None
    ) -> tuple[Subscriber, bool] | None:
        """The subscriber a delivery (by id or by its Message-ID) went to, and whether it went
        to the address they have now (False: to the one the subscription moved from)."""
        if delivery_id is None and not message_id:
            return None
        with self.read() as session:
            query = select(Subscriber, Delivery.sent_at).join(
                Delivery, col(Delivery.subscriber_id) == Subscriber.id
            )
            if delivery_id is not None:
                query = query.where(col(Delivery.id) == delivery_id)
            else:
                query = query.where(col(Delivery.message_id) == message_id)
            row = session.exec(query).first()
        if row is None:
            return None
        subscriber, sent = row
        since = subscriber.address_since
        return subscriber, since is None or sent is None or sent >= since

    def claim(self, now: datetime, limit: int, owner: str, stale_after: timedelta) -> list[int]:
        """Take up to `limit` sendable deliveries for `owner`: queued, retry that is due, or
        sending under a claim older than `stale_after` (its process died). Those whose
        subscriber stopped (not active, or suppressed) are cancelled instead of taken.

        Each kind is read in id order from the status index, `limit` at most: the work is
        the batch's, never the length of the queue (one OR would sort every queued row)."""
        status = col(Delivery.status)
        ready = (
            status == DeliveryStatus.QUEUED,
            (status == DeliveryStatus.RETRY) & (col(Delivery.next_attempt_at) <= now),
            (status == DeliveryStatus.SENDING) & (col(Delivery.claimed_at) <= now - stale_after),
        )
        with self.session() as session:
            while True:
                found: set[int] = set()
                for kind in ready:
                    query = (
                        select(Delivery.id)
                        .where(kind)
                        .order_by(col(Delivery.id))
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                    found.update(int(i) for i in session.exec(query) if i is not None)
                if not found:
                    return []
                candidates = sorted(found)[:limit]
                stopped = cancel_waiting(session.connection(), now, delivery_ids=candidates)
                ids = [i for i in candidates if i not in stopped]
                if ids:
                    session.exec(
                        update(Delivery)
                        .where(col(Delivery.id).in_(ids))
                        .values(status=DeliveryStatus.SENDING, claimed_by=owner, claimed_at=now)
                    )
                    return ids

    def mark_returned(self, delivery_id: int, status: str) -> None:
        """A sent digest a report says failed after all: failed, with the report's status."""
        with self.engine.begin() as conn:
            conn.execute(
                update(DELIVERY)
                .where(DELIVERY.c.id == delivery_id, DELIVERY.c.status == DeliveryStatus.SENT)
                .values(status=DeliveryStatus.FAILED, last_error=f"returned: status {status}")
            )

    def stop_if_full_too_long(self, subscriber_id: int, now: datetime) -> bool:
        """outcomes.stop_if_full_too_long in a transaction of its own."""
        with self.engine.begin() as conn:
            return stop_if_full_too_long(conn, subscriber_id, now)

    def count_bounce(
        self, subscriber_id: int, now: datetime, bounce_limit: int, detail: str
    ) -> None:
        """outcomes.count_bounce (a bounce report's) in a transaction of its own."""
        with self.engine.begin() as conn:
            count_bounce(conn, subscriber_id, now, bounce_limit, detail)

    def record_outcomes(
        self, outcomes: Sequence[SendResult], now: datetime, bounce_limit: int
    ) -> None:
        """Record a batch of send results in one transaction; hard bounces count against the
        subscriber, who becomes `bounced` at `bounce_limit`."""
        if outcomes:
            with self.recorder(now, bounce_limit) as record:
                record(outcomes)

    @contextmanager
    def recorder(
        self, now: datetime, bounce_limit: int
    ) -> Iterator[Callable[[Sequence[SendResult]], None]]:
        """`record_outcomes` over one connection held while messages are sent: a group commit
        every few messages then costs its statements, not a connection from the pool."""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None

            def record(outcomes: Sequence[SendResult]) -> None:
                if raw is not None and outcomes and all(map(plain, outcomes)):
                    write_plain_sqlite(raw, outcomes, now)
                elif outcomes:
                    with conn.begin():
                        write_outcomes(conn, outcomes, now, bounce_limit)

            yield record
