"""What an attacker found in the web pages (issue 9), one test per finding: tokens, bodies and
fields that must be a clean 400, per-client limits, stranger signups, what logs and headers hold."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import Project
from web_forms import csrf_of, link_in, signup_at


@pytest.fixture
def tight_limits(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SIGNUPS_PER_CLIENT_HOUR", "2")
    monkeypatch.setenv("DIGEST_PREVIEWS_PER_CLIENT_MINUTE", "3")


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


def test_b11_a_form_that_is_not_utf8_is_a_clean_400_and_stores_nothing(
    project: Project, web: Any
) -> None:
    """Bytes that are not UTF-8 were decoded to U+FFFD and stored: a pending subscriber
    "\ufffd\ufffd@example.org", mailed a confirmation no one could receive."""
    with httpx.Client(base_url=web.url) as client:
        page = client.get("/").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        body = f"csrf={csrf[1]}&email=%ff%fe%40example.org&keywords=kv+cache&timezone=UTC"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        refused = client.post("/subscribe", content=body.encode(), headers=headers)
        fine = client.post("/subscribe", content=body.replace("%ff%fe", "zo%C3%AB"),
                           headers=headers)  # fmt: skip
    assert refused.status_code == 400 and "email field was not sent as UTF-8" in refused.text
    assert fine.status_code == 200
    assert project.query("select email from subscriber") == [("zoë@example.org",)]


def test_b7_a_stranger_resubmitting_a_pending_address_changes_nothing(
    project: Project, web: Any
) -> None:
    assert signup_at(web.url, "owner@example.org").status_code == 200
    stranger = {"keywords": "spam", "timezone": "Pacific/Kiritimati", "send_at": "03:00"}
    again = signup_at(web.url, "owner@example.org", **stranger)
    assert again.status_code == 200 and "Check your inbox" in again.text
    row = project.query("select keywords, timezone, send_at, status from subscriber")
    assert row == [('["kv cache"]', "UTC", "08:00", "pending")]


def test_b6_signups_and_previews_are_limited_per_client(
    project: Project, tight_limits: None, web: Any
) -> None:
    assert signup_at(web.url, "one@example.org").status_code == 200
    assert signup_at(web.url, "two@example.org").status_code == 200
    third = signup_at(web.url, "three@example.org")
    assert third.status_code == 429 and "try again" in third.text
    assert len(project.mails()) == 2
    answers = [httpx.get(f"{web.url}/preview", params={"keywords": "kv"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]


def test_b6_a_filled_honeypot_looks_accepted_and_does_nothing(project: Project, web: Any) -> None:
    answer = signup_at(web.url, "bot@example.org", website="http://spam.example")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert project.query("select count(*) from subscriber") == [(0,)]
    assert project.mails() == []


def test_b6_confirmation_mails_back_off_and_stop_for_the_day(project: Project, web: Any) -> None:
    def mails_after(**delta: float) -> int:
        web.clock.advance(**delta)
        signup_at(web.url, "target@example.org")
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

    assert signup_at(web.url, "target@example.org").status_code == 200
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
    assert signup_at(web.url, "target@example.org").status_code == 200  # the same answer
    assert len(project.mails()) == 1  # and no mail
    refused = project.cli("subscribers", "add", "target@example.org", "--keywords", "rlhf")
    assert refused.code == 1 and "suppression list (declined" in refused.err


def test_b6_the_confirmation_quotes_little_of_what_a_stranger_typed(
    project: Project, web: Any
) -> None:
    spam = ", ".join(f"FREE CRYPTO {i} http://evil.example/claim-your-prize-now" for i in range(30))
    assert signup_at(web.url, "victim@example.org", keywords=spam).status_code == 200
    [mail] = project.mails()
    text = mail.get_body(("plain",)).get_content()
    assert text.lower().count("free crypto") == 5 and "and 25 more" in text
    assert "claim-your-prize-now" not in text  # each topic is cut at 40 characters


def test_b6_pending_signups_expire(project: Project, web: Any) -> None:
    signup_at(web.url, "never@example.org")
    web.clock.advance(days=8)
    signup_at(web.url, "later@example.org")
    assert project.query("select email from subscriber") == [("later@example.org",)]


def test_b9_new_pending_and_active_addresses_answer_no_sooner_than_the_floor(
    project: Project, web: Any
) -> None:
    from digest.web.routes import SIGNUP_FLOOR

    project.ok("subscribers", "add", "active@example.org", "--keywords", "kv cache")
    signup_at(web.url, "pending@example.org")
    for email in ("new@example.org", "pending@example.org", "active@example.org"):
        answer = signup_at(web.url, email)
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


def test_info_every_link_path_with_a_token_is_redacted() -> None:
    """The access log of the deletion, move and restart links held their tokens (a log
    reader could have opened a subscriber's deletion page): every route of the app whose
    path holds a token is redacted, those to come included."""
    from fastapi.routing import APIRoute, APIRouter

    from digest.web import app as web_app
    from digest.web.security import redact_tokens

    # the routers the app includes (FastAPI's own list of them is not public)
    routers = [r for r in vars(web_app).values() if isinstance(r, APIRouter)]
    routes = [route for router in routers for route in router.routes]
    paths = {r.path for r in routes if isinstance(r, APIRoute) and "{token}" in r.path}
    assert {"/forget/{token}", "/move/{token}/decline", "/preferences/{token}"} <= paths
    secret = "s3cr3t.T0ken-value_x"
    for path in paths:
        filled = path.format(token=secret, direction="more", edition="2026-11-22")
        line = f'127.0.0.1:5 - "GET {filled}?from=mail HTTP/1.1" 200'
        assert secret not in redact_tokens(line) and "[token]" in redact_tokens(line), path


def test_info_no_slash_redirect_echoes_a_spoofed_host(project: Project, web: Any) -> None:
    answer = httpx.get(f"{web.url}/preview/", headers={"Host": "evil.example"})
    assert answer.status_code == 404 and "location" not in answer.headers
    assert "evil.example" not in answer.text


def test_info_https_answers_carry_hsts(project: Project, web: Any) -> None:
    answer = httpx.get(f"{web.url}/", headers={"X-Forwarded-Proto": "https"})
    plain = httpx.get(f"{web.url}/")
    assert "strict-transport-security" not in plain.headers
    assert answer.headers["strict-transport-security"] == "max-age=31536000"


def test_info_only_the_signup_page_may_be_indexed(project: Project, web: Any) -> None:
    """A reader who shares the link of a digest or of their settings keeps it out of search
    engines (the page still opens for whoever holds the link)."""
    project.ok("subscribers", "add", "t@example.org", "--keywords", "kv cache")
    token = web.services.links.token(
        "preferences", web.services.store.subscribers.get("t@example.org")
    )
    assert "x-robots-tag" not in httpx.get(f"{web.url}/").headers
    for path in (f"/preferences/{token}", "/preferences/forged", "/no-such-page"):
        answer = httpx.get(f"{web.url}{path}")
        assert answer.headers["x-robots-tag"] == "noindex, nofollow", path


def test_info_the_csrf_field_is_no_mac_under_the_link_key() -> None:
    import hashlib
    import hmac

    from digest.web.security import csrf_ok, csrf_token

    key, cookie = b"k" * 32, "cookie-value"
    token = csrf_token(key, cookie)
    assert token != hmac.new(key, f"csrf:{cookie}".encode(), hashlib.sha256).hexdigest()
    assert csrf_ok(key, cookie, token) and not csrf_ok(key, cookie, "é" * 64)


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
