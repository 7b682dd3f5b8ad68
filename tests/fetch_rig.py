"""What the HTTP fetch tests share: listing bodies and their types, and a rig of a real server,
a fresh store and Fetchers that record the waits they ask for. Use the fixture in a test
module with `from fetch_rig import rig_fixture, migrated_db_fixture  # noqa: F401`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import load_source
from http_server import ScriptedServer
from sqlalchemy import text

from digest.ingest import SourceReport, ingest_source
from digest.models import SourceState
from digest.sources.base import SourceConfig
from digest.sources.http import Fetcher, FetchPolicy
from digest.store import Store

NOW = datetime(2026, 5, 8, 12, 0, tzinfo=UTC)
CONTACT = "https://digest.example.org/contact"
USER_AGENT = f"papers-digest-tests/1.0 (+{CONTACT})"
JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
HF_IDS = ["2605.05242", "2605.04871", "2605.05013", "2605.04110", "2605.03377"]
# The RSS fixture: three announcements and two replacements of papers nobody has seen.
RSS_NEW_IDS = ["2605.05242", "2605.05107", "2605.04871"]
ATOM_NEW_IDS = ["2605.05242", "2605.05188"]


def text_listing(papers: list[tuple[str, str]], page_date: str = "May 8") -> str:
    """A saved Daily Papers page in layout B (see SOURCES.md)."""
    lines = ["new", "", "Get trending papers in your email inbox!", "", "Subscribe", ""]
    lines += ["byAK and the research community", "", page_date, ""]
    for title, abstract in papers:
        lines += [title, "", abstract, ""]
    return "\n".join(lines)


TEXT_PAPERS = [
    (
        "Sparse Probing of Chess Engines for Human-Readable Plans",
        "We train sparse linear probes on the activations of a chess engine and recover "
        "human-readable multi-move plans from a handful of features.",
    ),
    (
        "Curriculum Distillation for Tiny Tabular Transformers",
        "A curriculum over teacher confidence lets a tiny tabular transformer match a model "
        "forty times larger on twelve benchmarks.",
    ),
]


TEXT_BODY = text_listing(TEXT_PAPERS)


@dataclass
class Rig:
    """A server, a fresh store and Fetchers that record the waits they ask for."""

    server: ScriptedServer
    store: Store
    sleeps: list[float] = field(default_factory=list)
    fetchers: list[Fetcher] = field(default_factory=list)
    _default: Fetcher | None = None

    @property
    def default(self) -> Fetcher:
        """One Fetcher with the small test policy, shared by the test (clients are costly)."""
        if self._default is None:
            self._default = self.fetcher()
        return self._default

    def fetcher(self, **overrides: Any) -> Fetcher:
        settings: dict[str, Any] = {
            "user_agent": USER_AGENT,
            "timeout": 0.5,
            "backoff_base": 0.01,
            "attempts": 3,
            "host_intervals": {},
        }
        settings.update(overrides)
        made = Fetcher(FetchPolicy(**settings), sleep=self.sleeps.append)
        self.fetchers.append(made)
        return made

    def ingest(
        self, url: str, kind: str = "auto", fetcher: Fetcher | None = None, name: str = "src"
    ) -> SourceReport:
        source = SourceConfig(name=name, url=url, kind=kind)
        [report] = ingest_source(self.store, source, NOW, fetcher or self.default)
        return report

    def state(self, url: str) -> SourceState:
        found = self.store.papers.source_state(url)
        assert found is not None, f"no source_state row for {url}"
        return found

    def ids(self) -> set[str]:
        return {p.id for p in self.store.papers.newest()}

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {p.id: p.model_dump() for p in self.store.papers.newest()}

    def sightings(self) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(text("select count(*) from sighting")).scalar_one())


@pytest.fixture(scope="module", name="migrated_db")
def migrated_db_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated database, copied by each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "digest.sqlite"
    Store(f"sqlite:///{path}").close()
    return path


@pytest.fixture(name="rig")
def rig_fixture(http_server: ScriptedServer, tmp_path: Path, migrated_db: Path) -> Iterator[Rig]:
    shutil.copyfile(migrated_db, tmp_path / "digest.sqlite")
    store = Store(f"sqlite:///{tmp_path / 'digest.sqlite'}", auto_migrate=False)
    made = Rig(http_server, store)
    try:
        yield made
    finally:
        for fetcher in made.fetchers:
            fetcher.close()
        store.close()


def arxiv_ids(ids: list[str]) -> set[str]:
    return {f"arxiv:{i}" for i in ids}


HF_BODY = load_source("hf_api_daily.json")


def hf_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(HF_BODY)
    return items
