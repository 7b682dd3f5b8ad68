"""`digest subscribers ...`: the operator's commands for subscribers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from digest.cli.common import (
    EmailArg,
    JsonOpt,
    echo_json,
    echo_json_rows,
    echo_pieces,
    find_subscriber,
    parse_now,
    say,
    say_suggestions,
    state,
    terminal_safe,
    when,
)
from digest.cli.subscriber_files import export, import_cmd
from digest.cli.subscriber_status import pause, remove, resume
from digest.errors import TransportError, ValidationError
from digest.mail.mime import clean
from digest.vocabulary import WEEKDAYS, Frequency, SubscriberStatus, counted, long_day

if TYPE_CHECKING:  # the ORM and the library load when a command runs, not for --help
    from digest.models import Subscriber
    from digest.wiring import Services

subscribers_app = typer.Typer(
    help="Add, list, show, edit, pause, import, export and remove subscribers.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

KEYWORDS_HELP = 'Comma-separated topics, e.g. "kv cache, rlhf".'
EXCLUDE_HELP = "Comma-separated topics to leave out."
TIMEZONE_HELP = "IANA time zone, e.g. Europe/Berlin (any case; a city alone when unambiguous)."
SEND_AT_HELP = "Local send time, e.g. 08:00, 20:30, 8pm or noon."
MAX_PAPERS_HELP = "Papers per digest (1-50)."
FREQUENCY_HELP = "How often: daily, weekdays (Monday to Friday) or weekly."
WEEKLY_DAY_HELP = "The day of a weekly digest: monday ... sunday."
TRENDING_HELP = "How much popularity lifts relevant papers, 0 to 1."
TRENDING_BOX_HELP = 'Add an "also trending today" box of up to 3 popular papers.'
GROUPED_HELP = "Group a digest's papers under the interest that brought them, or one flat list."


def subscriber_dict(subscriber: Subscriber) -> dict[str, Any]:
    """A subscriber as plain JSON-ready values: who and what state first, then the settings
    in the order the model declares them (a row read from the database dumps its columns in
    no fixed order)."""
    data = subscriber.model_dump(mode="json", exclude={"token_version", "confirmations_sent"})
    order = dict.fromkeys(["id", "email", "status", *type(subscriber).model_fields])
    return {name: data[name] for name in order if name in data}


def _schedule(s: Subscriber) -> str:
    when = {
        Frequency.DAILY: "daily",
        Frequency.WEEKDAYS: "on weekdays",
        Frequency.WEEKLY: f"on {WEEKDAYS[s.weekly_day]}s",
    }
    return f"{when.get(s.frequency, s.frequency)} at {s.send_at} {s.timezone}"


def _summary(s: Subscriber) -> str:
    excluded = f" (not: {', '.join(s.exclude)})" if s.exclude else ""
    papers = counted(s.max_papers, "paper")
    return f"{', '.join(s.keywords)}{excluded}; {_schedule(s)}, up to {papers}"


# shown as moments a person reads (the JSON keeps ISO-8601)
MOMENTS = frozenset(
    (
        "address_since",
        "confirmation_sent_at",
        "confirmed_at",
        "created_at",
        "last_bounce_at",
        "next_send_at",
        "paused_until",
        "updated_at",
    )
)
# `subscribers show`: what people ask about first, then the rest as stored
SHOW_FIRST = (
    "email",
    "status",
    "suppressed",
    "keywords",
    "exclude",
    "frequency",
    "weekly_day",
    "send_at",
)


def _weekly_day_needs_weekly(ctx: typer.Context, weekly_day: str | None, frequency: str) -> None:
    """Refuse --weekly-day for a digest that is not weekly: it would be kept and never used."""
    if weekly_day is not None and frequency != Frequency.WEEKLY:
        ctx.fail(
            f"--weekly-day is the day of a weekly digest, and this one is {frequency}: "
            f"add --frequency weekly"
        )


@subscribers_app.command("add")
def add(
    ctx: typer.Context,
    email: EmailArg,
    keywords: Annotated[str, typer.Option(help=KEYWORDS_HELP, show_default=False)],
    exclude: Annotated[str, typer.Option(help=EXCLUDE_HELP)] = "",
    timezone: Annotated[str, typer.Option(help=TIMEZONE_HELP)] = "UTC",
    send_at: Annotated[str, typer.Option(help=SEND_AT_HELP)] = "08:00",
    max_papers: Annotated[int, typer.Option(help=MAX_PAPERS_HELP)] = 10,
    frequency: Annotated[
        Frequency, typer.Option(help=FREQUENCY_HELP, case_sensitive=False)
    ] = Frequency.DAILY,
    weekly_day: Annotated[
        str | None, typer.Option(help=f"{WEEKLY_DAY_HELP}  [default: monday]", show_default=False)
    ] = None,
    trending: Annotated[float, typer.Option(help=TRENDING_HELP)] = 0.1,
    trending_box: Annotated[
        bool, typer.Option("--trending-box/--no-trending-box", help=TRENDING_BOX_HELP)
    ] = False,
    grouped: Annotated[bool, typer.Option("--grouped/--flat", help=GROUPED_HELP)] = True,
    confirm: Annotated[
        bool,
        typer.Option(
            "--confirm",
            help="Store the subscriber as pending and mail them a confirmation link; "
            "digests start once they open it.",
        ),
    ] = False,
) -> None:
    """Add a subscriber: active at once (the operator vouches), or pending with --confirm."""
    from digest.subscriptions.mailer import send_confirmation
    from digest.subscriptions.preferences import new_subscriber

    _weekly_day_needs_weekly(ctx, weekly_day, frequency)
    now = parse_now(None)
    subscriber = new_subscriber(
        email=email,
        keywords=keywords,
        exclude=exclude,
        timezone=timezone,
        send_at=send_at,
        max_papers=max_papers,
        frequency=frequency,
        weekly_day=weekly_day or "monday",
        trending=trending,
        trending_box=trending_box,
        grouped=grouped,
        status=SubscriberStatus.PENDING if confirm else SubscriberStatus.ACTIVE,
        now=now,
    )
    services = state(ctx).services()
    suppressed = services.store.suppression.get(subscriber.email)
    if suppressed is not None:
        raise ValidationError(
            f"{subscriber.email} is on the suppression list ({suppressed.reason} on "
            f"{suppressed.created_at:%Y-%m-%d}): remove it with "
            f"`digest suppression remove {subscriber.email}` only if they asked for mail again"
        )
    stored = services.store.subscribers.add(subscriber)
    _hint_keywords(services, subscriber.keywords)
    if not confirm:
        say(f"added {stored.email}: {_summary(stored)}")
        return
    try:
        send_confirmation(services.store, services.mailer, stored, now)
    except TransportError as exc:
        services.store.subscribers.remove(stored.email)
        raise TransportError(f"{exc}; {stored.email} was not added") from None
    say(
        f"added {stored.email} as pending: {_summary(stored)}; "
        "confirmation mail sent, digests start once they confirm"
    )


@subscribers_app.command("list")
def list_cmd(
    ctx: typer.Context,
    status: Annotated[
        SubscriberStatus | None,
        typer.Option(help="Only subscribers with this status.", case_sensitive=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List subscribers by address."""
    store = state(ctx).services().store
    suppressed = {s.email: s.reason for s in store.suppression.listed()}
    rows = store.subscribers.each(status)
    if as_json:
        echo_json_rows({**subscriber_dict(s), "suppressed": suppressed.get(s.email)} for s in rows)
        return
    shown = echo_pieces(terminal_safe(_list_line(s, suppressed)) + "\n" for s in rows)
    if not shown and status is not None:
        say(f"no {status} subscribers")
    elif not shown:
        say("no subscribers: add one with `digest subscribers add EMAIL --keywords ...`")


