"""`digest fetch`, `digest sources` and `digest papers` against listings served over real HTTP."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_PAPER, Project, load_source
from fetch_project import (
    HF_TITLE_ONLY,
    KINDS,
    LAST,
    LATER,
    NOW,
    TEXT_ONLY_TITLE,
    configure,
    papers,
    serve_kind,
    sources_json,
)
from fetch_rig import CONTACT, JSON, RSS, TEXT
from http_server import Reply, ScriptedServer, http_server_fixture  # noqa: F401


@pytest.mark.parametrize("kind", list(KINDS))
def test_fetch_url_with_kind_auto(project: Project, http_server: ScriptedServer, kind: str) -> None:
    configure(project, [])
    url = serve_kind(http_server, kind)
    expected, replaced = KINDS[kind][3], KINDS[kind][4]
    noun = "replacement" if replaced == 1 else "replacements"  # arxiv-atom has one
    skipped = f", {replaced} {noun} of unknown papers skipped" if replaced else ""
    result = project.ok("fetch", url, "--kind", "auto", "--now", NOW)
    assert result.out.splitlines() == [
        f"{url}: {expected} new, 0 already known, 0 bad records{skipped}",
        f"1 listing read, {expected} new papers",
    ]
    assert result.err == ""
    assert project.query("select count(*) from paper") == [(expected,)]
    assert project.query("select distinct source from sighting") == [(url,)]
    assert project.query(
        "select last_status, consecutive_failures, last_error, papers_new from source_state"
    ) == [("ok", 0, None, expected)]
    [request] = http_server.requests(KINDS[kind][0])
    assert request.header("User-Agent") == f"papers-digest/0.1 (+{CONTACT})"


def test_fetch_url_with_a_named_kind_that_does_not_match_fails_in_one_line(
    project: Project, http_server: ScriptedServer
) -> None:
    configure(project, [])
    url = serve_kind(http_server, "hf-api")
    result = project.cli("fetch", url, "--kind", "arxiv-rss", "--now", NOW)
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        f"{url}: failed: served as application/json, which a listing of kind arxiv-rss never is; "
        "check the URL or the source's kind"
    ]
    assert "1 listing read, 0 new papers, 1 failed" in result.out
    assert project.query("select count(*) from paper") == [(0,)]


@pytest.mark.parametrize("text_first", [True, False], ids=["text-first", "text-last"])
def test_one_row_per_real_paper_across_hf_arxiv_and_text(
    project: Project, http_server: ScriptedServer, text_first: bool
) -> None:
    names = ["hf-page", "hf-api", "arxiv-rss", "arxiv-atom"]
    urls = {kind: serve_kind(http_server, kind) for kind in [*names, "text"]}
    configure(project, [(kind, urls[kind], "auto") for kind in [*names, "text"]])
    order = ["text", *names] if text_first else [*names, "text"]
    if text_first:
        project.ok("fetch", "text", "--now", NOW)
        ids = {row[0] for row in project.query("select id from paper")}
        assert len(ids) == 2 and all(i.startswith("title:") for i in ids)
    result = project.ok("fetch", *order, "--now", NOW)

    rows = papers(project)
    # 5 HF papers; 2605.05107 (RSS) and 2605.05188 (Atom) are new; the text-only paper.
    assert len(rows) == 8
    by_arxiv = [r["arxiv_id"] for r in rows.values() if r["arxiv_id"]]
    assert sorted(by_arxiv) == sorted(set(by_arxiv))
    assert set(by_arxiv) == {
        "2605.05242",
        "2605.04871",
        "2605.05013",
        "2605.04110",
        "2605.03377",
        "2605.05107",
        "2605.05188",
    }
    assert all(
        row_id == f"arxiv:{row['arxiv_id']}" for row_id, row in rows.items() if row["arxiv_id"]
    )
    [text_only] = [r for r in rows.values() if r["arxiv_id"] is None]
    assert text_only["title"] == TEXT_ONLY_TITLE and text_only["id"].startswith("title:")
    merged = rows[f"arxiv:{HF_TITLE_ONLY[0]}"]
    assert merged["title"] == HF_TITLE_ONLY[1]
    assert merged["upvotes"] == 9
    seen = project.query(
        f"select source from sighting where paper_id = 'arxiv:{HF_TITLE_ONLY[0]}' order by source"
    )
    text_reads = 2 if text_first else 1  # text-first reads the text listing twice
    assert seen == [("hf-api",), ("hf-page",), *[("text",)] * text_reads]
    shared = project.query(
        f"select source from sighting where paper_id = 'arxiv:{SHARED_PAPER['arxiv_id']}' "
        "order by source"
    )
    assert shared == [("arxiv-atom",), ("arxiv-rss",), ("hf-api",), ("hf-page",)]
    assert project.query("select count(*) from paper where id like 'title:%'") == [(1,)]
    new_now = 6 if text_first else 8  # the text listing's two papers were already in
    assert result.out.splitlines()[-1] == f"5 listings read, {new_now} new papers"


def test_title_only_paper_later_seen_with_an_arxiv_id_is_rekeyed(
    project: Project, http_server: ScriptedServer
) -> None:
    text_url = serve_kind(http_server, "text")
    hf_url = serve_kind(http_server, "hf-page")
    configure(project, [("text", text_url, "text"), ("hf", hf_url, "hf-page")])
    project.ok("fetch", "text", "--now", NOW)
    [(old_id,)] = project.query(
        f"select id from paper where title = '{HF_TITLE_ONLY[1]}' and arxiv_id is null"
    )
    assert old_id.startswith("title:")

    result = project.ok("fetch", "hf", "--now", LATER)
    assert f"{hf_url}: 4 new, 1 already known, 0 bad records" in result.out
    assert project.query(f"select count(*) from paper where id = '{old_id}'") == [(0,)]
    assert project.query(f"select count(*) from sighting where paper_id = '{old_id}'") == [(0,)]
    [(row_id, arxiv_id, first_seen)] = project.query(
        f"select id, arxiv_id, first_seen_at from paper where title = '{HF_TITLE_ONLY[1]}'"
    )
    assert (row_id, arxiv_id) == (f"arxiv:{HF_TITLE_ONLY[0]}", HF_TITLE_ONLY[0])
    assert first_seen.startswith("2026-05-08 12:00:00")
    assert project.query(
        f"select source from sighting where paper_id = '{row_id}' order by seen_at"
    ) == [("text",), ("hf",)]


def test_one_failing_source_fails_the_run_in_one_line_and_the_rest_ingest(
    project: Project, http_server: ScriptedServer
) -> None:
    text_url = serve_kind(http_server, "text")
    hf_url = serve_kind(http_server, "hf-api")
    broken = http_server.route("/broken", Reply(500, body=b"internal error"))
    configure(
        project, [("text", text_url, "auto"), ("broken", broken, "auto"), ("hf", hf_url, "hf-api")]
    )
    result = project.cli("fetch", "--now", NOW)
    assert result.code == 1
    assert result.err.splitlines() == [
        f"{broken}: failed: HTTP 500 after 3 attempts; "
        "the server is failing or rate-limiting: try again later"
    ]
    assert "Traceback" not in result.err
    assert result.out.splitlines() == [
        f"{text_url}: 2 new, 0 already known, 0 bad records",
        f"{hf_url}: 4 new, 1 already known, 0 bad records",
        "3 listings read, 6 new papers, 1 failed",
    ]
    assert len(http_server.requests("/broken")) == 3
    assert project.query("select count(*) from paper") == [(6,)]
    assert project.query(
        "select url, last_status, consecutive_failures from source_state order by url"
    ) == [(hf_url, "ok", 0), (broken, "failed", 1), (text_url, "ok", 0)]


def test_sources_show_last_fetch_status_failures_and_last_error(
    project: Project, http_server: ScriptedServer
) -> None:
    text_path, text_body, _, _, _ = KINDS["text"]
    text_url = http_server.route(
        text_path,
        Reply(200, body=text_body, content_type=TEXT, headers={"ETag": '"t1"'}),
        Reply(304, headers={"ETag": '"t1"'}),
    )
    hf_url = serve_kind(http_server, "hf-page")
    broken = http_server.route(
        "/broken",
        *[Reply(503)] * 6,
        Reply(200, body=load_source("arxiv_rss_cs_lg.xml"), content_type=RSS),
    )
    never = http_server.url("/never")
    configure(
        project,
        [
            ("listing", text_url, "text"),
            ("broken", broken, "arxiv-rss"),
            ("hf", hf_url, "hf-page"),
            ("never", never, "auto"),
        ],
    )
    before = sources_json(project)
    assert before["never"] == {
        "name": "never",
        "kind": "auto",
        "url": never,
        "interval_minutes": None,
        "last_fetch_at": None,
        "status": None,
        "consecutive_failures": 0,
        "last_error": None,
        "listings": 0,
    }

    assert project.cli("fetch", "listing", "broken", "hf", "--now", NOW).code == 1
    second = project.cli("fetch", "listing", "broken", "hf", "--now", LATER)
    assert second.code == 1
    assert f"{text_url}: unchanged since the last fetch" in second.out
    assert http_server.requests(text_path)[1].header("If-None-Match") == '"t1"'

    error = "HTTP 503 after 3 attempts; the server is failing or rate-limiting: try again later"
    rows = sources_json(project)
    assert rows["broken"]["status"] == "failed"
    assert rows["broken"]["consecutive_failures"] == 2
    assert rows["broken"]["last_error"] == error
    assert rows["broken"]["last_fetch_at"].startswith("2026-05-09T08:00:00")
    assert rows["listing"]["status"] == "unchanged"
    assert (rows["listing"]["consecutive_failures"], rows["listing"]["last_error"]) == (0, None)
    assert rows["listing"]["last_fetch_at"].startswith("2026-05-09T08:00:00")
    assert (rows["hf"]["status"], rows["hf"]["consecutive_failures"]) == ("ok", 0)
    assert rows["hf"]["listings"] == 1
    assert (rows["never"]["status"], rows["never"]["last_fetch_at"]) == (None, None)
    assert http_server.requests("/never") == []

    text = project.ok("sources").out.splitlines()
    [broken_line] = [line for line in text if line.startswith("broken  ")]
    assert f"[arxiv-rss]  {broken}  failed  last fetch: 2026-05-09 08:00:00 UTC" in broken_line
    assert "failures in a row: 2" in broken_line
    assert broken_line.endswith(f"last error: {error}")
    [never_line] = [line for line in text if line.startswith("never  ")]
    assert "last fetch: never fetched" in never_line and "failures in a row: 0" in never_line
    [listing_line] = [line for line in text if line.startswith("listing  ")]
    assert "  unchanged  " in listing_line and "last error" not in listing_line

    recovered = project.ok("fetch", "broken", "--now", LAST)
    assert f"{broken}: 1 new, 2 already known, 0 bad records" in recovered.out
    rows = sources_json(project)
    assert (rows["broken"]["status"], rows["broken"]["consecutive_failures"]) == ("ok", 0)
    assert rows["broken"]["last_error"] is None
    assert rows["broken"]["last_fetch_at"].startswith("2026-05-10T08:00:00")


def test_papers_json_shows_every_field(project: Project, http_server: ScriptedServer) -> None:
    hf_url = serve_kind(http_server, "hf-page")
    rss_url = serve_kind(http_server, "arxiv-rss")
    text_url = serve_kind(http_server, "text")
    configure(project, [("hf", hf_url, "auto"), ("rss", rss_url, "auto"), ("t", text_url, "auto")])
    project.ok("fetch", "--now", NOW)
    rows = papers(project)

    shared = rows["arxiv:2605.05242"]
    expected = {
        "arxiv_id": "2605.05242",
        "title": SHARED_PAPER["title"],
        "abstract": SHARED_PAPER["abstract"],
        "authors": SHARED_PAPER["authors"],
        "author_count": 3,
        "upvotes": 87,
        "comments": 4,
        "thumbnail": "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2605.05242.png",
        "github_repo": "https://github.com/open-lab/capacity-moe",
        "project_page": "https://open-lab.github.io/capacity-moe/",
        "organization": "Open Lab Research",
        "categories": ["cs.AI", "cs.CL", "cs.LG"],
        "published": "2026-05-07",
        "listing_date": "2026-05-08",
        "url": "https://huggingface.co/papers/2605.05242",
    }
    assert {k: shared[k] for k in expected} == expected

    bare = rows["arxiv:2605.03377"]
    assert bare["authors"] == ["Elena Petrova"]
    assert (bare["upvotes"], bare["comments"]) == (3, 0)
    assert (bare["github_repo"], bare["project_page"], bare["organization"]) == (None, None, None)
    assert bare["categories"] == []
    assert (bare["published"], bare["listing_date"]) == ("2026-05-05", "2026-05-08")

    arxiv_only = rows["arxiv:2605.05107"]
    assert arxiv_only["authors"] == ["Ingrid Solberg", "Kwame Mensah", "Yuki Tanaka"]
    assert arxiv_only["categories"] == ["cs.LG", "stat.ML"]
    assert (arxiv_only["upvotes"], arxiv_only["comments"], arxiv_only["thumbnail"]) == (
        None,
        None,
        None,
    )
    assert (arxiv_only["published"], arxiv_only["listing_date"]) == ("2026-05-08", "2026-05-08")
    assert arxiv_only["url"] == "https://arxiv.org/abs/2605.05107"

    [text_only] = [r for r in rows.values() if r["title"] == TEXT_ONLY_TITLE]
    assert text_only["arxiv_id"] is None and text_only["authors"] == []
    assert text_only["listing_date"] == "2026-05-08"
    assert len(rows) == 7


def test_user_agent_can_be_configured(
    project: Project, http_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(project, [])
    monkeypatch.setenv("DIGEST_USER_AGENT", "my-digest/2.0 (+https://example.net/about)")
    url = serve_kind(http_server, "arxiv-atom")
    project.ok("fetch", url, "--now", NOW)
    [request] = http_server.requests(KINDS["arxiv-atom"][0])
    assert request.header("User-Agent") == "my-digest/2.0 (+https://example.net/about)"


def test_hf_api_source_reads_every_page(project: Project, http_server: ScriptedServer) -> None:
    items = json.loads(load_source("hf_api_daily.json"))
    path = "/api/daily_papers"
    http_server.route(path, Reply(200, body=json.dumps(items[:2]), content_type=JSON))
    http_server.route(path + "?p=1", Reply(200, body=json.dumps(items[2:4]), content_type=JSON))
    http_server.route(path + "?p=2", Reply(200, body=json.dumps(items[4:]), content_type=JSON))
    url = http_server.url(path + "?date=2026-05-08&limit=2")
    configure(project, [("hf", url, "hf-api")])
    result = project.ok("fetch", "--now", NOW)
    assert f"{url}: 5 new, 0 already known, 0 bad records" in result.out
    assert project.query("select count(*) from paper") == [(5,)]
    assert [r.query.get("p") for r in http_server.requests(path)] == [None, ["1"], ["2"]]


def test_fetch_reports_skipped_replacements(project: Project, http_server: ScriptedServer) -> None:
    configure(project, [])
    url = serve_kind(http_server, "arxiv-rss")
    result = project.ok("fetch", url, "--now", NOW)
    assert (
        f"{url}: 3 new, 0 already known, 0 bad records, "
        "2 replacements of unknown papers skipped" in result.out
    )


def test_redirect_loop_fails_alone_in_the_cli(
    project: Project, http_server: ScriptedServer
) -> None:
    loop = http_server.route("/loop", Reply(302, headers={"Location": "/loop"}))
    text_url = serve_kind(http_server, "text")
    configure(project, [("loop", loop, "auto"), ("text", text_url, "text")])
    result = project.cli("fetch", "--now", NOW)
    assert result.code == 1
    [line] = result.err.splitlines()
    assert line.startswith(f"{loop}: failed: ")
    assert project.query("select count(*) from paper") == [(2,)]
