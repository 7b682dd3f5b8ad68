"""Fetcher and ingest against a real HTTP server on 127.0.0.1: every kind, polite fetching
(User-Agent, validators, 304, redirects), empty and partly bad listings, HF API paging.

Every Fetcher here gets a recording `sleep` (fetch_rig.Rig), so nothing really waits."""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta

import pytest
from conftest import SHARED_PAPER, load_source
from fetch_rig import (  # noqa: F401
    ATOM,
    ATOM_NEW_IDS,
    CONTACT,
    HF_IDS,
    HTML,
    JSON,
    NOW,
    RSS,
    RSS_NEW_IDS,
    TEXT,
    TEXT_BODY,
    TEXT_PAPERS,
    USER_AGENT,
    Rig,
    arxiv_ids,
    hf_items,
    migrated_db_fixture,
    rig_fixture,
)
from http_server import Reply, http_server_fixture  # noqa: F401

from digest.ingest import ingest_source
from digest.sources.base import SourceConfig
from digest.sources.http import Fetcher, FetchPolicy

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


def test_skipped_replacements_are_reported(rig: Rig) -> None:
    url = rig.server.route(
        "/rss/cs.LG", Reply(200, body=load_source("arxiv_rss_cs_lg.xml"), content_type=RSS)
    )
    report = rig.ingest(url)
    assert report.new == 3
    assert report.ignored == 2


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


def test_hf_api_paging_stops_when_the_server_ignores_the_page_number(rig: Rig) -> None:
    """A server that answers every `p` with the first page: one repeat, then stop (not 20)."""
    items = hf_items()
    path = "/api/daily_papers"
    rig.server.route(path, Reply(200, body=json.dumps(items[:2]), content_type=JSON))
    report = rig.ingest(rig.server.url(path + "?limit=2"))
    assert report.ok and (report.new, report.known) == (2, 0)
    assert len(rig.server.requests(path)) == 2
