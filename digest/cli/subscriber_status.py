"""`digest subscribers pause`, `resume` and `remove`: the operator stops and starts a
subscription, or removes it."""

from __future__ import annotations

from typing import Annotated

import typer

from digest.cli.common import EmailArg, find_subscriber, parse_day, parse_now, say, state
from digest.vocabulary import SubscriberStatus, long_day


def pause(
    ctx: typer.Context,
    email: EmailArg,
    until: Annotated[
        str | None,
        typer.Option(
            help="The day (YYYY-MM-DD, the subscriber's own) their digests start again by "
            "themselves; without it, until `resume`.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Stop an active subscriber's digests until `resume`, or until a day (a holiday)."""
    from digest.subscriptions import lifecycle as signup

    store = state(ctx).services().store
    day = None if until is None else parse_day(until, "--until")
    saved = signup.set_paused(store, find_subscriber(store, email), True, parse_now(None), day)
    if day is None:
        say(f"paused {saved.email}: no digests until `digest subscribers resume {saved.email}`")
    else:
        say(f"paused {saved.email}: digests start again on {long_day(day)}")


def resume(ctx: typer.Context, email: EmailArg) -> None:
    """Start a paused subscriber's digests again, or a bounced one's when its owner says the
    address takes mail again (after `digest suppression remove`)."""
    from digest.subscriptions import lifecycle as signup

    store = state(ctx).services().store
    subscriber, now = find_subscriber(store, email), parse_now(None)
    if subscriber.status == SubscriberStatus.BOUNCED:
        saved = signup.restart_bounced(store, subscriber, now)
    else:
        saved = signup.set_paused(store, subscriber, False, now)
    say(f"resumed {saved.email}")


def remove(ctx: typer.Context, email: EmailArg) -> None:
    """Remove a subscriber and their delivery history."""
    store = state(ctx).services().store
    subscriber = find_subscriber(store, email)
    store.subscribers.remove(subscriber.email)
    say(f"removed {subscriber.email}")