def _list_line(s: Subscriber, suppressed: dict[str, str]) -> str:
    """One subscriber's line of `subscribers list`."""
    from digest.subscriptions.preferences import resume_day

    stopped = f", suppressed: {suppressed[s.email]}" if s.email in suppressed else ""
    if (back := resume_day(s)) is not None:  # the subscriber's own day, as typed
        stopped += f" until {long_day(back)}"
    return f"{s.email}  [{s.status}{stopped}]  {_schedule(s)}  {', '.join(s.keywords)}"


@subscribers_app.command("show")
def show(ctx: typer.Context, email: EmailArg, as_json: JsonOpt = False) -> None:
    """Show one subscriber."""
    from digest.subscriptions.preferences import resume_day

    store = state(ctx).services().store
    subscriber = find_subscriber(store, email)
    suppression = store.suppression.get(subscriber.email)
    data = {**subscriber_dict(subscriber), "suppressed": suppression and suppression.reason}
    assert subscriber.id is not None
    votes = [
        {"id": paper.id, "title": paper.title, "vote": "like" if vote.value > 0 else "dislike"}
        for paper, vote in store.votes.of(subscriber.id)
    ]
    if as_json:
        echo_json({**data, "votes": votes})
        return
    keys = [k for k in SHOW_FIRST if k in data] + sorted(k for k in data if k not in SHOW_FIRST)
    if suppression is None:
        keys.remove("suppressed")  # a line only when it explains why nothing goes out
    for key in keys:
        value = data[key]
        shown = ", ".join(value) if isinstance(value, list) else value
        if key == "paused_until" and (back := resume_day(subscriber)) is not None:
            shown = f"{long_day(back)} (starts that day, {subscriber.timezone})"
        elif key in MOMENTS:
            shown = when(shown)
        elif key == "weekly_day":
            shown = WEEKDAYS[value] if data["frequency"] == Frequency.WEEKLY else "-"
        elif key == "suppressed" and suppression is not None:  # why nothing goes out
            since = when(suppression.created_at.isoformat())
            shown = f"{value} since {since}: nothing is sent (digest suppression remove)"
        say(f"{key}: {'-' if shown in (None, '') else clean(str(shown))}")
    say(f"votes: {len(votes) or 'none'}")
    for row in votes:
        say(f"  {row['vote']:7}  {row['id']}  {clean(row['title'])}")


