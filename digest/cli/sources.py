"""`digest fetch` and `digest sources`: reading listings and showing how each source fares."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from digest.cli.common import (
    AppState,
    JsonOpt,
    echo_json,
    now_option,
    parse_now,
    say,
    state,
    when,
)
from digest.errors import NotFoundError
from digest.safe_text import without_password
from digest.vocabulary import FetchStatus, SourceKind, counted

if TYPE_CHECKING:
    from digest.models import SourceState
    from digest.sources.base import SourceConfig
    from digest.wiring import Services


def fetch(
    ctx: typer.Context,
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Configured source names, URLs, files or directories (default: all configured).",
            show_default=False,
        ),
    ] = None,
    kind: Annotated[
        SourceKind,
        typer.Option(
            help="Format of ad-hoc URLs and files: auto recognises JSON, HTML, XML and text.",
            case_sensitive=False,
        ),
    ] = SourceKind.AUTO,
    now: Annotated[str | None, now_option] = None,
) -> None:
    """Ingest listings; print per listing how many papers were new, known or bad."""
    if fetch_and_report(state(ctx), sources or [], parse_now(now), kind):
        raise typer.Exit(1)


def fetch_and_report(
    app_state: AppState, names: list[str], moment: datetime, kind: SourceKind = SourceKind.AUTO
) -> int:
    """Ingest and print one line per listing; returns how many listings failed."""
    services = app_state.services()
    chosen = resolve_sources(services, names, kind)
    from digest.cli.progress import ProgressLine

    with ProgressLine("fetching listings", len(chosen)) as line:
        reports = app_state.digest(signing=False).fetch(moment, chosen, line.advance)
    failed = 0
    for r in reports:
        shown = without_password(r.url)
        if r.unchanged:
            say(f"{shown}: unchanged since the last fetch")
        elif r.ok:
            skipped = (
                f", {counted(r.ignored, 'replacement')} of unknown papers skipped"
                if r.ignored
                else ""
            )
            bad = counted(r.bad, "bad record")
            say(f"{shown}: {r.new} new, {r.known} already known, {bad}" + skipped)
        else:
            failed += 1
            say(f"{shown}: failed: {r.error}", err=True)
    total_new = sum(r.new for r in reports)
    say(
        f"{counted(len(reports), 'listing')} read, {counted(total_new, 'new paper')}"
        + (", nothing new" if total_new == 0 and not failed else "")
        + (f", {failed} failed" if failed else "")
    )
    return failed


def resolve_sources(services: Services, names: list[str], kind: SourceKind) -> list[SourceConfig]:
    """Configured sources by name; anything else is an ad-hoc URL or path of `kind`."""
    from digest.sources.base import SourceConfig

    configured = {s.name: s for s in services.settings.sources}
    if not names:
        if not configured:
            raise NotFoundError("no sources configured: add [[sources]] to the config file")
        return list(configured.values())
    for name in names:
        if name not in configured and _bare_word(name) and not Path(name).expanduser().exists():
            known = ", ".join(sorted(configured)) or "none"
            raise NotFoundError(
                f"no source named {name!r} (configured: {known}) and no such file or "
                "directory: nothing was fetched"
            )
    return [configured.get(name) or SourceConfig(name=name, url=name, kind=kind) for name in names]


def _bare_word(name: str) -> bool:
    """Whether an argument reads as a source's name rather than a path or an address."""
    return not any(mark in name for mark in "./\\:")


def sources(
    ctx: typer.Context,
    as_json: JsonOpt = False,
) -> None:
    """List the configured sources with last fetch, status, failures in a row and last error."""
    services = state(ctx).services()
    states = services.store.papers.source_states()
    rows = [_summary(source, states) for source in services.settings.sources]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        say("no sources configured: add [[sources]] to the config file")
    for row in rows:
        fetched = when(row["last_fetch_at"], "never fetched")
        line = (
            f"{row['name']}  [{row['kind']}]  {row['url']}  {row['status'] or '-'}  "
            f"last fetch: {fetched}  failures in a row: {row['consecutive_failures']}"
        )
        say(line + (f"  last error: {row['last_error']}" if row["last_error"] else ""))


def _summary(source: SourceConfig, states: list[SourceState]) -> dict[str, Any]:
    """One source's state; a directory's is the sum of its files' states."""
    from digest.ingest import is_url

    mine = [
        s
        for s in states
        if s.url == source.url
        or (not is_url(source.url) and Path(s.url).parent == Path(source.url))
    ]
    failing = [s for s in mine if s.last_status == FetchStatus.FAILED]
    latest = max((s.last_fetch_at for s in mine if s.last_fetch_at), default=None)
    return {
        "name": source.name,
        "kind": source.kind,
        "url": without_password(source.url),
        "interval_minutes": source.interval_minutes,
        "last_fetch_at": latest.isoformat() if latest else None,
        "status": FetchStatus.FAILED if failing else (mine[0].last_status if mine else None),
        "consecutive_failures": max((s.consecutive_failures for s in mine), default=0),
        "last_error": failing[0].last_error if failing else None,
        "listings": len(mine),
    }
