"""Fetcher and ingest against a real HTTP server on 127.0.0.1: kinds, validators, retries, limits.

Every Fetcher here gets a recording `sleep`, so Retry-After and backoff are checked without
waiting; only the per-host pacing test (0.3 s) and the timeout tests really wait.
"""

from __future__ import annotations

import email.utils
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED_PAPER, load_source
from http_server import Reply, ScriptedServer, http_server_fixture, serve  # noqa: F401
from sqlalchemy import text

from digest import pipeline
from digest.errors import FetchError
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


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated database, copied by each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "digest.sqlite"
    Store(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def rig(http_server: ScriptedServer, tmp_path: Path, migrated_db: Path) -> Iterator[Rig]:
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


# -- every kind over HTTP --------------------------------------------------------------------

KIND_CASES = [
    ("hf-api", "/api/daily_papers", "hf_api_daily.json", JSON, arxiv_ids(HF_IDS)),
    ("hf-page", "/papers/date/2026-05-08", "hf_page_daily.html", HTML, arxiv_ids(HF_IDS)),
    ("arxiv-rss", "/rss/cs.LG", "arxiv_rss_cs_lg.xml", RSS, arxiv_ids(RSS_NEW_IDS)),
    ("arxiv-atom", "/atom/cs.LG", "arxiv_atom_cs_lg.xml", ATOM, arxiv_ids(ATOM_NEW_IDS)),
]


@pytest.mark.parametrize("as_kind", ["auto", "named"])
@pytest.mark.parametrize(
    ("kind", "path", "fixture", "content_type", "expected"),
    KIND_CASES,
    ids=[c[0] for c in KIND_CASES],
)
def test_every_feed_kind_over_http(
    rig: Rig,
    as_kind: str,
    kind: str,
    path: str,
    fixture: str,
    content_type: str,
    expected: set[str],
) -> None:
    url = rig.server.route(path, Reply(200, body=load_source(fixture), content_type=content_type))
    report = rig.ingest(url, kind if as_kind == "named" else "auto")
    assert report.ok, report.error
    assert (report.new, report.known, report.bad, report.unchanged) == (len(expected), 0, 0, False)
    assert rig.ids() == expected
    state = rig.state(url)
    assert (state.last_status, state.consecutive_failures, state.last_error) == ("ok", 0, None)
    assert state.papers_new == len(expected)
    assert len(rig.server.requests(path)) == 1


@pytest.mark.parametrize("kind", ["auto", "text"])
def test_text_listing_over_http(rig: Rig, kind: str) -> None:
    url = rig.server.route("/saved/may-8.txt", Reply(200, body=TEXT_BODY, content_type=TEXT))
    report = rig.ingest(url, kind)
    assert report.ok, report.error
    assert (report.new, report.bad) == (2, 0)
    titles = {p.title: p for p in rig.store.papers.newest()}
    assert set(titles) == {t for t, _ in TEXT_PAPERS}
    paper = titles[TEXT_PAPERS[0][0]]
    assert paper.id.startswith("title:") and paper.arxiv_id is None
    assert paper.abstract == TEXT_PAPERS[0][1]
    assert paper.listing_date == date(2026, 5, 8)


def test_shared_paper_over_http_keeps_hf_and_arxiv_details(rig: Rig) -> None:
    hf = rig.server.route(
        "/papers", Reply(200, body=load_source("hf_page_daily.html"), content_type=HTML)
    )
    rss = rig.server.route(
        "/rss/cs.LG", Reply(200, body=load_source("arxiv_rss_cs_lg.xml"), content_type=RSS)
    )
    fetcher = rig.default
    assert rig.ingest(hf, fetcher=fetcher).new == 5
    report = rig.ingest(rss, fetcher=fetcher)
    assert (report.new, report.known) == (1, 2)
    [paper] = [p for p in rig.store.papers.newest() if p.arxiv_id == SHARED_PAPER["arxiv_id"]]
    assert paper.id == "arxiv:2605.05242"
    assert paper.title == SHARED_PAPER["title"]
    assert paper.authors == SHARED_PAPER["authors"]
    assert paper.upvotes == 87
    assert paper.categories == ["cs.AI", "cs.CL", "cs.LG"]
    assert len(rig.ids()) == 6


# -- polite fetching: User-Agent, validators, 304 --------------------------------------------


def test_user_agent_names_the_contact_url(rig: Rig) -> None:
    url = rig.server.route("/rss/cs.LG", Reply(200, body=load_source("arxiv_rss_empty.xml")))
    rig.default.get(url)
    [request] = rig.server.requests("/rss/cs.LG")
    assert request.header("User-Agent") == USER_AGENT
    assert CONTACT in (request.header("User-Agent") or "")
    assert request.header("If-None-Match") is None
    assert request.header("If-Modified-Since") is None


def test_default_user_agent_carries_a_contact_url(rig: Rig) -> None:
    url = rig.server.route("/feed", Reply(200, body=b"ok", content_type=TEXT))
    default = Fetcher(FetchPolicy(timeout=0.5, host_intervals={}))
    rig.fetchers.append(default)
    default.get(url)
    [request] = rig.server.requests("/feed")
    agent = request.header("User-Agent") or ""
    assert agent.startswith("papers-digest/")
    assert "(+https://github.com/papers-digest/papers-digest)" in agent


def test_etag_and_last_modified_are_stored_sent_back_and_304_is_unchanged(rig: Rig) -> None:
    stamp = "Fri, 08 May 2026 04:00:21 GMT"
    url = rig.server.route(
        "/api/daily_papers",
        Reply(
            200,
            body=load_source("hf_api_daily.json"),
            content_type=JSON,
            headers={"ETag": '"daily-v1"', "Last-Modified": stamp},
        ),
        Reply(304, headers={"ETag": '"daily-v1"'}),
    )
    first = rig.ingest(url)
    assert first.new == 5
    state = rig.state(url)
    assert (state.etag, state.last_modified) == ('"daily-v1"', stamp)
    before, sightings = rig.snapshot(), rig.sightings()

    later = NOW + timedelta(hours=1)
    source = SourceConfig(name="hf", url=url, kind="auto")
    [second] = ingest_source(rig.store, source, later, rig.default)
    assert second.ok and second.unchanged
    assert (second.new, second.known, second.error) == (0, 0, None)
    requests = rig.server.requests("/api/daily_papers")
    assert len(requests) == 2
    assert requests[0].header("If-None-Match") is None
    assert requests[1].header("If-None-Match") == '"daily-v1"'
    assert requests[1].header("If-Modified-Since") == stamp
    state = rig.state(url)
    assert state.last_status == "unchanged"
    assert (state.consecutive_failures, state.last_error) == (0, None)
    assert state.last_fetch_at is not None
    assert state.last_fetch_at.replace(tzinfo=UTC) == later
    assert (state.etag, state.last_modified) == ('"daily-v1"', stamp)
    assert rig.snapshot() == before and rig.sightings() == sightings


def test_fetcher_reports_304_as_unchanged(rig: Rig) -> None:
    url = rig.server.route("/feed", Reply(304, headers={"ETag": '"v2"'}))
    fetched = rig.default.get(url, etag='"v2"', last_modified="Fri, 08 May 2026 04:00:21 GMT")
    assert fetched.unchanged and fetched.body == b"" and fetched.etag == '"v2"'
    assert len(rig.server.requests("/feed")) == 1


def test_fetched_carries_body_type_and_validators_and_decodes_gzip(rig: Rig) -> None:
    body = load_source("arxiv_atom_cs_lg.xml")
    url = rig.server.route(
        "/atom/cs.LG",
        Reply(
            200,
            body=body,
            content_type=ATOM,
            gzip=True,
            headers={"ETag": 'W/"atom-1"', "Last-Modified": "Fri, 08 May 2026 04:00:21 GMT"},
        ),
    )
    fetched = rig.default.get(url)
    assert fetched.body == body
    assert fetched.content_type == ATOM
    assert (fetched.etag, fetched.last_modified) == ('W/"atom-1"', "Fri, 08 May 2026 04:00:21 GMT")
    assert not fetched.unchanged
    [request] = rig.server.requests("/atom/cs.LG")
    assert "gzip" in (request.header("Accept-Encoding") or "")


def test_redirect_is_followed_and_state_stays_under_the_configured_url(rig: Rig) -> None:
    new = rig.server.route(
        "/rss/cs.LG", Reply(200, body=load_source("arxiv_rss_cs_lg.xml"), content_type=RSS)
    )
    old = rig.server.route("/old/rss", Reply(301, headers={"Location": new}))
    report = rig.ingest(old)
    assert report.ok and report.new == 3
    assert rig.state(old).last_status == "ok"
    assert rig.store.papers.source_state(new) is None


# -- retries: Retry-After, backoff, which statuses -------------------------------------------


def test_429_retry_after_is_honoured_then_success(rig: Rig) -> None:
    url = rig.server.route(
        "/api/daily_papers",
        Reply(429, body=b"slow down", headers={"Retry-After": "2"}),
        Reply(200, body=load_source("hf_api_daily.json"), content_type=JSON),
    )
    report = rig.ingest(url)
    assert report.ok and report.new == 5
    assert rig.sleeps == [2.0]
    assert len(rig.server.requests("/api/daily_papers")) == 2
    assert rig.state(url).consecutive_failures == 0


def test_retry_after_as_http_date_and_capped(rig: Rig) -> None:
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    url = rig.server.route(
        "/feed",
        Reply(503, headers={"Retry-After": soon}),
        Reply(429, headers={"Retry-After": "7200"}),
        Reply(200, body=TEXT_BODY, content_type=TEXT),
    )
    fetched = rig.fetcher(retry_after_max=60.0).get(url)
    assert fetched.body == TEXT_BODY.encode()
    first, second = rig.sleeps
    assert 27.0 <= first <= 30.0
    assert second == 60.0


def test_503_twice_then_success_backs_off_exponentially(rig: Rig) -> None:
    url = rig.server.route(
        "/rss/cs.LG",
        Reply(503),
        Reply(503),
        Reply(200, body=load_source("arxiv_rss_cs_lg.xml"), content_type=RSS),
    )
    report = rig.ingest(url)
    assert report.ok and report.new == 3
    assert rig.sleeps == [0.01, 0.02]
    assert len(rig.server.requests("/rss/cs.LG")) == 3


def test_each_retry_says_why_and_how_long_it_waits(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    url = rig.server.route("/feed", Reply(503), Reply(200, body=TEXT_BODY, content_type=TEXT))
    with caplog.at_level("WARNING", logger="digest.sources.http"):
        rig.fetcher(backoff_base=3.0).get(url)
    assert [r.getMessage() for r in caplog.records] == [
        f"{url}: HTTP 503; retrying in 3 s (attempt 2 of 3)"  # the rig tries 3 times
    ]


def test_backoff_is_capped(rig: Rig) -> None:
    url = rig.server.route("/feed", Reply(502))
    with pytest.raises(FetchError, match="HTTP 502 after 4 attempts"):
        rig.fetcher(attempts=4, backoff_base=10.0, backoff_max=15.0).get(url)
    assert rig.sleeps == [10.0, 15.0, 15.0]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_temporary_statuses_are_retried(rig: Rig, status: int) -> None:
    url = rig.server.route("/feed", Reply(status), Reply(200, body=b"fine", content_type=TEXT))
    assert rig.default.get(url).body == b"fine"
    assert len(rig.server.requests("/feed")) == 2
    assert rig.sleeps == [0.01]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_permanent_statuses_fail_at_once(rig: Rig, status: int) -> None:
    url = rig.server.route("/feed", Reply(status), Reply(200, body=b"never", content_type=TEXT))
    with pytest.raises(FetchError, match=f"HTTP {status} "):
        rig.default.get(url)
    assert len(rig.server.requests("/feed")) == 1
    assert rig.sleeps == []


def test_cannot_connect_is_a_one_line_failure(rig: Rig) -> None:
    from conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/api/daily_papers"
    report = rig.ingest(url)
    assert not report.ok and report.error is not None
    assert "cannot connect" in report.error and "\n" not in report.error
    assert rig.state(url).last_status == "failed"


# -- failures: recorded, counted, one line, nothing changes, others still ingest ---------------


@dataclass(frozen=True)
class Failure:
    replies: tuple[Reply, ...]
    message: str
    requests: int
    kind: str = "auto"
    policy: tuple[tuple[str, Any], ...] = ()


HF_BODY = load_source("hf_api_daily.json")
FAILURES = {
    "500-every-attempt": Failure((Reply(500, body=b"oops"),), "HTTP 500 after 3 attempts", 3),
    "timeout": Failure(
        (Reply(200, body=HF_BODY, content_type=JSON, delay=0.8),),
        "timed out after 0.3 s (3 attempts)",
        3,
        policy=(("timeout", 0.3),),
    ),
    "over-size-cap-declared": Failure(
        (Reply(200, body=HF_BODY, content_type=JSON),),
        "over the 2000 byte limit",
        1,
        policy=(("max_bytes", 2000),),
    ),
    "over-size-cap-undeclared": Failure(
        (Reply(200, body=HF_BODY, content_type=JSON, content_length=False),),
        "over the 2000 byte limit",
        1,
        policy=(("max_bytes", 2000),),
    ),
    "over-size-cap-gzip": Failure(
        (Reply(200, body=HF_BODY * 20, content_type=JSON, gzip=True),),
        "over the 20000 byte limit",
        1,
        policy=(("max_bytes", 20000),),
    ),
    "404": Failure((Reply(404, body=b"gone"),), "HTTP 404 Not Found; check the URL", 1),
    "truncated-body": Failure(
        (Reply(200, body=HF_BODY[:3000], content_type=JSON, truncated=True),),
        "closed the connection mid-response (truncated body)",
        3,
    ),
    "malformed-json": Failure(
        (Reply(200, body=load_source("hf_api_malformed.json"), content_type=JSON),),
        "not valid JSON",
        1,
    ),
    "malformed-json-named-kind": Failure(
        (Reply(200, body=load_source("hf_api_malformed.json"), content_type=JSON),),
        "is not valid JSON",
        1,
        kind="hf-api",
    ),
    "json-error-answer": Failure(
        (Reply(200, body=load_source("hf_api_not_list.json"), content_type=JSON),),
        "Invalid date format, expected YYYY-MM-DD",
        1,
    ),
    "html-without-data-element": Failure(
        (Reply(200, body=load_source("hf_page_no_data.html"), content_type=HTML),),
        'without a data-target="DailyPapers" element',
        1,
    ),
    "html-without-data-element-named-kind": Failure(
        (Reply(200, body=load_source("hf_page_no_data.html"), content_type=HTML),),
        'no element with data-target="DailyPapers"',
        1,
        kind="hf-page",
    ),
    "html-with-broken-props": Failure(
        (Reply(200, body=load_source("hf_page_bad_props.html"), content_type=HTML),),
        "data-props",
        1,
    ),
    "invalid-xml": Failure(
        (Reply(200, body=load_source("arxiv_rss_malformed.xml"), content_type=RSS),),
        "not well-formed",
        1,
    ),
    "invalid-xml-named-kind": Failure(
        (Reply(200, body=load_source("arxiv_rss_malformed.xml"), content_type=RSS),),
        "not well-formed",
        1,
        kind="arxiv-rss",
    ),
    "hf-api-served-as-html": Failure(
        (Reply(200, body=HF_BODY, content_type=HTML),),
        "served as text/html, which a listing of kind hf-api never is",
        1,
        kind="hf-api",
    ),
    "hf-api-served-as-html-auto": Failure(
        (Reply(200, body=HF_BODY, content_type=HTML),),
        "served as text/html, which a listing of kind hf-api never is",
        1,
    ),
    "feed-served-as-json": Failure(
        (Reply(200, body=load_source("arxiv_rss_cs_lg.xml"), content_type=JSON),),
        "served as application/json, which a listing of kind arxiv-rss never is",
        1,
        kind="arxiv-rss",
    ),
    "empty-body": Failure((Reply(200, body=b"", content_type=JSON),), "empty", 1),
}


@pytest.mark.parametrize("case", list(FAILURES.values()), ids=list(FAILURES))
def test_failure_is_recorded_changes_nothing_and_others_still_ingest(
    rig: Rig, case: Failure
) -> None:
    base = rig.server.route("/base/daily_papers", Reply(200, body=HF_BODY, content_type=JSON))
    assert rig.ingest(base, name="base").new == 5
    before, sightings = rig.snapshot(), rig.sightings()

    broken = rig.server.route("/broken", *case.replies)
    other = rig.server.route("/other.txt", Reply(200, body=TEXT_BODY, content_type=TEXT))
    sources = [
        SourceConfig(name="broken", url=broken, kind=case.kind),
        SourceConfig(name="other", url=other, kind="text"),
    ]
    fetcher = rig.fetcher(**dict(case.policy)) if case.policy else rig.default
    failed, fine = pipeline.fetch(rig.store, sources, NOW, fetcher)

    assert fine.ok and fine.new == 2, fine.error
    assert not failed.ok and failed.error is not None
    assert case.message in failed.error, failed.error
    assert "\n" not in failed.error and failed.error == failed.error.strip()
    assert (failed.new, failed.known, failed.unchanged) == (0, 0, False)
    assert len(rig.server.requests("/broken")) == case.requests
    state = rig.state(broken)
    assert (state.last_status, state.consecutive_failures) == ("failed", 1)
    assert state.last_error == failed.error
    assert (state.etag, state.last_modified) == (None, None)

    after = rig.snapshot()
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {
        p.id for p in rig.store.papers.newest() if p.arxiv_id is None
    }
    assert len(after) == len(before) + 2
    assert rig.sightings() == sightings + 2

    again = rig.ingest(broken, case.kind, fetcher=fetcher, name="broken")
    assert not again.ok
    assert rig.state(broken).consecutive_failures == 2
    assert rig.snapshot() == after


def test_a_failure_after_success_keeps_validators_and_a_success_resets_the_count(rig: Rig) -> None:
    url = rig.server.route(
        "/api/daily_papers",
        Reply(200, body=HF_BODY, content_type=JSON, headers={"ETag": '"v1"'}),
        Reply(404),
        Reply(404),
        Reply(200, body=HF_BODY, content_type=JSON, headers={"ETag": '"v2"'}),
    )
    fetcher = rig.default
    assert rig.ingest(url, fetcher=fetcher).new == 5
    assert not rig.ingest(url, fetcher=fetcher).ok
    assert not rig.ingest(url, fetcher=fetcher).ok
    state = rig.state(url)
    assert (state.last_status, state.consecutive_failures, state.etag) == ("failed", 2, '"v1"')
    assert state.last_error is not None and "HTTP 404" in state.last_error
    report = rig.ingest(url, fetcher=fetcher)
    assert report.ok and (report.new, report.known) == (0, 5)
    state = rig.state(url)
    assert (state.last_status, state.consecutive_failures, state.last_error) == ("ok", 0, None)
    assert state.etag == '"v2"'
    sent = [r.header("If-None-Match") for r in rig.server.requests("/api/daily_papers")]
    assert sent == [None, '"v1"', '"v1"', '"v1"']


# -- listings that are empty or partly bad ---------------------------------------------------


def test_empty_arxiv_feed_is_not_an_error(rig: Rig) -> None:
    url = rig.server.route(
        "/rss/cs.LG", Reply(200, body=load_source("arxiv_rss_empty.xml"), content_type=RSS)
    )
    report = rig.ingest(url)
    assert report.ok and report.error is None
    assert (report.new, report.known, report.bad, report.unchanged) == (0, 0, 0, False)
    state = rig.state(url)
    assert (state.last_status, state.consecutive_failures, state.papers_new) == ("ok", 0, 0)
    assert rig.ids() == set()


@pytest.mark.parametrize(
    ("fixture", "content_type", "good", "bad"),
    [
        ("hf_api_partial.json", JSON, {"arxiv:2605.05242", "arxiv:2605.04871"}, 4),
        ("arxiv_rss_partial.xml", RSS, {"arxiv:2605.05242"}, 2),
        ("arxiv_rss_truncated.xml", RSS, {"arxiv:2605.05242"}, 1),
    ],
)
def test_bad_records_are_counted_and_good_ones_kept(
    rig: Rig, fixture: str, content_type: str, good: set[str], bad: int
) -> None:
    url = rig.server.route(
        "/listing", Reply(200, body=load_source(fixture), content_type=content_type)
    )
    report = rig.ingest(url)
    assert report.ok, report.error
    assert (report.new, report.bad) == (len(good), bad)
    assert rig.ids() == good
    assert rig.state(url).last_status == "ok"


# -- per-host pacing ------------------------------------------------------------------------


def test_requests_to_one_host_are_paced(rig: Rig) -> None:
    first = rig.server.route("/one", Reply(200, body=b"1", content_type=TEXT))
    second = rig.server.route("/two", Reply(200, body=b"2", content_type=TEXT))
    paced = Fetcher(
        FetchPolicy(user_agent=USER_AGENT, timeout=0.5, host_intervals={"127.0.0.1": 0.3})
    )
    rig.fetchers.append(paced)
    paced.get(first)
    paced.get(second)
    paced.get(first)
    arrivals = [r.arrived for r in rig.server.requests()]
    assert len(arrivals) == 3
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert all(gap >= 0.3 for gap in gaps), gaps


def test_unpaced_host_is_not_slowed(rig: Rig) -> None:
    url = rig.server.route("/one", Reply(200, body=b"1", content_type=TEXT))
    fetcher = rig.default
    for _ in range(3):
        fetcher.get(url)
    assert rig.sleeps == []
    arrivals = [r.arrived for r in rig.server.requests()]
    assert arrivals[-1] - arrivals[0] < 0.3


# -- HF API paging --------------------------------------------------------------------------


def hf_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(HF_BODY)
    return items


def test_hf_api_pages_until_a_short_page(rig: Rig) -> None:
    items = hf_items()
    path = "/api/daily_papers"
    rig.server.route(path, Reply(200, body=json.dumps(items[:2]), content_type=JSON))
    rig.server.route(path + "?p=1", Reply(200, body=json.dumps(items[2:3]), content_type=JSON))
    rig.server.route(path + "?p=2", Reply(500))
    url = rig.server.url(path + "?date=2026-05-08&limit=2")
    report = rig.ingest(url)
    assert report.ok, report.error
    assert (report.new, report.bad) == (3, 0)
    assert rig.ids() == arxiv_ids(HF_IDS[:3])
    requests = rig.server.requests(path)
    assert [r.query for r in requests] == [
        {"date": ["2026-05-08"], "limit": ["2"]},
        {"date": ["2026-05-08"], "p": ["1"], "limit": ["2"]},
    ]
    assert all(r.header("User-Agent") == USER_AGENT for r in requests)


def test_hf_api_paging_ends_on_an_empty_page(rig: Rig) -> None:
    items = hf_items()
    path = "/api/daily_papers"
    rig.server.route(path, Reply(200, body=json.dumps(items[:2]), content_type=JSON))
    rig.server.route(path + "?p=1", Reply(200, body=json.dumps(items[2:4]), content_type=JSON))
    rig.server.route(path + "?p=2", Reply(200, body="[]", content_type=JSON))
    report = rig.ingest(rig.server.url(path + "?p=0&limit=2"))
    assert report.ok and report.new == 4
    assert rig.ids() == arxiv_ids(HF_IDS[:4])
    pages = [r.query["p"] for r in rig.server.requests(path)]
    assert pages == [["0"], ["1"], ["2"]]


def test_hf_api_paging_failure_fails_the_source_and_stores_nothing(rig: Rig) -> None:
    items = hf_items()
    path = "/api/daily_papers"
    rig.server.route(path, Reply(200, body=json.dumps(items[:2]), content_type=JSON))
    rig.server.route(path + "?p=1", Reply(503))
    url = rig.server.url(path + "?limit=2")
    report = rig.ingest(url)
    assert not report.ok and report.error is not None
    assert "HTTP 503 after 3 attempts" in report.error
    assert rig.ids() == set()
    assert rig.state(url).last_status == "failed"


# -- known bugs -----------------------------------------------------------------------------


def test_skipped_replacements_are_reported(rig: Rig) -> None:
    url = rig.server.route(
        "/rss/cs.LG", Reply(200, body=load_source("arxiv_rss_cs_lg.xml"), content_type=RSS)
    )
    report = rig.ingest(url)
    assert report.new == 3
    assert report.ignored == 2


def test_last_modified_alone_is_sent_back(rig: Rig) -> None:
    stamp = "Thu, 07 May 2026 23:00:00 GMT"
    url = rig.server.route(
        "/atom/cs.LG",
        Reply(
            200,
            body=load_source("arxiv_atom_cs_lg.xml"),
            content_type=ATOM,
            headers={"Last-Modified": stamp},
        ),
        Reply(304),
    )
    assert rig.ingest(url).new == 2
    assert (rig.state(url).etag, rig.state(url).last_modified) == (None, stamp)
    assert rig.ingest(url).unchanged
    second = rig.server.requests("/atom/cs.LG")[1]
    assert second.header("If-Modified-Since") == stamp
    assert second.header("If-None-Match") is None


# -- more known bugs: errors that escape as non-DigestError and crash the whole run ------------


def fetch_with_a_good_neighbour(rig: Rig, url: str, kind: str = "auto") -> list[SourceReport]:
    """Fetch `url` and then a good text listing in one run, as `digest fetch` does."""
    other = rig.server.route("/other.txt", Reply(200, body=TEXT_BODY, content_type=TEXT))
    sources = [
        SourceConfig(name="bad", url=url, kind=kind),
        SourceConfig(name="other", url=other, kind="text"),
    ]
    return pipeline.fetch(rig.store, sources, NOW, rig.default)


def assert_failed_alone(rig: Rig, reports: list[SourceReport], url: str, message: str) -> None:
    bad, good = reports
    assert good.ok and good.new == 2
    assert not bad.ok and bad.error is not None and message in bad.error
    assert "\n" not in bad.error
    assert rig.state(url).last_status == "failed"


def test_redirect_loop_fails_only_its_source(rig: Rig) -> None:
    url = rig.server.route("/loop", Reply(302, headers={"Location": "/loop"}))
    reports = fetch_with_a_good_neighbour(rig, url)
    assert_failed_alone(rig, reports, url, "redirect")


def test_corrupt_gzip_body_fails_only_its_source(rig: Rig) -> None:
    url = rig.server.route(
        "/api/daily_papers",
        Reply(200, body=b"[not gzip]", content_type=JSON, headers={"Content-Encoding": "gzip"}),
    )
    reports = fetch_with_a_good_neighbour(rig, url)
    assert_failed_alone(rig, reports, url, "decod")


def test_malformed_url_fails_only_its_source(rig: Rig) -> None:
    url = "http://[::1/api/daily_papers"
    reports = fetch_with_a_good_neighbour(rig, url)
    assert_failed_alone(rig, reports, url, "not a valid http(s) URL")


def test_non_numeric_hf_limit_fails_only_its_source(rig: Rig) -> None:
    rig.server.route("/api/daily_papers", Reply(200, body=HF_BODY, content_type=JSON))
    url = rig.server.url("/api/daily_papers?limit=ten")
    reports = fetch_with_a_good_neighbour(rig, url, "hf-api")
    assert_failed_alone(rig, reports, url, "limit")


def test_timeout_bounds_the_whole_request(rig: Rig) -> None:
    url = rig.server.route(
        "/api/daily_papers",
        Reply(200, body=HF_BODY, content_type=JSON, trickle=0.15, chunk_size=1500),
    )
    started = time.monotonic()
    report = rig.ingest(url, fetcher=rig.fetcher(timeout=0.3, attempts=1))
    elapsed = time.monotonic() - started
    assert not report.ok, f"a 0.3 s timeout let a request run for {elapsed:.2f} s"
    assert report.error is not None and "timed out" in report.error


def test_pacing_covers_every_port_of_a_host(rig: Rig) -> None:
    first = rig.server.route("/one", Reply(200, body=b"1", content_type=TEXT))
    paced = rig.fetcher(host_intervals={"127.0.0.1": 0.3})
    with serve() as other:
        second = other.route("/two", Reply(200, body=b"2", content_type=TEXT))
        paced.get(first)
        paced.get(second)
        gap = other.requests("/two")[0].arrived - rig.server.requests("/one")[0].arrived
    assert rig.sleeps, f"requests to one paced host went out {gap:.3f} s apart"
    assert 0.2 < rig.sleeps[0] <= 0.3


def test_hf_api_paging_stops_when_the_server_ignores_the_page_number(rig: Rig) -> None:
    """A server that answers every `p` with the first page: one repeat, then stop (not 20)."""
    items = hf_items()
    path = "/api/daily_papers"
    rig.server.route(path, Reply(200, body=json.dumps(items[:2]), content_type=JSON))
    report = rig.ingest(rig.server.url(path + "?limit=2"))
    assert report.ok and (report.new, report.known) == (2, 0)
    assert len(rig.server.requests(path)) == 2