@subscribers_app.command("edit")
def edit(
    ctx: typer.Context,
    email: EmailArg,
    keywords: Annotated[str | None, typer.Option(help=f"New keywords. {KEYWORDS_HELP}")] = None,
    exclude: Annotated[
        str | None, typer.Option(help=f'New excluded topics ("" for none). {EXCLUDE_HELP}')
    ] = None,
    timezone: Annotated[str | None, typer.Option(help=TIMEZONE_HELP)] = None,
    send_at: Annotated[str | None, typer.Option(help=SEND_AT_HELP)] = None,
    max_papers: Annotated[int | None, typer.Option(help=MAX_PAPERS_HELP)] = None,
    frequency: Annotated[
        Frequency | None, typer.Option(help=FREQUENCY_HELP, case_sensitive=False)
    ] = None,
    weekly_day: Annotated[str | None, typer.Option(help=WEEKLY_DAY_HELP)] = None,
    trending: Annotated[float | None, typer.Option(help=TRENDING_HELP)] = None,
    trending_box: Annotated[
        bool | None, typer.Option("--trending-box/--no-trending-box", help=TRENDING_BOX_HELP)
    ] = None,
    grouped: Annotated[
        bool | None, typer.Option("--grouped/--flat", help=GROUPED_HELP, show_default=False)
    ] = None,
    new_email: Annotated[
        str | None,
        typer.Option(
            "--email",
            help="Move the subscription to this address (settings, votes and history kept; "
            "earlier links revoked; a subscription stopped by bounces starts again).",
            show_default=False,
        ),
    ] = None,
    revoke_links: Annotated[
        bool,
        typer.Option(
            "--revoke-links",
            help="Invalidate every preferences, vote, archive, feed and confirmation link sent"
            " so far (unsubscribe links keep working, as RFC 8058 expects).",
        ),
    ] = False,
) -> None:
    """Change only the given settings; all are checked first, and nothing changes if one is bad."""
    from digest.subscriptions.moving import change_email
    from digest.subscriptions.preferences import checked_changes

    services = state(ctx).services()
    store = services.store
    subscriber = find_subscriber(store, email)
    given = {
        "keywords": keywords,
        "exclude": exclude,
        "timezone": timezone,
        "send_at": send_at,
        "max_papers": max_papers,
        "frequency": frequency,
        "weekly_day": weekly_day,
        "trending": trending,
        "trending_box": trending_box,
        "grouped": grouped,
    }
    _weekly_day_needs_weekly(ctx, weekly_day, frequency or subscriber.frequency)
    changes = checked_changes({k: v for k, v in given.items() if v is not None}, subscriber)
    if not changes and not revoke_links and new_email is None:
        ctx.fail("nothing to change: give at least one option of `digest subscribers edit`")
    changed = [name for name, value in changes.items() if getattr(subscriber, name) != value]
    subscriber.sqlmodel_update(changes)
    if revoke_links:
        subscriber.token_version += 1
    now, old_email = parse_now(None), subscriber.email
    subscriber.updated_at = now
    if new_email is None:
        saved = store.subscribers.save(subscriber)
    else:  # checked, then saved with the other changes
        saved = change_email(store, subscriber, new_email, now)
    if "keywords" in changes:
        _hint_keywords(services, saved.keywords)
    done = [f"changed {', '.join(changed)}"] if changed else []
    if changes and not changed:
        done.append("no setting changed (each was so already)")
    if new_email is not None:
        done.append(f"moved from {old_email}")
    if revoke_links or new_email is not None:
        done.append("earlier links revoked")
    updated = "updated " if changed or revoke_links or new_email is not None else ""
    say(f"{updated}{saved.email}: {'; '.join(done)}")


