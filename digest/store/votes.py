"""Queries on votes ("more / less like this")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlmodel import col, delete, select

from digest.models import Paper, Vote
from digest.store.engine import Queries

VOTES_PER_PROFILE = 200  # the latest votes the ranker reads per subscriber


class VoteQueries(Queries):
    """Reads and writes of votes."""

    def set(
        self, subscriber_id: int, votes: Mapping[str, int], now: datetime, source: str
    ) -> dict[str, int]:
        """Store +1 / -1 votes (0 clears one) atomically; returns the values they replaced."""
        before: dict[str, int] = {}
        with self.session() as session:
            for paper_id, value in votes.items():
                old = session.get(Vote, (subscriber_id, paper_id))
                before[paper_id] = old.value if old is not None else 0
                if value == before[paper_id]:
                    continue  # the same vote again changes nothing
                if value == 0:
                    if old is not None:
                        session.delete(old)
                    continue
                vote = old or Vote(
                    subscriber_id=subscriber_id,
                    paper_id=paper_id,
                    value=value,
                    created_at=now,
                    source=source,
                )
                vote.value, vote.created_at, vote.source = value, now, source
                session.add(vote)
        return before

    def of(self, subscriber_id: int) -> list[tuple[Paper, Vote]]:
        """A subscriber's votes with their papers, newest first."""
        with self.read() as session:
            rows = session.exec(
                select(Paper, Vote)
                .where(Vote.paper_id == Paper.id)
                .where(Vote.subscriber_id == subscriber_id)
                .order_by(col(Vote.created_at).desc(), col(Vote.paper_id))
            )
            return [(paper, vote) for paper, vote in rows]

    def for_subscribers(
        self, subscriber_ids: Sequence[int], limit: int = VOTES_PER_PROFILE
    ) -> dict[int, list[tuple[str, int]]]:
        """Per subscriber, their latest votes as (paper id, value), newest first; one query."""
        out: dict[int, list[tuple[str, int]]] = {}
        if not subscriber_ids:
            return out
        with self.read() as session:
            rows = session.exec(
                select(Vote.subscriber_id, Vote.paper_id, Vote.value)
                .where(col(Vote.subscriber_id).in_(list(subscriber_ids)))
                .order_by(col(Vote.subscriber_id), col(Vote.created_at).desc())
            )
            for sid, paper_id, value in rows:
                votes = out.setdefault(int(sid), [])
                if len(votes) < limit:
                    votes.append((paper_id, int(value)))
        return out

    def delete(self, subscriber_id: int) -> None:
        """Forget every vote of a subscriber."""
        with self.session() as session:
            session.exec(delete(Vote).where(col(Vote.subscriber_id) == subscriber_id))
