"""The store on a real SQLite file: pragmas, migrations, merging, concurrency."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from digest.ingest import store_records
from digest.sources.base import PaperRecord
from digest.store import Store
from digest.subscriptions.preferences import new_subscriber

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def store_at(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'db' / 'digest.sqlite'}")


def test_sqlite_runs_in_wal_mode_with_busy_timeout(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_write_waits_for_the_lock_and_fails_as_sqlalchemy_would_a_read_never_waits(
    tmp_path: Path,
) -> None:
    """Transactions begin through the SQLite driver itself: a writer takes the write lock up
    front (and, if it cannot, raises SQLAlchemy's OperationalError like any statement would);
    a read-only transaction takes none and reads while another process writes."""
    store = store_at(tmp_path)
    holder = sqlite3.connect(tmp_path / "db" / "digest.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with store.engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA busy_timeout=50")
            with pytest.raises(OperationalError, match="locked"), conn.begin():
                pass
        with store.papers.reader.connect() as conn, conn.begin():
            assert conn.exec_driver_sql("select count(*) from paper").scalar() == 0
    finally:
        holder.execute("ROLLBACK")
    store_records(store, [PaperRecord(title="Written", abstract="a" * 50)], "t", NOW)
    assert [p.title for p in store.papers.newest()] == ["Written"]


def test_migrations_match_the_models_and_reopen_keeps_data(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store_records(store, [PaperRecord(title="Kept Paper", abstract="a" * 50)], "t", NOW)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"models changed without a migration: {diff}"
    store.close()
    again = store_at(tmp_path)
    assert [p.title for p in again.papers.newest()] == ["Kept Paper"]
    rows = (
        sqlite3.connect(tmp_path / "db" / "digest.sqlite")
        .execute("select version_num from alembic_version")
        .fetchall()
    )
    from alembic.script import ScriptDirectory

    from digest.store.engine import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert rows == [(head,)]


def test_same_paper_twice_is_one_row_with_two_sightings(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    first = store_records(store, [PaperRecord(title="A Paper", upvotes=3)], "one", NOW)
    second = store_records(
        store, [PaperRecord(title="a paper!", upvotes=9, author_count=4)], "two", NOW
    )
    assert (first.new, first.known, second.new, second.known) == (1, 0, 0, 1)
    [paper] = store.papers.newest()
    assert (paper.upvotes, paper.author_count) == (9, 4)
    assert store.papers.count() == 1
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from sighting").scalar() == 2


def test_paper_known_by_title_takes_its_arxiv_id_later_with_history(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store_records(
        store, [PaperRecord(title="Sparse Attention Rocks", abstract="x" * 60)], "text", NOW
    )
    [before] = store.papers.newest()
    assert before.id.startswith("title:")
    store_records(
        store,
        [
            PaperRecord(
                title="Sparse Attention Rocks",
                arxiv_id="2605.00001v2",
                url="https://arxiv.org/abs/2605.00001",
            )
        ],
        "arxiv",
        NOW,
    )
    [after] = store.papers.newest()
    assert after.id == "arxiv:2605.00001" and after.arxiv_id == "2605.00001"
    assert after.abstract == "x" * 60
    with store.engine.connect() as conn:
        ids = conn.exec_driver_sql("select distinct paper_id from sighting").fetchall()
    assert ids == [("arxiv:2605.00001",)]


def test_replacement_announcements_never_create_papers(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    result = store_records(
        store,
        [PaperRecord(title="Old Paper v3", arxiv_id="2301.00001", announce_type="replace")],
        "arxiv",
        NOW,
    )
    assert (result.new, result.ignored) == (0, 1)
    assert store.papers.count() == 0


def test_concurrent_writers_wait_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "db" / "digest.sqlite"
    Store(f"sqlite:///{path}")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        store = Store(f"sqlite:///{path}")
        try:
            for i in range(20):
                records = [PaperRecord(title=f"paper {n} {i} {j}") for j in range(5)]
                store_records(store, records, f"w{n}", NOW)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Store(f"sqlite:///{path}").papers.count() == 4 * 20 * 5


def old_database(path: Path, revision: str, *rows: str) -> str:
    """A SQLite database migrated only up to `revision`, holding `rows` (INSERT statements);
    its URL."""
    from alembic import command
    from alembic.config import Config

    from digest.store import make_engine
    from digest.store.engine import MIGRATIONS

    url = f"sqlite:///{path}"
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        for row in rows:
            conn.exec_driver_sql(row)
    engine.dispose()
    return url


def test_upgrading_from_the_first_schema_keeps_subscribers_and_papers(tmp_path: Path) -> None:
    url = old_database(
        tmp_path / "old.sqlite",
        "0001",
        "insert into subscriber (email, keywords, exclude, timezone, send_at, max_papers, "
        "status, token_version, created_at, updated_at) values ('old@example.org', "
        "'[\"rlhf\"]', '[]', 'UTC', '08:00', 5, 'active', 1, '2026-01-01', '2026-01-01')",
    )
    store = Store(url)
    [old] = store.subscribers.listed()
    assert (old.email, old.keywords, old.max_papers) == ("old@example.org", ["rlhf"], 5)
    assert (old.frequency, old.weekly_day, old.hard_bounces) == ("daily", 0, 0)


def test_bounces_counted_before_their_moments_were_kept_still_count(tmp_path: Path) -> None:
    """A database at 0011 holds bounce counts without the moment of the last bounce (0012
    adds it): the upgrade takes the row's last change for it, so the count goes on."""
    url = old_database(
        tmp_path / "old.sqlite",
        "0011",
        "insert into subscriber (email, keywords, exclude, timezone, send_at, max_papers, "
        "status, token_version, created_at, updated_at, frequency, weekly_day, "
        "hard_bounces, public_id, grouped, trending, trending_box) values "
        "('two@example.org', '[\"rlhf\"]', '[]', 'UTC', '08:00', 5, 'active', 1, "
        "'2026-11-01', '2026-11-20 06:00:00.000000', 'daily', 0, 2, 'p2', 0, 0.1, 0), "
        "('none@example.org', '[\"rlhf\"]', '[]', 'UTC', '08:00', 5, 'active', 1, "
        "'2026-11-01', '2026-11-20 06:00:00.000000', 'daily', 0, 0, 'p0', 0, 0.1, 0)",
    )
    found = {s.email: s.last_bounce_at for s in Store(url).subscribers.listed()}
    assert found == {
        "two@example.org": datetime(2026, 11, 20, 6, tzinfo=UTC),
        "none@example.org": None,
    }


def test_items_planned_before_related_keywords_existed_read_as_none_related(
    tmp_path: Path,
) -> None:
    """A database at 0008 with a planned item upgrades (0009 adds delivery_item.related):
    the old item reads with no related keyword, and a new item keeps its own."""
    from digest.store.contents import ItemRow
    from digest.store.deliveries import NewDelivery
    from digest.subscriptions.preferences import new_subscriber

    url = old_database(
        tmp_path / "old.sqlite",
        "0008",
        "insert into paper (id, title_norm, title, abstract, authors, categories, "
        "first_seen_at, updated_at) values ('p1', 'a', 'A', 'x', '[]', '[]', "
        "'2026-11-22', '2026-11-22')",
        "insert into subscriber (email, keywords, exclude, timezone, send_at, max_papers, "
        "status, token_version, created_at, updated_at, frequency, weekly_day, "
        "hard_bounces, public_id, grouped, trending, trending_box) values "
        "('old@example.org', '[\"rlhf\"]', '[]', 'UTC', '08:00', 5, 'active', 1, "
        "'2026-01-01', '2026-01-01', 'daily', 0, 0, 'pub', 0, 0.1, 0)",
        "insert into delivery (subscriber_id, edition, status, message_id, attempts, "
        "created_at) values (1, '2026-11-22', 'queued', '<m@x>', 0, '2026-11-22')",
        "insert into delivery_item (delivery_id, paper_id, rank, score, matched, section, "
        "trending) values (1, 'p1', 1, 1.0, '[\"rlhf\"]', 'main', 0)",
    )
    store = Store(url)
    [(_, old)] = store.deliveries.contents([1])[1].items
    assert (old.matched, list(old.related)) == (["rlhf"], [])
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    other = store.subscribers.add(new_subscriber(email="b@example.org", keywords="x", now=now))
    item = ItemRow("p1", 0.5, ["x"], related=["long context", "kv cache"])
    store.deliveries.plan([NewDelivery(other.id or 0, "2026-11-22", "<n@x>", [item], now)], now)
    [new_id] = [d.id for d in store.deliveries.listed() if d.subscriber_id == other.id]
    [(_, new)] = store.deliveries.contents([new_id or 0])[new_id or 0].items
    assert (new.matched, list(new.related)) == (["x"], ["long context", "kv cache"])


def test_bulk_inserted_papers_read_back_exactly(tmp_path: Path) -> None:
    from datetime import date, timedelta, timezone

    store = store_at(tmp_path)
    moment = datetime(2026, 11, 22, 8, 30, 1, 123456, tzinfo=timezone(timedelta(hours=2)))
    record = PaperRecord(
        title="Round Trip",
        abstract="ä" * 50,
        authors=["A", "B"],
        published=date(2024, 1, 2),
        categories=["cs.LG"],
        upvotes=3,
    )
    store_records(store, [record], "x", moment)
    [paper] = store.papers.newest()
    assert paper.first_seen_at == moment and paper.first_seen_at.tzinfo is not None
    assert (paper.published, paper.authors, paper.categories, paper.abstract) == (
        date(2024, 1, 2),
        ["A", "B"],
        ["cs.LG"],
        "ä" * 50,
    )
    assert store.papers.newest(since=moment)[0].id == paper.id
    assert store.papers.newest(since=moment + timedelta(microseconds=1)) == []


def test_bulk_inserts_of_several_statements_keep_every_row_and_value(tmp_path: Path) -> None:
    """On SQLite rows go in INSERT_CHUNK a statement, and the rest one by one."""
    from datetime import date

    from digest.store.engine import INSERT_CHUNK

    store = store_at(tmp_path)
    count = 2 * INSERT_CHUNK + 7
    records = [
        PaperRecord(
            title=f"Paper number {i}",
            abstract=f"abstract {i} " * 6,
            authors=[f"Author {i}", "Ä"],
            published=date(2024, 1, 1 + i % 28),
            categories=[f"cs.{i}"],
            upvotes=i,
        )
        for i in range(count)
    ]
    assert store_records(store, records, "x", NOW).new == count
    found = {p.title: p for p in store.papers.newest(limit=count + 1)}
    assert len(found) == count
    for i, record in enumerate(records):
        paper = found[record.title]
        assert (paper.abstract, paper.authors, paper.published) == (
            record.abstract,
            record.authors,
            record.published,
        )
        assert (paper.categories, paper.upvotes) == (record.categories, i)


def test_title_then_arxiv_id_in_one_batch_is_one_paper_with_both_sightings(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    result = store_records(
        store,
        [
            PaperRecord(title="Sparse Attention", abstract="a" * 60),
            PaperRecord(title="sparse attention!", arxiv_id="2605.00001v2", upvotes=4),
        ],
        "x",
        NOW,
    )
    assert (result.new, result.known) == (1, 1)
    [paper] = store.papers.newest()
    assert (paper.id, paper.upvotes, paper.abstract) == ("arxiv:2605.00001", 4, "a" * 60)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("select paper_id from sighting").fetchall()
    assert rows == [("arxiv:2605.00001",), ("arxiv:2605.00001",)]


def test_a_read_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """Reads begin a plain (deferred) transaction: under WAL they never queue behind the write
    lock that every write transaction takes up front."""
    store = Store(f"sqlite:///{tmp_path / 'd.sqlite'}")
    writer = sqlite3.connect(tmp_path / "d.sqlite", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process is writing
    read_while_locked: list[int] = []
    reader = threading.Thread(target=lambda: read_while_locked.append(store.papers.count()))
    reader.start()
    reader.join(timeout=5)  # a read that waited would still be blocked (busy timeout 10 s)
    finished_under_the_lock = not reader.is_alive() and writer.in_transaction
    writer.execute("ROLLBACK")
    reader.join()
    assert finished_under_the_lock and read_while_locked == [0]


def test_one_merge_rule_within_a_listing_and_across_listings(tmp_path: Path) -> None:
    """Two sightings of one paper give the same row whether they came in one listing or in
    two: the longer abstract, the first url, the union of categories, the latest upvotes."""
    first = PaperRecord(
        title="Sparse Attention",
        abstract="short",
        url="https://a",
        categories=["cs.LG"],
        upvotes=9,
    )
    second = PaperRecord(
        title="Sparse attention",
        abstract="a much longer abstract",
        url="https://b",
        categories=["cs.CL"],
        upvotes=4,
    )
    together = Store(f"sqlite:///{tmp_path / 'one.sqlite'}")
    store_records(together, [first, second], "s", NOW)
    apart = Store(f"sqlite:///{tmp_path / 'two.sqlite'}")
    store_records(apart, [first], "s", NOW)
    store_records(apart, [second], "s", NOW)

    def row(store: Store) -> tuple[object, ...]:
        [paper] = store.papers.newest()
        return paper.title, paper.abstract, paper.url, paper.categories, paper.upvotes

    assert (
        row(together)
        == row(apart)
        == ("Sparse Attention", "a much longer abstract", "https://a", ["cs.CL", "cs.LG"], 4)
    )


def test_a_title_run_into_its_abstract_is_a_bad_record_and_never_replaces_a_title(
    tmp_path: Path,
) -> None:
    """The longer title wins a merge, so a listing that ran an abstract into a known paper's
    title would rename it: such a record is counted bad and stored nowhere."""
    from digest.ingest import ingest_listing
    from digest.ingest.listings import LONGEST_TITLE
    from digest.sources.base import Listing

    good = PaperRecord(title="Sparse Attention", abstract="words", arxiv_id="2605.00001")
    store = store_at(tmp_path)
    store_records(store, [good], "s", NOW)
    glued = good.model_copy(update={"title": "Sparse Attention " + "We show that " * 100})
    assert len(glued.title) > LONGEST_TITLE
    other = PaperRecord(title="Another Paper", abstract="more words")
    report = ingest_listing(store, Listing(source="l", records=[glued, other]), "l", NOW)
    assert (report.new, report.known, report.bad) == (1, 0, 1)
    assert sorted(p.title for p in store.papers.newest()) == ["Another Paper", "Sparse Attention"]


def test_hf_and_arxiv_sightings_keep_the_hf_page_and_the_arxiv_date_in_either_order(
    tmp_path: Path,
) -> None:
    """Hugging Face lists a paper a day after arXiv announced it: the paper keeps HF's page
    (its links name the arXiv one) and arXiv's date, whichever listing came first."""
    from datetime import date

    arxiv = PaperRecord(
        title="Sparse Attention",
        arxiv_id="2501.00001",
        url="https://arxiv.org/abs/2501.00001",
        listing_date=date(2025, 1, 2),
    )
    hf = PaperRecord(
        title="Sparse Attention",
        arxiv_id="2501.00001",
        url="https://huggingface.co/papers/2501.00001",
        listing_date=date(2025, 1, 3),
        ai_summary="A summary.",
    )
    rows = []
    for name, order in (("a", [arxiv, hf]), ("b", [hf, arxiv])):
        store = Store(f"sqlite:///{tmp_path / name}.sqlite")
        for record in order:
            store_records(store, [record], "s", NOW)
        [paper] = store.papers.newest()
        rows.append((paper.url, paper.listing_date, paper.ai_summary))
    together = Store(f"sqlite:///{tmp_path / 'c.sqlite'}")
    store_records(together, [hf, arxiv], "s", NOW)
    [paper] = together.papers.newest()
    rows.append((paper.url, paper.listing_date, paper.ai_summary))
    assert (
        rows == [("https://huggingface.co/papers/2501.00001", date(2025, 1, 2), "A summary.")] * 3
    )


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


def test_schema_head_is_alembics_head() -> None:
    """Opening a current database skips Alembic by comparing with SCHEMA_HEAD: keep it true."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from digest.store.engine import MIGRATIONS
    from digest.vocabulary import SCHEMA_HEAD

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


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


def test_a_new_database_file_is_readable_by_its_owner_alone(tmp_path: Path) -> None:
    """It holds every subscriber's address; a file that exists keeps its mode."""
    store = Store(f"sqlite:///{tmp_path / 'new' / 'digest.sqlite'}")
    assert store.subscribers.counts() == {}
    store.close()
    made = tmp_path / "new" / "digest.sqlite"
    assert made.stat().st_mode & 0o777 == 0o600
    shared = tmp_path / "shared.sqlite"
    Store(f"sqlite:///{shared}").close()
    shared.chmod(0o640)  # the operator's choice, for a group that reads it
    Store(f"sqlite:///{shared}").close()
    assert shared.stat().st_mode & 0o777 == 0o640
