"""`digest deliveries`: list the outbox, and prune the digests of long ago."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from digest.cli.admin import iso
from digest.cli.common import (
    BeforeOpt,
    JsonOpt,
    OlderThanOpt,
    cutoff,
    echo_json,
    how_many,
    now_option,
    parse_now,
    say,
    state,
    when,
)
from digest.vocabulary import DeliveryStatus, counted

if TYPE_CHECKING:
    from digest.models import Delivery
    from digest.store import Store

deliveries_app = typer.Typer(
    help="List the outbox, newest first, or prune the digests of long ago.",
    invoke_without_command=True,
    rich_markup_mode=None,
)


@deliveries_app.callback()
def deliveries(
    ctx: typer.Context,
    status: Annotated[
        DeliveryStatus | None,
        typer.Option(
            help="Only deliveries with this status.", case_sensitive=False, show_default=False
        ),
    ] = None,
    email: Annotated[
        str | None,
        typer.Option(help="Only the digests of this subscriber.", show_default=False),
    ] = None,
    limit: Annotated[int, how_many("How many deliveries, newest first.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List the outbox, newest first: one line per digest with its status, attempts and errors
    (or: deliveries prune)."""
    if ctx.invoked_subcommand is not None:
        return
    from digest.cli.common import find_subscriber

    store = state(ctx).services().store
    subscriber = None if email is None else find_subscriber(store, email)
    rows = store.deliveries.listed(
        status=status,
        limit=limit,
        newest_first=True,
        subscriber_id=None if subscriber is None else subscriber.id,
    )
    emails = _emails(store, rows)
    data = [_delivery_dict(d, emails) for d in rows]
    if as_json:
        echo_json(data)
        return
    if not data:
        which = f"with status {status} " if status else ""
        whose = f"to {subscriber.email} " if subscriber is not None else ""
        if which or whose:  # a filter: the outbox may hold others
            say(f"no deliveries {which}{whose}".rstrip())
        else:
            say("no deliveries yet: `digest run` plans and sends the due digests")
    for row in data:
        say(_delivery_line(row))


@deliveries_app.command("prune")
def prune(
    ctx: typer.Context,
    before: BeforeOpt = None,
    older_than: OlderThanOpt = None,
    now: Annotated[str | None, now_option] = None,
) -> None:
    """Delete the finished digests (sent, failed, skipped, cancelled) planned before a day,
    with the papers listed in each: the outbox grows by a row per paper per reader per day.
    A digest still to be sent is never removed, nor those of the last two weeks (planning
    reads them to send no paper twice). Their editions leave the web archive and the feeds;
    `digest papers prune` can then remove the papers only they named."""
    from digest.cli.progress import ProgressLine

    moment_now = parse_now(now)
    moment = cutoff(before, older_than, moment_now)
    with ProgressLine("removing digests") as line:
        removed = state(ctx).digest(signing=False).prune(moment, moment_now, line.advance)
    day = moment.date()
    say(f"{counted(removed, 'digest')} planned before {day.isoformat()} removed")


def _emails(store: Store, rows: list[Delivery]) -> dict[int, str]:
    if not rows:
        return {}
    return store.subscribers.emails(d.subscriber_id for d in rows)


def _delivery_dict(d: Delivery, emails: dict[int, str]) -> dict[str, Any]:
    return {
        "id": d.id,
        "subscriber_id": d.subscriber_id,
        "email": emails.get(d.subscriber_id),
        "edition": d.edition,
        "status": d.status,
        "attempts": d.attempts,
        "smtp_code": d.smtp_code,
        "last_error": d.last_error,
        "created_at": iso(d.created_at),
        "sent_at": iso(d.sent_at),
        "next_attempt_at": iso(d.next_attempt_at),
        "message_id": d.message_id,
    }


def _delivery_line(row: dict[str, Any]) -> str:
    if row["sent_at"]:
        moment = f"sent {when(row['sent_at'])}"
    elif row["next_attempt_at"]:
        moment = f"next attempt {when(row['next_attempt_at'])}"
    else:
        moment = f"created {when(row['created_at'])}"
    email = row["email"] or f"subscriber #{row['subscriber_id']}"
    line = (
        f"{row['id']}  {email}  {row['edition']}  {row['status']}  "
        f"attempts: {row['attempts']}  smtp: {row['smtp_code'] or '-'}  {moment}"
    )
    error = " ".join(str(row["last_error"]).split()) if row["last_error"] else ""
    return line + (f"  error: {error}" if error else "")
