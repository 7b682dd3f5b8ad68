"""Queries on the suppression list."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete, func, select

from digest.models import Suppression
from digest.store.engine import Queries


class SuppressionQueries(Queries):
    """Reads and writes of suppressed addresses."""

    def add(self, email: str, reason: str, detail: str, now: datetime) -> bool:
        """Put an address on the suppression list; False when it already was."""
        with self.session() as session:
            if session.get(Suppression, email) is not None:
                return False
            session.add(Suppression(email=email, reason=reason, detail=detail, created_at=now))
            return True

    def get(self, email: str) -> Suppression | None:
        """Why an address is suppressed, or None when mail may go to it."""
        with self.read() as session:
            return session.get(Suppression, email)

    def listed(self) -> list[Suppression]:
        """Every suppressed address, newest first."""
        with self.read() as session:
            query = select(Suppression).order_by(col(Suppression.created_at).desc())
            return list(session.exec(query))

    def counts(self, between: tuple[datetime, datetime] | None = None) -> dict[str, int]:
        """How many addresses are suppressed for each reason (in a span of time, if given)."""
        with self.read() as session:
            query = select(Suppression.reason, func.count()).group_by(col(Suppression.reason))
            if between is not None:
                query = query.where(col(Suppression.created_at).between(*between))
            return {reason: int(n) for reason, n in session.exec(query)}

    def remove(self, email: str) -> bool:
        """Take an address off the list (the person asked to receive mail again)."""
        with self.session() as session:
            result = session.exec(delete(Suppression).where(col(Suppression.email) == email))
            return bool(result.rowcount)
