"""`digest stats` and `digest copy-to`: how the service is doing, and moving it to another
database."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from digest.cli.common import (
    AppState,
    JsonOpt,
    echo_json,
    now_option,
    parse_now,
    say,
    state,
    when,
)
from digest.errors import ValidationError
from digest.vocabulary import DeliveryStatus, SubscriberStatus, counted

if TYPE_CHECKING:
    from digest.store.glance import Glance


def stats(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    now: Annotated[str | None, now_option] = None,
) -> None:
    """Summarise the service: subscribers and deliveries by status, papers, suppressed
    addresses, the last 30 days' complaint and bounce rates, last fetch and send."""
    data = collect_stats(_glance(state(ctx), parse_now(now)))
    if as_json:
        echo_json(data)
        return
    subs, outbox, fetch = data["subscribers"], data["deliveries"], data["last_fetch"]
    say(f"subscribers: {subs['total']} ({_counts(subs['by_status'])})")
    say(f"deliveries:  {outbox['total']} ({_counts(outbox['by_status'])})")
    say(f"papers:      {data['papers']}")
    suppressed = data["suppressed"]
    if suppressed["total"]:  # addresses nothing goes to, whoever subscribes them
        addresses = counted(suppressed["total"], "address", "addresses")
        say(f"suppressed:  {addresses} ({_counts(suppressed['by_reason'])})")
    recent = data["last_30_days"]
    if recent["sent"] or recent["failed"]:
        say(_rates(recent))
    if fetch["at"] is None:
        say("last fetch:  never (run `digest fetch`)")
    else:
        say(
            f"last fetch:  {when(fetch['at'])} ({fetch['sources']} listings, "
            f"{fetch['failed']} failed last time)"
        )
    say(f"last dispatch: {when(data['last_dispatch'], 'never (run `digest send`)')}")
    if data["first_dispatch"] is not None:
        say(
            f"oldest digest: {when(data['first_dispatch'])} (`digest deliveries prune` removes old "
            "ones; the setting keep_days does it daily in `digest serve`)"
        )
    size, free = data["database"]["bytes"], data["database"]["free_bytes"]
    if size is not None:
        reused = (
            f" ({_mb(free)} of it free, reused by new rows; a `digest backup` copy leaves it out)"
            if free
            else ""
        )
        say(f"database:    {_mb(size)}{reused}")


def backup(
    ctx: typer.Context,
    target: Annotated[
        Path,
        typer.Argument(
            help="The new file to write the copy to, e.g. backups/digest-2026-12-07.sqlite.",
            show_default=False,
        ),
    ],
) -> None:
    """Copy the SQLite database to a new file, safely while `digest serve` runs (the copy is
    one moment's state, written compactly: without the space removed rows left free). On
    PostgreSQL, use pg_dump."""
    from digest.config import load_settings, sqlite_file
    from digest.errors import ConfigError
    from digest.store.copy import backup_sqlite

    database = sqlite_file(load_settings(state(ctx).config_path).database_url)
    if database is None:
        raise ConfigError(
            "digest backup copies a SQLite database; back up PostgreSQL with pg_dump "
            "(docs/deploy.md)"
        )
    size = backup_sqlite(database, target)
    say(f"backed up {database} to {target} ({_mb(size)})")


def copy_to(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Argument(
            help="SQLAlchemy URL of an empty database, e.g. "
            "postgresql+psycopg://digest@db.example.org/digest or sqlite:///new.sqlite.",
            show_default=False,
        ),
    ],
) -> None:
    """Copy everything (papers, subscribers, votes, suppressions, the outbox) into an empty
    database, e.g. to move from SQLite to PostgreSQL; then point DIGEST_DATABASE_URL at it.

    Stop `digest serve` and any cron job first: what they write during the copy is not
    copied. The copy is one transaction: it is whole, or nothing was written.
    """
    from digest.config import database_url
    from digest.safe_text import without_password
    from digest.store import Store
    from digest.store.copy import copy_database

    try:
        url = database_url(url)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    source = state(ctx).services().store
    target = Store(url)
    try:
        counts = copy_database(
            source,
            target,
            progress=lambda table, rows: say(f"{table}: {counted(rows, 'row')}", err=True),
        )
    finally:
        target.close()
    main = ("paper", "subscriber", "vote", "suppression", "delivery")
    summary = ", ".join(counted(counts.get(t, 0), f"{t} row") for t in main)
    shown = without_password(url)
    say(f"copied {counted(sum(counts.values()), 'row')} ({summary}) to {shown}")
    say(f"now set DIGEST_DATABASE_URL={shown}" + (" (with its password)" if shown != url else ""))