subscribers_app.command("pause")(pause)
subscribers_app.command("resume")(resume)
subscribers_app.command("remove")(remove)
subscribers_app.command("import")(import_cmd)
subscribers_app.command("export")(export)


@subscribers_app.command("feedback")
def feedback(
    ctx: typer.Context,
    email: EmailArg,
    like: Annotated[
        list[str] | None,
        typer.Option(
            help="A paper to see more like: an id from `digest papers --json`, an arXiv id or "
            "link, or its whole title (`digest papers --search WORDS` finds one)."
        ),
    ] = None,
    dislike: Annotated[list[str] | None, typer.Option(help="A paper to see less like.")] = None,
    clear: Annotated[list[str] | None, typer.Option(help="Forget the vote on this paper.")] = None,
) -> None:
    """Record "more / less like this" votes for a subscriber; every id is checked first."""
    from digest.subscriptions.votes import one_vote_each, resolve_papers

    store = state(ctx).services().store
    subscriber = find_subscriber(store, email)
    assert subscriber.id is not None
    if not (like or dislike or clear):
        ctx.fail("nothing to record: give --like, --dislike or --clear")
    named = {
        option: resolve_papers(store, refs or [])
        for option, refs in (("--like", like), ("--dislike", dislike), ("--clear", clear))
    }
    one_vote_each(named)
    value = {"--like": 1, "--dislike": -1, "--clear": 0}
    votes = {p.id: value[option] for option, papers in named.items() for p in papers}
    store.votes.set(subscriber.id, votes, parse_now(None), "cli")
    words = {1: "liked", -1: "disliked", 0: "cleared"}
    done = [f"{words[v]} {sum(1 for x in votes.values() if x == v)}" for v in (1, -1, 0)]
    say(f"{subscriber.email}: {', '.join(d for d in done if not d.endswith(' 0'))}")


def _hint_keywords(services: Services, keywords: list[str]) -> None:
    """Notes on keywords that can match nothing, on the typed words no paper holds (with
    the word likely meant), and on the keywords that match none of the last days' papers:
    what the signup preview tells a visitor."""
    from digest.pipeline import recent_corpus, stored_stats
    from digest.planner import RECENT_DAYS
    from digest.ranking import keyword_hits, stems

    papers, corpus = recent_corpus(services.store, parse_now(None), services.policy.semantic)
    stats = corpus.stats if papers else stored_stats(services.store)
    say_suggestions(keywords, None if stats is None else stats.df)
    if not papers:  # a new service, or its sources fail: no keyword is to blame
        return
    hits = keyword_hits(corpus, [k for k in keywords if stems(k)], services.policy.min_score)
    for keyword, count in hits.items():
        if not count:
            say(
                f"note: {keyword!r} matches none of the {len(papers)} papers of the last "
                f"{RECENT_DAYS} days: check its wording, or keep it to wait for papers on it",
                err=True,
            )
