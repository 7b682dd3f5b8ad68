"""Queries on subscribers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Select, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, func, select

from digest.errors import AlreadyExistsError, NotFoundError
from digest.models import (
    Delivery,
    DeliveryItem,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Suppression,
    Vote,
    new_public_id,
)
from digest.store.engine import Queries, as_utc, bulk_update_rows
from digest.store.outcomes import cancel_waiting
from digest.store.tables import SUBSCRIBER

IMPORT_CHUNK = 2000  # rows one statement writes, or ids one IN () reads
LIST_PAGE = 1000  # subscribers a listing fetches at a time
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    """What planning reads of a subscriber: a plain row (planning reads 100,000s of them)."""

    id: int
    status: SubscriberStatus
    next_send_at: datetime | None
    keywords: list[str]
    exclude: list[str]
    timezone: str
    send_at: str
    max_papers: int
    frequency: Frequency
    weekly_day: int
    trending: float
    trending_box: bool


ROW_COLUMNS = [SUBSCRIBER.c[f.name] for f in fields(SubscriberRow)]


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to `size` items (itertools.batched arrives in Python 3.12)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass
class Imported:
    """What an import did: rows added, addresses already subscribed, addresses suppressed."""

    added: int = 0
    present: int = 0
    suppressed: int = 0


class SubscriberQueries(Queries):
    """Reads and writes of subscribers."""

    def add(self, subscriber: Subscriber) -> Subscriber:
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

    def find(self, email: str) -> Subscriber | None:
        """The subscriber with this address (case-insensitive), or None."""
        with self.read() as session:
            return session.exec(
                select(Subscriber).where(Subscriber.email == email.strip().lower())
            ).first()

    def get(self, email: str) -> Subscriber:
        """The subscriber with this address (case-insensitive)."""
        found = self.find(email)
        if found is None:
            raise NotFoundError(f"no subscriber {email.strip()!r}: see `digest subscribers list`")
        return found

    def listed(self, status: SubscriberStatus | None = None) -> list[Subscriber]:
        """Every subscriber, optionally only those with one status, by address."""
        return list(self.each(status))

    def each(self, status: SubscriberStatus | None = None) -> Iterator[Subscriber]:
        """Every subscriber (optionally only those with one status) by address, as one read
        (an export is one moment's list) fetched a page at a time: a listing of a million
        subscribers holds one page in memory."""
        query = select(Subscriber).order_by(col(Subscriber.email))
        if status is not None:
            query = query.where(Subscriber.status == status)
        with self.read() as session:
            yield from session.exec(query.execution_options(yield_per=LIST_PAGE))

    def emails(self, ids: Iterable[int]) -> dict[int, str]:
        """The address of each of these subscribers (those still there)."""
        wanted = sorted(set(ids))
        found: dict[int, str] = {}
        with self.read() as session:
            for chunk in batched(wanted, IMPORT_CHUNK):
                query = select(Subscriber.id, Subscriber.email).where(col(Subscriber.id).in_(chunk))
                found.update((row[0], row[1]) for row in session.exec(query) if row[0] is not None)
        return found

    def delete_expired_pending(self, before: datetime) -> int:
        """Delete pending signups whose confirmation link expired (or was never sent) before
        `before`: nobody confirmed them, and they hold a stranger-typed address."""
        with self.session() as session:
            last_mail = func.coalesce(Subscriber.confirmation_sent_at, Subscriber.created_at)
            stale = session.exec(
                select(Subscriber.id).where(
                    col(Subscriber.status) == SubscriberStatus.PENDING, last_mail < before
                )
            ).all()
            if stale:
                session.exec(delete(Subscriber).where(col(Subscriber.id).in_(stale)))
            return len(stale)

    def remove(self, email: str) -> None:
        """Forget a subscriber and their delivery history."""
        subscriber = self.get(email)
        with self.session() as session:
            ids = select(Delivery.id).where(Delivery.subscriber_id == subscriber.id)
            session.exec(delete(DeliveryItem).where(col(DeliveryItem.delivery_id).in_(ids)))
            session.exec(delete(Delivery).where(col(Delivery.subscriber_id) == subscriber.id))
            session.exec(delete(Vote).where(col(Vote.subscriber_id) == subscriber.id))
            session.exec(delete(Subscriber).where(col(Subscriber.id) == subscriber.id))

    def by_public_id(self, public_id: str) -> Subscriber | None:
        """The subscriber a link names, if there is one."""
        with self.read() as session:
            query = select(Subscriber).where(col(Subscriber.public_id) == public_id)
            return session.exec(query).first()

    def by_id(self, subscriber_id: int) -> Subscriber | None:
        """The subscriber with this id, or None."""
        with self.read() as session:
            return session.get(Subscriber, subscriber_id)

    def save(self, subscriber: Subscriber) -> Subscriber:
        """Write a changed subscriber back; the planner recomputes their next send time."""
        subscriber.next_send_at = None
        with self.session() as session:
            merged = session.merge(subscriber)
            session.flush()
            session.refresh(merged)
            if merged.status != SubscriberStatus.ACTIVE and merged.id is not None:
                cancel_waiting(session.connection(), merged.updated_at, subscriber_id=merged.id)
            return merged

    def import_many(self, subscribers: Iterable[Subscriber]) -> Imported:
        """Add every subscriber whose address is new and not on the suppression list, in one
        transaction, IMPORT_CHUNK rows at a time (memory stays flat however long the file)."""
        counts = Imported()
        with self.session() as session:
            for chunk in batched(subscribers, IMPORT_CHUNK):
                emails = [s.email for s in chunk]
                known = set(
                    session.exec(select(Subscriber.email).where(col(Subscriber.email).in_(emails)))
                )
                suppressed = set(
                    session.exec(
                        select(Suppression.email).where(col(Suppression.email).in_(emails))
                    )
                )
                taken = set(
                    session.exec(
                        select(Subscriber.public_id).where(
                            col(Subscriber.public_id).in_([s.public_id for s in chunk])
                        )
                    )
                )
                rows = []
                for subscriber in chunk:
                    if subscriber.email in known:
                        counts.present += 1
                        continue
                    if subscriber.email in suppressed:  # it complained or bounced: never mailed
                        counts.suppressed += 1
                        continue
                    known.add(subscriber.email)
                    if subscriber.public_id in taken:  # someone else's links name it: a new one
                        subscriber.public_id = new_public_id()
                    taken.add(subscriber.public_id)
                    rows.append(subscriber.model_dump(exclude={"id"}))
                if rows:
                    session.execute(insert(SUBSCRIBER), rows)
                counts.added += len(rows)
        return counts

    def resume_paused(self, now: datetime) -> int:
        """Start again the subscriptions paused until now or before (their next send time is
        then computed afresh); how many."""
        c = SUBSCRIBER.c
        with self.engine.begin() as conn:
            done = conn.execute(
                update(SUBSCRIBER)
                .where(c.status == SubscriberStatus.PAUSED, c.paused_until <= now)
                .values(
                    status=SubscriberStatus.ACTIVE,
                    paused_until=None,
                    next_send_at=None,
                    updated_at=now,
                )
            )
            return int(done.rowcount)

    def unscheduled(self, limit: int = 5000, after: int = 0) -> list[int]:
        """Ids of active subscribers whose next send time has to be (re)computed, in order,
        the first `limit` after id `after`."""
        c = SUBSCRIBER.c
        with self.reader.connect() as conn:
            return list(
                conn.execute(
                    sa_select(c.id)
                    .where(c.status == SubscriberStatus.ACTIVE, c.next_send_at.is_(None))
                    .where(c.id > after)
                    .order_by(c.id)
                    .limit(limit)
                ).scalars()
            )

    def set_next_send(self, times: dict[int, datetime]) -> None:
        """Store computed next send times."""
        if times:
            with self.engine.begin() as conn:
                bulk_update_rows(conn, SUBSCRIBER, "id", ["next_send_at"], list(times.items()))

    def due(
        self, now: datetime, limit: int, after: tuple[datetime, int] | None = None
    ) -> list[tuple[datetime, int]]:
        """(next send time, id) of active subscribers whose next send time has come, the
        longest waiting first; with `after`, only those that come after it in that order."""
        c = SUBSCRIBER.c
        active = sa_select(c.next_send_at, c.id).where(c.status == SubscriberStatus.ACTIVE)
        if after is None:
            parts = [active.where(c.next_send_at <= now)]
        else:  # two seeks of ix_subscriber_due: "(time, id) after" would read every row with
            at, last = after  # the same time from its first, and thousands share a send time
            parts = [
                active.where(c.next_send_at == at, c.id > last),
                active.where(c.next_send_at > at, c.next_send_at <= now),
            ]
        out: list[tuple[datetime, int]] = []
        with self.reader.connect() as conn:
            for part in parts:
                rows = conn.execute(part.order_by(c.next_send_at, c.id).limit(limit - len(out)))
                out += [(as_utc(when), int(sid)) for when, sid in rows]
                if len(out) == limit:
                    break
        return out

    def rows(self, ids: Sequence[int]) -> list[SubscriberRow]:
        """What planning reads of these subscribers (those that exist), in id order."""
        return self._rows(
            sa_select(*ROW_COLUMNS).where(SUBSCRIBER.c.id.in_(list(ids))).order_by(SUBSCRIBER.c.id)
        )

    def _rows(self, query: Select[Any]) -> list[SubscriberRow]:
        with self.reader.connect() as conn:
            out = []
            for row in conn.execute(query):
                values = list(row)
                if values[2] is not None:  # SQLite gives naive datetimes back: they are UTC
                    values[2] = as_utc(values[2])
                out.append(SubscriberRow(*values))
            return out

    def counts(self) -> dict[str, int]:
        """How many subscribers have each status."""
        with self.read() as session:
            rows = session.exec(
                select(Subscriber.status, func.count()).group_by(col(Subscriber.status))
            )
            return {status: int(n) for status, n in rows}
