"""`digest subscribers ...`: the operator's commands for subscribers."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from digest.cli_common import echo_json, parse_now, state
from digest.models import Subscriber
from digest.subscribers import new_subscriber

subscribers_app = typer.Typer(
    help="Add, list, show and remove subscribers.", no_args_is_help=True, rich_markup_mode=None
)


def subscriber_dict(subscriber: Subscriber) -> dict[str, Any]:
    """A subscriber as plain JSON-ready values."""
    return subscriber.model_dump(mode="json", exclude={"token_version"})


@subscribers_app.command("add")
def add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="Email address.")],
    keywords: Annotated[str, typer.Option(help='Comma-separated topics, e.g. "kv cache, rlhf".')],
    exclude: Annotated[str, typer.Option(help="Comma-separated topics to leave out.")] = "",
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Berlin.")] = "UTC",
    send_at: Annotated[str, typer.Option(help="Local send time, HH:MM (24-hour).")] = "08:00",
    max_papers: Annotated[int, typer.Option(help="Papers per digest (1-50).")] = 10,
) -> None:
    """Add an active subscriber (the operator vouches for the address)."""
    subscriber = new_subscriber(
        email=email,
        keywords=keywords,
        exclude=exclude,
        timezone=timezone,
        send_at=send_at,
        max_papers=max_papers,
        now=parse_now(None),
    )
    stored = state(ctx).services().store.add_subscriber(subscriber)
    typer.echo(
        f"added {stored.email}: {', '.join(stored.keywords)}; "
        f"{stored.send_at} {stored.timezone}, up to {stored.max_papers} papers"
    )


@subscribers_app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only subscribers with this status.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List subscribers by address."""
    rows = state(ctx).services().store.subscribers(status=status)
    if as_json:
        echo_json([subscriber_dict(s) for s in rows])
        return
    if not rows:
        typer.echo("no subscribers: add one with `digest subscribers add EMAIL --keywords ...`")
    for s in rows:
        typer.echo(f"{s.email}  [{s.status}]  {s.send_at} {s.timezone}  {', '.join(s.keywords)}")


@subscribers_app.command("show")
def show(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="Email address.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one subscriber."""
    subscriber = state(ctx).services().store.get_subscriber(email)
    data = subscriber_dict(subscriber)
    if as_json:
        echo_json(data)
        return
    for key, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        typer.echo(f"{key}: {shown}")


@subscribers_app.command("remove")
def remove(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="Email address.")],
) -> None:
    """Remove a subscriber and their delivery history."""
    store = state(ctx).services().store
    store.remove_subscriber(email)
    typer.echo(f"removed {email.strip().lower()}")
