"""Subscribers as CSV: parsing an import file and writing an export; pure, no I/O.

The columns are COLUMNS; an import file needs a header row naming them (in any order), of
which only email and keywords are required; other columns (a name, a note) are ignored.
Columns are separated by commas, or by semicolons or tabs as some spreadsheets save them
(the header row tells which). Keywords are separated by `;` (or `,` inside a quoted field).
A cell that a spreadsheet would run as a formula (starting with = + - @) is written with a
leading `'`, which reading takes off again, so export -> import is exact.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TextIO, TypeVar

from digest.errors import ValidationError
from digest.mail.mime import clean
from digest.models import MAX_INTEGER, Frequency, Subscriber, SubscriberStatus
from digest.planning import day_starts
from digest.subscriptions.preferences import (
    MAX_PAUSE,
    WEEKDAYS,
    choose,
    new_subscriber,
    resume_day,
)
from digest.subscriptions.tokens import PUBLIC_ID
from digest.vocabulary import CSV_COLUMNS as COLUMNS

N = TypeVar("N", int, float)

REQUIRED = ("email", "keywords")
_FORMULA_START = "=+-@'"  # a leading quote is escaped too, so that unescaping is exact


@dataclass(frozen=True)
class BadRow:
    """A data row that cannot be imported, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ParsedFile:
    """The bad rows of an import file, and how many valid rows repeated an address; filled
    in while `read_subscribers_csv` is read."""

    bad_rows: list[BadRow] = field(default_factory=list)
    repeated: int = 0  # valid rows whose address an earlier row of the file already had
    ignored_columns: list[str] = field(default_factory=list)  # not ours (a name, a note): unread


def read_subscribers_csv(
    text: str, now: datetime, result: ParsedFile, name: str = "the file"
) -> Iterator[Subscriber]:
    """The valid subscribers of a CSV text, one per address, as they are read; bad rows go
    to `result`. A missing or wrong header, or broken CSV, is a ValidationError."""
    if "\x00" in text:
        raise ValidationError(f"{name} is not a CSV file: it contains binary data")
    delimiter = _delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = _header(reader, name)
        result.ignored_columns = [c for c in header if c and c not in COLUMNS]
        seen: set[str] = set()
        line = reader.line_num + 1
        for fields in reader:
            start, line = line, reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue  # a blank line
            try:
                subscriber = row_subscriber(header, fields, now, delimiter)
            except ValidationError as exc:
                result.bad_rows.append(BadRow(start, str(exc)))
                continue
            if subscriber.email in seen:
                result.repeated += 1
                continue
            seen.add(subscriber.email)
            yield subscriber
    except csv.Error as exc:
        raise ValidationError(
            f"{name} is not valid CSV (line {reader.line_num}): {exc}; nothing was imported"
        ) from None


def row_subscriber(
    header: list[str], fields: list[str], now: datetime, delimiter: str = ","
) -> Subscriber:
    """The subscriber one data row describes, or ValidationError saying what is wrong."""
    extra = fields[len(header) :]
    if any(f.strip() for f in extra):
        raise ValidationError(
            f"{len(fields)} fields but the header has {len(header)}: put keywords that "
            f"contain {_DELIMITER_NAMES[delimiter]} in double quotes"
        )
    values = dict(zip(header, (unescape(f) for f in fields), strict=False))
    for column in header:
        _check_characters(column, values.get(column, ""))

    def get(column: str, default: str) -> str:
        value = values.get(column, "").strip()
        return value or default

    max_papers_text = get("max_papers", "10")
    try:
        max_papers = int(max_papers_text)
    except ValueError:
        raise ValidationError(
            f"max_papers must be a whole number, not {max_papers_text[:40]!r}"
        ) from None
    status = choose(SubscriberStatus, get("status", SubscriberStatus.ACTIVE), "status")
    subscriber = new_subscriber(
        email=get("email", ""),
        keywords=values.get("keywords", ""),
        exclude=values.get("exclude", ""),
        timezone=get("timezone", "UTC"),
        send_at=get("send_at", "08:00"),
        max_papers=max_papers,
        frequency=get("frequency", Frequency.DAILY),
        weekly_day=get("weekly_day", "0"),
        status=status,
        trending=_number(get("trending", "0.1"), "trending", float),
        trending_box=get("trending_box", "no").lower() in ("yes", "true", "1"),
        grouped=get("grouped", "yes").lower() in ("yes", "true", "1"),
        now=now,
    )
    # links in mail already sent name these two: kept, they keep working after a move
    public_id = get("public_id", "")
    if public_id:
        if not PUBLIC_ID.fullmatch(public_id):
            raise ValidationError(f"public_id {public_id[:40]!r} is not one this service made")
        subscriber.public_id = public_id
    subscriber.token_version = _number(get("token_version", "1"), "token_version", int)
    if not 1 <= subscriber.token_version <= MAX_INTEGER:
        raise ValidationError(f"token_version must be 1 to {MAX_INTEGER}")
    subscriber.paused_until = _pause_end(get("paused_until", ""), subscriber, now)
    return subscriber


