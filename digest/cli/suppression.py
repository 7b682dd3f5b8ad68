"""`digest suppression`: the addresses nothing is sent to (complaints, hard bounces)."""

from __future__ import annotations

from typing import Annotated

import typer

from digest.cli.common import JsonOpt, echo_json, parse_now, say, state
from digest.errors import NotFoundError

suppression_app = typer.Typer(
    help="The suppression list: addresses that complained, bounced for good or asked never to be "
    "mailed get no mail.",
    no_args_is_help=True,
)
EmailArg = Annotated[str, typer.Argument(help="The email address.", show_default=False)]


@suppression_app.command("list")
def list_cmd(
    ctx: typer.Context,
    as_json: JsonOpt = False,
) -> None:
    """List suppressed addresses, newest first, with why and since when."""
    rows = state(ctx).services().store.suppression.listed()
    if as_json:
        echo_json([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        say("no suppressed addresses")
    for row in rows:
        say(f"{row.email}  {row.reason}  {row.created_at:%Y-%m-%d}  {row.detail}")


@suppression_app.command("add")
def add(ctx: typer.Context, email: EmailArg) -> None:
    """Suppress an address by hand (someone asked, by phone or letter, never to be mailed)."""
    from digest.subscriptions.preferences import normalise_email

    address = normalise_email(email)
    added = state(ctx).services().store.suppression.add(address, "manual", "", parse_now(None))
    say(f"{address} suppressed" if added else f"{address} was already suppressed")


@suppression_app.command("remove")
def remove(ctx: typer.Context, email: EmailArg) -> None:
    """Allow mail to an address again (only when its owner asked for it)."""
    from digest.subscriptions.preferences import normalise_email

    address = normalise_email(email)
    if not state(ctx).services().store.suppression.remove(address):
        raise NotFoundError(f"{address} is not on the suppression list")
    say(f"{address} may receive mail again")
