"""What an attacker and a bulk-mail receiver found (issue 9), one test per finding."""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FIXTURES, Inbox, Project, free_port, named_pipe, smtp_sink

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


def signup(url: str, email: str, **changes: str) -> httpx.Response:
    """Fill in the signup form as a browser would (cookie, CSRF field)."""
    with httpx.Client(base_url=url, timeout=10) as client:
        page = client.get("/")
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert token
        form = {"csrf": token.group(1), "email": email, "keywords": "kv cache"}
        form |= {"timezone": "UTC", "send_at": "08:00", **changes}
        return client.post("/subscribe", data=form)


def test_b1_web_signup_with_an_international_address_sends_the_confirmation(
    project: Project, web: Any
) -> None:
    answer = signup(web.url, "zoë@example.com")
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
    first = signup(web.url, "later@example.org")
    assert first.status_code == 503
    for secret in ("127.0.0.1", str(smtp_down), "DIGEST_SMTP", "SMTP_HOST"):
        assert secret not in first.text
    assert "try again" in first.text
    second = signup(web.url, "later@example.org")
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


def test_b3_a_removed_subscribers_old_link_never_opens_the_next_signup(
    project: Project, web: Any
) -> None:
    links = web.services.links
    project.ok("subscribers", "add", "first@example.org", "--keywords", "kv cache")
    first = web.services.store.subscribers.get("first@example.org")
    old = links.preferences_url(first)
    project.ok("subscribers", "remove", "first@example.org")
    project.ok("subscribers", "add", "second@example.org", "--keywords", "secret topic")
    second = web.services.store.subscribers.get("second@example.org")
    assert second.id == first.id  # SQLite reused the row id ...
    page = httpx.get(old)  # ... but links name the random public id
    assert page.status_code == 400 and "second@example.org" not in page.text
    assert "secret topic" not in page.text


def test_b10_non_ascii_tokens_and_csrf_fields_are_a_clean_400(project: Project, web: Any) -> None:
    for path in ("/preferences/é.x", "/unsubscribe/é.x", "/confirm/é", "/vote/é.x"):
        answer = httpx.get(web.url + path)
        assert answer.status_code == 400, path
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    with httpx.Client(base_url=web.url) as client:
        client.get("/")
        form = {"csrf": "é" * 64, "email": "x@example.org", "keywords": "kv cache"}
        refused = client.post("/subscribe", data=form)
    assert refused.status_code == 403 and "Content-Security-Policy" in refused.headers


def test_a_request_body_over_the_limit_is_refused_before_it_is_read(
    project: Project, web: Any
) -> None:
    """A form post of megabytes was read whole into memory before any field was checked:
    a few such posts would exhaust the service. Over MAX_BODY it is a 413, whether its
    length is declared or it comes in chunks; a normal signup still goes through."""
    from digest.web.security import MAX_BODY

    big = b"keywords=" + b"x" * (MAX_BODY + 1)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 65_536):
            yield big[start : start + 65_536]

    with httpx.Client(base_url=web.url) as client:
        client.get("/")
        form_type = {"content-type": "application/x-www-form-urlencoded"}
        declared = client.post("/subscribe", content=big, headers=form_type)
        chunked = client.post("/subscribe", content=chunks(), headers=form_type)
    assert (declared.status_code, chunked.status_code) == (413, 413)
    assert "over" in declared.text
    with httpx.Client(base_url=web.url) as client:
        page = client.get("/").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        form = {"csrf": csrf[1], "email": "ok@example.org", "keywords": "kv cache"}
        assert client.post("/subscribe", data=form).status_code == 200


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


def test_b11_a_form_field_with_a_nul_is_a_clean_400_and_stores_nothing(
    project: Project, web: Any
) -> None:
    """A NUL in any posted field (PostgreSQL would refuse the query it reaches)."""
    with httpx.Client(base_url=web.url) as client:
        page = client.get("/").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        form = {"csrf": csrf[1], "email": "nul@example.org", "keywords": "kv cache"}
        refused = client.post("/subscribe", data={**form, "timezone": "UTC\x00"})
    assert refused.status_code == 400 and "timezone field holds control characters" in refused.text
    assert project.query("select count(*) from subscriber") == [(0,)]


