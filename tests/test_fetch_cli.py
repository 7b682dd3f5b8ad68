"""`digest fetch`, `digest sources` and `digest papers` against listings served over real HTTP."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED_PAPER, Project, load_source, named_pipe
from http_server import Reply, ScriptedServer, http_server_fixture  # noqa: F401

NOW = "2026-05-08T12:00:00+00:00"
LATER = "2026-05-09T08:00:00+00:00"
LAST = "2026-05-10T08:00:00+00:00"
CONTACT = "https://digest.example.org/contact"

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"

# An HF paper that the text listing below names by title only (no id, as saved pages do).
HF_TITLE_ONLY = ("2605.04110", "Long-Context Retrieval Heads Are Sparse and Transferable")
TEXT_ONLY_TITLE = "Sparse Probing of Chess Engines for Human-Readable Plans"


def text_listing() -> str:
    """A saved Daily Papers page in layout B: one paper HF also lists, one nobody else does."""
    papers = [
        (
            HF_TITLE_ONLY[1],
            "Retrieval heads are few: we find them with a cheap probe and transfer them "
            "between models of one family.",
        ),
        (
            TEXT_ONLY_TITLE,
            "We train sparse linear probes on the activations of a chess engine and recover "
            "human-readable multi-move plans from a handful of features.",
        ),
    ]
    lines = ["new", "", "Get trending papers in your email inbox!", "", "Subscribe", ""]
    lines += ["byAK and the research community", "", "May 8", ""]
    for title, abstract in papers:
        lines += [title, "", abstract, ""]
    return "\n".join(lines)


KINDS: dict[str, tuple[str, bytes, str, int, int]] = {  # path, body, type, new, replacements
    "hf-api": ("/api/daily_papers", load_source("hf_api_daily.json"), JSON, 5, 0),
    "hf-page": ("/papers/date/2026-05-08", load_source("hf_page_daily.html"), HTML, 5, 0),
    "arxiv-rss": ("/rss/cs.LG", load_source("arxiv_rss_cs_lg.xml"), RSS, 3, 2),
    "arxiv-atom": ("/atom/cs.LG", load_source("arxiv_atom_cs_lg.xml"), ATOM, 2, 1),
    "text": ("/saved/may-8.txt", text_listing().encode(), TEXT, 2, 0),
}


def configure(project: Project, sources: list[tuple[str, str, str]]) -> None:
    """A config whose [[sources]] are (name, url, kind); fast, unpaced HTTP settings."""
    lines = [
        'database_url = "sqlite:///var/digest.sqlite"',
        'transport = "maildir"',
        'maildir = "var/mail"',
        'base_url = "https://digest.example.org"',
        f"contact_url = {json.dumps(CONTACT)}",
        "http_timeout = 0.5",
        "http_attempts = 3",
        "http_backoff_seconds = 0",
        "host_intervals = {}",
    ]
    for name, url, kind in sources:
        lines += ["[[sources]]", f"name = {json.dumps(name)}"]
        lines += [f"url = {json.dumps(url)}", f"kind = {json.dumps(kind)}"]
    (project.root / "config" / "digest.toml").write_text("\n".join(lines) + "\n")


def serve_kind(server: ScriptedServer, kind: str) -> str:
    path, body, content_type, _, _ = KINDS[kind]
    return server.route(path, Reply(200, body=body, content_type=content_type))


def papers(project: Project) -> dict[str, dict[str, Any]]:
    rows = json.loads(project.ok("papers", "--json", "--limit", "100").out)
    return {row["id"]: row for row in rows}


def sources_json(project: Project) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in json.loads(project.ok("sources", "--json").out)}


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


@pytest.mark.parametrize("kind", ["auto", "text"])
def test_files_that_are_not_listings_are_refused_and_nothing_is_stored(
    project: Project, kind: str
) -> None:
    """A README, a Markdown digest, a TOML file, JSON and HTML are not text listings: each
    fails in one line saying why, the command exits non-zero, and no paper is stored."""
    root = Path(__file__).resolve().parent.parent
    markdown = project.root / "digest.md"
    markdown.write_text(
        "# Papers this week\n\n## Attention is all you need\n\n"
        "- We propose the Transformer, a model based solely on attention mechanisms, "
        "dispensing with recurrence and convolutions entirely in sequence transduction.\n\n"
        "## Development\n\nRun `make test` before you push anything to the main branch, always.\n",
        encoding="utf-8",
    )
    page = project.root / "page.html"
    page.write_text("<html><body><p>Not a listing at all.</p></body></html>", encoding="utf-8")
    data = project.root / "items.json"
    data.write_text('[{"title": "x", "summary": "y"}]', encoding="utf-8")
    for path in (root / "README.md", markdown, root / "pyproject.toml", page, data):
        result = project.cli("fetch", "--kind", kind, str(path))
        assert result.code != 0, path
        assert "failed" in result.out + result.err, path
    assert project.query("select count(*) from paper") == [(0,)]


@pytest.mark.parametrize(
    ("location", "hint"),
    [
        ("cs.LG", "for the arXiv category's feed, use https://rss.arxiv.org/rss/cs.LG"),
        ("astro-ph.GA+cs.LG", "use https://rss.arxiv.org/rss/astro-ph.GA+cs.LG"),
        (
            "huggingface.co/papers",
            "for a web address, write it whole: https://huggingface.co/papers",
        ),
        ("notes.txt", "check the source's url"),  # a listing file that is not there
        ("nosuchdir", "check the source's url"),
    ],
)
def test_a_source_that_names_no_file_says_what_was_likely_meant(
    project: Project, location: str, hint: str
) -> None:
    result = project.cli("fetch", location)
    assert result.code == 1
    assert f"{location}: failed: no such file or directory (" in result.err
    assert hint in result.err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")
def test_a_source_that_is_a_pipe_fails_alone_instead_of_waiting_forever(
    project: Project, tmp_path: Path
) -> None:
    """A source pointing at a named pipe (or a device such as /dev/zero, whose size says 0):
    reading it never ended. It fails in one line; the other sources are read."""
    pipe = named_pipe(tmp_path / "listing.txt")
    listing = tmp_path / "good.txt"
    listing.write_text(text_listing(), encoding="utf-8")
    configure(project, [("pipe", str(pipe), "auto"), ("good", str(listing), "text")])
    result = project.cli("fetch", "--now", NOW)
    assert result.code == 1
    assert result.err.splitlines() == [
        f"{pipe}: failed: not a regular file (point the source at a listing file)"
    ]
    assert result.out.splitlines()[-1] == "2 listings read, 2 new papers, 1 failed"


@pytest.mark.parametrize(
    ("source", "setting"),
    [
        ('url = ""', "sources.0.url"),
        ('url = "seeds"\ninterval_minutes = 0', "sources.0.interval_minutes"),
    ],
)
def test_a_source_with_an_empty_url_or_no_interval_is_a_setting_error(
    project: Project, source: str, setting: str
) -> None:
    """An empty url read nothing and said nothing; an interval of 0 minutes would have the
    scheduler fetch without pause."""
    config = project.root / "config" / "digest.toml"
    config.write_text(f'[[sources]]\nname = "s"\n{source}\n', encoding="utf-8")
    result = project.cli("fetch", "--now", NOW)
    assert result.code == 1 and f"invalid setting {setting}" in result.err


def test_a_bug_reading_one_listing_fails_it_alone_and_the_run_goes_on(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parser library raising something of its own (not one of the service's errors, as
    feedparser did on damaged feeds) stopped the whole run: no other source read, no digest
    planned that day. Now that listing fails alone, named as an internal error to report."""
    import digest.ingest.listings as listings

    broken = tmp_path / "broken.txt"
    broken.write_text(text_listing(), encoding="utf-8")
    good = tmp_path / "good.txt"
    good.write_text(text_listing(), encoding="utf-8")
    parse = listings.parse_body

    def parse_with_a_bug(kind: str, body: bytes, source: str, *rest: Any) -> Any:
        if source.endswith("broken.txt"):
            raise KeyError("a bug")
        return parse(kind, body, source, *rest)

    monkeypatch.setattr(listings, "parse_body", parse_with_a_bug)
    configure(project, [("broken", str(broken), "text"), ("good", str(good), "text")])
    project.ok(
        "subscribers", "add", "r@example.org", "--keywords", "kv cache", "--send-at", "00:00"
    )
    result = project.cli("run", "--now", NOW)
    assert result.code == 1
    assert f"{broken}: failed: internal error (KeyError): please report it with the log" in (
        result.err
    )
    assert "Traceback" not in result.err
    assert f"{good}: 2 new, 0 already known, 0 bad records" in result.out
    assert project.query("select count(*) from delivery") == [(1,)]  # the day's digest planned


