"""Queries on the ranking state: stored feature statistics, refreshed from the history."""

from __future__ import annotations

from datetime import datetime

from digest.models import RankingState
from digest.store.engine import Queries, as_utc

FEATURES = "features"
TOPICS = "topics"


class StateQueries(Queries):
    """Reads and writes of named blobs the ranker keeps between runs."""

    def ranking_state(self, name: str) -> tuple[bytes, datetime | None] | None:
        """(data, watermark: the newest first-seen time counted in), or None if never saved."""
        with self.read() as session:
            row = session.get(RankingState, name)
            if row is None:
                return None
            return bytes(row.data), as_utc(row.watermark) if row.watermark else None

    def save_ranking_state(
        self, name: str, data: bytes, watermark: datetime | None, now: datetime
    ) -> None:
        """Store (or replace) a named blob with its watermark."""
        with self.session() as session:
            row = session.get(RankingState, name)
            if row is None:
                row = RankingState(name=name, data=data, watermark=watermark, updated_at=now)
            row.data, row.watermark, row.updated_at = data, watermark, now
            session.add(row)
