"""What a source is: a listing to ingest, as the settings name it (pydantic only, so that
reading the settings loads neither the parsers nor the database models)."""

from __future__ import annotations

from pydantic import BaseModel

from digest.vocabulary import SourceKind


class SourceConfig(BaseModel):
    """One listing to ingest: a file, a directory of files, or an http(s) URL."""

    name: str
    url: str
    kind: SourceKind = SourceKind.AUTO
    interval_minutes: int | None = None
