"""Sources -> fetch -> parse -> dedupe -> store in the history, one report per listing read."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import OperationalError

from digest.errors import DigestError, FetchStoppedError
from digest.ingest.identity import dedupe, lookup_keys, plan_writes
from digest.models import FetchStatus
from digest.safe_text import without_password
from digest.sources.base import Listing, PaperRecord, SourceConfig, collapse_whitespace
from digest.sources.detect import detect_kind
from digest.sources.files import expand, read_bytes
from digest.sources.hf import hf_following_pages
from digest.sources.http import Fetched, Fetcher
from digest.sources.parse import AUTO, parse_body
from digest.store import Store
from digest.store.papers import UpsertResult

log = logging.getLogger(__name__)
T = TypeVar("T")
# The longest real titles are about 300 characters; a "title" of more is a listing that ran
# a title into its abstract, and the longer title of a paper wins its merge: refused.
LONGEST_TITLE = 1000


@dataclass
class SourceReport:
    """The outcome of ingesting one listing."""

    source: str
    url: str
    new: int = 0
    known: int = 0
    bad: int = 0
    ignored: int = 0
    unchanged: bool = False
    error: str | None = None
    stopped: bool = False  # given up as the service stopped: not counted against the source

    @property
    def ok(self) -> bool:
        """True when the listing was read (or was unchanged) and stored."""
        return self.error is None


def is_url(location: str) -> bool:
    """True for http(s) URLs, False for file system paths."""
    return location.lower().startswith(("http://", "https://"))


def store_records(
    store: Store, records: Sequence[PaperRecord], source: str, now: datetime
) -> UpsertResult:
    """Insert new papers, merge known ones and record a sighting of each, atomically."""
    if not records:
        return UpsertResult()
    ids, title_norms = lookup_keys(records)
    decide = functools.partial(plan_writes, records, source=source, now=now)
    return store.papers.write(ids, title_norms, decide)


def ingest_listing(
    store: Store, listing: Listing, name: str, now: datetime, fetched: Fetched | None = None
) -> SourceReport:
    """Store one parsed listing in one transaction and remember the fetch."""
    records = [r for r in listing.records if len(r.title) <= LONGEST_TITLE]
    result = store_records(store, dedupe(records), name, now)
    store.papers.record_fetch(
        listing.source,
        now,
        status=FetchStatus.OK,
        result=result,
        etag=fetched.etag if fetched else None,
        last_modified=fetched.last_modified if fetched else None,
    )
    return SourceReport(
        source=name,
        url=listing.source,
        new=result.new,
        known=result.known,
        bad=listing.bad_records + len(listing.records) - len(records),
        ignored=result.ignored,
    )


def ingest_source(
    store: Store, source: SourceConfig, now: datetime, fetcher: Fetcher | None = None
) -> list[SourceReport]:
    """Ingest every listing a source names; a failing listing never stops the others."""
    if is_url(source.url):
        return [_guarded(store, source, source.url, now, _ingest_url, fetcher or Fetcher())]
    try:
        paths = expand(source.url)
    except DigestError as exc:
        return [_failed(store, source, source.url, now, exc)]
    return [_guarded(store, source, str(path), now, _ingest_file, path) for path in paths]


def _ingest_file(store: Store, source: SourceConfig, now: datetime, path: Path) -> SourceReport:
    listing = parse_body(source.kind, read_bytes(path), str(path), now.date())
    return ingest_listing(store, listing, source.name, now)


def _guarded(
    store: Store,
    source: SourceConfig,
    url: str,
    now: datetime,
    ingest: Callable[[Store, SourceConfig, datetime, T], SourceReport],
    how: T,
) -> SourceReport:
    """One listing ingested, or its failure recorded. A failure that is not one of ours is a
    bug (a parser library's, or ours): logged with its traceback for the operator, but it
    fails this listing alone, never the other sources or the digests sent after them."""
    try:
        return ingest(store, source, now, how)
    except FetchStoppedError as exc:  # the source did not fail: its state stays as it was
        return SourceReport(source=source.name, url=url, error=str(exc), stopped=True)
    except DigestError as exc:
        return _failed(store, source, url, now, exc)
    except OperationalError:  # the database, not this listing: nothing could be recorded
        raise
    except Exception as exc:
        log.exception("reading %s failed on a bug", without_password(url))
        error = f"internal error ({type(exc).__name__}): please report it with the log"
        return _failed(store, source, url, now, DigestError(error))


def _failed(
    store: Store, source: SourceConfig, url: str, now: datetime, exc: DigestError
) -> SourceReport:
    # the error is shown beside its URL: a parser's own "URL: " in front would say it twice;
    # it may quote the listing, and it is stored: cleaned as the listing's text is
    shown = without_password(url)
    message = collapse_whitespace(str(exc)).replace(url, shown).removeprefix(f"{shown}: ")
    store.papers.record_fetch(url, now, status=FetchStatus.FAILED, error=message)
    return SourceReport(source=source.name, url=url, error=message)


def _ingest_url(
    store: Store, source: SourceConfig, now: datetime, fetcher: Fetcher
) -> SourceReport:
    state = store.papers.source_state(source.url)
    fetched = fetcher.get(
        source.url,
        etag=state.etag if state else None,
        last_modified=state.last_modified if state else None,
    )
    if fetched.unchanged:
        store.papers.record_fetch(source.url, now, status=FetchStatus.UNCHANGED)
        return SourceReport(source=source.name, url=source.url, unchanged=True)
    kind = detect_kind(fetched.body, fetched.content_type) if source.kind == AUTO else source.kind
    listing = parse_body(kind, fetched.body, source.url, now.date(), fetched.content_type)
    if kind == "hf-api":
        listing = hf_following_pages(listing, source.url, fetcher)
    return ingest_listing(store, listing, source.name, now, fetched)