def test_a_password_in_a_source_url_is_never_shown(
    project: Project, http_server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A private listing's address may carry a login (https://user:password@host/...): the
    fetch's lines, the stored error, `digest sources` and `digest config` show it masked."""
    url = http_server.route("/private.xml", Reply(404))
    secret = url.replace("http://", "http://reader:s3cret-token@")
    configure(project, [("private", secret, "arxiv-rss")])
    shown = url.replace("http://", "http://reader:********@")
    result = project.cli("fetch", "--now", NOW)
    assert result.code == 1
    assert f"{shown}: failed: HTTP 404" in result.err
    outputs = [
        result.out + result.err,
        project.ok("sources").out,
        project.ok("sources", "--json").out,
        project.ok("config").out,
        caplog.text,
        repr(project.query("select last_error from source_state")),  # url: the key, as typed
    ]
    for output in outputs:
        assert "s3cret-token" not in output
    assert shown in project.ok("sources").out and shown in project.ok("config").out
    assert http_server.requests("/private.xml")  # the address itself is used as it is
    # a URL whose path or query holds an @ has no password to hide
    from digest.safe_text import without_password

    for plain in ("https://h.example/a@b:c", "https://h.example/x?to=a:b@c", "postgresql://u@h/db"):
        assert without_password(plain) == plain