def test_b7_a_stranger_resubmitting_a_pending_address_changes_nothing(
    project: Project, web: Any
) -> None:
    assert signup(web.url, "owner@example.org").status_code == 200
    stranger = {"keywords": "spam", "timezone": "Pacific/Kiritimati", "send_at": "03:00"}
    again = signup(web.url, "owner@example.org", **stranger)
    assert again.status_code == 200 and "Check your inbox" in again.text
    row = project.query("select keywords, timezone, send_at, status from subscriber")
    assert row == [('["kv cache"]', "UTC", "08:00", "pending")]


@pytest.fixture
def tight_limits(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SIGNUPS_PER_CLIENT_HOUR", "2")
    monkeypatch.setenv("DIGEST_PREVIEWS_PER_CLIENT_MINUTE", "3")


def test_b6_signups_and_previews_are_limited_per_client(
    project: Project, tight_limits: None, web: Any
) -> None:
    assert signup(web.url, "one@example.org").status_code == 200
    assert signup(web.url, "two@example.org").status_code == 200
    third = signup(web.url, "three@example.org")
    assert third.status_code == 429 and "try again" in third.text
    assert len(project.mails()) == 2
    answers = [httpx.get(f"{web.url}/preview", params={"keywords": "kv"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]


def test_b6_a_filled_honeypot_looks_accepted_and_does_nothing(project: Project, web: Any) -> None:
    answer = signup(web.url, "bot@example.org", website="http://spam.example")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert project.query("select count(*) from subscriber") == [(0,)]
    assert project.mails() == []


def test_b6_confirmation_mails_back_off_and_stop_for_the_day(project: Project, web: Any) -> None:
    def mails_after(**delta: float) -> int:
        web.clock.advance(**delta)
        signup(web.url, "target@example.org")
        return len(project.mails())

    assert mails_after(seconds=0) == 1
    assert mails_after(minutes=59) == 1  # wait 1 h
    assert mails_after(minutes=1) == 2
    assert mails_after(hours=1) == 2  # then 2 h
    assert mails_after(hours=1) == 3
    assert mails_after(hours=8) == 3  # three a day at most
    assert mails_after(hours=24) == 4  # a new day


def test_b6_whoever_gets_unasked_confirmations_can_stop_all_mail_to_their_address(
    project: Project, web: Any
) -> None:
    """A stranger may sign an address up every day; the backoff caps the mails, not their
    end. The confirmation mail's second link stops all mail to its address: a GET (a mail
    scanner's) changes nothing, the page's button suppresses the address and removes the
    signup, and the signup form mails it nothing more. Only the operator lifts it."""
    from test_web import csrf_of, link_in

    assert signup(web.url, "target@example.org").status_code == 200
    link = link_in(project.mails()[-1], "decline")
    with httpx.Client(timeout=10) as person:
        page = person.get(link)
        assert page.status_code == 200 and 'id="decline"' in page.text
        assert "target@example.org" in page.text
        assert project.query("select count(*) from suppression") == [(0,)]
        assert person.post(link, data={}).status_code == 403  # no CSRF field: nothing done
        assert project.query("select status from subscriber") == [("pending",)]
        done = person.post(link, data={"csrf": csrf_of(page)})
        assert done.status_code == 200 and 'id="declined"' in done.text
        again = person.post(link, data={"csrf": csrf_of(page)})
        assert again.status_code == 410 and "stopped already" in again.text
    assert project.query("select email, reason from suppression") == [
        ("target@example.org", "declined")
    ]
    assert project.query("select count(*) from subscriber") == [(0,)]
    web.clock.advance(days=2)
    assert signup(web.url, "target@example.org").status_code == 200  # the same answer
    assert len(project.mails()) == 1  # and no mail
    refused = project.cli("subscribers", "add", "target@example.org", "--keywords", "rlhf")
    assert refused.code == 1 and "suppression list (declined" in refused.err


def test_b6_the_confirmation_quotes_little_of_what_a_stranger_typed(
    project: Project, web: Any
) -> None:
    spam = ", ".join(f"FREE CRYPTO {i} http://evil.example/claim-your-prize-now" for i in range(30))
    assert signup(web.url, "victim@example.org", keywords=spam).status_code == 200
    [mail] = project.mails()
    text = mail.get_body(("plain",)).get_content()
    assert text.lower().count("free crypto") == 5 and "and 25 more" in text
    assert "claim-your-prize-now" not in text  # each topic is cut at 40 characters


def test_b6_pending_signups_expire(project: Project, web: Any) -> None:
    signup(web.url, "never@example.org")
    web.clock.advance(days=8)
    signup(web.url, "later@example.org")
    assert project.query("select email from subscriber") == [("later@example.org",)]


def test_b9_new_pending_and_active_addresses_answer_no_sooner_than_the_floor(
    project: Project, web: Any
) -> None:
    from digest.web.routes import SIGNUP_FLOOR

    project.ok("subscribers", "add", "active@example.org", "--keywords", "kv cache")
    signup(web.url, "pending@example.org")
    for email in ("new@example.org", "pending@example.org", "active@example.org"):
        answer = signup(web.url, email)
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        assert answer.elapsed.total_seconds() >= SIGNUP_FLOOR, email


def test_info_the_access_log_holds_no_tokens(
    project: Project, web: Any, caplog: pytest.LogCaptureFixture
) -> None:
    project.ok("subscribers", "add", "t@example.org", "--keywords", "kv cache")
    token = web.services.links.token(
        "preferences", web.services.store.subscribers.get("t@example.org")
    )
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        assert httpx.get(f"{web.url}/preferences/{token}").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("/preferences/[token]" in line for line in lines), lines
    assert not any(token in line for line in lines)


def test_info_no_slash_redirect_echoes_a_spoofed_host(project: Project, web: Any) -> None:
    answer = httpx.get(f"{web.url}/preview/", headers={"Host": "evil.example"})
    assert answer.status_code == 404 and "location" not in answer.headers
    assert "evil.example" not in answer.text


def test_info_https_answers_carry_hsts(project: Project, web: Any) -> None:
    answer = httpx.get(f"{web.url}/", headers={"X-Forwarded-Proto": "https"})
    plain = httpx.get(f"{web.url}/")
    assert "strict-transport-security" not in plain.headers
    assert answer.headers["strict-transport-security"] == "max-age=31536000"


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


def test_info_the_csrf_field_is_no_mac_under_the_link_key() -> None:
    import hashlib
    import hmac

    from digest.web.security import csrf_ok, csrf_token

    key, cookie = b"k" * 32, "cookie-value"
    token = csrf_token(key, cookie)
    assert token != hmac.new(key, f"csrf:{cookie}".encode(), hashlib.sha256).hexdigest()
    assert csrf_ok(key, cookie, token) and not csrf_ok(key, cookie, "é" * 64)


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


def test_b6_an_ipv6_client_is_its_network_not_each_of_its_addresses() -> None:
    """A host on IPv6 may take a new address of its /64 for every request (2^64 of them): the
    limits count the /64, so rotating addresses does not reset them; another network, or an
    IPv4 client, keeps its own count."""
    from starlette.requests import Request

    from digest.web.limits import Guard, Limits
    from digest.web.routes import client_of

    def from_host(host: str) -> Request:
        return Request({"type": "http", "client": (host, 40000), "headers": []})

    guard = Guard(Limits(signups_per_client_hour=2, signups_per_hour=100))
    rotating = [f"2001:db8:1:2:{i:x}::{i:x}" for i in range(1, 4)]
    assert [guard.signup(client_of(from_host(h))) for h in rotating] == [True, True, False]
    assert guard.signup(client_of(from_host("2001:db8:1:3::1")))  # another network
    assert guard.signup(client_of(from_host("::ffff:192.0.2.1")))  # IPv4 as IPv6 writes it
    assert guard.signup(client_of(from_host("192.0.2.1")))
    assert not guard.signup(client_of(from_host("192.0.2.1")))  # the same client: its two


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
