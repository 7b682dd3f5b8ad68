"""Named leases: at most one process at a time does what a lease names (planning)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from digest.models import Lease
from digest.store.engine import Queries, as_utc


class LeaseQueries(Queries):
    """Taking, renewing and giving up named leases."""

    def acquire(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the named lease unless another owner holds an unexpired one."""
        try:
            with self.session() as session:
                lease = session.get(Lease, name)
                if lease is None:
                    session.add(Lease(name=name, owner=owner, expires_at=now + ttl))
                    return True
                if lease.owner != owner and as_utc(lease.expires_at) > now:
                    return False
                lease.owner, lease.expires_at = owner, now + ttl
                session.add(lease)
                return True
        except IntegrityError:
            return False  # another process created it at the same moment

    def release(self, name: str, owner: str) -> None:
        """Give up the named lease if this owner holds it."""
        with self.session() as session:
            lease = session.get(Lease, name)
            if lease is not None and lease.owner == owner:
                session.delete(lease)
