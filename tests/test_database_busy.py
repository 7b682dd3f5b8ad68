"""The database locked by another writer past the busy timeout (a long backup, an sqlite3
shell left in a transaction): every edge says so in one line, and nothing is half done."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from conftest import Project
from web_forms import FORM, csrf_of

LOCK_MS = 300  # the busy timeout in these tests: the service's own is 10 s


@pytest.fixture
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections made from now on wait LOCK_MS for a lock (listed before `client`, so
    that the web app's connections are made after it)."""
    monkeypatch.setattr("digest.store.engine.BUSY_TIMEOUT_MS", LOCK_MS)


class Holder:
    """Another process's write transaction on the project's database, begun and ended."""

    def __init__(self, project: Project) -> None:
        self.conn = sqlite3.connect(project.db, isolation_level=None)

    def __enter__(self) -> Holder:
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *_: object) -> None:
        self.conn.execute("ROLLBACK")


@pytest.fixture
def holder(project: Project, short_wait: None) -> Iterator[Holder]:
    project.ok("stats")  # the database made and migrated
    held = Holder(project)
    yield held
    held.conn.close()


@pytest.mark.parametrize(
    ("args", "table"),
    [
        (["subscribers", "add", "ann@example.org", "--keywords", "kv cache"], "subscriber"),
        (["fetch"], "paper"),  # not "reading a listing failed on a bug", with its traceback
    ],
)
def test_a_command_on_a_locked_database_is_one_line_and_stores_nothing(
    project: Project, holder: Holder, caplog: pytest.LogCaptureFixture, args: list[str], table: str
) -> None:
    with holder:
        failed = project.cli(*args)
    assert failed.code == 1 and failed.out == ""
    assert failed.err == (
        "error: the database stayed locked for 0.3 s by another process writing to it (another "
        "digest command, `digest serve`, a backup, an sqlite3 shell): try again when it is done\n"
    )
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert project.query(f"select count(*) from {table}") == [(0,)]
    project.ok(*args)  # the lock gone, the same command works


def test_a_scheduler_job_on_a_locked_database_logs_one_line_and_the_next_tick_works(
    project: Project, holder: Holder, caplog: pytest.LogCaptureFixture
) -> None:
    from digest.config import load_settings
    from digest.scheduler import Runner
    from digest.wiring import Services

    project.ok("subscribers", "add", "ann@example.org", "--keywords", "kv cache")
    services = Services(load_settings())
    runner = Runner(services, clock=lambda: datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
    [source] = services.settings.sources
    locked = (
        "failed: the database stayed locked for 0.3 s by another process writing to it "
        "(another digest command, `digest serve`, a backup, an sqlite3 shell): try again when "
        "it is done"
    )
    try:
        with holder, caplog.at_level(logging.INFO):
            runner.fetch(source)  # each raises nothing: the scheduler's thread goes on
            runner.dispatch()
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [f"fetching {source.name} {locked}", f"dispatch {locked}"]
        assert project.query("select count(*) from paper") == [(0,)]
        assert project.query("select count(*) from delivery") == [(0,)]
        runner.fetch(source)
        runner.dispatch()
        assert project.query("select status from delivery") == [("sent",)]
    finally:
        services.close()


def test_a_signup_on_a_locked_database_gets_the_busy_page(
    project: Project, short_wait: None, client: httpx.Client
) -> None:
    holder = Holder(project)
    form = {**FORM, "csrf": csrf_of(client.get("/"))}
    with holder:
        busy = client.post("/subscribe", data=form)
    holder.conn.close()
    assert busy.status_code == 503 and busy.headers["retry-after"] == "60"
    assert busy.headers["content-type"].startswith("text/html")
    assert "The service is busy just now: please try again in a minute." in busy.text
    assert "locked" not in busy.text  # the operator's detail stays in the log
    assert project.query("select count(*) from subscriber") == [(0,)]
    assert client.post("/subscribe", data=form).status_code == 200


def test_a_fault_of_ours_gets_the_sites_error_page(
    project: Project, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not Starlette's plain-text "Internal Server Error", and nothing of the fault."""

    def broken(*_: object) -> None:
        raise RuntimeError("secret detail of the fault")

    monkeypatch.setattr("digest.web.routes.signup.subscribe", broken)
    form = {**FORM, "csrf": csrf_of(client.get("/"))}
    failed = client.post("/subscribe", data=form)
    assert failed.status_code == 500 and failed.headers["content-type"].startswith("text/html")
    assert "something went wrong on our side: please try again later" in failed.text
    assert "secret detail" not in failed.text and "Traceback" not in failed.text


def test_a_postgresql_server_that_is_not_there_is_one_line(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It read "cannot migrate the database ...: OperationalError: (psycopg.OperationalError)
    connection failed: ...", whatever the command; now what failed and what to check."""
    from conftest import free_port

    url = f"postgresql://digest:s3cret@127.0.0.1:{free_port()}/test"  # nothing listens
    monkeypatch.setenv("DIGEST_DATABASE_URL", url)
    failed = project.cli("stats")
    assert failed.code == 1 and failed.out == "" and len(failed.err.splitlines()) == 1
    assert failed.err.startswith("error: cannot open the database postgresql://digest:***")
    assert "Connection refused (check DIGEST_DATABASE_URL and that PostgreSQL runs" in failed.err
    assert "s3cret" not in failed.err and "OperationalError" not in failed.err
