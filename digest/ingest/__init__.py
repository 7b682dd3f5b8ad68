"""Ingest: listings from sources into the history (`listings`), by one identity and merge
rule (`identity`)."""

from digest.ingest.listings import (
    SourceReport,
    ingest_listing,
    ingest_source,
    is_url,
    store_records,
)

__all__ = ["SourceReport", "ingest_listing", "ingest_source", "is_url", "store_records"]
