"""What a source is: a listing to ingest, as the settings name it (pydantic only, so that
reading the settings loads neither the parsers nor the database models)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from digest.vocabulary import SourceKind


class SourceConfig(BaseModel):
    """One listing to ingest: a file, a directory of files, or an http(s) URL."""

    name: str = Field(min_length=1)
    url: str = Field(min_length=1)
    kind: SourceKind = SourceKind.AUTO
    interval_minutes: int | None = Field(default=None, ge=1)  # how often `serve` fetches it
