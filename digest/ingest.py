"""Sources -> parse -> dedupe -> upsert into history, one report line per listing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from digest.config import SourceConfig
from digest.errors import DigestError
from digest.sources.base import Listing, dedupe
from digest.sources.files import decode, expand, read_bytes
from digest.sources.text import parse_text
from digest.store import Store, UpsertResult


@dataclass
class SourceReport:
    """The outcome of ingesting one listing."""

    source: str
    url: str
    new: int = 0
    known: int = 0
    bad: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the listing was read and stored."""
        return self.error is None


def parse_file(path: Path, now: datetime) -> Listing:
    """Read and parse one saved text listing."""
    text = decode(read_bytes(path), str(path))
    return parse_text(text, str(path), now.date())


def ingest_listing(store: Store, listing: Listing, name: str, now: datetime) -> SourceReport:
    """Store one parsed listing in one transaction and remember the fetch."""
    result: UpsertResult = store.upsert_records(dedupe(listing.records), name, now)
    store.record_fetch(listing.source, now, status="ok", result=result)
    return SourceReport(
        source=name,
        url=listing.source,
        new=result.new,
        known=result.known,
        bad=listing.bad_records,
    )


def ingest_source(store: Store, source: SourceConfig, now: datetime) -> list[SourceReport]:
    """Ingest every listing a source names; a failing listing never stops the others."""
    try:
        paths = expand(source.url)
    except DigestError as exc:
        store.record_fetch(source.url, now, status="failed", error=str(exc))
        return [SourceReport(source=source.name, url=source.url, error=str(exc))]
    reports = []
    for path in paths:
        try:
            listing = parse_file(path, now)
            reports.append(ingest_listing(store, listing, source.name, now))
        except DigestError as exc:
            store.record_fetch(str(path), now, status="failed", error=str(exc))
            reports.append(SourceReport(source=source.name, url=str(path), error=str(exc)))
    return reports
