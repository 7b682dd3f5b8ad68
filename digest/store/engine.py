"""Engine, SQLite pragmas, migrations and transactions: what every query builds on."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Date,
    DateTime,
    Engine,
    Table,
    TypeDecorator,
    bindparam,
    event,
    insert,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.types import TypeEngine
from sqlmodel import Session, create_engine

from digest.errors import StoreError
from digest.safe_text import without_password
from digest.store.glance import as_utc as as_utc  # stdlib only, so that stats can use it
from digest.vocabulary import SCHEMA_HEAD

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "digest_read_only"  # execution option: this transaction only reads
PLANNING_CACHE_KB = 65_536  # SQLite page cache of a connection that stores planned digests
# WAL pages between checkpoints (SQLite's default: 1,000, 4 MB). Each checkpoint syncs the
# database file: in bulk writes (a fetch of many listings, planning 100,000 digests, the
# outbox's outcomes) one every 4 MB was a third of the time spent storing papers
CHECKPOINT_PAGES = 10_000


def create_private(path: Path) -> None:
    """Create `path` as a new, empty file for its owner alone (mode 0600); FileExistsError
    when a file or a link is already there: a database or a backup holds every address."""
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def make_engine(url: str) -> Engine:
    """An engine with SQLite made safe for concurrent use: WAL, busy timeout, BEGIN IMMEDIATE."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # a new database holds every subscriber's address: readable by its owner alone
        # (SQLite gives its -wal and -shm files the same mode)
        with suppress(FileExistsError):
            create_private(Path(path))
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads then writes fails at once under WAL; taking the
        # write lock up front makes concurrent writers wait instead. A pure read needs no
        # lock at all: under WAL it sees the last commit and never waits for a writer.
        # Sent to the driver itself: through SQLAlchemy's statement execution BEGIN cost
        # four times as much, and the outbox begins a transaction every few messages.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        with as_sqlalchemy_error(begin):
            conn.connection.driver_connection.execute(begin)

    return engine


@contextmanager
def as_sqlalchemy_error(statement: str) -> Iterator[None]:
    """SQLite's driver errors raised as SQLAlchemy would have ("database is locked"), for
    statements sent to the driver itself."""
    try:
        yield
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def keep_pages(conn: Connection, kilobytes: int) -> None:
    """Let this SQLite connection cache up to `kilobytes` of pages (SQLite's default: 2 MB)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA cache_size=-{int(kilobytes)}")


def schema_version(engine: Engine) -> str | None:
    """The database's Alembic revision (None: a new database, or one without the table)."""
    try:
        with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except SQLAlchemyError:
        return None


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision, keeping existing data; a database
    already there is left alone without loading Alembic (it costs a tenth of a second)."""
    if schema_version(engine) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError:  # not reached, or refused: open_engine says so
        raise
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
        check = (
            "that PostgreSQL runs there and takes this user and database"
            if url.startswith("postgresql")
            else "that its directory is writable"
        )
        raise StoreError(
            f"cannot open the database {without_password(url)}: {driver_line(exc)} "
            f"(check DIGEST_DATABASE_URL and {check})"
        ) from exc


def database_error(exc: OperationalError) -> StoreError:
    """What stopped a statement, in one line that says what to do: the database locked by
    another writer past the busy timeout, gone, or out of disk."""
    detail = driver_line(exc)
    if "locked" in detail:
        return StoreError(
            f"the database stayed locked for {BUSY_TIMEOUT_MS / 1000:g} s by another process "
            "writing to it (another digest command, `digest serve`, a backup, an sqlite3 "
            "shell): try again when it is done"
        )
    return StoreError(
        f"the database could not be used: {detail} (check DIGEST_DATABASE_URL, that the "
        "database is running and that its disk has room)"
    )


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


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def driver_line(exc: BaseException) -> str:
    """The first line of what the database driver said, not SQLAlchemy's wrapping of it."""
    return first_line(getattr(exc, "orig", None) or exc)


@lru_cache(maxsize=4096)  # planning stores the same few send times for 100,000s of rows
def sqlite_datetime(value: datetime | None) -> str | None:
    """A datetime as SQLAlchemy stores it in SQLite (naive UTC text, microseconds)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _sqlite_json(value: Any) -> str | None:
    if type(value) is list or type(value) is tuple:
        try:
            return _json_of_list(tuple(value))
        except TypeError:  # holds something unhashable: not worth caching
            pass
    return None if value is None else json.dumps(value)


@lru_cache(maxsize=8192)  # the same few keyword lists recur in every batch of planned items
def _json_of_list(values: tuple[Any, ...]) -> str:
    return json.dumps(list(values))


def _sqlite_converter(column_type: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """How SQLAlchemy would store a value of this type in SQLite (None: as it is)."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, JSON):
        return _sqlite_json
    if isinstance(column_type, DateTime):
        return sqlite_datetime
    if isinstance(column_type, Date):
        return _sqlite_date
    return None


