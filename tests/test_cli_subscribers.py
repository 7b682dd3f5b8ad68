"""`digest subscribers ...`: add (active or --confirm), list, show, edit, pause, resume, remove,
import and export, with every bad input reported on one line and changing nothing."""

from __future__ import annotations

import codecs
import json
import os
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import Project, free_port, named_pipe

from digest.config import load_settings
from digest.errors import ValidationError
from digest.subscriptions import lifecycle as signup
from digest.subscriptions.csv_io import escape
from digest.wiring import Services

HEADER = "email,keywords,exclude,timezone,send_at,max_papers,frequency,weekly_day,status\n"
VOLATILE = {
    "public_id",
    "next_send_at",
    "id",
    "created_at",
    "updated_at",
    "confirmed_at",
    "confirmation_sent_at",
}


def listed(project: Project, *args: str) -> list[dict[str, Any]]:
    """`subscribers list --json` as data."""
    data: list[dict[str, Any]] = json.loads(project.ok("subscribers", "list", "--json", *args).out)
    return data


def shown(project: Project, email: str) -> dict[str, Any]:
    """`subscribers show EMAIL --json` as data."""
    data: dict[str, Any] = json.loads(project.ok("subscribers", "show", email, "--json").out)
    return data


def table(project: Project) -> list[tuple[Any, ...]]:
    """Every subscriber row exactly as stored."""
    if not project.db.exists():
        return []
    return project.query("select * from subscriber order by email")


