"""Sources -> fetch -> parse -> dedupe -> upsert into history, one report per listing read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from digest.config import SourceConfig
from digest.errors import DigestError, FetchError
from digest.sources import AUTO, detect_kind, parse_body
from digest.sources.base import Listing, dedupe
from digest.sources.files import expand, read_bytes
from digest.sources.hf import hf_api_url, hf_is_last_page
from digest.sources.http import Fetched, Fetcher
from digest.store import Store

HF_DEFAULT_LIMIT = 50
MAX_PAGES = 20


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

    @property
    def ok(self) -> bool:
        """True when the listing was read (or was unchanged) and stored."""
        return self.error is None


def is_url(location: str) -> bool:
    """True for http(s) URLs, False for file system paths."""
    return location.lower().startswith(("http://", "https://"))


def ingest_listing(
    store: Store, listing: Listing, name: str, now: datetime, fetched: Fetched | None = None
) -> SourceReport:
    """Store one parsed listing in one transaction and remember the fetch."""
    result = store.upsert_records(dedupe(listing.records), name, now)
    store.record_fetch(
        listing.source,
        now,
        status="ok",
        result=result,
        etag=fetched.etag if fetched else None,
        last_modified=fetched.last_modified if fetched else None,
    )
    return SourceReport(
        source=name,
        url=listing.source,
        new=result.new,
        known=result.known,
        bad=listing.bad_records,
        ignored=result.ignored,
    )


def ingest_source(
    store: Store, source: SourceConfig, now: datetime, fetcher: Fetcher | None = None
) -> list[SourceReport]:
    """Ingest every listing a source names; a failing listing never stops the others."""
    if is_url(source.url):
        try:
            return [_ingest_url(store, source, now, fetcher or Fetcher())]
        except DigestError as exc:
            return [_failed(store, source, source.url, now, exc)]
    try:
        paths = expand(source.url)
    except DigestError as exc:
        return [_failed(store, source, source.url, now, exc)]
    reports = []
    for path in paths:
        try:
            listing = parse_body(source.kind, read_bytes(path), str(path), now.date())
            reports.append(ingest_listing(store, listing, source.name, now))
        except DigestError as exc:
            reports.append(_failed(store, source, str(path), now, exc))
    return reports


def _failed(
    store: Store, source: SourceConfig, url: str, now: datetime, exc: DigestError
) -> SourceReport:
    message = " ".join(str(exc).split())
    store.record_fetch(url, now, status="failed", error=message)
    return SourceReport(source=source.name, url=url, error=message)


def _ingest_url(
    store: Store, source: SourceConfig, now: datetime, fetcher: Fetcher
) -> SourceReport:
    state = store.source_state(source.url)
    fetched = fetcher.get(
        source.url,
        etag=state.etag if state else None,
        last_modified=state.last_modified if state else None,
    )
    if fetched.unchanged:
        store.record_fetch(source.url, now, status="unchanged")
        return SourceReport(source=source.name, url=source.url, unchanged=True)
    kind = detect_kind(fetched.body, fetched.content_type) if source.kind == AUTO else source.kind
    listing = parse_body(kind, fetched.body, source.url, now.date(), fetched.content_type)
    if kind == "hf-api":
        listing = _more_hf_pages(listing, source.url, now, fetcher)
    return ingest_listing(store, listing, source.name, now, fetched)


def _more_hf_pages(first: Listing, url: str, now: datetime, fetcher: Fetcher) -> Listing:
    """Read the following pages of an HF API listing until a short page."""
    query = parse_qs(urlsplit(url).query)
    try:
        limit = int(query.get("limit", [str(HF_DEFAULT_LIMIT)])[0])
        page = int(query.get("p", ["0"])[0])
    except ValueError:
        raise FetchError(f"{url}: `limit` and `p` must be whole numbers") from None
    listing = first
    current = first
    for _ in range(MAX_PAGES):
        if hf_is_last_page(current, limit):
            break
        page += 1
        next_url = hf_api_url(url, page=page, limit=limit)
        fetched = fetcher.get(next_url)
        current = parse_body("hf-api", fetched.body, next_url, now.date(), fetched.content_type)
        listing = Listing(
            source=listing.source,
            records=listing.records + current.records,
            bad_records=listing.bad_records + current.bad_records,
            listing_date=listing.listing_date,
            problems=listing.problems + current.problems,
        )
    return listing
