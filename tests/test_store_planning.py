"""The outbox on a real SQLite file: planning an edition once, reading only what a plan needs
(counted in SQLite steps), due pages through the index, the planner's page cache."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from digest.ingest import store_records
from digest.sources.base import PaperRecord
from digest.store import Store
from digest.subscriptions.preferences import new_subscriber

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def store_at(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'db' / 'digest.sqlite'}")


def test_planning_an_edition_twice_is_a_no_op_but_a_broken_item_is_an_error(
    tmp_path: Path,
) -> None:
    """Only a race with another planner (the edition exists) may be skipped; an item naming
    no paper must fail loudly, never lose the digest while moving the schedule on."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from digest.store.contents import ItemRow
    from digest.store.deliveries import NewDelivery
    from digest.subscriptions.preferences import new_subscriber

    store = Store(f"sqlite:///{tmp_path / 'd.sqlite'}")
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    store_records(store, [PaperRecord(title="A paper", abstract="Text.")], "t", now)
    [paper] = store.papers.newest(since=datetime(2026, 1, 1, tzinfo=UTC))
    subscriber = store.subscribers.add(new_subscriber(email="a@example.org", keywords="x", now=now))
    assert subscriber.id is not None

    def planned(paper_id: str) -> NewDelivery:
        return NewDelivery(
            subscriber.id or 0, "2026-11-22", "<m@x>", [ItemRow(paper_id, 1.0, [])], now
        )

    assert store.deliveries.plan([planned(paper.id)], now) == 1
    assert store.deliveries.plan([planned(paper.id)], now) == 0  # already there: left alone
    other = store.subscribers.add(new_subscriber(email="b@example.org", keywords="x", now=now))
    assert other.id is not None
    broken = NewDelivery(other.id, "2026-11-22", "<n@x>", [ItemRow("arxiv:none", 1.0, [])], now)
    with pytest.raises(IntegrityError):
        store.deliveries.plan([broken], now)
    assert store.deliveries.planned_editions([other.id], ["2026-11-22"]) == set()


def _sqlite_steps(store: Store, action: Any) -> int:
    """How many SQLite virtual machine steps the queries of `action()` took."""
    steps = 0
    touched: list[sqlite3.Connection] = []

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    def watch(conn: Any, *_: Any) -> None:
        raw = conn.connection.driver_connection
        raw.set_progress_handler(tick, 1)
        touched.append(raw)

    event.listen(store.engine, "before_cursor_execute", watch)
    try:
        action()
    finally:
        event.remove(store.engine, "before_cursor_execute", watch)
        for raw in touched:
            raw.set_progress_handler(None, 1)
    return steps


def test_planning_reads_a_subscribers_latest_digests_not_all_of_them(tmp_path: Path) -> None:
    """When a subscriber was last sent a digest, whether an edition exists and the papers
    received lately are read newest first, for the editions asked, within the window: a
    year of digests costs what a few do (it read all 365 for every subscriber of a page).
    Skipped and cancelled digests are not sent."""
    from datetime import timedelta

    from digest.models import DeliveryStatus
    from digest.store.deliveries import NewDelivery

    store = store_at(tmp_path)
    start = datetime(2025, 11, 1, 5, tzinfo=UTC)
    old, new, none = (
        store.subscribers.add(new_subscriber(email=e, keywords="x", now=start))
        for e in ("old@example.org", "new@example.org", "none@example.org")
    )
    assert old.id is not None and new.id is not None and none.id is not None
    ago = [start + timedelta(days=d) for d in range(365)]
    last_four = ["sent", "queued", "skipped", "cancelled"]
    for sid, days in ((old.id, ago), (new.id, ago[-4:])):
        statuses = ["sent"] * (len(days) - 4) + last_four
        for when, status in zip(days, statuses, strict=True):
            edition, message_id = when.date().isoformat(), f"<{sid}-{when:%j}@x>"
            stored = NewDelivery(sid, edition, message_id, [], when, DeliveryStatus(status))
            assert store.deliveries.plan([stored], when) == 1
    last = store.deliveries.last_sent([old.id, new.id, none.id])
    assert last == {old.id: ago[-3], new.id: ago[-3]}  # queued: on its way; skipped: not sent
    today = [ago[-2].date().isoformat(), (ago[-1] + timedelta(days=1)).date().isoformat()]
    assert store.deliveries.planned_editions([old.id, none.id], today) == {(old.id, today[0])}
    window = ago[-3]

    def reads(sid: int) -> int:
        return _sqlite_steps(
            store,
            lambda: (
                store.deliveries.last_sent([sid]),
                store.deliveries.planned_editions([sid], today),
                store.deliveries.received_papers([sid], window),
            ),
        )

    assert reads(old.id) < 2 * reads(new.id), (reads(old.id), reads(new.id))