def one_error_line(result: Any, message: str) -> str:
    """The single stderr line of a failed command, which must contain `message`."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert message in lines[0], result.err
    assert "Traceback" not in result.err
    return str(lines[0])


def usage_or_check_error(message: str) -> int:
    """The exit code: 2 when click refuses a choice before the command runs, else 1."""
    return 2 if "is not one of" in message else 1


def write(project: Project, name: str, text: str) -> Path:
    path = project.root / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def add_alice(project: Project) -> None:
    project.ok(
        "subscribers",
        "add",
        "Alice@Example.org",
        "--keywords",
        "rlhf; kv cache",
        "--exclude",
        "video",
        "--timezone",
        "Europe/Berlin",
        "--send-at",
        "7:30",
        "--max-papers",
        "4",
        "--frequency",
        "weekly",
        "--weekly-day",
        "fri",
    )


# add, list, show ---------------------------------------------------------------------------


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


# edit ----------------------------------------------------------------------------------------


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


def test_keywords_with_a_lone_surrogate_are_refused() -> None:
    """What an argument byte that is not UTF-8 becomes in Python (the CLI refuses those
    first): no email can carry it, so every digest of such a subscriber failed to build."""
    from digest.errors import ValidationError
    from digest.subscriptions.preferences import check_keywords

    with pytest.raises(ValidationError, match="invalid keywords: not UTF-8 text"):
        check_keywords("kv\udc85cache")


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


def test_revoke_links_kills_old_preferences_links_and_keeps_unsubscribe_working(
    project: Project,
) -> None:
    """B13: RFC 8058 expects the unsubscribe link of every mail already sent to keep working."""
    add_alice(project)
    query = "select token_version from subscriber where email = 'alice@example.org'"
    assert project.query(query) == [(1,)]
    services = Services(load_settings(None))
    try:
        subscriber = services.store.subscribers.get("alice@example.org")
        old_token = services.links.preferences_url(subscriber).rsplit("/", 1)[1]
        old_unsubscribe = services.links.unsubscribe_url(subscriber).rsplit("/", 1)[1]
        assert signup.subscriber_for(
            services.store, services.links, "preferences", old_token, datetime.now(UTC)
        )
    finally:
        services.close()
    before = shown(project, "alice@example.org")
    out = project.ok("subscribers", "edit", "alice@example.org", "--revoke-links").out
    assert out.strip() == "updated alice@example.org: earlier links revoked"
    assert project.query(query) == [(2,)]
    after = shown(project, "alice@example.org")
    assert {k for k in before if before[k] != after[k]} == {"updated_at"}
    services = Services(load_settings(None))
    try:
        with pytest.raises(ValidationError, match="no longer valid"):
            signup.subscriber_for(
                services.store, services.links, "preferences", old_token, datetime.now(UTC)
            )
        assert signup.subscriber_for(
            services.store, services.links, "unsubscribe", old_unsubscribe, datetime.now(UTC)
        )
        fresh = services.links.preferences_url(services.store.subscribers.get("alice@example.org"))
        new_token = fresh.rsplit("/", 1)[1]
        assert signup.subscriber_for(
            services.store, services.links, "preferences", new_token, datetime.now(UTC)
        )
    finally:
        services.close()
    project.ok("subscribers", "edit", "alice@example.org", "--revoke-links")
    assert project.query(query) == [(3,)]


def test_edit_email_moves_the_subscription_with_its_votes_and_revokes_old_links(
    project: Project,
) -> None:
    """A researcher who changes institution keeps settings and votes; their next digest goes
    to the new address, and links that went to the old mailbox stop working."""
    project.ok("fetch")
    add_alice(project)
    [paper] = [row[0] for row in project.query("select id from paper order by id limit 1")]
    project.ok("subscribers", "feedback", "alice@example.org", "--like", paper)
    before = shown(project, "alice@example.org")
    moved = project.ok(
        "subscribers", "edit", "ALICE@example.org", "--email", "Alice@New.example.edu"
    )
    assert moved.out.strip() == (
        "updated alice@new.example.edu: moved from alice@example.org; earlier links revoked"
    )
    after = shown(project, "alice@new.example.edu")
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"email", "updated_at", "address_since"}
    assert after["address_since"] == after["updated_at"]  # reports on mail sent before: not theirs
    assert project.cli("subscribers", "show", "alice@example.org").code == 1
    assert "like" in project.ok("subscribers", "show", "alice@new.example.edu").out
    version = "select token_version from subscriber where email = 'alice@new.example.edu'"
    assert project.query(version) == [(2,)]


def test_show_and_list_say_when_an_active_subscriber_is_suppressed(project: Project) -> None:
    """An address suppressed by hand (or by a complaint about another mail) can belong to an
    active subscriber, who then gets nothing: the operator asking why sees it."""
    add_alice(project)
    project.ok("subscribers", "add", "bob@example.org", "--keywords", "rlhf")
    assert "suppressed" not in project.ok("subscribers", "show", "bob@example.org").out
    project.ok("suppression", "add", "bob@example.org")
    lines = project.ok("subscribers", "show", "bob@example.org").out.splitlines()
    assert lines[1] == "status: active"
    assert lines[2].startswith("suppressed: manual since ") and "nothing is sent" in lines[2]
    listed = project.ok("subscribers", "list").out
    assert "bob@example.org  [active, suppressed: manual]" in listed
    assert "alice@example.org  [active]" in listed
    rows = json.loads(project.ok("subscribers", "list", "--json").out)
    assert {r["email"]: r["suppressed"] for r in rows} == {
        "alice@example.org": None,
        "bob@example.org": "manual",
    }


def test_edit_email_refuses_a_taken_suppressed_or_same_address_and_changes_nothing(
    project: Project,
) -> None:
    add_alice(project)
    project.ok("subscribers", "add", "bob@example.org", "--keywords", "rlhf")
    project.ok("suppression", "add", "spam@example.org")
    rows = table(project)
    for new, message in (
        ("bob@example.org", "another subscriber's address"),
        ("spam@example.org", "suppression list"),
        ("alice@example.org", "already this subscriber's address"),
        ("not an address", "invalid email address"),
    ):
        result = project.cli(
            "subscribers", "edit", "alice@example.org", "--max-papers", "9", "--email", new
        )
        assert result.code == 1
        one_error_line(result, message)
        assert table(project) == rows


def test_edit_email_starts_a_subscription_stopped_by_bounces_again(project: Project) -> None:
    add_alice(project)
    project.query(
        "update subscriber set status = 'bounced', hard_bounces = 3 "
        "where email = 'alice@example.org'"
    )
    project.ok("subscribers", "edit", "alice@example.org", "--email", "alice@example.net")
    after = shown(project, "alice@example.net")
    assert (after["status"], after["hard_bounces"]) == ("active", 0)


def test_resume_starts_a_bounced_subscription_once_its_address_may_be_mailed(
    project: Project,
) -> None:
    """The owner of a bounced address says it takes mail again: the operator takes it off
    the suppression list and resumes it, and bounces count afresh; while it is suppressed,
    resume says what to do first."""
    add_alice(project)
    project.query(
        "update subscriber set status = 'bounced', hard_bounces = 3, "
        "last_bounce_at = '2026-12-01 08:00:00.000000' where email = 'alice@example.org'"
    )
    project.ok("suppression", "add", "alice@example.org")
    refused = project.cli("subscribers", "resume", "alice@example.org")
    assert refused.code == 1
    one_error_line(refused, "digest suppression remove")
    assert shown(project, "alice@example.org")["status"] == "bounced"
    project.ok("suppression", "remove", "alice@example.org")
    assert (
        "resumed alice@example.org" in project.ok("subscribers", "resume", "alice@example.org").out
    )
    after = shown(project, "alice@example.org")
    assert (after["status"], after["hard_bounces"], after["last_bounce_at"]) == ("active", 0, None)
    assert after["keywords"] == ["rlhf", "kv cache"]  # the same subscription, kept


def test_edit_email_to_an_address_whose_signup_was_never_confirmed(project: Project) -> None:
    add_alice(project)
    project.ok("subscribers", "add", "alice@example.net", "--keywords", "rlhf", "--confirm")
    # refused for another reason (the address is suppressed): the signup is left alone
    project.ok("suppression", "add", "alice@example.net")
    refused = project.cli(
        "subscribers", "edit", "alice@example.org", "--email", "alice@example.net"
    )
    assert refused.code == 1 and "suppression list" in refused.err
    assert len(project.query("select 1 from subscriber")) == 2
    project.ok("suppression", "remove", "alice@example.net")
    project.ok("subscribers", "edit", "alice@example.org", "--email", "alice@example.net")
    assert [(r[0], r[1]) for r in project.query("select email, status from subscriber")] == [
        ("alice@example.net", "active")
    ]


# pause, resume, remove -----------------------------------------------------------------------


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


# bad input for add and the commands that take an address ------------------------------------


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


# import --------------------------------------------------------------------------------------


def test_import_good_and_bad_rows(project: Project) -> None:
    project.ok("subscribers", "add", "known@example.org", "--keywords", "old topic")
    path = write(
        project,
        "subs.csv",
        HEADER
        + 'ann@example.org,"kv cache, rlhf",video,Europe/Berlin,7:30,5,weekly,fri,active\n'  # 2
        + "x,rlhf,,,,,,,\n"  # 3
        + "ben@example.org,moe;routing,,,,,,,paused\n"  # 4
        + '"cat@example.org\r\nBcc: evil@example.org",rlhf,,,,,,,\n'  # 5-6
        + "\n"  # 7: blank, skipped
        + "dan@example.org,rlhf,,Mars/Olympus,,,,,\n"  # 8
        + "eve@example.org,rlhf,,,25:00,,,,\n"  # 9
        + f"fay@example.org,{'x' * 10_000},,,,,,,\n"  # 10
        + "gus@example.org,rlhf,,,,many,,,\n"  # 11
        + "hal@example.org,rlhf,,,,,monthly,,\n"  # 12
        + "ivy@example.org,rlhf,,,,,,,deleted\n"  # 13
        + "jon@example.org,,,,,,,,\n"  # 14
        + "kim@example.org,kv cache,rlhf,UTC,08:00,10,daily,monday,active,extra\n"  # 15
        + "known@example.org,new topic,,,,,,,\n"  # 16
        + "LEA@example.org,diffusion,,,,,,,\n",  # 17
    )
    result = project.cli("subscribers", "import", str(path))
    assert result.code == 1
    assert result.out.strip() == "3 imported, 1 already present, 10 bad rows"
    assert result.err.splitlines() == [
        "line 3: invalid email address 'x': An email address must have an @-sign.",
        "line 5: email contains a line break",
        "line 8: unknown time zone 'Mars/Olympus': use an IANA name such as Europe/Berlin, a city"
        " such as Tokyo, or UTC",
        "line 9: invalid send time '25:00': use HH:MM, e.g. 08:00 or 20:30",
        f"line 10: keyword too long (10000 characters, at most 80): {'x' * 40!r}…",
        "line 11: max_papers must be a whole number, not 'many'",
        "line 12: unknown frequency 'monthly': use daily, weekdays, weekly",
        "line 13: unknown status 'deleted': use pending, active, paused, unsubscribed, bounced",
        'line 14: keywords are empty: give at least one, e.g. "kv cache, rlhf"',
        "line 15: 10 fields but the header has 9: "
        "put keywords that contain commas in double quotes",
    ]
    rows = {r["email"]: r for r in listed(project)}
    assert sorted(rows) == [
        "ann@example.org",
        "ben@example.org",
        "known@example.org",
        "lea@example.org",
    ]
    ann = rows["ann@example.org"]
    assert (ann["keywords"], ann["exclude"], ann["timezone"], ann["send_at"]) == (
        ["kv cache", "rlhf"],
        ["video"],
        "Europe/Berlin",
        "07:30",
    )
    assert (ann["max_papers"], ann["frequency"], ann["weekly_day"], ann["status"]) == (
        5,
        "weekly",
        4,
        "active",
    )
    assert (rows["ben@example.org"]["keywords"], rows["ben@example.org"]["status"]) == (
        ["moe", "routing"],
        "paused",
    )
    assert rows["known@example.org"]["keywords"] == ["old topic"]  # kept as it was
    lea = rows["lea@example.org"]
    assert (lea["timezone"], lea["send_at"], lea["max_papers"], lea["frequency"]) == (
        "UTC",
        "08:00",
        10,
        "daily",
    )
    assert project.mails() == []


def test_import_refuses_a_token_version_the_database_cannot_hold(project: Project) -> None:
    """A token_version of 20 digits passed the checks and failed storing the whole file;
    now it is a bad row like any other, and the good rows are imported."""
    head = HEADER.strip() + ",trending,trending_box,grouped,public_id,token_version\n"
    path = write(
        project,
        "subs.csv",
        head
        + "ann@example.org,rlhf,,,,,,,,,,,,99999999999999999999\n"  # 2
        + "ben@example.org,rlhf,,,,,,,,,,,,0\n"  # 3
        + "cat@example.org,rlhf,,,,,,,,,,,,7\n",  # 4
    )
    result = project.cli("subscribers", "import", str(path))
    assert result.out.strip() == "1 imported, 0 already present, 2 bad rows"
    assert result.err.splitlines() == [
        "line 2: token_version must be 1 to 2147483647",
        "line 3: token_version must be 1 to 2147483647",
    ]
    assert [r["email"] for r in listed(project)] == ["cat@example.org"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")
def test_import_from_a_pipe_is_refused_instead_of_waiting_forever(project: Project) -> None:
    pipe = named_pipe(project.root / "subs.csv")
    result = project.cli("subscribers", "import", str(pipe))
    assert result.code != 0
    assert result.err.strip() == f"error: {pipe} is not a regular file: nothing was imported"


def test_import_twice_creates_no_duplicates(project: Project) -> None:
    path = write(
        project,
        "subs.csv",
        "keywords,email\n"  # any column order; the optional columns may be left out
        '"kv cache; rlhf",ann@example.org\n'
        "moe,ben@example.org\n",
    )
    first = project.ok("subscribers", "import", str(path))
    assert first.out.strip() == "2 imported, 0 already present, 0 bad rows"
    assert first.err == ""
    rows = table(project)
    second = project.ok("subscribers", "import", str(path))
    assert second.out.strip() == "0 imported, 2 already present, 0 bad rows"
    assert table(project) == rows
    assert project.query("select email, keywords from subscriber order by email") == [
        ("ann@example.org", '["kv cache", "rlhf"]'),
        ("ben@example.org", '["moe"]'),
    ]


def test_repeated_address_in_the_file_counts_once(project: Project) -> None:
    path = write(
        project,
        "subs.csv",
        HEADER
        + "ann@example.org,first,,,,,,,\n"
        + "ANN@example.org,second,,,,,,,\n"
        + "ann@example.org,third,,,,,,,\n"
        + "ben@example.org,moe,,,,,,,\n",
    )
    result = project.ok("subscribers", "import", str(path))
    assert result.out.strip() == (
        "2 imported, 0 already present, 0 bad rows (2 repeated in the file, counted once)"
    )
    assert project.query("select email, keywords from subscriber order by email") == [
        ("ann@example.org", '["first"]'),
        ("ben@example.org", '["moe"]'),
    ]


def test_import_leaves_out_addresses_on_the_suppression_list(project: Project) -> None:
    """An old list imported whole must not bring back people who complained or bounced:
    `subscribers add` refuses them, the signup form mails them nothing, and import left
    them active, planned and cancelled every day."""
    project.ok("suppression", "add", "Complained@Example.org")
    path = write(
        project, "subs.csv", "email,keywords\ncomplained@example.org,rlhf\nok@example.org,moe\n"
    )
    done = project.ok("subscribers", "import", str(path))
    assert done.out.strip() == (
        "1 imported, 0 already present, 1 on the suppression list (left out: "
        "`digest suppression list`), 0 bad rows"
    )
    assert project.query("select email from subscriber") == [("ok@example.org",)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "is empty: it needs a header row"),
        (b"ann@example.org,rlhf\nben@example.org,moe\n", "has no header row"),
        (b"email|keywords\nann@example.org|rlhf\n", "has no header row"),
        (b"email,exclude\nann@example.org,rlhf\n", "has no 'keywords' column"),
        (b"email,keywords,email\nann@example.org,rlhf,x\n", "names the column 'email' twice"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "subs.csv: it contains binary data"),
        (b"email,keywords\nann@example.org,caf\xe9\n", "is not UTF-8 text (byte 34)"),
        (b"\xff\xfee\x00m\x00a", "is broken UTF-16 text"),
        (b'email,keywords\nann@example.org,"rlhf\n', "is not valid CSV"),
    ],
)
def test_unreadable_import_file_is_one_line_and_imports_nothing(
    project: Project, content: bytes | None, message: str
) -> None:
    project.ok("subscribers", "add", "kept@example.org", "--keywords", "kv cache")
    before = table(project)
    path = project.root / "subs.csv"
    if content is not None:
        path.write_bytes(content)
    result = project.cli("subscribers", "import", str(path))
    assert result.code == 1
    line = one_error_line(result, message)
    assert line.startswith("error: ") and ("subs.csv" in line)
    assert result.out == ""
    assert table(project) == before


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        # a spreadsheet in German or French saves "CSV" with semicolons (the comma is the
        # decimal mark there), quoting a cell that holds one
        ('email;keywords;max_papers\r\nann@example.org;"kv cache; rlhf";5\r\n', "utf-8-sig"),
        # "Unicode text" from a spreadsheet: tab-separated UTF-16 with a byte order mark
        ("email\tkeywords\tmax_papers\r\nann@example.org\tkv cache; rlhf\t5\r\n", "utf-16"),
        ("email,keywords,max_papers\nann@example.org,kv cache; rlhf,5\n", "utf-16-le"),
        ("email\tkeywords\tmax_papers\nann@example.org\tkv cache; rlhf\t5\n", "utf-8"),
    ],
)
def test_import_reads_what_spreadsheets_save(project: Project, text: str, encoding: str) -> None:
    body = text.encode(encoding)
    if encoding == "utf-16-le":
        body = codecs.BOM_UTF16_LE + body
    path = project.root / "subs.csv"
    path.write_bytes(body)
    result = project.ok("subscribers", "import", str(path))
    assert result.out.strip() == "1 imported, 0 already present, 0 bad rows"
    assert project.query("select email, keywords, max_papers from subscriber") == [
        ("ann@example.org", '["kv cache", "rlhf"]', 5)
    ]


def test_semicolon_file_with_an_unquoted_semicolon_names_the_fix(project: Project) -> None:
    path = write(project, "subs.csv", "email;keywords\nann@example.org;kv cache; rlhf\n")
    result = project.cli("subscribers", "import", str(path))
    assert result.out.strip() == "0 imported, 0 already present, 1 bad row"
    assert result.err.strip() == (
        "line 2: 3 fields but the header has 2: "
        "put keywords that contain semicolons in double quotes"
    )


def test_exclusions_typed_among_the_keywords_are_stored_as_exclusions(project: Project) -> None:
    typed = "diffusion models, -medical, video NOT surgery"
    added = project.ok("subscribers", "add", "ann@example.org", "--keywords", typed)
    assert added.out.startswith(
        "added ann@example.org: diffusion models, video (not: medical, surgery); "
    )
    assert project.query("select keywords, exclude from subscriber") == [
        ('["diffusion models", "video"]', '["medical", "surgery"]')
    ]
    project.ok("subscribers", "edit", "ann@example.org", "--keywords", "video, -animals")
    assert project.query("select keywords, exclude from subscriber") == [
        ('["video"]', '["medical", "surgery", "animals"]')
    ]


@pytest.mark.parametrize(
    "typed",
    [
        "Ann Lee <Ann@Example.org>",
        '"Lee, Ann" <ann@example.org>',
        "<ann@example.org>",
        "mailto:ann@example.org",
    ],
)
def test_an_address_as_mail_clients_copy_it(project: Project, typed: str) -> None:
    """Copied from a mail client or a contact list's export, with the name or as a link."""
    project.ok("subscribers", "add", typed, "--keywords", "rlhf")
    assert project.query("select email from subscriber") == [("ann@example.org",)]
    quoted = typed.replace('"', '""')  # as a spreadsheet saves the field
    path = write(project, "subs.csv", f'email,keywords\n"{quoted}",moe\n')
    assert "0 imported, 1 already present" in project.ok("subscribers", "import", str(path)).out