def _pause_end(text: str, subscriber: Subscriber, now: datetime) -> datetime | None:
    """When a paused subscriber's digests start again by themselves (a day already past
    resumes them at the next send), from the day the paused_until column gives."""
    if not text:
        return None
    if subscriber.status != SubscriberStatus.PAUSED:
        raise ValidationError(
            f"paused_until is for a paused subscriber, not one {subscriber.status}"
        )
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"paused_until must be a day as YYYY-MM-DD, not {text[:40]!r}"
        ) from None
    ends = day_starts(subscriber.timezone, day)
    if ends > now + MAX_PAUSE:
        raise ValidationError(f"paused_until {day} is more than a year away")
    return ends


def _number(text: str, column: str, kind: type[N]) -> N:
    try:
        return kind(text)
    except ValueError:
        raise ValidationError(f"{column} must be a number, not {text[:40]!r}") from None


def subscriber_row(subscriber: Subscriber) -> list[str]:
    """One subscriber as CSV fields in COLUMNS order (before formula escaping)."""
    return [
        subscriber.email,
        clean("; ".join(subscriber.keywords)),  # rows from before control characters were refused
        clean("; ".join(subscriber.exclude)),
        subscriber.timezone,
        subscriber.send_at,
        str(subscriber.max_papers),
        subscriber.frequency,
        WEEKDAYS[subscriber.weekly_day % 7],
        subscriber.status,
        f"{subscriber.trending:g}",
        "yes" if subscriber.trending_box else "no",
        "yes" if subscriber.grouped else "no",
        subscriber.public_id,
        str(subscriber.token_version),
        day.isoformat() if (day := resume_day(subscriber)) is not None else "",
    ]


def write_subscribers_csv(subscribers: Iterable[Subscriber], out: TextIO) -> int:
    """Write a header and one row per subscriber to `out`; how many rows were written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for subscriber in subscribers:
        writer.writerow([escape(value) for value in subscriber_row(subscriber)])
        count += 1
    return count


def escape(value: str) -> str:
    """A cell that a spreadsheet will not run as a formula."""
    return f"'{value}" if value[:1] and value[0] in _FORMULA_START else value


def unescape(value: str) -> str:
    """The value `escape` was given."""
    if len(value) > 1 and value[0] == "'" and value[1] in _FORMULA_START:
        return value[1:]
    return value


_DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}
_FIRST_LINE = re.compile(r"[^\s][^\r\n]*")


def _delimiter(text: str) -> str:
    """The column separator of a CSV text: the one that makes its first line name the email
    column (spreadsheets in many languages save ';', "Unicode text" uses tabs); else ','."""
    line = _FIRST_LINE.search(text)  # not splitlines(): an import may be 500 MB
    first = line.group() if line else ""
    for delimiter in _DELIMITER_NAMES:
        cells = (c.strip().strip('"').lstrip("\ufeff").lower() for c in first.split(delimiter))
        if "email" in cells:
            return delimiter
    return ","


def _header(reader: Iterable[list[str]], name: str) -> list[str]:
    example = ",".join(COLUMNS)
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        header = [f.strip().lower().lstrip("\ufeff") for f in fields]
        while header and not header[-1]:
            header.pop()  # trailing empty columns, as spreadsheets write them
        found = ",".join(fields)[:80]
        if "email" not in header:
            raise ValidationError(
                f"{name} has no header row: the first line must name the columns, "
                f"e.g. {example} (found {found!r}); nothing was imported"
            )
        twice = [c for c in COLUMNS if header.count(c) > 1]
        if twice:
            raise ValidationError(f"{name} names the column {twice[0]!r} twice in its header")
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ValidationError(
                f"{name} has no {missing[0]!r} column: the header needs at least "
                f"{', '.join(REQUIRED)}; nothing was imported"
            )
        return header
    raise ValidationError(f"{name} is empty: it needs a header row such as {example}")


def _check_characters(column: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValidationError(f"{column} contains a line break")
    if any(ord(ch) < 32 and ch != "\t" or ord(ch) == 127 for ch in value):
        raise ValidationError(f"{column} contains a control character")
