"""Queries on the outbox: deliveries and their items."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from digest.errors import NotFoundError
from digest.models import Delivery, DeliveryItem, Paper, Subscriber
from digest.store.engine import StoreBase, as_utc


class DeliveryQueries(StoreBase):
    """Reads and writes of deliveries, the outbox and ledger."""

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
            return {int(sid): as_utc(when) for sid, when in rows if when is not None}

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