def _sqlite_rows(
    table: Table, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """The rows (tuples in the order of `names`) as SQLite stores them: only the columns whose
    type needs it are converted."""
    converters = [(i, f) for i, n in enumerate(names) if (f := _sqlite_converter(table.c[n].type))]
    if not converters:
        return rows
    converted = []
    for row in rows:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i])
        converted.append(tuple(values))
    return converted


INSERT_CHUNK = 100  # rows per multi-row INSERT of bulk_insert_rows on SQLite
RETURNING_CHUNK = 500  # rows per multi-row INSERT ... RETURNING (SQLite allows 32,766 values)


def _insert_sql(table: Table, names: Sequence[str], rows: int, returning: str = "") -> str:
    """`INSERT INTO table (names) VALUES` with `rows` rows of ? marks, then `returning`."""
    marks = "(" + ", ".join("?" * len(names)) + ")"
    values = ", ".join([marks] * rows)
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES {values}{returning}"


def _flat(rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The values of several rows, one after the other (the parameters of a multi-row INSERT)."""
    return tuple(chain.from_iterable(rows))


def bulk_insert_rows(
    conn: Connection, table: Table, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert many rows given as tuples in the order of `names`; on SQLite straight through
    the driver (SQLAlchemy's per-value type processing costs more than the insert itself),
    INSERT_CHUNK rows a statement, converting only the columns whose type needs it;
    elsewhere through SQLAlchemy Core."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])
        return
    stored = _sqlite_rows(table, names, rows)
    # whole chunks as multi-row statements (a third less time a row than one row a step,
    # measured on delivery items), the rest one row a step
    whole = len(stored) - len(stored) % INSERT_CHUNK
    if whole:
        chunks = [
            _flat(stored[start : start + INSERT_CHUNK]) for start in range(0, whole, INSERT_CHUNK)
        ]
        conn.exec_driver_sql(_insert_sql(table, names, INSERT_CHUNK), chunks)
    if whole < len(stored):
        conn.exec_driver_sql(_insert_sql(table, names, 1), stored[whole:])


def bulk_insert_ids(
    conn: Connection, table: Table, names: Sequence[str], rows: list[tuple[Any, ...]], key: int
) -> list[int]:
    """Insert rows given as tuples in the order of `names`; their new ids, in row order.
    `names[:key]` is a unique key of the table: on SQLite the rows go through the driver in
    multi-row INSERT ... RETURNING statements, whose rows come back in no promised order and
    are matched to theirs by that key (SQLAlchemy inserts one row per statement there to keep
    the order); elsewhere through SQLAlchemy Core."""
    if not rows:
        return []
    if conn.dialect.name != "sqlite":
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        result = conn.execute(statement, [dict(zip(names, row, strict=True)) for row in rows])
        return [row[0] for row in result]
    stored = _sqlite_rows(table, names, rows)
    returning = f" RETURNING id, {', '.join(names)}"
    found: dict[tuple[Any, ...], int] = {}
    for start in range(0, len(stored), RETURNING_CHUNK):
        chunk = stored[start : start + RETURNING_CHUNK]
        sql = _insert_sql(table, names, len(chunk), returning)
        for returned in conn.exec_driver_sql(sql, _flat(chunk)):
            found[tuple(returned[1 : 1 + key])] = returned[0]
    return [found[tuple(row[:key])] for row in stored]


def bulk_update_rows(
    conn: Connection, table: Table, key: str, names: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Set columns `names` of many rows, each tuple being (key value, *values); on SQLite
    straight through the driver, elsewhere through SQLAlchemy Core."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        statement = (
            update(table)
            .where(table.c[key] == bindparam("_key"))
            .values({n: bindparam(f"_{n}") for n in names})
        )
        conn.execute(
            statement,
            [
                {"_key": row[0], **{f"_{n}": v for n, v in zip(names, row[1:], strict=True)}}
                for row in rows
            ],
        )
        return
    sql = f"UPDATE {table.name} SET {', '.join(f'{n} = ?' for n in names)} WHERE {key} = ?"
    converted = _sqlite_rows(table, [key, *names], rows)
    conn.exec_driver_sql(sql, [(*row[1:], row[0]) for row in converted])


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows given as dicts with the same keys (see bulk_insert_rows)."""
    if rows:
        names = list(rows[0])
        bulk_insert_rows(conn, table, names, [tuple(row[n] for n in names) for row in rows])