def test_a_city_two_different_clocks_share_is_refused(project: Project) -> None:
    args = ["--keywords", "rlhf", "--timezone", "west"]  # Brazil/West or Australia/West?
    failed = project.cli("subscribers", "add", "ann@example.org", *args)
    assert failed.code == 1 and "unknown time zone 'west'" in failed.err


@pytest.mark.parametrize("offset", ["UTC+2", "GMT-5", "+01:00", "utc +5:30"])
def test_an_offset_typed_for_a_time_zone_asks_for_the_city(project: Project, offset: str) -> None:
    """An offset keeps no summer time (and its Etc/ name reads the opposite way round: UTC+2
    is Etc/GMT-2), so it is refused with what to type instead."""
    args = ["--keywords", "rlhf", "--timezone", offset]
    failed = project.cli("subscribers", "add", "ann@example.org", *args)
    assert failed.code == 1 and "an offset is not a place" in failed.err
    assert "name your city, e.g. Berlin" in failed.err


@pytest.mark.parametrize(
    ("timezone", "send_at", "stored"),
    [
        ("europe/berlin", "8pm", ("Europe/Berlin", "20:00")),
        ("new york", "7:30 a.m.", ("America/New_York", "07:30")),
        ("Kolkata", "0645", ("Asia/Kolkata", "06:45")),
        ("UTC", "8h30", ("UTC", "08:30")),
        ("CET", "12am", ("CET", "00:00")),
        # a city several zone names share, all one clock: the full, current name
        ("buenos aires", "09:00", ("America/Argentina/Buenos_Aires", "09:00")),
        # the city as its people spell it, accents and all
        ("São Paulo", "07:00", ("America/Sao_Paulo", "07:00")),
        ("zürich", "07:00", ("Europe/Zurich", "07:00")),
    ],
)
def test_time_zone_and_send_time_as_people_type_them(
    project: Project, timezone: str, send_at: str, stored: tuple[str, str]
) -> None:
    args = ["--keywords", "rlhf", "--timezone", timezone, "--send-at", send_at]
    project.ok("subscribers", "add", "ann@example.org", *args)
    assert project.query("select timezone, send_at from subscriber") == [stored]


