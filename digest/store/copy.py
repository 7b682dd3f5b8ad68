"""Copying a whole database into another, empty one: moving from SQLite to PostgreSQL (or
back) keeps everything the service knows; and a backup of a SQLite file while it is in use.

Subscribers alone (`subscribers export` / `import`) would leave behind the suppression list
(addresses that complained or bounced would be mailed again), the votes, the history of
papers (the first digests from the new database would send papers already sent) and the
outbox. Every table is copied in one transaction on the target, parents before children,
ids kept; on PostgreSQL the id sequences then continue after the copied ids.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from itertools import islice
from pathlib import Path

from sqlalchemy import Connection, Integer, Table, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from digest import models as _models  # noqa: F401  (registers every table)
from digest.errors import StoreError
from digest.store.core import Store
from digest.store.engine import create_private, first_line

BATCH = 2_000  # rows read and written at a time: memory stays flat however large the table


def tables() -> list[Table]:
    """Every table of the service, each after the tables it refers to."""
    return list(SQLModel.metadata.sorted_tables)


def copy_database(
    source: Store, target: Store, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every row of `source` into `target`, which must hold none; rows copied per table.
    StoreError when the target is not empty or a write fails (then nothing is copied)."""
    if _same_database(source, target):
        raise StoreError("the source and the target are the same database: name another")
    counts: dict[str, int] = {}
    try:
        with source.engine.connect() as reading, target.engine.begin() as writing:
            _check_empty(writing)
            for table in tables():
                counts[table.name] = _copy_table(reading, writing, table)
                if progress is not None:
                    progress(table.name, counts[table.name])
            if writing.dialect.name == "postgresql":
                _continue_sequences(writing)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"the copy failed and was undone: {exc.__class__.__name__}: {first_line(exc)}"
        ) from exc
    return counts


def backup_sqlite(database: Path, target: Path) -> int:
    """A consistent, compact copy of a SQLite database at `target` (a new file), taken with
    VACUUM INTO while the service may be writing; the copy's size in bytes. StoreError
    says what stops it; a copy that fails or breaks off leaves no file behind."""
    if not database.is_file():
        raise StoreError(f"no database at {database}: nothing to back up")
    if target.is_dir():
        example = target / f"{database.stem}-backup{database.suffix}"
        raise StoreError(f"{target} is a directory: name a new file in it, e.g. {example}")
    if target.exists() or target.is_symlink():
        raise StoreError(f"{target} exists: name a new file (a backup never overwrites one)")
    if not target.parent.is_dir():
        raise StoreError(f"no directory {target.parent}: create it first")
    partial = target.with_name(f".{target.name}.partial")
    try:
        # made here, new (never through a link someone left there) and for the owner alone:
        # a backup holds every subscriber's address
        create_private(partial)
    except FileExistsError:
        raise StoreError(
            f"{partial} exists (a backup running, or one cut off): remove it"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot write in {target.parent}: {exc.strerror or exc}") from None
    try:
        with closing(sqlite3.connect(database)) as source:
            # one read transaction, so one moment's state; written compactly, without the
            # pages that removed rows left free (a pruned year of papers, hundreds of MB)
            source.execute("VACUUM INTO ?", (str(partial),))
        with open(partial, "rb+") as written:
            os.fsync(written.fileno())  # VACUUM INTO leaves that to its caller
        with closing(sqlite3.connect(partial)) as copy:
            (check,) = copy.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise StoreError(f"the copy of {database} does not check out ({check}): try again")
        if target.exists():
            raise StoreError(f"{target} appeared meanwhile: name a new file")
        partial.rename(target)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"the backup of {database} failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size


def _same_database(source: Store, target: Store) -> bool:
    one, other = source.engine.url, target.engine.url
    if one.get_backend_name() == other.get_backend_name() == "sqlite":
        return Path(one.database or "").resolve() == Path(other.database or "").resolve()
    return one.set(password=None) == other.set(password=None)


def _check_empty(conn: Connection) -> None:
    for table in tables():
        held = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if held:
            raise StoreError(
                f"the target database already holds {held} rows of {table.name}: "
                "copy only into an empty database (a new one, or one made by `digest` and "
                "never used)"
            )


def _copy_table(reading: Connection, writing: Connection, table: Table) -> int:
    order = list(table.primary_key.columns)
    rows = reading.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
    copied = 0
    while batch := [row._asdict() for row in islice(rows, BATCH)]:
        writing.execute(insert(table), batch)
        copied += len(batch)
    return copied


def _continue_sequences(conn: Connection) -> None:
    """Each serial id's sequence set past the copied ids (explicit ids leave it at 1)."""
    for table in tables():
        ids = [c for c in table.primary_key.columns if isinstance(c.type, Integer)]
        if len(table.primary_key.columns) != 1 or not ids or ids[0].foreign_keys:
            continue
        name, column = table.name, ids[0].name
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('\"{name}\"', '{column}'), "
                f'COALESCE(MAX("{column}"), 1), MAX("{column}") IS NOT NULL) FROM "{name}"'
            )
        )
