"""`digest subscribers import` and `export`: subscribers from and to CSV files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from digest.cli.common import file_to_write, parse_now, say, state
from digest.vocabulary import CSV_COLUMNS as COLUMNS
from digest.vocabulary import counted


def import_cmd(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help=f"CSV file (UTF-8 or UTF-16) with a header row; columns {','.join(COLUMNS)}, "
            "of which only email and keywords are required.",
            show_default=False,
        ),
    ],
) -> None:
    """Import subscribers from CSV in one transaction; addresses already present are kept as
    they are, and those on the suppression list (they complained or bounced) left out.

    Every row is checked first. Bad rows are reported on stderr with their line number and
    left out, the good rows are still imported, and the exit status is 1 if any row was bad.
    Columns are separated by ',' (or by ';' or tabs, as some spreadsheets save them: the
    header row tells which). Keywords are separated by ';' (or ',' inside a double-quoted
    field).
    """
    from digest.local_files import read_import_csv
    from digest.subscriptions.csv_io import ParsedFile, read_subscribers_csv

    parsed = ParsedFile()
    rows = read_subscribers_csv(read_import_csv(file), parse_now(None), parsed, name=str(file))
    done = state(ctx).services().store.subscribers.import_many(rows)
    if parsed.ignored_columns:
        names = ", ".join(repr(c) for c in parsed.ignored_columns)
        say(
            f"note: ignored the columns {names} (the columns read are {', '.join(COLUMNS)})",
            err=True,
        )
    for bad in parsed.bad_rows:
        say(str(bad), err=True)
    repeated = f" ({parsed.repeated} repeated in the file, counted once)" if parsed.repeated else ""
    bad_rows = counted(len(parsed.bad_rows), "bad row")
    left_out = (
        f", {done.suppressed} on the suppression list (left out: `digest suppression list`)"
        if done.suppressed
        else ""
    )
    say(f"{done.added} imported, {done.present} already present{left_out}, {bad_rows}{repeated}")
    if parsed.bad_rows:
        raise typer.Exit(1)


def export(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(help="Write the CSV here (default: standard output).", show_default=False),
    ] = None,
) -> None:
    """Export every subscriber as CSV, in the columns `import` reads.

    Their settings only: votes, past digests and the suppression list stay behind (to move
    a whole service to another database, use `digest copy-to`).
    """
    from digest.subscriptions.csv_io import write_subscribers_csv

    rows = state(ctx).services().store.subscribers.each()  # a page at a time
    if file is None:  # data, not a message: its cells are cleaned by the CSV writer
        write_subscribers_csv(rows, typer.get_text_stream("stdout"))
        return
    with file_to_write(file, newline="", private=True) as out:  # every subscriber's address
        count = write_subscribers_csv(rows, out)
    say(f"{counted(count, 'subscriber')} exported to {file}")
