"""Queries on the suppression list, and on whom a returned mail (bounce, complaint) names."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete, select

from digest.models import Delivery, Subscriber, Suppression
from digest.store.engine import StoreBase


class SuppressionQueries(StoreBase):
    """Reads and writes of suppressed addresses."""

    def suppress(self, email: str, reason: str, detail: str, now: datetime) -> bool:
        """Put an address on the suppression list; False when it already was."""
        with self.session() as session:
            if session.get(Suppression, email) is not None:
                return False
            session.add(Suppression(email=email, reason=reason, detail=detail, created_at=now))
            return True

    def suppression(self, email: str) -> Suppression | None:
        """Why an address is suppressed, or None when mail may go to it."""
        with self.read() as session:
            return session.get(Suppression, email)

    def suppressions(self) -> list[Suppression]:
        """Every suppressed address, newest first."""
        with self.read() as session:
            query = select(Suppression).order_by(col(Suppression.created_at).desc())
            return list(session.exec(query))

    def unsuppress(self, email: str) -> bool:
        """Take an address off the list (the person asked to receive mail again)."""
        with self.session() as session:
            result = session.exec(delete(Suppression).where(col(Suppression.email) == email))
            return bool(result.rowcount)

    def subscriber_of_delivery(
        self, delivery_id: int | None = None, message_id: str | None = None
    ) -> Subscriber | None:
        """The subscriber a delivery (by id or by its Message-ID) went to."""
        if delivery_id is None and not message_id:
            return None
        with self.read() as session:
            query = select(Subscriber).join(Delivery, col(Delivery.subscriber_id) == Subscriber.id)
            if delivery_id is not None:
                query = query.where(col(Delivery.id) == delivery_id)
            else:
                query = query.where(col(Delivery.message_id) == message_id)
            return session.exec(query).first()
