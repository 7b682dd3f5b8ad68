"""Shared fixtures: an isolated project directory, the CLI in-process, a real SMTP server."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import event

from digest.cli.main import main
from digest.store import Store

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TEST_KEY = "test-secret-key-that-is-long-enough-for-hmac"

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
# expected rankings and golden files are the lexical ranker's, even with the semantic extra
# installed; tests of the semantic layer pass their embedder explicitly
os.environ["DIGEST_SEMANTIC"] = "off"


@functools.cache
def _chromium() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


@functools.cache
def _postgres() -> bool:
    import psycopg

    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


# marker -> (is it here?, what to install when it is not)
NEEDS = {
    "browser": (_chromium, "needs headless Chromium: apt-get install chromium chromium-driver"),
    "postgres": (_postgres, "needs PostgreSQL on 127.0.0.1:5432 (trust auth, database test)"),
}


def pytest_configure(config: pytest.Config) -> None:
    for name, (_, hint) in NEEDS.items():
        config.addinivalue_line("markers", f"{name}: {hint}")
    config.addinivalue_line("markers", "slow: runs real processes for seconds (-m 'not slow')")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test whose service is missing skips with one line, except in CI (CI=true) where
    every test must run: there a missing service is a failure."""
    for name, (available, hint) in NEEDS.items():
        if item.get_closest_marker(name) and not available():
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(f"CI=true but this test {hint}", pytrace=False)
            pytest.skip(hint)


# The paper that the HF and arXiv fixtures share (tests/fixtures/sources/).
SHARED_PAPER: dict[str, Any] = {
    "title": "Capacity-Aware Routing for Sparse Mixture-of-Experts",
    "abstract": (
        "Sparse mixture-of-experts (MoE) models route each token to a few experts, "
        "but fixed capacity factors either drop tokens or waste compute. We learn a "
        "per-layer capacity budget jointly with the router and show that it cuts "
        "dropped tokens by 41% at equal FLOPs."
    ),
    "arxiv_id": "2605.05242",
    "authors": ["Maya Okonkwo", "Tomás Herrera", "Lina Vogt"],
    "author_count": 3,
}


def load_source(name: str) -> bytes:
    """The bytes of a source fixture in tests/fixtures/sources/."""
    return (FIXTURES / "sources" / name).read_bytes()


@dataclass
class Result:
    """What one CLI invocation printed and returned."""

    code: int
    out: str
    err: str


@dataclass
class Project:
    """A throw-away project directory with its own config, seeds, database and Maildir."""

    root: Path
    capsys: pytest.CaptureFixture[str]

    @property
    def db(self) -> Path:
        return self.root / "var" / "digest.sqlite"

    @property
    def maildir(self) -> Path:
        return self.root / "var" / "mail"

    def cli(self, *args: str) -> Result:
        """Run `digest ARGS` in-process and capture what it printed."""
        self.capsys.readouterr()
        old = sys.argv
        sys.argv = ["digest", *args]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = old
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str) -> Result:
        """Run the CLI and insist it succeeded."""
        result = self.cli(*args)
        assert result.code == 0, f"digest {' '.join(args)} failed: {result.err}{result.out}"
        return result

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query against the project's database."""
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql).fetchall()

    def mails(self) -> list[EmailMessage]:
        """Every message in the project's Maildir, oldest first (by when the file was written:
        Maildir names do not sort by time within one second)."""
        paths = [p for folder in ("new", "cur") for p in (self.maildir / folder).glob("*")]
        paths.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in paths]


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Project:
    """A project in tmp_path whose config points at a copy of the bundled seeds."""
    shutil.copytree(SEEDS, tmp_path / "seeds")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "digest.toml").write_text(
        'database_url = "sqlite:///var/digest.sqlite"\n'
        'transport = "maildir"\nmaildir = "var/mail"\n'
        'base_url = "https://digest.example.org"\n'
        '[[sources]]\nname = "seeds"\nkind = "text"\nurl = "seeds"\n'
    )
    for name in list(__import__("os").environ):
        if name.startswith("DIGEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_SECRET_KEY", TEST_KEY)
    monkeypatch.setenv("DIGEST_SEMANTIC", "off")
    Store(f"sqlite:///{tmp_path / 'var' / 'digest.sqlite'}").close()  # set up, as after a first run
    return Project(tmp_path, capsys)


@dataclass
class Inbox:
    """Messages a test SMTP server accepted."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # the bytes as received, for signatures

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.raw.append(envelope.original_content or envelope.content)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for _, rcpts, m in self.messages if address in rcpts]


def query_plan(store: Store, action: Callable[[], object], explain: str) -> str:
    """How the database runs the first SELECT of `action`: captured as it runs, then shown by
    `explain` ("EXPLAIN", "EXPLAIN QUERY PLAN"), one line per step."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and not captured:
            captured.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        action()
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    [(statement, parameters), *_] = captured
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"{explain} {statement}", parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def claim_plan(store: Store, now: datetime, explain: str) -> str:
    """How the database reads a claim's queued deliveries (its first query)."""
    return query_plan(
        store, lambda: store.deliveries.claim(now, 50, "explainer", timedelta(minutes=10)), explain
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_sink(handler: Any, port: int | None = None, **options: Any) -> Iterator[int]:
    """A real aiosmtpd server on 127.0.0.1 (port: free, or this one) running `handler`."""
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real aiosmtpd server on 127.0.0.1 that keeps every message it accepts."""
    inbox = Inbox()
    with smtp_sink(inbox) as port:
        yield inbox, port


@pytest.fixture
def server() -> Iterator[Any]:
    """An SMTP server that misbehaves as each test scripts it (tests/smtp_faults.py)."""
    from smtp_faults import FaultServer  # it imports this module

    fault = FaultServer().start()
    try:
        yield fault
    finally:
        fault.stop()


@pytest.fixture
def web(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The web app of `project`, served by uvicorn on 127.0.0.1; the CLI links to it too."""
    from web_server import serve

    port = free_port()
    monkeypatch.setenv("DIGEST_BASE_URL", f"http://127.0.0.1:{port}")
    with serve(port) as server:
        yield server


@pytest.fixture
def client(web: Any) -> Iterator[httpx.Client]:
    """An HTTP client for the web app of `project`."""
    with httpx.Client(base_url=web.url, timeout=10) as c:
        yield c


def named_pipe(path: Path) -> Path:
    """A named pipe at `path` that nobody writes to. Should the code under test open it to
    read (the bug such a test looks for), a writer turns up within seconds and closes it, so
    the read ends and the test fails instead of hanging the run."""
    os.mkfifo(path)

    def end_a_reader() -> None:
        for _ in range(100):
            time.sleep(0.1)
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # only with a reader
                return
            except OSError:
                continue  # nobody reads it: as it should be

    threading.Thread(target=end_a_reader, daemon=True).start()
    return path