def test_import_ignores_columns_that_are_not_ours_and_says_so(project: Project) -> None:
    """A spreadsheet with a `name` column imports; the extra column is named on stderr."""
    path = project.root / "subs.csv"
    path.write_text("name,email,keywords\nAnn Lee,ann@example.org,rlhf\n", encoding="utf-8")
    result = project.ok("subscribers", "import", str(path))
    assert "ignored the columns 'name'" in result.err
    assert result.out.strip() == "1 imported, 0 already present, 0 bad rows"
    assert project.query("select email, keywords from subscriber") == [
        ("ann@example.org", '["rlhf"]')
    ]


def test_import_a_directory_is_an_error(project: Project) -> None:
    result = project.cli("subscribers", "import", str(project.root))
    assert result.code == 1
    one_error_line(result, f"{project.root} is not a regular file: nothing was imported")


def test_import_accepts_a_bom_crlf_and_trailing_empty_columns(project: Project) -> None:
    path = project.root / "excel.csv"
    path.write_bytes(
        "\ufeffEmail,Keywords,,\r\nann@example.org,rlhf,,\r\n,,,\r\nben@example.org,moe,,\r\n".encode()
    )
    result = project.ok("subscribers", "import", str(path))
    assert result.out.strip() == "2 imported, 0 already present, 0 bad rows"
    assert [r["email"] for r in listed(project)] == ["ann@example.org", "ben@example.org"]


