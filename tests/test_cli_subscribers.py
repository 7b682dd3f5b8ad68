"""`digest subscribers ...`: add (active or --confirm), list, show, edit, pause, resume, remove,
with every bad input reported on one line and changing nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import Project, free_port
from subscriber_cli import (
    VOLATILE,
    add_alice,
    listed,
    one_error_line,
    shown,
    table,
    usage_or_check_error,
)


def test_add_with_every_option_is_active_at_once(project: Project) -> None:
    add_alice(project)
    data = shown(project, "ALICE@example.org")
    assert {k: data[k] for k in data if k not in VOLATILE} == {
        "email": "alice@example.org",
        "keywords": ["rlhf", "kv cache"],
        "exclude": ["video"],
        "timezone": "Europe/Berlin",
        "send_at": "07:30",
        "max_papers": 4,
        "frequency": "weekly",
        "weekly_day": 4,
        "status": "active",
        "hard_bounces": 0,
        "last_bounce_at": None,
        "paused_until": None,
        "address_since": None,
        "suppressed": None,
        "trending": 0.1,
        "trending_box": False,
        "grouped": True,
        "votes": [],
    }
    assert data["confirmation_sent_at"] is None
    assert project.mails() == []
    text = project.ok("subscribers", "show", "alice@example.org").out
    assert "timezone: Europe/Berlin" in text and "keywords: rlhf, kv cache" in text
    assert "weekly_day: friday" in text and "confirmed_at: -" in text
    created = datetime.fromisoformat(data["created_at"])
    assert f"created_at: {created:%Y-%m-%d %H:%M:%S} UTC" in text  # the JSON keeps ISO-8601


def test_add_defaults(project: Project) -> None:
    out = project.ok("subscribers", "add", "bob@example.org", "--keywords", "diffusion").out
    assert out.strip() == "added bob@example.org: diffusion; daily at 08:00 UTC, up to 10 papers"
    one = project.ok(
        "subscribers", "add", "cy@example.org", "--keywords", "gans", "--max-papers", "1"
    )
    assert one.out.endswith(", up to 1 paper\n")
    row = shown(project, "bob@example.org")
    assert (row["frequency"], row["weekly_day"], row["exclude"], row["status"]) == (
        "daily",
        0,
        [],
        "active",
    )


def test_add_confirm_sends_one_mail_and_stays_pending(project: Project) -> None:
    result = project.ok(
        "subscribers", "add", "carol@example.org", "--keywords", "moe, routing", "--confirm"
    )
    assert "pending" in result.out and "confirmation mail sent" in result.out
    [mail] = project.mails()
    assert mail["To"] == "carol@example.org"
    assert mail["Subject"] == "Confirm your papers digest"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    links = re.findall(r"https://digest\.example\.org/confirm/[A-Za-z0-9_.-]+", text)
    assert len(links) == 1, text
    assert "“moe”, “routing”" in text
    [row] = listed(project)
    assert (row["email"], row["status"]) == ("carol@example.org", "pending")
    assert row["confirmation_sent_at"] is not None and row["confirmed_at"] is None
    assert listed(project, "--status", "active") == []
    assert [r["email"] for r in listed(project, "--status", "pending")] == ["carol@example.org"]


def test_add_confirm_when_the_mail_cannot_be_sent_adds_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_TRANSPORT", "smtp")
    monkeypatch.setenv("DIGEST_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DIGEST_SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("DIGEST_SMTP_STARTTLS", "false")
    project.ok("subscribers", "add", "kept@example.org", "--keywords", "kv cache")
    before = table(project)
    result = project.cli(
        "subscribers", "add", "carol@example.org", "--keywords", "moe", "--confirm"
    )
    assert result.code == 1
    line = one_error_line(result, "could not send the confirmation mail")
    assert line.endswith("carol@example.org was not added")
    assert table(project) == before


def test_list_filters_by_status_and_prints_text(project: Project) -> None:
    assert "no subscribers" in project.ok("subscribers", "list").out
    add_alice(project)
    project.ok("subscribers", "add", "bob@example.org", "--keywords", "diffusion")
    project.ok("subscribers", "pause", "bob@example.org")
    assert [r["email"] for r in listed(project)] == ["alice@example.org", "bob@example.org"]
    assert [r["email"] for r in listed(project, "--status", "paused")] == ["bob@example.org"]
    assert [r["email"] for r in listed(project, "--status", "ACTIVE")] == ["alice@example.org"]
    lines = project.ok("subscribers", "list").out.splitlines()
    assert lines == [
        "alice@example.org  [active]  on fridays at 07:30 Europe/Berlin  rlhf, kv cache",
        "bob@example.org  [paused]  daily at 08:00 UTC  diffusion",
    ]
    result = project.cli("subscribers", "list", "--status", "gone")
    assert result.code == 2  # click refuses a value outside the choices: a usage error
    one_error_line(result, "'gone' is not one of 'pending', 'active', 'paused'")


def test_edit_changes_only_the_given_fields(project: Project) -> None:
    add_alice(project)
    before = shown(project, "alice@example.org")
    out = project.ok(
        "subscribers",
        "edit",
        "alice@example.org",
        "--keywords",
        "Speculative Decoding",
        "--send-at",
        "18:05",
        "--exclude",
        "",
    ).out
    assert out.strip() == "updated alice@example.org: changed keywords, exclude, send_at"
    after = shown(project, "alice@example.org")
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"keywords", "exclude", "send_at", "updated_at"}
    assert (after["keywords"], after["exclude"], after["send_at"]) == (
        ["speculative decoding"],
        [],
        "18:05",
    )
    # what was so already is not called a change
    again = ["--keywords", "speculative decoding", "--send-at", "18:05", "--max-papers", "3"]
    out = project.ok("subscribers", "edit", "alice@example.org", *again).out
    assert out.strip() == "updated alice@example.org: changed max_papers"
    same = project.ok("subscribers", "edit", "alice@example.org", "--send-at", "6:05pm").out
    assert same.strip() == "alice@example.org: no setting changed (each was so already)"


def test_edit_frequency_and_weekly_day(project: Project) -> None:
    project.ok("subscribers", "add", "bob@example.org", "--keywords", "diffusion")
    project.ok("subscribers", "edit", "bob@example.org", "--frequency", "weekly")
    row = shown(project, "bob@example.org")
    assert (row["frequency"], row["weekly_day"]) == ("weekly", 0)
    project.ok("subscribers", "edit", "bob@example.org", "--weekly-day", "sunday")
    project.ok("subscribers", "edit", "bob@example.org", "--max-papers", "50")
    project.ok("subscribers", "edit", "bob@example.org", "--timezone", "America/New_York")
    row = shown(project, "bob@example.org")
    assert (row["frequency"], row["weekly_day"], row["max_papers"], row["timezone"]) == (
        "weekly",
        6,
        50,
        "America/New_York",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keywords", "x" * 10_000], "keyword too long (10000 characters"),
        (["--keywords", " , ;"], "keywords are empty"),
        (["--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["--send-at", "24:00"], "invalid send time '24:00'"),
        (["--max-papers", "0"], "papers per digest must be 1 to 50, not 0"),
        (["--frequency", "hourly"], "'hourly' is not one of 'daily', 'weekdays', 'weekly'"),
        (["--weekly-day", "someday"], "unknown weekday 'someday'"),
        (["--exclude", "a\rBcc: x@example.org"], "control characters are not allowed"),
        (["--keywords", "kv\x85cache"], "control characters are not allowed"),  # NEL
        # a right-to-left override: "‮kv cache" shows as "ehcac vk" in a subject line
        (["--keywords", "\u202ekv cache"], "control characters are not allowed"),
    ],
)
def test_edit_with_one_bad_value_changes_nothing(
    project: Project, args: list[str], message: str
) -> None:
    add_alice(project)
    before = table(project)
    # a valid change comes first: it must not be applied either
    result = project.cli("subscribers", "edit", "alice@example.org", "--send-at", "06:00", *args)
    assert result.code == usage_or_check_error(message)
    one_error_line(result, message)
    assert table(project) == before


def test_edit_needs_an_option_and_a_known_subscriber(project: Project) -> None:
    add_alice(project)
    before = table(project)
    result = project.cli("subscribers", "edit", "alice@example.org")
    assert result.code == 2
    one_error_line(result, "nothing to change")
    result = project.cli("subscribers", "edit", "nobody@example.org", "--send-at", "09:00")
    assert result.code == 1
    one_error_line(result, "no subscriber 'nobody@example.org'")
    assert table(project) == before


def test_pause_and_resume(project: Project) -> None:
    add_alice(project)
    out = project.ok("subscribers", "pause", "Alice@Example.org").out
    assert out.startswith("paused alice@example.org")
    assert shown(project, "alice@example.org")["status"] == "paused"
    again = project.cli("subscribers", "pause", "alice@example.org")
    assert again.code == 1
    one_error_line(again, "only an active subscription can be paused (this one is paused)")
    assert project.ok("subscribers", "resume", "alice@example.org").out.strip() == (
        "resumed alice@example.org"
    )
    assert shown(project, "alice@example.org")["status"] == "active"
    again = project.cli("subscribers", "resume", "alice@example.org")
    assert again.code == 1
    one_error_line(again, "paused subscription can be resumed (this one is active)")


def test_remove(project: Project) -> None:
    add_alice(project)
    project.ok("subscribers", "add", "bob@example.org", "--keywords", "diffusion")
    assert project.ok("subscribers", "remove", "ALICE@example.org").out.strip() == (
        "removed alice@example.org"
    )
    assert [r["email"] for r in listed(project)] == ["bob@example.org"]
    result = project.cli("subscribers", "remove", "alice@example.org")
    assert result.code == 1
    one_error_line(result, "no subscriber 'alice@example.org'")
    assert [r["email"] for r in listed(project)] == ["bob@example.org"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "not-an-email", "--keywords", "x"], "invalid email address 'not-an-email'"),
        (
            ["add", "a@example.org\r\nBcc: b@example.org", "--keywords", "x"],
            "invalid email address: it contains a line break",
        ),
        (
            ["add", "a@example.org\nBcc: b@example.org", "--keywords", "x", "--confirm"],
            "invalid email address: it contains a line break",
        ),
        (["add", "z@example.org", "--keywords", "x" * 10_000], "keyword too long"),
        (
            ["add", "z@example.org", "--keywords", "x", "--timezone", "Mars/Olympus"],
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            ["add", "z@example.org", "--keywords", "x", "--send-at", "13pm"],
            "invalid send time '13pm'",
        ),
        (
            ["add", "z@example.org", "--keywords", "x", "--frequency", "monthly"],
            "'monthly' is not one of 'daily', 'weekdays', 'weekly'",
        ),
        (
            ["add", "z@example.org", "--keywords", "x", "--max-papers", "51"],
            "papers per digest must be 1 to 50",
        ),
        (["add", "kept@example.org", "--keywords", "x"], "already subscribed"),
        (["show", "kept@example.org\r\nX-Evil: 1"], "it contains a line break"),
        (["pause", "nobody@example.org"], "no subscriber 'nobody@example.org'"),
        (["resume", "kept@example.org"], "paused subscription can be resumed (this one is active)"),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(
    project: Project, args: list[str], message: str
) -> None:
    project.ok("subscribers", "add", "kept@example.org", "--keywords", "kv cache")
    before = table(project)
    result = project.cli("subscribers", *args)
    assert result.code == usage_or_check_error(message)
    one_error_line(result, message)
    assert table(project) == before
    assert project.mails() == []


def test_read_commands_have_json_and_every_option_has_help(project: Project) -> None:
    for command in ("add", "list", "show", "edit", "pause", "resume", "remove", "import", "export"):
        result = project.ok("subscribers", command, "--help")
        assert "Usage: digest subscribers " + command in result.out
    for command in ("list", "show"):
        assert "--json" in project.ok("subscribers", command, "--help").out
    help_text = project.ok("subscribers", "edit", "--help").out
    for option in (
        "--keywords",
        "--exclude",
        "--timezone",
        "--send-at",
        "--max-papers",
        "--frequency",
        "--weekly-day",
        "--revoke-links",
    ):
        assert option in help_text
    assert "--confirm" in project.ok("subscribers", "add", "--help").out


def test_grouped_is_the_default_and_flat_is_a_choice_that_reaches_the_digest(
    project: Project,
) -> None:
    add_alice(project)
    assert shown(project, "alice@example.org")["grouped"] is True
    project.ok("fetch", "--now", "2026-11-22T12:00:00+00:00")
    project.ok(
        "subscribers",
        "edit",
        "alice@example.org",
        "--keywords",
        "kv cache, diffusion",
        "--send-at",
        "00:00",
        "--frequency",
        "daily",
    )
    project.ok("send", "--now", "2026-11-22T12:00:00+00:00")
    [grouped] = [m for m in project.mails() if "digest" in str(m["Subject"]).lower()]
    text = grouped.get_body(("plain",)).get_content()
    assert "== kv cache ==" in text and "== diffusion ==" in text
    out = project.ok("subscribers", "edit", "alice@example.org", "--flat").out
    assert out.strip() == "updated alice@example.org: changed grouped"
    assert shown(project, "alice@example.org")["grouped"] is False


def test_a_pause_until_a_day_ends_by_itself_that_day(project: Project) -> None:
    """A holiday: paused until a day (the subscriber's own), the digests start again by
    themselves on that day's first dispatch, not before; a day gone by or more than a year
    ahead is refused in one line, nothing changed."""
    project.ok("fetch", "--now", "2026-11-20T05:00:00+00:00")
    project.ok(
        "subscribers",
        "add",
        "away@example.org",
        "--keywords",
        "kv cache",
        "--timezone",
        "Asia/Kolkata",
        "--send-at",
        "06:00",
    )
    for day, why in (("2020-01-01", "after today"), ("2030-01-01", "within a year")):
        refused = project.cli("subscribers", "pause", "away@example.org", "--until", day)
        assert refused.code == 1
        one_error_line(refused, why)
    bad = project.cli("subscribers", "pause", "away@example.org", "--until", "next week")
    assert bad.code == 1 and "invalid --until 'next week'" in bad.err
    assert shown(project, "away@example.org")["status"] == "active"
    # today (real time) plus a few days: the pause is checked against the clock
    back = (datetime.now(UTC) + timedelta(days=3)).date()
    out = project.ok("subscribers", "pause", "away@example.org", "--until", back.isoformat()).out
    assert out.strip().endswith(f"digests start again on {back:%A} {back.day} {back:%B %Y}")
    data = shown(project, "away@example.org")
    ends = datetime.fromisoformat(data["paused_until"])
    assert data["status"] == "paused"
    assert ends == datetime.combine(back, datetime.min.time(), ZoneInfo("Asia/Kolkata"))
    day = f"{back:%A} {back.day} {back:%B %Y}"  # the day typed, not its start in UTC
    assert f"[paused until {day}]" in project.ok("subscribers", "list").out
    shown_line = f"paused_until: {day} (starts that day, Asia/Kolkata)"
    assert shown_line in project.ok("subscribers", "show", "away@example.org").out.splitlines()
    before = (ends - timedelta(minutes=1)).isoformat()
    project.ok("send", "--now", before)
    assert shown(project, "away@example.org")["status"] == "paused"
    assert project.query("select count(*) from delivery") == [(0,)]
    project.ok("send", "--now", (ends + timedelta(hours=7)).isoformat())  # past 06:00 there
    after = shown(project, "away@example.org")
    assert (after["status"], after["paused_until"]) == ("active", None)
    assert project.query("select count(*) from delivery") == [(1,)]  # that day's digest
