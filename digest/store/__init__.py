"""The one owner of storage: engine, sessions, migrations and every query.

Store combines one query class per kind of data; nothing outside this package writes SQL.
"""

from __future__ import annotations

from digest.store.deliveries import DeliveryQueries
from digest.store.engine import StoreBase, make_engine, migrate
from digest.store.papers import PaperQueries, UpsertResult
from digest.store.state import StateQueries
from digest.store.subscribers import SubscriberQueries
from digest.store.suppression import SuppressionQueries
from digest.store.votes import VoteQueries

__all__ = ["Store", "UpsertResult", "make_engine", "migrate"]


class Store(
    PaperQueries,
    SubscriberQueries,
    DeliveryQueries,
    VoteQueries,
    StateQueries,
    SuppressionQueries,
    StoreBase,
):
    """Every read and write of the service's history, subscribers and outbox."""