def test_many_plans_in_one_page_each_get_their_own_delivery_and_items(tmp_path: Path) -> None:
    """More digests than one INSERT ... RETURNING statement holds, in an order unlike the ids
    and over two editions: each stored delivery carries its own subscriber's items."""
    from digest.store.contents import ItemRow
    from digest.store.deliveries import NewDelivery
    from digest.store.engine import RETURNING_CHUNK

    store = Store(f"sqlite:///{tmp_path / 'd.sqlite'}")
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    records = [PaperRecord(title=f"Paper {i}", abstract="Text.") for i in range(7)]
    store_records(store, records, "t", now)
    papers = [p.id for p in store.papers.newest(since=datetime(2026, 1, 1, tzinfo=UTC))]
    count = RETURNING_CHUNK * 2 + 3
    people = [
        store.subscribers.add(new_subscriber(email=f"r{i}@example.org", keywords="x", now=now)).id
        or 0
        for i in range(count)
    ]
    plans = [
        NewDelivery(
            sid,
            "2026-11-22" if sid % 2 else "2026-11-23",
            f"<m{sid}@x>",
            [ItemRow(papers[sid % 7], 1.0, []), ItemRow(papers[(sid + 1) % 7], 0.5, [])],
            now,
        )
        for sid in reversed(people)
    ]
    assert store.deliveries.plan(plans, now) == count
    contents = store.deliveries.contents([d.id or 0 for d in store.deliveries.listed()])
    assert len(contents) == count
    for stored in contents.values():
        sid = stored.subscriber.id
        assert stored.edition == ("2026-11-22" if sid % 2 else "2026-11-23")
        assert stored.message_id == f"<m{sid}@x>"
        assert [paper.id for paper, _ in stored.items] == [papers[sid % 7], papers[(sid + 1) % 7]]


def test_only_a_connection_that_plans_keeps_a_big_page_cache(tmp_path: Path) -> None:
    """A sending process must not grow with the outbox it reads (SQLite's 2 MB default);
    the connection that stores planned digests keeps the history's key index in memory."""
    from digest.store.contents import ItemRow
    from digest.store.deliveries import NewDelivery
    from digest.store.engine import PLANNING_CACHE_KB
    from digest.subscriptions.preferences import new_subscriber

    store = store_at(tmp_path)
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    store_records(store, [PaperRecord(title="A paper", abstract="Text.")], "t", now)
    [paper] = store.papers.newest(since=datetime(2026, 1, 1, tzinfo=UTC))
    subscriber = store.subscribers.add(new_subscriber(email="a@example.org", keywords="x", now=now))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -2000
    item = ItemRow(paper.id, 1.0, [])
    store.deliveries.plan(
        [NewDelivery(subscriber.id or 0, "2026-11-22", "<m@x>", [item], now)], now
    )
    with store.engine.connect() as conn:  # the pool hands back the one connection it has
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -PLANNING_CACHE_KB


def test_due_pages_list_every_due_subscriber_once_in_order_through_the_index(
    tmp_path: Path,
) -> None:
    """Pages of 3 through subscribers of whom many share a send time: each due one once, by
    (time, id), none not yet due or inactive; every query is a seek of ix_subscriber_due."""
    from datetime import timedelta

    from sqlalchemy import event

    from digest.models import SubscriberStatus

    store = store_at(tmp_path)
    # seven share one time, four another, two are not due yet, one is an hour overdue
    offsets = [0] * 7 + [30] * 4 + [90] * 2 + [-60]
    times: dict[int, datetime] = {}
    gone = set()
    for i, offset in enumerate(offsets):
        status = SubscriberStatus.UNSUBSCRIBED if i == 5 else SubscriberStatus.ACTIVE
        added = store.subscribers.add(
            new_subscriber(email=f"p{i}@example.org", keywords="x", now=NOW, status=status)
        )
        assert added.id is not None
        times[added.id] = NOW - timedelta(minutes=60 - offset)
        if status != SubscriberStatus.ACTIVE:
            gone.add(added.id)
    store.subscribers.set_next_send(times)
    expected = sorted((at, sid) for sid, at in times.items() if at <= NOW and sid not in gone)
    queries: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM subscriber" in statement and "EXPLAIN" not in statement:
            queries.append((statement, parameters))

    event.listen(store.subscribers.reader, "before_cursor_execute", seen)
    pages, after = [], None
    while page := store.subscribers.due(NOW, 3, after):
        pages.append(page)
        after = page[-1]
    event.remove(store.subscribers.reader, "before_cursor_execute", seen)
    assert [len(p) for p in pages] == [3, 3, 3, 2]  # 11 due: 14, less 2 not due and 1 gone
    assert [row for page in pages for row in page] == expected
    assert len(queries) > len(pages)
    with store.subscribers.reader.connect() as conn:
        for statement, parameters in queries:
            plan = str(conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all())
            assert "ix_subscriber_due" in plan and "TEMP B-TREE" not in plan, plan
