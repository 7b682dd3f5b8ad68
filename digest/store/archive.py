"""Queries on a subscriber's past digests: the web archive and the Atom feed read these."""

from __future__ import annotations

from sqlalchemy import select

from digest.models import DeliveryStatus
from digest.store.engine import Queries
from digest.store.tables import DELIVERY

# a digest can be viewed once it has gone out (or is going out: the email's own link
# "view in browser" may be opened before the sender has recorded it)
SHOWN = (DeliveryStatus.SENT, DeliveryStatus.SENDING, DeliveryStatus.RETRY)
ARCHIVE_SIZE = 60  # past digests listed on the web page


class ArchiveQueries(Queries):
    """Reads of the digests a subscriber has received."""

    def editions(self, subscriber_id: int, limit: int = ARCHIVE_SIZE) -> list[tuple[int, str]]:
        """(delivery id, edition) of the subscriber's digests that went out, newest first."""
        d = DELIVERY.c
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(d.id, d.edition)
                .where(d.subscriber_id == subscriber_id, d.status.in_(SHOWN))
                .order_by(d.edition.desc())
                .limit(limit)
            )
            return [(int(i), str(edition)) for i, edition in rows]

    def delivery_of(self, subscriber_id: int, edition: str) -> int | None:
        """The id of the subscriber's digest of one edition, if it went out."""
        d = DELIVERY.c
        with self.reader.connect() as conn:
            found = conn.execute(
                select(d.id).where(
                    d.subscriber_id == subscriber_id, d.edition == edition, d.status.in_(SHOWN)
                )
            ).scalar()
            return int(found) if found is not None else None
