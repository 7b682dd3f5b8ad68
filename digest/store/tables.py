"""The tables that queries reach without the ORM (bulk statements, plain rows), named once."""

from __future__ import annotations

from sqlalchemy import Table

from digest.models import (
    Delivery,
    DeliveryItem,
    Paper,
    PaperVector,
    Sighting,
    Subscriber,
    Suppression,
    Vote,
)

DELIVERY: Table = Delivery.__table__  # type: ignore[attr-defined]
ITEM: Table = DeliveryItem.__table__  # type: ignore[attr-defined]
PAPER: Table = Paper.__table__  # type: ignore[attr-defined]
SIGHTING: Table = Sighting.__table__  # type: ignore[attr-defined]
SUBSCRIBER: Table = Subscriber.__table__  # type: ignore[attr-defined]
SUPPRESSION: Table = Suppression.__table__  # type: ignore[attr-defined]
VECTOR: Table = PaperVector.__table__  # type: ignore[attr-defined]
VOTE: Table = Vote.__table__  # type: ignore[attr-defined]
