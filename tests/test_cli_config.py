"""The settings as the CLI reads them: config file, environment and .env; secrets masked; every
invalid or mistyped setting named by its variable in one line; DIGEST_HOME."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import Project


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
        ("DIGEST_BASE_URL", "https://digest.example.org/?lang=en"),  # links made ?lang=en/vote/
        ("DIGEST_BASE_URL", "https://digest.example.org/#top"),  # every link opened the root
        ("DIGEST_BASE_URL", "https://admin:secret@digest.example.org"),  # in every email
        ("DIGEST_BASE_URL", "https://digest.example.org/papers digest"),
        ("DIGEST_BASE_URL", "https://digest.example.org:99999"),
        ("DIGEST_DKIM_SELECTOR", "sél"),  # a DNS label, written into every signature
        ("DIGEST_DKIM_SELECTOR", "a b;c"),
        # durations past what a service waits: a traceback (timedelta overflow) at the send
        ("DIGEST_CLAIM_TIMEOUT_SECONDS", "inf"),
        ("DIGEST_RETRY_GIVE_UP_HOURS", "1e300"),
        ("DIGEST_FIRST_WINDOW_DAYS", "1000000000"),
        # the From header of every email: it came out as "From: not", or broke every build
        ("DIGEST_FROM", "not an address"),
        ("DIGEST_FROM", "papers\r\nBcc: all@example.org <digest@example.org>"),
        ("DIGEST_USER_AGENT", "bot\r\nCookie: x"),  # every fetch failed on it
        ("DIGEST_CONTACT_URL", "https://example.org/\u00fcber"),
    ],
)
def test_invalid_setting_names_the_variable(
    project: Project, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = project.cli("config")
    setting = variable.removeprefix("DIGEST_").lower()
    named = (f"invalid setting {setting}:", f"invalid setting {variable}:")  # or its alias
    assert result.code == 1 and any(name in result.err for name in named)
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


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        # sources are looked up by name: fetch read only the last, serve stopped on a traceback
        (
            'name = "arxiv"\nurl = "a.txt"\n[[sources]]\nname = "arxiv"\nurl = "b.txt"',
            "two sources",
        ),
        ('name = "arxiv\\u001b[2J"\nurl = "a.txt"', "sources.0.name: must be one line"),
    ],
)
def test_source_names_are_distinct_and_printable(
    project: Project, sources: str, message: str
) -> None:
    config = project.root / "config" / "digest.toml"
    config.write_text(f"[[sources]]\n{sources}\n")
    result = project.cli("sources")
    assert result.code == 1 and message in result.err and "Traceback" not in result.err
