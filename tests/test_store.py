"""The store on a real SQLite file: pragmas, locks and concurrency, migrations and upgrades
from older schemas, the file's mode."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from digest.ingest import store_records
from digest.sources.base import PaperRecord
from digest.store import Store

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


def test_schema_head_is_alembics_head() -> None:
    """Opening a current database skips Alembic by comparing with SCHEMA_HEAD: keep it true."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from digest.store.engine import MIGRATIONS
    from digest.vocabulary import SCHEMA_HEAD

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD


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
