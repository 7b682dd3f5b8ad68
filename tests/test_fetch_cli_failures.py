"""`digest fetch` when a source is not a listing: files of other kinds, names of no file, pipes,
empty settings, a bug in one reader; and a password in a source URL is never shown."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import Project, named_pipe
from fetch_project import (
    NOW,
    configure,
    text_listing,
)
from http_server import Reply, ScriptedServer, http_server_fixture  # noqa: F401


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
        ("./nosuchdir", "check the source's url"),
        ("ftp://ftp.example.org/listing.txt", "ftp:// is not read: give an http:// or https://"),
        ("file:///tmp/listing.txt", "file:// is not read: give an http:// or https:// address"),
    ],
)
def test_a_source_that_names_no_file_says_what_was_likely_meant(
    project: Project, location: str, hint: str
) -> None:
    result = project.cli("fetch", location)
    assert result.code == 1
    assert f"{location}: failed: no such file or directory (" in result.err
    assert hint in result.err


def test_a_mistyped_source_name_fetches_nothing_and_names_the_configured_ones(
    project: Project,
) -> None:
    """A bare word is a source's name (a file of that name would be read): a typo fails
    before anything is fetched, instead of fetching the others and calling it a missing file."""
    result = project.cli("fetch", "seeds", "sedes")
    assert result.code == 1 and result.out == ""
    assert result.err == (
        "error: no source named 'sedes' (configured: seeds) and no such file or directory: "
        "nothing was fetched\n"
    )
    assert project.query("select count(*) from paper") == [(0,)]


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
