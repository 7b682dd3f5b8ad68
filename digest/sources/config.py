"""What a source is: a listing to ingest, as the settings name it (pydantic only, so that
reading the settings loads neither the parsers nor the database models)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from digest.vocabulary import SourceKind


class SourceConfig(BaseModel):
    """One listing to ingest: a file, a directory of files, or an http(s) URL."""

    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1)
    kind: SourceKind = SourceKind.AUTO
    interval_minutes: int | None = Field(default=None, ge=1)  # how often `serve` fetches it

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.isprintable():  # it is printed on terminals and in logs
            raise ValueError("must be one line of printable text")
        return value
