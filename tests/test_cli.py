"""The CLI as an operator uses it: help everywhere, JSON output, and bad input handled."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from conftest import FIXTURES, Project

from digest.cli.main import app

NOW = "2026-11-22T12:00:00+00:00"


def all_commands() -> list[list[str]]:
    """Every command path of the app, e.g. ["subscribers", "add"]."""
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return paths


def test_every_command_and_option_has_help(project: Project) -> None:
    root = typer.main.get_command(app)
    for path in all_commands():
        result = project.cli(*path, "--help")
        assert result.code == 0, path
        assert "Usage:" in result.out
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        assert command.help, f"`digest {' '.join(path)}` has no help text"
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"option {param.name} of `digest {' '.join(path)}` has no help"
    assert len(all_commands()) >= 12


def test_papers_and_rank_json(project: Project) -> None:
    project.ok("fetch", "--now", NOW)
    papers = json.loads(project.ok("papers", "--limit", "3", "--json").out)
    assert len(papers) == 3
    assert {"id", "title", "abstract", "author_count", "upvotes"} <= set(papers[0])
    ranked = json.loads(
        project.ok("rank", "--keywords", "kv cache, quantization", "--top", "4", "--json").out
    )
    assert len(ranked) == 4
    for row in ranked:
        assert {"id", "title", "score", "matched"} <= set(row)
        assert row["matched"] and row["score"] > 0
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    excluded = json.loads(
        project.ok(
            "rank", "--keywords", "diffusion", "--exclude", "video", "--top", "50", "--json"
        ).out
    )
    assert all("video" not in r["title"].lower() for r in excluded)


def test_an_empty_history_says_to_fetch_first(project: Project) -> None:
    """Before the first fetch, 'no paper matches these keywords' would blame the keywords."""
    hint = "the history holds no papers yet: run `digest fetch` first"
    assert project.ok("rank", "--keywords", "kv cache").out.strip() == hint
    listed = project.ok("papers")
    assert (listed.out, listed.err.strip()) == ("", hint)
    project.ok("fetch")
    assert project.ok("rank", "--keywords", "zebrafish husbandry").out.strip() == (
        "no paper matches these keywords"
    )


def test_a_keyword_that_can_match_nothing_gets_a_note(project: Project) -> None:
    """ "C" and "R" lose every character the ranker reads: the reader is told, not left
    waiting for papers that never come."""
    project.ok("fetch")
    ranked = project.ok("rank", "--keywords", "C, R, kv cache")
    assert ranked.out.strip()  # kv cache still finds its papers
    assert ranked.err.splitlines() == [
        f"note: {k!r} will match no paper: single letters, symbols and common words are not "
        "matched on (add the topic's own words)"
        for k in ("c", "r")
    ]
    added = project.ok("subscribers", "add", "ann@example.org", "--keywords", "the, rlhf")
    assert "note: 'the' will match no paper" in added.err


def test_a_keyword_no_recent_paper_matches_gets_a_note(project: Project) -> None:
    """What the signup preview tells a visitor, `subscribers add` and `edit` tell the operator:
    a keyword none of the last seven days' papers match (a new service holds none to judge)."""
    assert project.ok("subscribers", "add", "new@example.org", "--keywords", "qwertyzzz").err == ""
    project.ok("fetch")  # first seen now: the last seven days hold them
    added = project.ok(
        "subscribers", "add", "ann@example.org", "--keywords", "kv cache, zebrafish husbandry"
    )
    assert added.err.splitlines() == [
        "note: 'zebrafish husbandry' matches none of the 393 papers of the last 7 days: check "
        "its wording, or keep it to wait for papers on it"
    ]
    assert "added ann@example.org" in added.out
    edited = project.ok("subscribers", "edit", "ann@example.org", "--keywords", "kv cache, galaxy")
    assert edited.err == ""


def test_rank_the_last_days_only(project: Project) -> None:
    """--days bounds what a large history costs; the papers here were fetched in the past."""
    project.ok("fetch", "--now", "2026-11-22T12:00:00+00:00")
    whole = json.loads(project.ok("rank", "--keywords", "kv cache", "--json").out)
    wide = json.loads(project.ok("rank", "--keywords", "kv cache", "--days", "36500", "--json").out)
    assert whole and wide == whole
    liked = whole[0]["id"]
    recent = project.ok("rank", "--keywords", "kv cache", "--days", "1", "--like", liked)
    assert recent.out.strip() == "no paper was first seen in the last 1 day: try more --days"


