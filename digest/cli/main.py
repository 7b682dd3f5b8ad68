"""The `digest` command: thin typer commands over the library; errors become one line."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from digest.cli.admin import backup, copy_to, stats
from digest.cli.common import (
    AppState,
    JsonOpt,
    echo_json,
    how_many,
    now_option,
    parse_now,
    say,
    say_suggestions,
    state,
    terminal_safe,
    when,
    write_file,
)
from digest.cli.dns import dns
from digest.cli.outbox import deliveries_app
from digest.cli.papers import papers_app
from digest.cli.sources import fetch, fetch_and_report, sources
from digest.cli.subscribers import subscribers_app
from digest.cli.suppression import suppression_app
from digest.errors import DigestError
from digest.mail.mime import clean
from digest.vocabulary import SubscriberStatus, counted, long_day

if TYPE_CHECKING:
    from digest.models import Subscriber, Suppression

app = typer.Typer(
    name="digest",
    help="papers digest: a personalised daily email digest of new research papers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(suppression_app, name="suppression")
app.add_typer(papers_app, name="papers")
app.add_typer(deliveries_app, name="deliveries")
app.command()(fetch)
app.command()(sources)
app.command()(stats)
app.command("copy-to")(copy_to)
app.command()(backup)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML config file (default: $DIGEST_CONFIG or config/digest.toml).",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks of errors.")
    ] = False,
) -> None:
    """papers digest: fetch listings, rank papers per subscriber, send digests."""
    from digest.config import variable_notes

    ctx.obj = AppState(config_path=config, verbose=verbose)
    for note in variable_notes():
        say(note, err=True)


@app.command("config")
def config_cmd(
    ctx: typer.Context,
    as_json: JsonOpt = False,
) -> None:
    """Print the effective settings, secrets masked."""
    from digest.config import load_settings

    settings = load_settings(state(ctx).config_path)
    data = settings.masked()
    if as_json:
        echo_json(data)
        return
    for key, value in data.items():
        say(f"{key} = {json.dumps(value, default=str)}")


app.command()(dns)


RANK_LIMIT = 50_000  # papers `digest rank` ranks at most: a million took 4.5 GB and 2 minutes


@app.command("rank")
def rank_cmd(
    ctx: typer.Context,
    keywords: Annotated[str, typer.Option(help='Comma-separated topics, e.g. "kv cache, rlhf".')],
    exclude: Annotated[str, typer.Option(help="Comma-separated topics to leave out.")] = "",
    like: Annotated[
        list[str] | None,
        typer.Option(
            help="A paper you like: an id from `digest papers --json`, an arXiv id or link, "
            "or its whole title; repeatable."
        ),
    ] = None,
    dislike: Annotated[
        list[str] | None, typer.Option(help="A paper you do not want more of; repeatable.")
    ] = None,
    top: Annotated[int, how_many("How many papers to show.")] = 10,
    days: Annotated[
        int | None,
        typer.Option(
            help="Only the papers first seen in the last N days (default: the whole history, "
            f"or its newest {RANK_LIMIT:,} papers).",
            min=1,
            max=36_500,
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rank every paper in the history (or of its last days) for an ad-hoc profile: keywords,
    exclusions, votes."""
    from digest import pipeline
    from digest.ranking import Profile, Voted, rank
    from digest.subscriptions.preferences import check_topics
    from digest.subscriptions.votes import one_vote_each, resolve_papers

    services = state(ctx).services()
    store = services.store
    liked_papers = resolve_papers(store, like or [])
    disliked_papers = resolve_papers(store, dislike or [])
    one_vote_each({"--like": liked_papers, "--dislike": disliked_papers})
    liked, disliked = [p.id for p in liked_papers], [p.id for p in disliked_papers]
    wanted, excluded = check_topics(keywords, exclude)
    profile = Profile(wanted, excluded, liked=liked, disliked=disliked)
    now = parse_now(None)
    since = now - timedelta(days=days) if days else None
    history = store.papers.newest(limit=RANK_LIMIT + 1, since=since)
    if len(history) > RANK_LIMIT:
        del history[RANK_LIMIT:]
        window = f" first seen in the last {counted(days, 'day')}" if days else ""
        say(
            f"note: ranked the newest {RANK_LIMIT:,} papers{window} (more would take gigabytes"
            " of memory); older ones were left out: --days picks the window",
            err=True,
        )
    voted_papers = [*liked_papers, *disliked_papers]
    by_id = {p.id: p for p in [*voted_papers, *history]}  # a voted paper may be older
    voted = Voted({p.id: (p.title, p.abstract) for p in voted_papers})
    stats = pipeline.feature_stats(store, now)
    embedder = services.policy.semantic
    corpus = pipeline.build_corpus(
        history,
        stats,
        semantic=pipeline.semantic_index(store, history, embedder),
        topics=pipeline.topic_space(store, stats, now) if embedder is None else None,
    )
    say_suggestions(profile.keywords, stats.df)
    seen = set(liked + disliked)
    [matches] = rank(
        corpus, [profile], top, min_score=services.policy.min_score, seen=[seen], voted=voted
    )
    rows: list[dict[str, Any]] = [
        {
            "id": m.paper_id,
            "title": by_id[m.paper_id].title,
            "score": m.score,
            "matched": m.matched,
            "related": list(m.related),
            "similar_to": m.similar_to,
            "url": by_id[m.paper_id].url,
        }
        for m in matches
    ]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        if history:
            say("no paper matches these keywords")
        elif days:
            say(f"no paper was first seen in the last {counted(days, 'day')}: try more --days")
        else:
            say("the history holds no papers yet: run `digest fetch` first")
    for row in rows:
        reasons = [", ".join(row["matched"])] if row["matched"] else []
        if row["related"]:
            reasons.append("related to " + ", ".join(row["related"]))
        if row["similar_to"]:
            reasons.append(f"like {by_id[row['similar_to']].title[:50]}")
        why = "; ".join(reasons)
        say(f"{row['score']:.3f}  {clean(row['title'])}  [{clean(why)}]")


