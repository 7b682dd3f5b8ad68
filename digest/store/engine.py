"""Engine, SQLite pragmas, migrations and transactions: what every query builds on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, event, insert
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session, create_engine

from digest.errors import StoreError

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "digest_read_only"  # execution option: this transaction only reads


def make_engine(url: str) -> Engine:
    """An engine with SQLite made safe for concurrent use: WAL, busy timeout, BEGIN IMMEDIATE."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads then writes fails at once under WAL; taking the
        # write lock up front makes concurrent writers wait instead. A pure read needs no
        # lock at all: under WAL it sees the last commit and never waits for a writer.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision, keeping existing data."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot migrate the database {engine.url}: {exc.__class__.__name__}: {first_line(exc)}"
        ) from exc


def open_engine(url: str, *, auto_migrate: bool = True) -> Engine:
    """The engine of the database at `url`, migrated to the newest schema unless told not to."""
    try:
        engine = make_engine(url)
        if auto_migrate:
            migrate(engine)
        return engine
    except (OSError, OperationalError) as exc:
        raise StoreError(
            f"cannot open the database {url}: {first_line(exc)} "
            "(check DIGEST_DATABASE_URL and that its directory is writable)"
        ) from exc


class Queries:
    """The queries of one kind of data over a shared engine: transactions to build them on."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = engine.execution_options(**{READ_ONLY: True})

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except Exception:
                session.rollback()
                raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries only: a plain BEGIN on SQLite, never waiting for writers."""
        with Session(self.reader, expire_on_commit=False) as session:
            yield session  # closing returns the connection, which ends the transaction


def as_utc(value: datetime) -> datetime:
    """A datetime read back from the database, made timezone-aware (UTC) if it is naive."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy would store it in SQLite (dates as text, lists as JSON)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows; on SQLite straight through the driver (SQLAlchemy's per-value type
    processing costs more than the insert itself), elsewhere through SQLAlchemy Core."""
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), rows)
        return
    names = list(rows[0])
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
    conn.exec_driver_sql(sql, [tuple(_sqlite_value(row[n]) for n in names) for row in rows])