def _glance(app_state: AppState, now: datetime) -> Glance:
    """The numbers: straight from a current SQLite file, else through the store."""
    from digest.config import load_settings, sqlite_file
    from digest.store.glance import Glance, sqlite_glance
    from digest.vocabulary import SCHEMA_HEAD

    database = sqlite_file(load_settings(app_state.config_path).database_url)
    if database is not None and (found := sqlite_glance(database, SCHEMA_HEAD, now)) is not None:
        return found
    return Glance.of_store(app_state.services().store, now)


def collect_stats(glance: Glance) -> dict[str, Any]:
    """The numbers `digest stats` prints, as JSON-ready values."""
    return {
        "subscribers": {
            "total": sum(glance.subscribers.values()),
            "by_status": _with_zeros(SubscriberStatus, glance.subscribers),
        },
        "deliveries": {
            "total": sum(glance.deliveries.values()),
            "by_status": _with_zeros(DeliveryStatus, glance.deliveries),
        },
        "papers": glance.papers,
        "last_fetch": {
            "at": iso(glance.last_fetch),
            "sources": glance.sources,
            "failed": glance.failed_sources,
        },
        "last_dispatch": iso(glance.last_dispatch),
        "first_dispatch": iso(glance.first_dispatch),
        "database": {"bytes": glance.size, "free_bytes": glance.free},
        "suppressed": {"total": sum(glance.suppressed.values()), "by_reason": glance.suppressed},
        "last_30_days": {
            "sent": glance.recent.sent,
            "failed": glance.recent.failed,
            "complaints": glance.recent.complaints,
            "bounced": glance.recent.bounced,
            "complaint_rate": _share(glance.recent.complaints, glance.recent.sent),
            "bounce_rate": _share(glance.recent.bounced, glance.recent.sent),
        },
    }


# Gmail and Yahoo ask bulk senders to keep reported spam under 0.1 % and filter them above
# 0.3 %; a hard bounce rate over 2 % is what providers read as a list never cleaned
COMPLAINTS_WATCH, BOUNCES_WATCH = 0.001, 0.02
FAILED_WATCH = 0.05  # of the digests sent: more failing is the setup's or a provider's doing


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _rates(recent: dict[str, Any]) -> str:
    """The last 30 days' line of `digest stats`, with what to do when a rate is high."""
    complaints, bounced = recent["complaint_rate"] or 0.0, recent["bounce_rate"] or 0.0
    line = (
        f"last 30 days: {counted(recent['sent'], 'digest')} sent, {recent['failed']} failed; "
        f"{counted(recent['complaints'], 'complaint')} ({complaints:.2%}), "
        f"{counted(recent['bounced'], 'address', 'addresses')} bounced ({bounced:.2%})"
    )
    if recent["failed"] > recent["sent"] * FAILED_WATCH:
        line += "\n  many failed: `digest deliveries --status failed` shows what the servers said"
    if complaints > COMPLAINTS_WATCH:
        line += (
            "\n  complaints over 0.1 %: Gmail and Yahoo filter senders above 0.3 %; mail only"
            " confirmed signups and keep the unsubscribe link easy to find"
        )
    if bounced > BOUNCES_WATCH:
        line += "\n  bounces over 2 %: stale addresses (an old imported list?) hurt what you send"
    return line


def _with_zeros(known: Iterable[str], counts: dict[str, int]) -> dict[str, int]:
    """Every known status (0 when absent), then any other status found in the database."""
    return {**{name: counts.get(name, 0) for name in known}, **counts}


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _counts(by_status: dict[str, int]) -> str:
    shown = [f"{n} {name}" for name, n in by_status.items() if n]
    return ", ".join(shown) or "none"


def iso(value: datetime | None) -> str | None:
    """A moment as ISO-8601 in UTC (None stays None)."""
    from digest.store.glance import as_utc  # the standard library only: stats stays light

    return None if value is None else as_utc(value).isoformat()