@app.command()
def preview(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Write the HTML here instead of printing the subject and plain text."),
    ] = None,
    now: Annotated[str | None, now_option] = None,
) -> None:
    """Render a subscriber's next digest without sending or storing it."""
    digest = state(ctx).digest(signing=False)
    store = digest.services.store
    subscriber = store.subscribers.get(email)
    moment = parse_now(now)
    rendered, items = digest.preview(subscriber, moment)
    if out is not None:  # first: a file that cannot be written is the one thing to say
        write_file(out, rendered.html, private=True)  # the reader's own signed links
    if (why := _not_sent(subscriber, store.suppression.get(subscriber.email))) is not None:
        say(f"note: {subscriber.email} {why}: this digest would not be sent now", err=True)
    else:
        if not items and subscriber.id is not None:
            last = store.deliveries.last_sent([subscriber.id]).get(subscriber.id)
            if last is not None:  # what it held is not sent again: the preview starts after it
                say(
                    f"note: nothing new since the digest planned {when(last.isoformat())}", err=True
                )
        if (later := _next_digest(subscriber, moment)) is not None:
            say(f"note: the next digest goes out {later}: this is what it would hold now", err=True)
    if out is not None:
        say(f"{counted(len(items), 'paper')}; HTML written to {out}")
    else:
        say(f"Subject: {rendered.subject}\n")
        say(rendered.text)


def _next_digest(subscriber: Subscriber, now: datetime) -> str | None:
    """When the subscriber's next digest goes out, as they read it, if not due yet (a weekly
    reader's preview on another day is not what goes out today)."""
    from zoneinfo import ZoneInfo

    from digest.planning import next_send_at
    from digest.store.glance import as_utc

    planned = subscriber.next_send_at
    at = as_utc(planned) if planned is not None else next_send_at(subscriber, now, None)
    if at <= now:
        return None
    local = at.astimezone(ZoneInfo(subscriber.timezone))
    return f"{long_day(local.date())} at {local:%H:%M} ({subscriber.timezone})"


def _not_sent(subscriber: Subscriber, suppressed: Suppression | None) -> str | None:
    """Why no digest of this subscriber goes out now, or None when one does."""
    if suppressed is not None:
        return f"is on the suppression list ({suppressed.reason})"
    if subscriber.status == SubscriberStatus.PAUSED:
        from digest.subscriptions.preferences import resume_day

        until = resume_day(subscriber)
        return "is paused" + (f" until {long_day(until)}" if until else "")
    return {
        SubscriberStatus.PENDING: "has not confirmed the subscription yet",
        SubscriberStatus.UNSUBSCRIBED: "unsubscribed",
        SubscriberStatus.BOUNCED: "was stopped by bounces",
    }.get(SubscriberStatus(subscriber.status))


@app.command()
def send(
    ctx: typer.Context,
    now: Annotated[str | None, now_option] = None,
) -> None:
    """Plan and send every digest that is due now, once."""
    state(ctx).signing_services()
    if not _dispatch(state(ctx), parse_now(now)):
        raise typer.Exit(1)