# export --------------------------------------------------------------------------------------


def seed_varied(project: Project) -> None:
    """Subscribers that use every column: statuses, schedules, odd but valid values."""
    add_alice(project)
    project.ok("subscribers", "add", "bob@example.org", "--keywords", "diffusion, video")
    project.ok("subscribers", "pause", "bob@example.org")
    project.ok(
        "subscribers",
        "add",
        "carol@example.org",
        "--keywords",
        "moe",
        "--confirm",
        "--frequency",
        "weekdays",
        "--send-at",
        "23:59",
        "--timezone",
        "Asia/Kathmandu",
    )
    path = write(
        project,
        "more.csv",
        HEADER + "dan@example.org,\"=1+1; +quoted 'x'; @home\",'=cmd,UTC,00:00,50,weekly,sunday,"
        "unsubscribed\n"
        + 'eve+tag@example.org,"a, b, c","d; e",America/St_Johns,12:30,1,daily,,bounced\n'
        + 'zoë@example.org,"\'lead quote",,Europe/London,06:15,7,weekly,3,active\n',
    )
    project.ok("subscribers", "import", str(path))


def test_export_to_stdout_and_file(project: Project) -> None:
    seed_varied(project)
    out = project.ok("subscribers", "export").out
    lines = out.splitlines()
    assert lines[0] == HEADER.strip() + ",trending,trending_box,grouped,public_id,token_version"
    public_ids = dict(project.query("select email, public_id from subscriber"))
    assert [line.rsplit(",", 2) for line in lines[1:]] == [
        [f"{row},0.1,no,yes", escape(public_ids[row.split(",")[0]]), "1"]  # may start with "-"
        for row in (
            "alice@example.org,rlhf; kv cache,video,Europe/Berlin,07:30,4,weekly,friday,active",
            "bob@example.org,diffusion; video,,UTC,08:00,10,daily,monday,paused",
            "carol@example.org,moe,,Asia/Kathmandu,23:59,10,weekdays,monday,pending",
            "dan@example.org,'=1+1; +quoted 'x'; @home,'=cmd,UTC,00:00,50,weekly,sunday,"
            "unsubscribed",
            "eve+tag@example.org,a; b; c,d; e,America/St_Johns,12:30,1,daily,monday,bounced",
            "zoë@example.org,''lead quote,,Europe/London,06:15,7,weekly,thursday,active",
        )
    ]
    result = project.ok("subscribers", "export", "backup/subs.csv")
    assert result.out.strip() == "6 subscribers exported to backup/subs.csv"
    assert (project.root / "backup" / "subs.csv").read_text(encoding="utf-8") == out
    assert (project.root / "backup" / "subs.csv").stat().st_mode & 0o777 == 0o600  # addresses


