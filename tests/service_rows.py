"""A service that has been used (a history, a subscriber with votes, a suppressed address, a
sent digest), and every row of its database, to compare a copy with its original."""

from __future__ import annotations

from typing import Any

from conftest import Project
from sqlalchemy import select

from digest.store import Store
from digest.store.copy import tables

NOW = "2026-11-22T12:00:00+00:00"


def every_row(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a database, in primary key order."""
    store = Store(url, auto_migrate=False)
    try:
        with store.engine.connect() as conn:
            return {
                t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key))]
                for t in tables()
            }
    finally:
        store.close()


def used_service(project: Project) -> None:
    """A history, a subscriber with votes, a suppressed address and a sent digest."""
    project.ok("fetch", "--now", NOW)
    project.ok(
        "subscribers", "add", "ann@example.org", "--keywords", "kv cache", "--send-at", "00:00"
    )
    ids = [row[0] for row in project.query("select id from paper order by id limit 2")]
    project.ok("subscribers", "feedback", "ann@example.org", "--like", ids[0], "--dislike", ids[1])
    project.ok("suppression", "add", "gone@example.org")
    project.ok("send", "--now", NOW)