@app.command()
def run(
    ctx: typer.Context,
    now: Annotated[str | None, now_option] = None,
) -> None:
    """Fetch every configured source, then send every due digest: the job cron calls."""
    moment = parse_now(now)
    state(ctx).signing_services()
    failed = fetch_and_report(state(ctx), [], moment)
    if not _dispatch(state(ctx), moment) or failed:
        raise typer.Exit(1)


@app.command()
def inbox(
    ctx: typer.Context,
    now: Annotated[str | None, now_option] = None,
) -> None:
    """Read returned mail (DIGEST_INBOX_*): bounces count against subscribers, complaints
    unsubscribe and suppress, mailto: unsubscribes unsubscribe; what was understood is removed."""
    say(str(state(ctx).digest().read_inbox(parse_now(now))))


@app.command()
def web(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
) -> None:
    """Serve the subscription web pages (signup, confirm, preferences, unsubscribe)."""
    import uvicorn

    from digest.web.listen import address, listening_socket

    services = state(ctx).signing_services()
    sock = listening_socket(host, port)
    say(f"serving on http://{address(host, port)} (links in mail use {services.settings.base_url})")
    log_with_time()
    config = uvicorn.Config(
        services.web_app(), host=host, port=port, log_level="info", log_config=None
    )
    uvicorn.Server(config).run(sockets=[sock])


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address the web app listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the web app.", min=1, max=65535)] = 8000,
    tick: Annotated[float, typer.Option(help="Seconds between dispatch ticks.", min=1)] = 60.0,
    no_web: Annotated[bool, typer.Option("--no-web", help="Run only the scheduler.")] = False,
) -> None:
    """Run the scheduler (fetch each source on its interval, dispatch every tick) and the web
    app in one process until SIGTERM or SIGINT."""
    from digest.scheduler import serve as run_service

    log_with_time()
    run_service(state(ctx).signing_services(), host, port, tick_seconds=tick, web=not no_web)


@app.command()
def worker(
    ctx: typer.Context,
    idle: Annotated[
        float,
        typer.Option(help="Seconds to wait before looking again when nothing is ready.", min=0.1),
    ] = 5.0,
) -> None:
    """Send the digests `digest serve` plans, until SIGTERM or SIGINT: run one on each extra
    host sharing its PostgreSQL database to send more at once. It plans and fetches nothing;
    claims never overlap."""
    from digest.scheduler import work

    log_with_time()
    work(state(ctx).signing_services(), idle)


def log_with_time() -> None:
    """Log lines (the service's and the web server's) with their time, level and source."""
    import logging

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request with its URL as given, user info and password included; the
    # fetches are logged by the service, the address masked
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _dispatch(app_state: AppState, moment: datetime) -> bool:
    """Plan and send, print one summary line; False when a delivery failed or waits to retry."""
    from digest.cli.progress import ProgressLine

    with ProgressLine("sending digests") as line:
        report = app_state.digest().dispatch(moment, progress=line.advance)
    if report.locked:
        say("another process is planning right now: only sending this time")
    s = report.send
    say(
        f"{counted(report.due, 'subscriber')} due: {counted(report.planned, 'digest')} planned, "
        f"{report.skipped} skipped (nothing relevant); "
        f"{s.sent} sent, {s.retry} to retry, {s.failed} failed"
    )
    if s.first_error:  # a relay that refuses everything says here what to set
        say(f"first error: {s.first_error} (all of them: `digest deliveries`)", err=True)
    return not (s.failed or s.retry)


def main() -> None:
    """Entry point: run the app, turning every expected error into one line on stderr."""
    verbose = "--verbose" in sys.argv or "-v" in sys.argv
    for argument in sys.argv[1:]:
        # Python hands over an argument's bytes that are not UTF-8 as lone surrogates, which
        # no database, email or terminal takes: refused here, once for every command
        if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in argument):
            shown = argument.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            print(f"error: an argument is not UTF-8 text: {terminal_safe(shown)}", file=sys.stderr)
            sys.exit(2)
    try:
        code = app(prog_name="digest", standalone_mode=False)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: unknown option, bad value, ...
        # typer words a bad choice through pydantic: "Value error, 'x' is not one of ..."
        message = exc.format_message().replace("Value error, ", "")
        context = getattr(exc, "ctx", None)  # the command the mistake was made in
        command = context.command_path if context is not None else "digest"
        print(f"error: {message} (see `{command} --help`)", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except DigestError as exc:
        if verbose:
            raise
        print(f"error: {terminal_safe(str(exc))}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        from sqlalchemy.exc import OperationalError  # loaded already by whatever raised it

        if verbose or not isinstance(exc, OperationalError):
            raise
        from digest.store.engine import database_error

        print(f"error: {terminal_safe(str(database_error(exc)))}", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
