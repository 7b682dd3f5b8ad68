"""The Store: one query object per kind of data over one engine."""

from __future__ import annotations

from digest.store.archive import ArchiveQueries
from digest.store.deliveries import DeliveryQueries
from digest.store.engine import make_engine, migrate, open_engine
from digest.store.leases import LeaseQueries
from digest.store.papers import PaperQueries, UpsertResult
from digest.store.state import StateQueries
from digest.store.subscribers import SubscriberQueries
from digest.store.suppression import SuppressionQueries
from digest.store.vectors import VectorQueries
from digest.store.votes import VoteQueries

__all__ = ["Store", "UpsertResult", "make_engine", "migrate"]


class Store:
    """Every read and write of the service's history, subscribers and outbox."""

    def __init__(self, url: str, *, auto_migrate: bool = True) -> None:
        self.engine = open_engine(url, auto_migrate=auto_migrate)
        self.papers = PaperQueries(self.engine)
        self.subscribers = SubscriberQueries(self.engine)
        self.deliveries = DeliveryQueries(self.engine)
        self.archive = ArchiveQueries(self.engine)
        self.votes = VoteQueries(self.engine)
        self.suppression = SuppressionQueries(self.engine)
        self.state = StateQueries(self.engine)
        self.vectors = VectorQueries(self.engine)
        self.leases = LeaseQueries(self.engine)

    def ping(self) -> None:
        """Ask the database for nothing; whatever stops it answering is raised."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()
