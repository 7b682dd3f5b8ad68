"""`digest copy-to` and `digest backup`: everything moved or copied whole, the moved service
sends nothing twice, a backup made while a writer holds the database."""

from __future__ import annotations

import os
import sqlite3

import pytest
from conftest import Project
from service_rows import every_row, used_service

from digest.store import Store

NOW = "2026-11-22T12:00:00+00:00"


def add(project: Project, email: str, keywords: str = "kv cache, quantization") -> None:
    project.ok("subscribers", "add", email, "--keywords", keywords, "--send-at", "06:00")


def test_copy_to_moves_everything_and_the_moved_service_sends_nothing_twice(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    used_service(project)
    source, target = f"sqlite:///{project.db}", f"sqlite:///{project.root / 'moved.sqlite'}"
    copied = project.ok("copy-to", target)
    assert copied.out.startswith("copied ") and "1 subscriber row, 2 vote rows" in copied.out
    before = every_row(source)
    assert all(before[t] for t in ("paper", "subscriber", "vote", "suppression", "delivery"))
    assert every_row(target) == before
    again = project.cli("copy-to", target)
    assert again.code == 1 and "the target database already holds" in again.err
    same = project.cli("copy-to", source)
    assert same.code == 1 and "the same database" in same.err
    mails = len(project.mails())
    monkeypatch.setenv("DIGEST_DATABASE_URL", target)
    project.ok("send", "--now", NOW)
    project.ok("subscribers", "add", "ben@example.org", "--keywords", "moe")
    assert len(project.mails()) == mails  # the digest already sent is not sent again
    with sqlite3.connect(project.root / "moved.sqlite") as moved:
        assert moved.execute("select id, email from subscriber order by id").fetchall() == [
            (1, "ann@example.org"),
            (2, "ben@example.org"),
        ]


def test_backup_copies_the_database_while_a_writer_holds_it(project: Project) -> None:
    """`digest backup` is safe while the service runs: the copy holds what was committed
    (one moment's state), opens as a database of the service, and never overwrites a file."""
    project.ok("fetch", "--now", "2026-11-22T05:00:00+00:00")
    add(project, "alice@example.org")
    project.ok("send", "--now", NOW)
    writer = sqlite3.connect(project.db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the service in the middle of a write
    writer.execute("DELETE FROM paper")
    target = project.root / "backups" / "digest.sqlite"
    target.parent.mkdir()
    out = project.ok("backup", str(target)).out
    writer.execute("ROLLBACK")
    writer.close()
    assert out.startswith("backed up ") and f"digest.sqlite to {target} (" in out
    assert os.listdir(target.parent) == ["digest.sqlite"]  # no partial file left
    assert target.stat().st_mode & 0o777 == 0o600  # every address: for the owner alone
    made = target.stat().st_mtime_ns
    with sqlite3.connect(target) as copy:
        papers = copy.execute("SELECT count(*) FROM paper").fetchone()[0]
        assert papers == project.query("SELECT count(*) FROM paper")[0][0] > 0
    again = project.cli("backup", str(target))
    assert again.code == 1 and "exists: name a new file" in again.err
    folder = project.cli("backup", str(target.parent))  # a directory (or "", read as ".")
    suggested = target.parent / f"{project.db.stem}-backup.sqlite"
    assert (
        folder.code == 1
        and f"is a directory: name a new file in it, e.g. {suggested}" in folder.err
    )
    missing = project.cli("backup", str(project.root / "nowhere" / "b.sqlite"))
    assert missing.code == 1 and "no directory" in missing.err
    planted = target.parent / ".other.sqlite.partial"
    planted.symlink_to(project.root / "elsewhere.sqlite")  # a link left where the copy is made
    refused = project.cli("backup", str(target.parent / "other.sqlite"))
    assert refused.code == 1 and "exists" in refused.err
    assert not (project.root / "elsewhere.sqlite").exists()
    planted.unlink()
    assert target.stat().st_mtime_ns == made  # untouched by the refusals

    store = Store(f"sqlite:///{target}")  # a database of the service, at its schema
    assert [s.email for s in store.subscribers.listed()] == ["alice@example.org"]
    assert store.deliveries.counts() == {"sent": 1}
    store.close()


def test_a_backup_leaves_out_the_space_removed_rows_left_free(project: Project) -> None:
    """A pruned year of papers leaves its pages free in the file: stats says so, and a backup
    is written without them (VACUUM INTO), still a whole database of the service."""
    project.ok("fetch", "--now", "2026-11-22T05:00:00+00:00")
    add(project, "alice@example.org")
    with sqlite3.connect(project.db) as db:  # rows written, then removed: pages left free
        db.execute("CREATE TABLE pruned (x BLOB)")
        db.executemany("INSERT INTO pruned VALUES (?)", [(b"x" * 4000,) for _ in range(1000)])
    with sqlite3.connect(project.db) as db:
        db.execute("DROP TABLE pruned")
    assert "of it free, reused by new rows; a `digest backup` copy leaves it out" in (
        project.ok("stats").out
    )
    target = project.root / "compact.sqlite"
    project.ok("backup", str(target))
    assert target.stat().st_size < project.db.stat().st_size - 3_000_000
    store = Store(f"sqlite:///{target}")
    assert [s.email for s in store.subscribers.listed()] == ["alice@example.org"]
    assert len(store.papers.newest()) == project.query("SELECT count(*) FROM paper")[0][0] > 0
    store.close()


def test_backup_of_postgresql_points_to_pg_dump(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", "postgresql+psycopg://digest@db.example.org/digest")
    result = project.cli("backup", str(project.root / "b.sqlite"))
    assert result.code == 1 and "pg_dump" in result.err
    assert not (project.root / "b.sqlite").exists()
