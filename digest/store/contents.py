"""A delivery's contents: the papers planned into it, and the plain rows a message is composed
from (composing a message must not pay for ORM objects)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import Connection, Text, cast
from sqlalchemy import select as sa_select

from digest.store.engine import as_utc
from digest.store.tables import DELIVERY, ITEM, PAPER, SUBSCRIBER


class ItemRow(NamedTuple):
    """One paper planned into a delivery, with why it was chosen (a tuple: planning makes a
    million of them for 100,000 digests)."""

    paper_id: str
    score: float
    matched: list[str]
    similar_to: str | None = None  # a paper the subscriber liked that it resembles
    section: str = "main"  # main | trending (the "also trending today" box)
    trending: bool = False  # among the most popular papers of its day
    related: Sequence[str] = ()  # keywords matched only through papers like it, not its words


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a message needs of its subscriber."""

    id: int
    email: str
    public_id: str
    token_version: int
    keywords: list[str]
    grouped: bool
    frequency: str


@dataclass(frozen=True, slots=True)
class PaperRow:
    """What a message shows of a paper: its id and listing fields (models.PaperFields)."""

    id: str
    title: str
    abstract: str
    arxiv_id: str | None
    authors: list[str]
    author_count: int | None
    organization: str | None
    published: date | None
    listing_date: date | None
    upvotes: int | None
    comments: int | None
    url: str | None
    thumbnail: str | None
    github_repo: str | None
    project_page: str | None
    categories: list[str]
    ai_summary: str | None


@dataclass
class Contents:
    """A delivery with its subscriber and its papers in rank order."""

    delivery_id: int
    edition: str
    message_id: str
    created_at: datetime
    subscriber: Recipient
    items: list[tuple[PaperRow, ItemRow]] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)  # titles of the liked papers named


RECIPIENT_COLUMNS = [SUBSCRIBER.c[f.name] for f in fields(Recipient)]
PAPER_COLUMNS = [PAPER.c[f.name] for f in fields(PaperRow)]


def read_contents(
    conn: Connection, ids: Sequence[int], papers: dict[str, PaperRow]
) -> dict[int, Contents]:
    """The deliveries with these ids, as `DeliveryQueries.contents` returns them."""
    d, i = DELIVERY.c, ITEM.c
    heads = conn.execute(
        sa_select(d.id, d.edition, d.message_id, d.created_at, *RECIPIENT_COLUMNS)
        .join(SUBSCRIBER, SUBSCRIBER.c.id == d.subscriber_id)
        .where(d.id.in_(list(ids)))
    )
    out = {
        row[0]: Contents(row[0], row[1], row[2], as_utc(row[3]), Recipient(*row[4:]))
        for row in heads
    }
    rows = conn.execute(
        sa_select(
            i.delivery_id,
            i.paper_id,
            i.score,
            # as text on every database (PostgreSQL's driver would decode JSON
            # itself), decoded once per distinct list below
            cast(i.matched, Text),
            i.similar_to,
            i.section,
            i.trending,
            cast(i.related, Text),
        )
        .where(i.delivery_id.in_(list(ids)))
        .order_by(i.delivery_id, i.rank)
    ).all()
    # a batch names each paper many times: read and decode each one once
    wanted = list({row[1] for row in rows}.difference(papers))
    if wanted:
        found = conn.execute(sa_select(*PAPER_COLUMNS).where(PAPER.c.id.in_(wanted)))
        papers.update((row[0], PaperRow(*row)) for row in found)
    liked: set[str] = set()
    for row in rows:
        item = ItemRow(
            row[1],
            row[2],
            _keywords(row[3]),
            row[4],
            row[5],
            bool(row[6]),
            _keywords(row[7]),
        )
        out[row[0]].items.append((papers[row[1]], item))
        if item.similar_to:
            liked.add(item.similar_to)
    if liked:
        found = conn.execute(sa_select(PAPER.c.id, PAPER.c.title).where(PAPER.c.id.in_(liked)))
        titles = {str(pid): str(title) for pid, title in found}
        for contents in out.values():
            contents.titles = titles
    return out


@lru_cache(maxsize=4096)
def _keywords(stored: str | None) -> list[str]:
    """A stored JSON list of matched keywords (shared: callers only read it)."""
    return list(json.loads(stored)) if stored else []
