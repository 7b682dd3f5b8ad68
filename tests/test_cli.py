"""The CLI as an operator uses it: help everywhere, JSON output, and bad input handled."""

from __future__ import annotations

import json
import os
import re
import shutil
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


def test_config_masks_secrets(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("DIGEST_DATABASE_URL", "postgresql://digest:pw123@db/digest")
    monkeypatch.setenv("DIGEST_SMTP_PORT", "2525")
    result = project.ok("config", "--json")
    data = json.loads(result.out)
    assert (
        "hunter2" not in result.out
        and "pw123" not in result.out
        and "test-secret" not in result.out
    )
    assert data["smtp_password"] == "********" and data["secret_key"] == "********"
    assert data["smtp_port"] == 2525
    assert data["database_url"] == "postgresql://digest:********@db/digest"


def test_the_production_example_names_every_setting() -> None:
    # README: "config/production.example.toml shows every setting"; secrets are named in its
    # header as environment variables, never as keys
    from digest.config import Settings

    config = Path(__file__).resolve().parent.parent / "config" / "production.example.toml"
    text = config.read_text()
    keys = set(re.findall(r"^#? ?([a-z_]+) =", text, re.MULTILINE))  # set, or shown commented
    keys |= set(re.findall(r"^\[\[?([a-z_]+)\]", text, re.MULTILINE))  # [host_intervals]
    as_written = {"from_address": "from"}
    secrets = {"secret_key", "retired_secret_key", "smtp_password", "inbox_password"}
    wanted = set(Settings.model_fields) - secrets - {"config"}
    assert sorted(n for n in wanted if as_written.get(n, n) not in keys) == []
    assert all(f"DIGEST_{name.upper()}" in text for name in secrets)


def test_dotenv_file_is_read(project: Project) -> None:
    (project.root / ".env").write_text("DIGEST_FROM=Env File <env@example.org>\n")
    data = json.loads(project.ok("config", "--json").out)
    assert data["from_address"] == "Env File <env@example.org>"


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


def test_rank_the_last_days_only(project: Project) -> None:
    """--days bounds what a large history costs; the papers here were fetched in the past."""
    project.ok("fetch", "--now", "2026-11-22T12:00:00+00:00")
    whole = json.loads(project.ok("rank", "--keywords", "kv cache", "--json").out)
    wide = json.loads(project.ok("rank", "--keywords", "kv cache", "--days", "36500", "--json").out)
    assert whole and wide == whole
    liked = whole[0]["id"]
    recent = project.ok("rank", "--keywords", "kv cache", "--days", "1", "--like", liked)
    assert recent.out.strip() == "no paper was first seen in the last 1 day: try more --days"


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


def test_missing_config_file_is_a_clear_error(project: Project) -> None:
    result = project.cli("--config", "nowhere.toml", "papers")
    assert result.code == 1 and "config file nowhere.toml does not exist" in result.err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DIGEST_TRANSPORT", "pigeon"),
        ("DIGEST_SMTP_PORT", "99999999999999999999"),
        ("DIGEST_SMTP_PORT", "-1"),
        ("DIGEST_SMTP_TIMEOUT", "nan"),
        ("DIGEST_BASE_URL", "javascript:alert(1)"),  # every link of every email starts with it
        ("DIGEST_BASE_URL", "https://"),
        ("DIGEST_DKIM_DOMAIN", "bad_ü.example"),  # no ASCII form for DKIM's d=
        ("DIGEST_BASE_URL", "https://bad_ü.example"),  # nor for a header's link
        ("DIGEST_DKIM_SELECTOR", "sél"),  # a DNS label, written into every signature
        ("DIGEST_DKIM_SELECTOR", "a b;c"),
        # durations past what a service waits: a traceback (timedelta overflow) at the send
        ("DIGEST_CLAIM_TIMEOUT_SECONDS", "inf"),
        ("DIGEST_RETRY_GIVE_UP_HOURS", "1e300"),
        ("DIGEST_FIRST_WINDOW_DAYS", "1000000000"),
    ],
)
def test_invalid_setting_names_the_variable(
    project: Project, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = project.cli("config")
    setting = variable.removeprefix("DIGEST_").lower()
    assert result.code == 1 and f"invalid setting {setting}" in result.err
    assert variable in result.err and "Traceback" not in result.err


@pytest.mark.parametrize(
    "url", ["mysql://app:hunter2@db/x", "postgresql+asyncpg://app:hunter2@db/x"]
)
def test_a_database_the_service_cannot_open_is_one_line_without_its_password(
    project: Project, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """Not a traceback from a missing driver, in the settings or for copy-to."""
    monkeypatch.setenv("DIGEST_DATABASE_URL", url)
    result = project.cli("stats")
    assert result.code == 1 and "invalid setting database_url:" in result.err
    assert "give sqlite:///PATH or postgresql://" in result.err and "hunter2" not in result.err
    monkeypatch.delenv("DIGEST_DATABASE_URL")
    copied = project.cli("copy-to", url)
    assert copied.code != 0 and "is not a database this service uses" in copied.err
    assert "hunter2" not in copied.err and "Traceback" not in copied.err


def test_a_nested_setting_names_its_variable_and_where_it_is(project: Project) -> None:
    config = project.root / "config" / "digest.toml"
    config.write_text(config.read_text() + '[host_intervals]\n"arxiv.org" = inf\n')
    result = project.cli("config")
    assert result.code == 1
    assert "invalid setting host_intervals.arxiv.org: Input should be less than" in result.err
    assert "(check DIGEST_HOST_INTERVALS or " in result.err


def test_a_from_domain_without_an_ascii_form_is_refused_by_its_variable(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers, Message-IDs and DKIM need the From domain in its IDNA form: one that has none
    is named by the variable that held it (an alias of the setting: not DIGEST_DIGEST_FROM)."""
    monkeypatch.setenv("DIGEST_FROM", "Papers <digest@bü_ch.example>")
    result = project.cli("config")
    assert result.code == 1
    assert "invalid setting DIGEST_FROM: 'bü_ch.example' is not a valid internationalised" in (
        result.err
    )
    assert "(check DIGEST_FROM or" in result.err and "Value error" not in result.err


@pytest.mark.parametrize(
    ("added", "message"),
    [
        ("max_paper = 5\n", "unknown setting 'max_paper' (did you mean 'max_papers'?)"),
        (
            '[[sources]]\nname = "x"\nurl = "seeds"\nkindd = "text"\n',
            "[[sources]] number 2 has an unknown key 'kindd' (did you mean 'kind'?)",
        ),
        ("max_papers = [\n", "cannot read config file"),
    ],
)
def test_a_typo_in_the_config_file_is_an_error_not_a_default(
    project: Project, added: str, message: str
) -> None:
    config = project.root / "config" / "digest.toml"
    top_level = not added.startswith("[")  # before the file's own [[sources]] table
    config.write_text(added + config.read_text() if top_level else config.read_text() + added)
    result = project.cli("papers")
    assert result.code == 1 and message in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err


def test_a_typo_in_an_environment_variable_or_dotenv_gets_a_note(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_SMTP_HOTS", "mail.example.org")
    monkeypatch.setenv("DIGEST_HOME", str(project.root))  # read by the CLI: no note
    (project.root / ".env").write_text("DIGEST_MAXPAPERS=5\nPOSTGRES_PASSWORD=x\n")
    result = project.ok("config")
    assert result.err.strip().splitlines() == [
        "note: DIGEST_SMTP_HOTS is not a setting (did you mean DIGEST_SMTP_HOST?): it is ignored",
        "note: DIGEST_MAXPAPERS in .env is not a setting (did you mean DIGEST_MAX_PAPERS?): "
        "it is ignored",
    ]
    assert 'smtp_host = "localhost"' in result.out


def test_installed_console_script_runs(project: Project) -> None:
    exe = Path(sys.executable).parent / "digest"
    result = subprocess.run(
        [str(exe), "fetch", "--bogus"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: No such option: --bogus")


def test_digest_home_finds_the_same_database_from_any_directory(
    project: Project, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron job runs elsewhere: with DIGEST_HOME it reads the same database, config and
    sources; without it, a command that would start a new empty database says so."""
    project.ok("fetch")
    papers = json.loads(project.ok("stats", "--json").out)["papers"]
    assert papers > 0
    assert "note:" not in project.ok("stats").err  # it exists now: nothing to say

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("DIGEST_HOME", str(project.root))
    found = project.ok("stats", "--json")
    assert json.loads(found.out)["papers"] == papers and "note:" not in found.err
    assert "0 new papers" in project.ok("fetch").out  # the seeds are found from the home too
    assert not (elsewhere / "var").exists()

    monkeypatch.delenv("DIGEST_HOME")
    lost = project.ok("stats", "--json")
    assert json.loads(lost.out)["papers"] == 0
    assert f"no database at {elsewhere.resolve() / 'var' / 'digest.sqlite'}" in lost.err
    assert "DIGEST_HOME" in lost.err

    monkeypatch.setenv("DIGEST_HOME", str(elsewhere / "missing"))
    wrong = project.cli("stats")
    assert wrong.code != 0 and "DIGEST_HOME" in wrong.err


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

    pruned = project.ok("papers", "prune", "--before", "2030-01-01")
    kept = len(named | {free[0]})
    assert f"removed, {kept} kept" in pruned.out
    assert project.query("select count(*) from paper") == [(kept,)]
    preview = project.ok("deliveries", "--json")  # the sent digest still reads whole
    assert json.loads(preview.out)
    bad = project.cli("papers", "prune", "--before", "yesterday")
    assert bad.code == 1 and "invalid --before" in bad.err
