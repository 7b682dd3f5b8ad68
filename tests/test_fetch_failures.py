"""Fetching when the server misbehaves, against a real HTTP server on 127.0.0.1: retries
(Retry-After, capped backoff, which statuses), failures recorded in one line that change
nothing and stop no other source, per-host pacing, the request timeout.

Every Fetcher here gets a recording `sleep`, so Retry-After and backoff are checked without
waiting; only the per-host pacing tests (0.3 s) and the timeout tests really wait."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import load_source
from fetch_rig import (  # noqa: F401
    HF_BODY,
    HTML,
    JSON,
    NOW,
    RSS,
    TEXT,
    TEXT_BODY,
    USER_AGENT,
    Rig,
    migrated_db_fixture,
    rig_fixture,
)
from http_server import Reply, http_server_fixture, serve  # noqa: F401

from digest import pipeline
from digest.errors import FetchError
from digest.ingest import SourceReport
from digest.sources.base import SourceConfig
from digest.sources.http import Fetcher, FetchPolicy


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


@dataclass(frozen=True)
class Failure:
    replies: tuple[Reply, ...]
    message: str
    requests: int
    kind: str = "auto"
    policy: tuple[tuple[str, Any], ...] = ()


FAILURES = {
    "500-every-attempt": Failure((Reply(500, body=b"oops"),), "HTTP 500 after 3 attempts", 3),
    "timeout": Failure(
        (Reply(200, body=HF_BODY, content_type=JSON, delay=0.8),),
        "each of 3 attempts timed out after 0.3 s; check the URL, or raise DIGEST_HTTP_TIMEOUT",
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


def test_a_stopping_service_does_not_wait_out_a_fetchs_backoff(rig: Rig) -> None:
    """SIGTERM during a 30 s wait between attempts: the fetch gives up at once, one line,
    instead of holding the stop up past a container's grace period."""
    import threading

    url = rig.server.route("/feed", *[Reply(503)] * 4)
    fetcher = Fetcher(FetchPolicy(attempts=4, backoff_base=30.0, backoff_max=30.0))
    failed: list[BaseException] = []

    def fetch() -> None:
        try:
            fetcher.get(url)
        except FetchError as exc:
            failed.append(exc)

    worker = threading.Thread(target=fetch)
    worker.start()
    deadline = time.monotonic() + 10
    while not rig.server.requests("/feed") and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # the first attempt answered: now in its 30 s wait
    started = time.monotonic()
    fetcher.interrupt()
    worker.join(timeout=5)
    waited = time.monotonic() - started
    fetcher.close()
    assert not worker.is_alive() and waited < 2, f"the fetch went on for {waited:.1f} s"
    assert [str(e) for e in failed] == [f"{url}: not tried again: the service is stopping"]
    assert len(rig.server.requests("/feed")) == 1


def test_a_fetch_given_up_as_the_service_stops_is_no_failure_of_the_source(rig: Rig) -> None:
    """A restart during a source's outage left it "failed, 1 in a row" with the stop as its
    error: the source's state now stays what its last real fetch made it."""
    url = rig.server.route(
        "/feed.txt", Reply(200, body=TEXT_BODY, content_type=TEXT), *[Reply(503)] * 3
    )
    assert rig.ingest(url, kind="text").new == 2
    before = rig.state(url)
    fetcher = Fetcher(FetchPolicy(attempts=3, backoff_base=30.0, backoff_max=30.0))
    fetcher.interrupt()  # the service is stopping: the first 503 is not waited out
    try:
        stopped = rig.ingest(url, kind="text", fetcher=fetcher)
    finally:
        fetcher.close()
    assert stopped.stopped and not stopped.ok
    assert stopped.error == f"{url}: not tried again: the service is stopping"
    after = rig.state(url)
    assert (after.last_status, after.consecutive_failures, after.last_error) == ("ok", 0, None)
    assert after.last_fetch_at == before.last_fetch_at
    assert len(rig.server.requests("/feed.txt")) == 2