def test_rank_takes_the_newest_papers_of_a_huge_history_and_says_so(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A million papers in one corpus took 4.5 GB and two minutes: at most RANK_LIMIT of
    the newest are ranked, and a note on stderr says the older ones were left out."""
    cli_main = importlib.import_module("digest.cli.main")  # the package exports a main()
    project.ok("fetch")
    assert project.ok("rank", "--keywords", "kv cache").err == ""  # 393 papers: all of them
    monkeypatch.setattr(cli_main, "RANK_LIMIT", 100)
    newest = {p["id"] for p in json.loads(project.ok("papers", "--json", "--limit", "100").out)}
    ranked = project.ok("rank", "--keywords", "kv cache", "--top", "20", "--json")
    rows = json.loads(ranked.out)
    assert rows and {r["id"] for r in rows} <= newest
    assert ranked.err == (
        "note: ranked the newest 100 papers (more would take gigabytes of memory); older ones "
        "were left out: --days picks the window\n"
    )
    windowed = project.ok("rank", "--keywords", "kv cache", "--days", "2")
    assert "ranked the newest 100 papers first seen in the last 2 days" in windowed.err


def test_a_typo_in_the_keywords_gets_a_did_you_mean_note(project: Project) -> None:
    """On stderr (the JSON on stdout stays clean), from rank, and from subscribers add and
    edit once planning has stored the history's word statistics."""
    project.ok("fetch", "--now", NOW)
    ranked = project.ok("rank", "--keywords", "speculativ decoding", "--json")
    assert json.loads(ranked.out)
    note = "note: no paper holds 'speculativ': did you mean 'speculative'?"
    assert ranked.err.strip() == note
    assert project.ok("rank", "--keywords", "speculative decoding").err == ""
    project.ok("send", "--now", NOW)  # plans: the word statistics are stored
    added = project.ok("subscribers", "add", "t@example.org", "--keywords", "speculativ decoding")
    assert note in added.err
    edited = project.ok("subscribers", "edit", "t@example.org", "--keywords", "kv cahce")
    assert "did you mean 'cache'?" in edited.err
    assert project.ok("subscribers", "edit", "t@example.org", "--max-papers", "5").err == ""


def test_subscribers_add_list_show_remove(project: Project) -> None:
    project.ok(
        "subscribers",
        "add",
        "Alice@Example.org",
        "--keywords",
        "rlhf, kv cache",
        "--timezone",
        "Europe/Berlin",
        "--send-at",
        "7:30",
        "--max-papers",
        "4",
    )
    [row] = json.loads(project.ok("subscribers", "list", "--json").out)
    assert (row["email"], row["keywords"], row["send_at"], row["max_papers"], row["status"]) == (
        "alice@example.org",
        ["rlhf", "kv cache"],
        "07:30",
        4,
        "active",
    )
    assert "Europe/Berlin" in project.ok("subscribers", "show", "ALICE@example.org").out
    duplicate = project.cli("subscribers", "add", "alice@example.org", "--keywords", "x")
    assert duplicate.code == 1 and "already subscribed" in duplicate.err
    project.ok("subscribers", "remove", "alice@example.org")
    assert json.loads(project.ok("subscribers", "list", "--json").out) == []


def test_golden_page_to_email(project: Project) -> None:
    """rss2email-style: one input page -> the exact plain-text email it produces."""
    shutil.rmtree(project.root / "seeds")
    (project.root / "seeds").mkdir()
    shutil.copy(FIXTURES / "pages" / "small_listing.txt", project.root / "seeds")
    project.ok(
        "subscribers",
        "add",
        "alice@example.org",
        "--keywords",
        "kv cache, quantization",
        "--send-at",
        "06:00",
    )
    with sqlite3.connect(project.db) as conn:  # public ids are random: fix it for the golden
        conn.execute("update subscriber set public_id = 'golden-public-id-0001'")
    project.ok("run", "--now", NOW)
    [mail] = project.mails()
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    golden = FIXTURES / "golden" / "small_listing.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    assert "&lt;b&gt;for&lt;/b&gt;" in html and "&amp; Serving" in html
    assert "&#34;long context&#34;" in html


def stored_state(project: Project) -> list[object]:
    if not project.db.exists():
        return []
    return [
        project.query("select count(*) from paper"),
        project.query("select email, keywords from subscriber order by email"),
        project.query("select count(*) from sighting"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fetch", "--bogus"], "No such option"),
        (["subscribers", "add", "not-an-email", "--keywords", "x"], "invalid email address"),
        (
            ["subscribers", "add", "a@example.org\r\nBcc: b@example.org", "--keywords", "x"],
            "line break",
        ),
        (
            [
                "subscribers",
                "add",
                "z@example.org",
                "--keywords",
                "x",
                "--timezone",
                "Mars/Olympus",
            ],
            "unknown time zone",
        ),
        (["subscribers", "add", "z@example.org", "--keywords", " , ,"], "keywords are empty"),
        (["subscribers", "add", "z@example.org", "--keywords", "x" * 10_000], "too long"),
        (
            ["subscribers", "add", "z@example.org", "--keywords", "x", "--send-at", "25:00"],
            "invalid send time",
        ),
        (["subscribers", "show", "nobody@example.org"], "no subscriber"),
        (["rank", "--keywords", ""], "keywords are empty"),
        (["fetch", "missing/file.txt"], "no such file or directory"),
        (["send", "--now", "yesterday"], "invalid --now"),
        (["send", "--now", "9999-12-31T23:59:59"], "--now must fall in the years 1970 to 9000"),
        (["run", "--now", "0001-01-01"], "--now must fall in the years 1970 to 9000"),
        (["preview", "kept@example.org", "--out", "."], "cannot write .: Is a directory"),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(
    project: Project, args: list[str], message: str
) -> None:
    project.ok("fetch", "--now", NOW)
    project.ok("subscribers", "add", "kept@example.org", "--keywords", "kv cache")
    before = stored_state(project)
    result = project.cli(*args)
    assert result.code != 0
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.err
    assert "Traceback" not in result.err
    assert stored_state(project) == before


@pytest.mark.parametrize(
    "args",
    [
        ["papers", "remove", "id\udc85"],
        ["preview", "z\udc85@example.org"],
        ["fetch", "\udcff.txt"],
        ["subscribers", "add", "a@example.org", "--keywords", "kv\udc85cache"],
    ],
)
def test_an_argument_that_is_not_utf8_is_one_line_for_every_command(
    project: Project, args: list[str]
) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates (here written as such): the
    database refused them with a traceback (papers remove, preview), pydantic with another
    (fetch). Refused once, before any command runs; the bytes are shown replaced."""
    before = stored_state(project)
    result = project.cli(*args)
    assert result.code == 2
    assert result.err.startswith("error: an argument is not UTF-8 text: ")
    assert len(result.err.strip().splitlines()) == 1 and "\ufffd" in result.err
    assert stored_state(project) == before


def test_garbage_file_in_seeds_fails_alone_and_keeps_the_rest(project: Project) -> None:
    (project.root / "seeds" / "zzz_garbage.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (project.root / "seeds" / "zzz_notes.txt").write_text("shopping list\nmilk\n")
    result = project.cli("fetch", "--now", NOW)
    assert result.code == 1
    assert "393 new papers" in result.out and "2 failed" in result.out
    err = result.err.strip().splitlines()
    assert len(err) == 2
    assert "zzz_garbage.txt" in err[0] and "binary" in err[0]
    assert "zzz_notes.txt" in err[1] and "no papers found" in err[1]
    assert project.query("select count(*) from paper") == [(393,)]
    failed = project.query(
        "select url, consecutive_failures from source_state "
        "where last_status = 'failed' order by url"
    )
    assert [(Path(u).name, n) for u, n in failed] == [("zzz_garbage.txt", 1), ("zzz_notes.txt", 1)]


def test_installed_console_script_runs(project: Project) -> None:
    exe = Path(sys.executable).parent / "digest"
    result = subprocess.run(
        [str(exe), "fetch", "--bogus"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: No such option: --bogus")
    assert result.stderr.strip().endswith("(see `digest fetch --help`)")  # the one to read


def test_papers_show_dates_newest_first_and_show_reads_in_a_sensible_order(
    project: Project,
) -> None:
    project.ok("fetch")
    lines = project.ok("papers", "--limit", "5").out.splitlines()
    days = [line.split("  ")[0] for line in lines]
    assert len(lines) == 5 and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in days)
    assert days == sorted(days, reverse=True)
    project.ok("subscribers", "add", "ann@example.org", "--keywords", "kv cache")
    shown = project.ok("subscribers", "show", "ann@example.org").out.splitlines()
    assert [line.split(":")[0] for line in shown[:3]] == ["email", "status", "keywords"]
    assert not any(line.endswith(": None") for line in shown)


def test_papers_remove_and_prune_keep_what_digests_and_votes_name(project: Project) -> None:
    """A digest that was sent, and a reader's vote, keep their papers; the rest can go."""
    project.ok("fetch", "--now", NOW)
    project.ok(
        "subscribers", "add", "ann@example.org", "--keywords", "kv cache", "--send-at", "00:00"
    )
    project.ok("run", "--now", NOW)
    [(in_digest,)] = project.query("select paper_id from delivery_item limit 1")
    rows = json.loads(project.ok("papers", "--json", "--limit", "400").out)
    named = {r[0] for r in project.query("select paper_id from delivery_item")}
    free = [r["id"] for r in rows if r["id"] not in named]
    project.ok("subscribers", "feedback", "ann@example.org", "--like", free[0])
    total = project.query("select count(*) from paper")[0][0]

    removed = project.cli("papers", "remove", free[1], in_digest, free[0], "arxiv:0000.00000")
    assert removed.code == 1 and "no paper 'arxiv:0000.00000'" in removed.err
    assert f"kept {in_digest}" in removed.err and f"kept {free[0]}" in removed.err
    assert "1 paper removed, 2 kept" in removed.out
    assert project.query("select count(*) from paper") == [(total - 1,)]
    assert project.query(f"select count(*) from sighting where paper_id = '{free[1]}'") == [(0,)]
    unknown = project.cli("papers", "remove", "arxiv:0000.00000")  # the error alone
    assert unknown.code == 1 and unknown.out == "" and "no paper 'arxiv:0000.00000'" in unknown.err

    # papers planning may still pick (a weekly digest's, a first one's) are not pruned
    recent = project.cli("papers", "prune", "--before", "2030-01-01", "--now", "2030-01-10")
    assert recent.code == 1 and "2030-01-01 is too recent: planning picks" in recent.err
    assert project.query("select count(*) from paper") == [(total - 1,)]
    pruned = project.ok("papers", "prune", "--before", "2030-01-01", "--now", "2030-01-20")
    kept = len(named | {free[0]})
    assert f"removed, {kept} kept" in pruned.out
    assert project.query("select count(*) from paper") == [(kept,)]
    preview = project.ok("deliveries", "--json")  # the sent digest still reads whole
    assert json.loads(preview.out)
    bad = project.cli("papers", "prune", "--before", "yesterday")
    assert bad.code == 1 and "invalid --before" in bad.err


def test_a_port_in_use_is_one_line_and_serve_then_fetches_and_sends_nothing(
    project: Project,
) -> None:
    """uvicorn logged a bind failure and exited 3, and `serve` had fetched and sent by then:
    the address is taken first, and what to change is said in one line."""
    project.ok(
        "subscribers", "add", "ann@example.org", "--keywords", "kv cache", "--send-at", "00:00"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for command in ("web", "serve"):
            result = project.cli(command, "--port", port)
            assert result.code == 1, command
            assert result.err.strip() == (
                f"error: cannot listen on 127.0.0.1:{port}: the port is in use (another digest "
                "web or serve?): stop it, or choose another --port"
            )
    assert project.query("select count(*) from paper") == [(0,)]
    assert project.mails() == []
    elsewhere = project.cli("web", "--host", "192.0.2.1", "--port", port)  # TEST-NET: not ours
    assert elsewhere.code == 1 and "give --host an address of this machine" in elsewhere.err
