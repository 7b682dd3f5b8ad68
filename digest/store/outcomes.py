"""Recording what happened to each message sent: the statements behind the outbox's group
commits, which run once per one to four messages and so skip the ORM (and, on SQLite, even
SQLAlchemy's execution of a statement, which costs twice the statement itself); and the
digests cancelled unsent, for their subscriber stopped."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, insert, update
from sqlalchemy import select as sa_select

from digest.bounces import FULL_FOR, bounces_in_a_row, full_too_long, mailbox_full
from digest.store.engine import as_sqlalchemy_error, sqlite_datetime
from digest.store.tables import DELIVERY, SUBSCRIBER, SUPPRESSION
from digest.vocabulary import DeliveryStatus, SubscriberStatus


@dataclass
class SendResult:
    """The result of one send attempt, to record."""

    delivery_id: int
    status: DeliveryStatus  # sent | retry | failed | queued (released unsent)
    error: str | None = None
    code: int | None = None
    retry_at: datetime | None = None
    bounce: bool = False

    @property
    def full(self) -> bool:
        """Whether it failed for a full mailbox (which counts once it lasts: bounces.py)."""
        return self.status == DeliveryStatus.FAILED and mailbox_full(self.error)


# built once: this runs for every few messages sent
_RELEASE = update(DELIVERY).values(status=DeliveryStatus.QUEUED, claimed_by=None, claimed_at=None)
_RECORD = (
    update(DELIVERY)
    .where(DELIVERY.c.id == bindparam("_id"))
    .values(
        status=bindparam("status"),
        last_error=bindparam("last_error"),
        smtp_code=bindparam("smtp_code"),
        next_attempt_at=bindparam("next_attempt_at"),
        sent_at=func.coalesce(
            bindparam("sent_at", type_=DELIVERY.c.sent_at.type), DELIVERY.c.sent_at
        ),
        attempts=DELIVERY.c.attempts + 1,
        claimed_by=None,
        claimed_at=None,
    )
)

# _RECORD as SQLite's driver takes it
_RECORD_SQLITE = (
    "UPDATE delivery SET status = ?, last_error = ?, smtp_code = ?, next_attempt_at = ?,"
    " sent_at = coalesce(?, sent_at), attempts = attempts + 1, claimed_by = NULL,"
    " claimed_at = NULL WHERE id = ?"
)


def write_outcomes(
    conn: Connection, outcomes: Sequence[SendResult], now: datetime, bounce_limit: int
) -> None:
    """Write send results in the caller's transaction; hard bounces count against the
    subscriber, who becomes `bounced` at `bounce_limit`."""
    released = [o.delivery_id for o in outcomes if o.status == DeliveryStatus.QUEUED]
    if released:
        conn.execute(_RELEASE.where(DELIVERY.c.id.in_(released)))
    tried = [o for o in outcomes if o.status != DeliveryStatus.QUEUED]
    if tried and conn.dialect.name == "sqlite":
        conn.exec_driver_sql(_RECORD_SQLITE, _sqlite_rows(tried, now))
    elif tried:
        conn.execute(
            _RECORD,
            [
                {
                    "_id": o.delivery_id,
                    "status": o.status,
                    "last_error": o.error,
                    "smtp_code": o.code,
                    "next_attempt_at": o.retry_at,
                    "sent_at": now if o.status == DeliveryStatus.SENT else None,
                }
                for o in tried
            ],
        )
    for outcome in outcomes:
        if outcome.bounce:
            _count_bounce(conn, outcome, now, bounce_limit)
        elif outcome.full:
            _check_full(conn, outcome, now)


def _sqlite_rows(tried: Sequence[SendResult], now: datetime) -> list[tuple[object, ...]]:
    sent_at = sqlite_datetime(now)
    return [
        (
            str(DeliveryStatus(o.status)),
            o.error,
            o.code,
            sqlite_datetime(o.retry_at),
            sent_at if o.status == DeliveryStatus.SENT else None,
            o.delivery_id,
        )
        for o in tried
    ]


def plain(outcome: SendResult) -> bool:
    """Whether recording this result touches its delivery only (not released, no bounce,
    no full mailbox)."""
    return outcome.status != DeliveryStatus.QUEUED and not outcome.bounce and not outcome.full


def write_plain_sqlite(
    raw: sqlite3.Connection, outcomes: Sequence[SendResult], now: datetime
) -> None:
    """write_outcomes for `plain` results, in a transaction of their own straight through
    SQLite's driver: the outbox commits every few messages, and SQLAlchemy's transaction
    cost as much as the statement and the commit together."""
    with as_sqlalchemy_error(_RECORD_SQLITE):
        raw.execute("BEGIN IMMEDIATE")
        try:
            raw.executemany(_RECORD_SQLITE, _sqlite_rows(outcomes, now))
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")


def _recipient(conn: Connection, delivery_id: int) -> int:
    """The subscriber a delivery went to."""
    query = sa_select(DELIVERY.c.subscriber_id).where(DELIVERY.c.id == delivery_id)
    return int(conn.execute(query).scalar_one())


def _count_bounce(conn: Connection, outcome: SendResult, now: datetime, bounce_limit: int) -> None:
    detail = f"refused when sent: {outcome.error}"
    count_bounce(conn, _recipient(conn, outcome.delivery_id), now, bounce_limit, detail)


def _check_full(conn: Connection, outcome: SendResult, now: datetime) -> None:
    """A digest refused for a full mailbox: perhaps the one that makes it too long."""
    stop_if_full_too_long(conn, _recipient(conn, outcome.delivery_id), now)


def count_bounce(
    conn: Connection, subscriber_id: int, now: datetime, bounce_limit: int, detail: str
) -> None:
    """One more hard bounce for a subscriber (bounces_in_a_row), who at the limit is
    `bounced` and their address suppressed (`detail`: what said so); at sending and from
    bounce reports alike."""
    row = conn.execute(
        sa_select(SUBSCRIBER.c.hard_bounces, SUBSCRIBER.c.last_bounce_at)
        .where(SUBSCRIBER.c.id == subscriber_id)
        .with_for_update()
    ).one()
    bounces = bounces_in_a_row(row.hard_bounces, row.last_bounce_at, now)
    conn.execute(
        update(SUBSCRIBER)
        .where(SUBSCRIBER.c.id == subscriber_id)
        .values(hard_bounces=bounces, last_bounce_at=now, updated_at=now)
    )
    if bounces >= bounce_limit:
        stop_bounced(conn, subscriber_id, detail, now)


def stop_if_full_too_long(conn: Connection, subscriber_id: int, now: datetime) -> bool:
    """Stop a subscriber as `bounced` (their address suppressed) whose mailbox has been full
    for bounces.FULL_FOR (full_too_long); whether it was."""
    if not full_too_long(latest_outcomes(conn, subscriber_id)):
        return False
    stop_bounced(conn, subscriber_id, f"its mailbox stayed full for {FULL_FOR.days} days", now)
    return True


_CONCLUDED = (DeliveryStatus.SENT, DeliveryStatus.FAILED)


def latest_outcomes(conn: Connection, subscriber_id: int) -> list[tuple[str, bool, str | None]]:
    """A subscriber's newest concluded digests, newest first: (edition, delivered, error)."""
    rows = conn.execute(
        sa_select(DELIVERY.c.edition, DELIVERY.c.status, DELIVERY.c.last_error)
        .where(DELIVERY.c.subscriber_id == subscriber_id, DELIVERY.c.status.in_(_CONCLUDED))
        .order_by(DELIVERY.c.edition.desc())
        .limit(60)
    )
    return [(edition, status == DeliveryStatus.SENT, error) for edition, status, error in rows]


