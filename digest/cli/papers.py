"""`digest papers`: list the history, remove papers, prune old ones."""

from __future__ import annotations

from typing import Annotated

import typer

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
)
from digest.errors import NotFoundError
from digest.mail.mime import clean
from digest.vocabulary import counted

papers_app = typer.Typer(
    help="List the papers in the history (newest first), remove some, or prune old ones.",
    invoke_without_command=True,
    rich_markup_mode=None,
)
KEPT = "a digest or a vote names it: digests and profiles keep their papers"


@papers_app.callback()
def papers(
    ctx: typer.Context,
    limit: Annotated[int, how_many("How many papers, newest first.")] = 20,
    search: Annotated[
        str,
        typer.Option(
            help="Only papers whose title holds every word of this text, in any case "
            '(e.g. "sparse attention"): to find the id of a paper to --like.',
            show_default=False,
        ),
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """List papers in the history, newest first (or: papers remove ID..., papers prune)."""
    if ctx.invoked_subcommand is not None:
        return
    from digest.ingest.identity import normalise_title  # the ORM with it: not for every command

    words = normalise_title(search).split()
    rows = state(ctx).services().store.papers.newest(limit=limit, words=words)
    if as_json:
        echo_json([p.model_dump(mode="json") for p in rows])
        return
    if not rows and words:
        say(f"no paper in the history has {' and '.join(map(repr, words))} in its title", err=True)
    elif not rows:
        say("the history holds no papers yet: run `digest fetch` first", err=True)
    for p in rows:
        votes = f"  ▲{p.upvotes}" if p.upvotes else ""
        day = p.listing_date or p.published or p.first_seen_at.date()
        say(f"{day.isoformat()}  {p.id}  {clean(p.title)}{votes}")


@papers_app.command("remove")
def remove(
    ctx: typer.Context,
    ids: Annotated[
        list[str],
        typer.Argument(
            help="Paper ids, as `digest papers --json` prints them.", show_default=False
        ),
    ],
) -> None:
    """Delete papers (and their sightings); those a digest or a vote names are kept."""
    removal = state(ctx).services().store.papers.remove(ids)
    for paper_id in removal.kept:
        say(f"kept {paper_id}: {KEPT}", err=True)
    if removal.removed or removal.kept or not removal.unknown:
        kept = f", {len(removal.kept)} kept" if removal.kept else ""
        say(f"{counted(len(removal.removed), 'paper')} removed{kept}")
    if removal.unknown:
        raise NotFoundError(
            f"no paper {removal.unknown[0]!r}"
            + (f" (and {len(removal.unknown) - 1} more)" if len(removal.unknown) > 1 else "")
            + ": see `digest papers --json` for the ids"
        )


@papers_app.command("prune")
def prune(
    ctx: typer.Context,
    before: BeforeOpt = None,
    older_than: OlderThanOpt = None,
    now: Annotated[str | None, now_option] = None,
) -> None:
    """Delete the papers first seen before a day, except those a digest or a vote names.

    Not those of the last two weeks: planning picks digests (a weekly one, a first one)
    from them."""
    moment_now = parse_now(now)
    moment = cutoff(before, older_than, moment_now)
    day = moment.date()
    removal = state(ctx).digest(signing=False).prune_papers(moment, moment_now)
    say(
        f"{counted(len(removal.removed), 'paper')} first seen before {day.isoformat()} removed"
        + (f", {len(removal.kept)} kept: {KEPT}" if removal.kept else "")
    )
