"""What an attacker and a bulk-mail receiver found (issue 9), one test per finding: the mail
side (international addresses, keys, DKIM and list headers, retries, what reaches a terminal)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, Inbox, Project, free_port, named_pipe, smtp_sink
from web_forms import signup_at

NOW = "2026-11-22T12:00:00+00:00"
PEOPLE = ("zoë@example.com", "anna@bücher.example", "plain@example.org")


def smtp(utf8: bool) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with smtp_sink(inbox, enable_SMTPUTF8=utf8) as port:
        yield inbox, port


@pytest.fixture
def utf8_server() -> Iterator[tuple[Inbox, int]]:
    yield from smtp(True)


@pytest.fixture
def ascii_server() -> Iterator[tuple[Inbox, int]]:
    yield from smtp(False)


def use_smtp(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    monkeypatch.setenv("DIGEST_TRANSPORT", "smtp")
    monkeypatch.setenv("DIGEST_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DIGEST_SMTP_PORT", str(port))


def add_people(project: Project) -> None:
    for email in PEOPLE:
        project.ok("subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00")


def test_b1_international_addresses_are_delivered_with_smtputf8_and_idna(
    project: Project, utf8_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = utf8_server
    use_smtp(monkeypatch, port)
    add_people(project)
    result = project.ok("run", "--now", NOW)
    assert "3 sent" in result.out
    recipients = sorted(r for _, rcpts, _ in inbox.messages for r in rcpts)
    assert recipients == ["anna@xn--bcher-kva.example", "plain@example.org", "zoë@example.com"]
    [zoe] = inbox.to("zoë@example.com")
    assert zoe["To"] == "zoë@example.com"


def test_b1_a_server_without_smtputf8_fails_that_one_message_and_nobody_else(
    project: Project, ascii_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = ascii_server
    use_smtp(monkeypatch, port)
    add_people(project)
    result = project.cli("run", "--now", NOW)
    assert result.code == 1 and "2 sent" in result.out and "1 failed" in result.out
    assert len(inbox.messages) == 2
    rows = project.query(
        "select s.email, d.status, d.last_error from delivery d join subscriber s"
        " on s.id = d.subscriber_id order by s.email"
    )
    assert [(email, status) for email, status, _ in rows] == [
        ("anna@bücher.example", "sent"),
        ("plain@example.org", "sent"),
        ("zoë@example.com", "failed"),
    ]
    assert "SMTPUTF8" in rows[2][2]


def test_b1_web_signup_with_an_international_address_sends_the_confirmation(
    project: Project, web: Any
) -> None:
    answer = signup_at(web.url, "zoë@example.com")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    [mail] = project.mails()
    assert mail["To"] == "zoë@example.com"


@pytest.fixture
def smtp_down(project: Project, monkeypatch: pytest.MonkeyPatch) -> int:
    port = free_port()  # nothing listens there
    use_smtp(monkeypatch, port)
    return port


def test_b12_smtp_down_at_signup_names_no_setting_and_the_next_try_sends_again(
    project: Project, smtp_down: int, web: Any
) -> None:
    first = signup_at(web.url, "later@example.org")
    assert first.status_code == 503
    for secret in ("127.0.0.1", str(smtp_down), "DIGEST_SMTP", "SMTP_HOST"):
        assert secret not in first.text
    assert "try again" in first.text
    second = signup_at(web.url, "later@example.org")
    assert second.status_code == 503 and "Check your inbox" not in second.text
    assert project.query("select confirmation_sent_at from subscriber") == [(None,)]


@pytest.mark.parametrize("command", [("send",), ("run",), ("web",), ("serve",)])
def test_b2_commands_that_mail_or_serve_links_refuse_the_development_key_off_localhost(
    project: Project, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.delenv("DIGEST_SECRET_KEY")  # base_url is https://digest.example.org
    result = project.cli(*command)
    assert result.code != 0
    assert "DIGEST_SECRET_KEY is not set" in result.err and "token_urlsafe" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_b2_a_short_key_is_refused_and_the_development_key_is_fine_on_localhost(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "x")
    result = project.cli("send", "--now", NOW)
    assert result.code != 0 and "1 bytes" in result.err and "at least 32" in result.err
    monkeypatch.delenv("DIGEST_SECRET_KEY")
    monkeypatch.setenv("DIGEST_BASE_URL", "http://localhost:8000")
    project.ok("send", "--now", NOW)


def test_b8_unsubscribing_or_pausing_cancels_digests_waiting_to_retry(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()  # the mail server is down: both digests wait to retry
    use_smtp(monkeypatch, port)
    for email in ("gone@example.org", "paused@example.org", "stays@example.org"):
        project.ok("subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00")
    project.cli("run", "--now", NOW)
    assert project.query("select distinct status from delivery") == [("retry",)]
    [gone] = project.query("select id from subscriber where email = 'gone@example.org'")
    project.ok("subscribers", "pause", "paused@example.org")
    with sqlite3.connect(project.db) as conn:  # an unsubscribe by any path, even by hand
        conn.execute("update subscriber set status = 'unsubscribed' where id = ?", gone)

    inbox = Inbox()
    with smtp_sink(inbox, port):
        project.cli("send", "--now", "2026-11-23T12:00:00+00:00")
    assert [rcpts for _, rcpts, _ in inbox.messages] == [["stays@example.org"]]
    rows = project.query(
        "select s.email, d.status from delivery d join subscriber s on s.id = d.subscriber_id"
        " where d.status != 'skipped' order by s.email"  # the 23rd: nothing new for anyone
    )
    assert rows == [
        ("gone@example.org", "cancelled"),
        ("paused@example.org", "cancelled"),
        ("stays@example.org", "sent"),
    ]


def test_b11_control_characters_never_reach_the_operators_terminal(project: Project) -> None:
    refused = project.cli("subscribers", "add", "a@example.org", "--keywords", "kv\x1b[2Jcache")
    assert refused.code == 1 and "control characters" in refused.err
    project.ok("subscribers", "add", "b@example.org", "--keywords", "kv cache")
    with sqlite3.connect(project.db) as conn:  # a row written before keywords were checked
        keywords = r'["kv\u001b]0;owned\u0007 cache", "x\u202egnp"]'
        conn.execute("update subscriber set keywords = ?", (keywords,))
    for command in (("subscribers", "list"), ("subscribers", "show", "b@example.org")):
        out = project.ok(*command).out
        assert "owned" in out and "\x1b" not in out and "\x07" not in out
        assert "gnp" in out and "\u202e" not in out  # a right-to-left override reorders the line
    shown = project.ok("subscribers", "show", "b@example.org", "--json").out
    assert "\x1b" not in shown and "\u202e" not in shown  # escaped, and it reads back the same:
    assert "x\u202egnp" in json.loads(shown)["keywords"]
    exported = project.ok("subscribers", "export").out  # and it imports again (B4)
    assert "\x1b" not in exported and "\x07" not in exported
    (project.root / "subs.csv").write_text(exported, encoding="utf-8")
    project.ok("subscribers", "remove", "b@example.org")
    assert "1 imported" in project.ok("subscribers", "import", "subs.csv").out


def one_digest_from_example_org(
    project: Project, server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> Inbox:
    """Send one digest from digest@example.org over SMTP; the inbox that received it."""
    inbox, port = server
    use_smtp(monkeypatch, port)
    monkeypatch.setenv("DIGEST_FROM", "Digest <digest@example.org>")
    project.ok(
        "subscribers", "add", "r@example.org", "--keywords", "kv cache", "--send-at", "00:00"
    )
    project.ok("run", "--now", NOW)
    return inbox


def test_list_headers_verp_bounce_address_and_an_attributable_mailto(
    project: Project, utf8_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest.config import load_settings
    from digest.mail.addresses import read_bounce_address, read_unsubscribe_address

    inbox = one_digest_from_example_org(project, utf8_server, monkeypatch)
    [(mail_from, _, message)] = inbox.messages
    key = load_settings(None).token_key()
    [(delivery_id, public_id)] = project.query(
        "select d.id, s.public_id from delivery d join subscriber s on s.id = d.subscriber_id"
    )
    assert mail_from.endswith("@example.org") and read_bounce_address(key, mail_from) == delivery_id
    assert message["List-Id"] == "papers digest <digest.example.org>"
    assert message["Feedback-ID"] == "digest:example.org"  # Gmail's feedback loop
    mailto = re.search(r"<mailto:([^?>]+)", message["List-Unsubscribe"])
    assert mailto and read_unsubscribe_address(key, mailto.group(1)) == public_id


def test_dkim_signs_the_list_headers_and_a_receiver_verifies_it(
    project: Project, utf8_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import dkim

    monkeypatch.setenv("DIGEST_DKIM_KEY_FILE", str(FIXTURES / "dkim" / "test-only-private.pem"))
    inbox = one_digest_from_example_org(project, utf8_server, monkeypatch)
    [(_, _, message)] = inbox.messages
    [raw] = inbox.raw
    public = (FIXTURES / "dkim" / "test-only-public.b64").read_text().strip()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"digest._domainkey.example.org."
        return f"v=DKIM1; k=rsa; p={public}".encode()

    assert dkim.verify(raw, dnsfunc=dns)
    signature = message["DKIM-Signature"].replace(" ", "").replace("\n", "")
    signed = ("list-unsubscribe", "list-unsubscribe-post", "feedback-id", "from", "subject")
    for header in (*signed, "message-id"):
        assert header in signature.split("h=")[1].split(";")[0].split(":")
    tampered = raw.replace(b"Subject: ", b"Subject: FREE CRYPTO ", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


@pytest.mark.parametrize("key", ["nowhere.pem", "a pipe", "."])
def test_a_missing_dkim_key_is_one_clear_error(
    project: Project, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """No such file, a named pipe (read forever before: a device's size says 0) or a
    directory: one line naming the setting."""
    if key == "a pipe":
        key = str(named_pipe(project.root / "dkim.pem"))
    monkeypatch.setenv("DIGEST_DKIM_KEY_FILE", key)
    project.ok(
        "subscribers", "add", "r@example.org", "--keywords", "kv cache", "--send-at", "00:00"
    )
    result = project.cli("send", "--now", NOW)
    assert result.code == 1 and "DIGEST_DKIM_KEY_FILE" in result.err
    assert len(result.err.strip().splitlines()) == 1
    if key.endswith("dkim.pem"):
        assert "not a regular file" in result.err


def test_info_import_works_in_chunks_with_one_transaction(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import digest.store.subscribers as subscribers_store

    monkeypatch.setattr(subscribers_store, "IMPORT_CHUNK", 2)  # memory stays flat per chunk
    project.ok("subscribers", "add", "known@example.org", "--keywords", "x")
    rows = ["a", "b", "known", "c", "a", "d"]
    text = "email,keywords\n" + "".join(f"{r}@example.org,kv cache\n" for r in rows)
    (project.root / "subs.csv").write_text(text, encoding="utf-8")
    out = project.ok("subscribers", "import", "subs.csv").out
    assert out.strip() == (
        "4 imported, 1 already present, 0 bad rows (1 repeated in the file, counted once)"
    )
    broken = text + '"e@example.org,unterminated\n'
    (project.root / "broken.csv").write_text(broken.replace("a@", "z@"), encoding="utf-8")
    assert project.cli("subscribers", "import", "broken.csv").code == 1
    emails = {e for (e,) in project.query("select email from subscriber")}
    assert "z@example.org" not in emails  # nothing of a broken file is kept


def test_b11_a_listing_with_controls_and_broken_text_is_stored_whole_and_shown_clean(
    project: Project,
) -> None:
    """A JSON listing may hold what no database takes (a lone surrogate; a NUL on PostgreSQL)
    or what drives a terminal (ESC, BEL, a right-to-left override): every paper is stored,
    with those characters gone."""
    listing = (
        '[{"paper": {"id": "2605.00001", "title": "Broken \\ud800 title \\u202eevil",'
        ' "summary": "An abstract \\u0000 with \\u001b[2J escapes \\u0007 here.",'
        ' "authors": [{"name": "Ann \\u202eLee"}]}, "organization": {"name": "Lab\\u009b"}},'
        ' {"paper": {"id": "2605.00002", "title": "A good neighbour", "summary": "Fine."}}]'
    )
    (project.root / "hf.json").write_text(listing, encoding="utf-8")
    assert "2 new" in project.ok("fetch", "hf.json").out
    rows = project.query("select title, abstract, authors, organization from paper order by id")
    assert rows[0] == (
        "Broken title evil",
        "An abstract with [2J escapes here.",
        '["Ann Lee"]',
        "Lab",
    )
    assert rows[1][0] == "A good neighbour"


def test_time_zones_work_on_a_machine_without_the_systems_time_zone_files(
    tmp_path: Path,
) -> None:
    """Slim container images (python:3.11-slim, which the Dockerfile builds on) hold no
    /usr/share/zoneinfo: every zone, Europe/Berlin too, was refused as unknown, and a time
    zone never planned. The tzdata package is the fallback zoneinfo reads then."""
    digest = str(Path(sys.executable).parent / "digest")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env |= {"PYTHONTZPATH": str(tmp_path / "no-zoneinfo"), "DIGEST_SEMANTIC": "off"}
    env["DIGEST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'digest.sqlite'}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [digest, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done

    zone = ("--timezone", "Asia/Kolkata", "--send-at", "07:30")
    added = run("subscribers", "add", "a@example.org", "--keywords", "kv cache", *zone)
    assert "daily at 07:30 Asia/Kolkata" in added.stdout
    sent = run("send", "--now", "2026-11-22T12:00:00+00:00")  # planning reads the zone too
    assert "1 subscriber due" in sent.stdout