def stop_bounced(conn: Connection, subscriber_id: int, detail: str, now: datetime) -> None:
    """Mark a subscriber `bounced` and suppress their address (unless it already is)."""
    conn.execute(
        update(SUBSCRIBER)
        .where(SUBSCRIBER.c.id == subscriber_id)
        .values(status=SubscriberStatus.BOUNCED, updated_at=now)
    )
    email = conn.execute(
        sa_select(SUBSCRIBER.c.email).where(SUBSCRIBER.c.id == subscriber_id)
    ).scalar_one()
    listed = sa_select(SUPPRESSION.c.email).where(SUPPRESSION.c.email == email)
    if conn.execute(listed).first() is None:
        conn.execute(
            insert(SUPPRESSION).values(
                email=email, reason="bounce", detail=detail[:300], created_at=now
            )
        )


STOPPED = "not sent: the subscriber unsubscribed, paused, bounced or is suppressed"


def cancel_waiting(
    conn: Connection,
    now: datetime,
    *,
    subscriber_id: int | None = None,
    delivery_ids: Sequence[int] | None = None,
) -> set[int]:
    """Cancel the waiting digests (queued or retry) of this subscriber, or among these
    deliveries, whose subscriber is not active or is suppressed: nothing goes out after an
    unsubscribe or a pause. Returns the ids cancelled."""
    stopped = (SUBSCRIBER.c.status != SubscriberStatus.ACTIVE) | SUBSCRIBER.c.email.in_(
        sa_select(SUPPRESSION.c.email)
    )
    query = (
        sa_select(DELIVERY.c.id)
        .join(SUBSCRIBER, SUBSCRIBER.c.id == DELIVERY.c.subscriber_id)
        .where(DELIVERY.c.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.RETRY)))
        .where(stopped)
    )
    if subscriber_id is not None:
        query = query.where(DELIVERY.c.subscriber_id == subscriber_id)
    if delivery_ids is not None:
        query = query.where(DELIVERY.c.id.in_(list(delivery_ids)))
    ids = {int(i) for i in conn.execute(query).scalars()}
    if ids:
        conn.execute(
            update(DELIVERY)
            .where(DELIVERY.c.id.in_(ids))
            .values(
                status=DeliveryStatus.CANCELLED,
                last_error=STOPPED,
                next_attempt_at=None,
                claimed_at=now,
            )
        )
    return ids
