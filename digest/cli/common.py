"""What every CLI command shares: the app state, --now, JSON output."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import click
import typer

from digest.errors import DigestError, NotFoundError, ValidationError
from digest.safe_text import json_escaped, without_unsafe

if TYPE_CHECKING:  # loaded when a command needs them: `digest --help` stays fast
    from digest.app import Digest
    from digest.models import Subscriber
    from digest.store import Store
    from digest.wiring import Services

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
EmailArg = Annotated[
    str, typer.Argument(help="The subscriber's email address.", show_default=False)
]
MOST = 1_000_000  # the largest count an option takes: more means as many as there are


def how_many(help_text: str) -> Any:
    """A count option of 1 or more; a value above MOST is taken as MOST (a count that large
    would otherwise fail deep in the database)."""
    return typer.Option(help=help_text, min=1, callback=_at_most)


def _at_most(value: int) -> int:
    return min(value, MOST)


now_option = typer.Option(
    "--now",
    help="Act as if it were this moment (ISO-8601; without an offset it is UTC).",
    show_default=False,
)


@dataclass
class AppState:
    """Options given before the command, and the services built from them."""

    config_path: Path | None = None
    verbose: bool = False
    _services: Services | None = field(default=None, repr=False)

    def services(self) -> Services:
        """The service parts, built from the settings on first use."""
        if self._services is None:
            from digest.config import load_settings
            from digest.wiring import Services

            self._services = Services(load_settings(self.config_path), _say_new_database)
            running = click.get_current_context(silent=True)
            if running is not None:  # pooled SMTP connections say goodbye, the database closes
                running.find_root().call_on_close(self._services.close)
        return self._services

    def digest(self, *, signing: bool = True) -> Digest:
        """The service object; a command that mails or serves links refuses a weak key."""
        from digest.app import Digest

        services = self.signing_services() if signing else self.services()
        return Digest(services)

    def signing_services(self) -> Services:
        """The service parts of a command that mails or serves links: refuses a weak key."""
        services = self.services()
        services.settings.check_signing_key()
        return services


def _say_new_database(path: Path) -> None:
    typer.echo(
        f"note: no database at {terminal_safe(str(path))}: creating a new, empty one. "
        "If you expected your subscribers and papers, run from your digest directory "
        "or set DIGEST_HOME to it (see README).",
        err=True,
    )


def state(ctx: typer.Context) -> AppState:
    """The AppState of the running command."""
    return ctx.find_root().ensure_object(AppState)


EARLIEST_NOW, LATEST_NOW = 1970, 9000  # years; days counted from --now stay in the calendar


def parse_now(text: str | None) -> datetime:
    """The moment a command acts at: --now, or the current time."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"invalid --now {text!r}: use ISO-8601 such as 2026-11-22T08:00:00+01:00"
        ) from None
    if not EARLIEST_NOW <= moment.year <= LATEST_NOW:  # windows and schedules count days
        raise ValidationError(f"--now must fall in the years {EARLIEST_NOW} to {LATEST_NOW}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def when(iso: str | None, absent: str = "-") -> str:
    """An ISO-8601 moment as a person reads it in a listing: 2026-12-07 08:29:04 UTC."""
    if not iso:
        return absent
    moment = datetime.fromisoformat(iso)
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def cutoff(before: str | None, older_than: int | None, now: datetime) -> datetime:
    """The start (UTC) of the day a prune keeps from: --before DAY, or --older-than DAYS
    counted back from `now` (what a cron line can say); one of them, not both."""
    if (before is None) == (older_than is None):
        raise ValidationError("give --before DAY or --older-than DAYS (one of them)")
    if older_than is not None:  # as planning.days_back, which would load the ranker here
        return datetime.combine((now - timedelta(days=older_than)).date(), time(), tzinfo=UTC)
    assert before is not None
    return datetime.combine(parse_day(before, "--before"), time(), tzinfo=UTC)


def parse_day(text: str, option: str) -> date:
    """A day typed as YYYY-MM-DD; a ValidationError naming `option` otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"invalid {option} {text!r}: use a day such as 2026-01-31") from None


BeforeOpt = Annotated[
    str | None,
    typer.Option(help="Remove what came before this day (YYYY-MM-DD, UTC).", show_default=False),
]
OlderThanOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=36_500,
        help="Or: remove what is older than this many days (as a cron line can say it).",
        show_default=False,
    ),
]


@contextmanager
def file_to_write(
    path: Path, newline: str | None = None, *, private: bool = False
) -> Iterator[TextIO]:
    """A text file to write (its folder made if need be; `private`: readable by its owner
    alone, also when it was there before); a failure, opening or writing, is one DigestError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = 0o600 if private else 0o666  # before the umask, for a file made here
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        if private and stat.S_ISREG(os.fstat(descriptor).st_mode):  # not a pipe or terminal
            os.fchmod(descriptor, 0o600)  # a file that was there, others could read
        with open(descriptor, "w", encoding="utf-8", newline=newline) as file:
            yield file
    except OSError as exc:
        raise DigestError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_file(path: Path, text: str, newline: str | None = None, *, private: bool = False) -> None:
    """Write text to a file, as `file_to_write` opens it."""
    with file_to_write(path, newline, private=private) as file:
        file.write(text)


def terminal_safe(text: str) -> str:
    """Text without the control characters (ESC, BEL, CR, ...) that would drive a terminal or
    reorder what it shows (bidirectional overrides); newlines and tabs stay."""
    return without_unsafe(text)


def say(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print one message; whatever it quotes (keywords, titles, errors) is made terminal safe."""
    typer.echo(terminal_safe(text), err=err, nl=nl)


def say_suggestions(keywords: Sequence[str], df: Mapping[str, int] | None) -> None:
    """A note on stderr for each keyword that holds no word a paper is matched on ("R",
    "the"), and for each typed word no paper holds, with the word likely meant
    ("speculativ" -> "speculative"; only with word statistics, `df`)."""
    from digest.ranking import stems
    from digest.ranking.suggest import suggestions

    for keyword in keywords:
        if not stems(keyword):
            say(
                f"note: {keyword!r} will match no paper: single letters, symbols and common "
                "words are not matched on (add the topic's own words)",
                err=True,
            )
    for typed, better in suggestions(keywords, df or {}).items():
        say(f"note: no paper holds {typed!r}: did you mean {better!r}?", err=True)


def echo_json(data: Any) -> None:
    """Print data as indented JSON; characters that would drive or reorder a terminal are
    written as \\u escapes, so the JSON reads back the same."""
    typer.echo(_json_text(data))


def _json_text(data: Any) -> str:
    """Indented JSON, characters that would drive or reorder a terminal as \\u escapes."""
    return json_escaped(json.dumps(data, indent=2, ensure_ascii=False, default=str))


ECHOED_AT_ONCE = 500  # pieces of output per write (click flushes after every echo)


def echo_pieces(pieces: Iterable[str]) -> int:
    """Print text pieces as they come, several to a write; how many there were."""
    batch: list[str] = []
    count = 0
    for piece in pieces:
        batch.append(piece)
        count += 1
        if len(batch) == ECHOED_AT_ONCE:
            typer.echo("".join(batch), nl=False)
            batch.clear()
    typer.echo("".join(batch), nl=False)
    return count


def echo_json_rows(rows: Iterable[Any]) -> None:
    """Print rows as one JSON array, as `echo_json` prints their list, a row at a time (a
    listing of a million rows never holds them all)."""

    def pieces() -> Iterator[str]:
        opening = "[\n"
        for row in rows:
            yield opening + _json_text([row])[2:-2]  # "[\n" ... "\n]": indented as in a list
            opening = ",\n"
        yield "[]\n" if opening == "[\n" else "\n]\n"

    echo_pieces(pieces())


def find_subscriber(store: Store, email: str) -> Subscriber:
    """The subscriber with this address, however it was typed; NotFoundError if none."""
    from digest.subscriptions.preferences import normalise_email

    if any(ch in email for ch in "\r\n\x00"):
        raise ValidationError("invalid email address: it contains a line break")
    found = store.subscribers.find(email)
    if found is None:
        try:
            found = store.subscribers.find(normalise_email(email))
        except ValidationError:
            found = None
    if found is None:
        raise NotFoundError(f"no subscriber {email.strip()!r}: see `digest subscribers list`")
    return found