def test_export_then_import_into_an_empty_database_round_trips(project: Project) -> None:
    seed_varied(project)
    project.ok("subscribers", "edit", "alice@example.org", "--revoke-links")
    project.ok("subscribers", "export", "subs.csv")
    config = project.root / "config" / "digest.toml"
    other = project.root / "config" / "other.toml"
    other.write_text(
        config.read_text().replace("var/digest.sqlite", "var/other.sqlite"), encoding="utf-8"
    )
    assert listed(project, "--json") != []
    empty = json.loads(project.ok("--config", str(other), "subscribers", "list", "--json").out)
    assert empty == []
    result = project.ok("--config", str(other), "subscribers", "import", "subs.csv")
    assert result.out.strip() == "6 imported, 0 already present, 0 bad rows"

    def stable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]

    original = listed(project)
    copied = json.loads(project.ok("--config", str(other), "subscribers", "list", "--json").out)
    assert len(original) == 6
    assert stable(copied) == stable(original)
    # B4: the links in mail already sent name these, so a move keeps them
    kept = ("email", "public_id")
    assert [[r[k] for k in kept] for r in copied] == [[r[k] for k in kept] for r in original]
    versions = "select email, token_version from subscriber order by email"
    with sqlite3.connect(project.root / "var" / "other.sqlite") as conn:
        assert conn.execute(versions).fetchall() == project.query(versions)
    assert (2,) in [v[1:] for v in project.query(versions)]
    assert {r["status"] for r in copied} == {
        "active",
        "paused",
        "pending",
        "unsubscribed",
        "bounced",
    }
    dan = next(r for r in copied if r["email"] == "dan@example.org")
    assert (dan["keywords"], dan["exclude"]) == (["=1+1", "+quoted 'x'", "@home"], ["=cmd"])
    zoe = next(r for r in copied if r["email"] == "zoë@example.org")
    assert (zoe["keywords"], zoe["weekly_day"]) == (["'lead quote"], 3)
    # and the copy exports byte for byte the same file
    again = project.ok("--config", str(other), "subscribers", "export").out
    assert again == (project.root / "subs.csv").read_text(encoding="utf-8")


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
    utc = ends.astimezone(UTC)
    assert f"[paused until {utc:%Y-%m-%d %H:%M:%S} UTC]" in project.ok("subscribers", "list").out
    before = (ends - timedelta(minutes=1)).isoformat()
    project.ok("send", "--now", before)
    assert shown(project, "away@example.org")["status"] == "paused"
    assert project.query("select count(*) from delivery") == [(0,)]
    project.ok("send", "--now", (ends + timedelta(hours=7)).isoformat())  # past 06:00 there
    after = shown(project, "away@example.org")
    assert (after["status"], after["paused_until"]) == ("active", None)
    assert project.query("select count(*) from delivery") == [(1,)]  # that day's digest
