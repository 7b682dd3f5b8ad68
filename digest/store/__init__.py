"""The one owner of storage: engine, sessions, migrations and every query.

A Store holds one query object per kind of data over one engine (`store.papers`,
`store.subscribers`, `store.deliveries`, `store.archive`, `store.votes`, `store.suppression`,
`store.state`, `store.vectors`); nothing outside this package writes SQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digest.store.core import Store, UpsertResult, make_engine, migrate

__all__ = ["Store", "UpsertResult", "make_engine", "migrate"]


def __getattr__(name: str) -> Any:
    # loaded on first use: `digest stats` reads SQLite through store.glance without SQLAlchemy
    if name in __all__:
        from digest.store import core

        return getattr(core, name)
    raise AttributeError(f"module 'digest.store' has no attribute {name!r}")
