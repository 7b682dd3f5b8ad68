"""The web app over real HTTP (uvicorn on 127.0.0.1): bad input and misused links change
nothing, pages never show another subscriber, a reader deletes their own data."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from conftest import Project
from web_forms import FETCHED_AT, FORM, csrf_of, link_in, signup


def subscribers(project: Project) -> list[Any]:
    return project.query("select email, status, keywords, token_version from subscriber")


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"email": "not-an-email"}, 400, "invalid email address"),
        ({"email": "x@example.org\r\nBcc: victim@example.org"}, 400, "line break"),
        ({"keywords": "x" * 10_000}, 400, "too long"),
        ({"keywords": " , "}, 400, "keywords are empty"),
        ({"timezone": "Mars/Olympus"}, 400, "unknown time zone"),
        ({"send_at": "99:99"}, 400, "invalid send time"),
        ({"max_papers": "many"}, 400, "must be a number"),
    ],
)
def test_bad_signup_input_is_refused_and_changes_nothing(
    project: Project, client: httpx.Client, changes: dict[str, str], status: int, message: str
) -> None:
    before = subscribers(project) if project.db.exists() else []
    response = signup(client, **changes)
    assert response.status_code == status
    assert message in response.text
    assert subscribers(project) == before
    assert project.mails() == []


def test_missing_or_wrong_csrf_token_is_refused(project: Project, client: httpx.Client) -> None:
    client.get("/")
    missing = client.post("/subscribe", data=FORM)
    wrong = client.post("/subscribe", data={**FORM, "csrf": "0" * 64})
    foreign = httpx.post(
        f"{client.base_url}/subscribe", data={**FORM, "csrf": csrf_of(client.get("/"))}
    )  # a token without the cookie it belongs to
    assert missing.status_code == wrong.status_code == foreign.status_code == 403
    assert project.query("select count(*) from subscriber") == [(0,)]
    # reloading helps the first two; a browser that sends no cookie needs to be told why
    assert "reload the page" in wrong.text and "cookie" not in wrong.text
    assert "allow cookies for this site" in foreign.text


def test_forged_altered_misused_expired_and_revoked_links(project: Project, web: Any) -> None:
    project.ok("subscribers", "add", "t@example.org", "--keywords", "rlhf")
    store, links = web.services.store, web.services.links
    subscriber = store.subscribers.get("t@example.org")
    good = links.token("unsubscribe", subscriber)
    fmt, payload, mac = good.split(".")
    altered = f"{fmt}.{payload[:-2]}{'AA' if payload[-2:] != 'AA' else 'BB'}.{mac}"
    for token in ("forged.token", altered, links.token("preferences", subscriber)):
        response = httpx.post(
            f"{web.url}/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}
        )
        assert response.status_code == 400, token
    assert store.subscribers.get("t@example.org").status == "active"

    with httpx.Client(base_url=web.url) as c:
        signup(c, email="late@example.org")
    [mail] = project.mails()
    web.clock.advance(days=8)
    assert httpx.get(link_in(mail, "confirm")).status_code == 410
    assert store.subscribers.get("late@example.org").status == "pending"

    old_preferences = links.token("preferences", subscriber)
    # links in the itsdangerous format of mail sent before the compact tokens still work
    from digest.subscriptions.tokens import _serializer

    legacy = _serializer(links.key, "preferences").dumps([subscriber.public_id, 1, 0])
    assert httpx.get(f"{web.url}/preferences/{legacy}").status_code == 200
    project.ok("subscribers", "edit", "t@example.org", "--revoke-links")
    assert httpx.get(f"{web.url}/preferences/{old_preferences}").status_code == 400
    # B13: the unsubscribe link of a mail already sent keeps working after a revoke
    kept = httpx.post(
        f"{web.url}/unsubscribe/{good}",
        data={"List-Unsubscribe": "One-Click"},
        headers={"Accept": "text/html"},
    )
    assert kept.status_code == 200 and "You are unsubscribed" in kept.text
    assert store.subscribers.get("t@example.org").status == "unsubscribed"
    # ...but it shows no way back to the preferences: it is from before the revoke
    assert "/preferences/" not in kept.text and 'href="/">Subscribe again' in kept.text


def test_pages_never_show_other_subscribers(project: Project, web: Any) -> None:
    project.ok("subscribers", "add", "one@example.org", "--keywords", "secret topic one")
    project.ok("subscribers", "add", "two@example.org", "--keywords", "secret topic two")
    store, links = web.services.store, web.services.links
    page = httpx.get(links.preferences_url(store.subscribers.get("one@example.org")))
    assert "one@example.org" in page.text
    assert "two@example.org" not in page.text and "secret topic two" not in page.text


def test_resubscribing_a_suppressed_address_says_why_instead_of_sending_nothing(
    project: Project, web: Any
) -> None:
    """A reader whose complaint suppressed their address, pressing Resubscribe on their own
    preferences page, was told 'Welcome back' and then sent nothing (sending cancels every
    digest to a suppressed address). They are told why, and nothing changes; the same for
    resuming a paused subscription the operator suppressed."""
    project.ok("subscribers", "add", "spam@example.org", "--keywords", "rlhf")
    project.ok("subscribers", "add", "held@example.org", "--keywords", "rlhf")
    store, links = web.services.store, web.services.links
    httpx.post(links.unsubscribe_url(store.subscribers.get("spam@example.org")))
    store.suppression.add("spam@example.org", "complaint", "a feedback report", web.clock())
    project.ok("subscribers", "pause", "held@example.org")
    project.ok("suppression", "add", "held@example.org")
    told = {}
    for email, action in (("spam@example.org", "resubscribe"), ("held@example.org", "resume")):
        url = links.preferences_url(store.subscribers.get(email))
        with httpx.Client(timeout=10) as person:
            page = person.get(url)
            answer = person.post(url, data={"action": action, "csrf": csrf_of(page)})
        assert answer.status_code == 400 and f"nothing can be sent to {email}" in answer.text
        told[email] = answer.text
    assert "a digest to it was marked as spam" in told["spam@example.org"]
    assert project.query("select email, status from subscriber order by email") == [
        ("held@example.org", "paused"),
        ("spam@example.org", "unsubscribed"),
    ]
    refused = project.cli("subscribers", "resume", "held@example.org")
    assert refused.code == 1 and "digest suppression remove" in refused.err
    project.ok("suppression", "remove", "held@example.org")
    project.ok("subscribers", "resume", "held@example.org")


def test_a_reader_deletes_their_data_from_the_preferences_page(project: Project, web: Any) -> None:
    """Unsubscribing keeps the address, topics, votes and past digests; a reader may ask for
    all of it to go. The box must be ticked (a slip of the button deletes nothing); then the
    address is mailed a link, for whoever a digest was forwarded to holds the preferences
    page too. The link's page changes nothing (mail scanners open links); its button
    deletes the subscriber, votes and digests, and the old links open nothing."""
    project.ok("fetch", "--now", FETCHED_AT)
    project.ok(
        "subscribers", "add", "gone@example.org", "--keywords", "kv cache", "--send-at", "00:00"
    )
    project.ok(
        "subscribers", "add", "stays@example.org", "--keywords", "kv cache", "--send-at", "00:00"
    )
    [paper] = [row[0] for row in project.query("select id from paper order by id limit 1")]
    project.ok("subscribers", "feedback", "gone@example.org", "--like", paper)
    project.ok("send", "--now", "2026-11-22T12:00:00+00:00")
    store, links = web.services.store, web.services.links
    subscriber = store.subscribers.get("gone@example.org")
    url, unsubscribe = links.preferences_url(subscriber), links.unsubscribe_url(subscriber)
    with httpx.Client(timeout=10) as person:
        page = person.get(url)
        assert 'id="forget"' in page.text
        slip = person.post(url, data={"action": "forget", "csrf": csrf_of(page)})
        assert slip.status_code == 400 and "tick the box" in slip.text
        asked = person.post(
            url, data={"action": "forget", "confirm_forget": "on", "csrf": csrf_of(page)}
        )
        assert asked.status_code == 200 and "on its way to gone@example.org" in asked.text
        assert project.query("select count(*) from subscriber") == [(2,)]
        mail = project.mails()[-1]
        assert mail["To"] == "gone@example.org" and "Delete" in mail["Subject"]
        [link] = re.findall(r"http\S+/forget/\S+", mail.get_body(("plain",)).get_content())
        confirm = person.get(link)
        assert confirm.status_code == 200 and 'id="forget"' in confirm.text
        assert project.query("select count(*) from subscriber") == [(2,)]  # a GET deletes nothing
        assert person.post(link, data={}).status_code == 403  # without the page's CSRF token
        done = person.post(link, data={"csrf": csrf_of(confirm)})
        assert done.status_code == 200 and 'id="forgotten"' in done.text
        again = person.post(link, data={"csrf": csrf_of(confirm)})
        assert again.status_code == 410 and "deleted" in again.text
    assert project.query("select email from subscriber") == [("stays@example.org",)]
    assert project.query("select count(*) from vote") == [(0,)]
    assert project.query(
        "select count(*) from delivery d left join subscriber s on s.id = d.subscriber_id"
        " where s.id is null"
    ) == [(0,)]
    assert project.query("select count(*) from delivery") == [(1,)]  # the other reader's
    assert httpx.get(url).status_code in (400, 410)
    assert httpx.get(unsubscribe).status_code in (400, 410)


def test_a_deletion_link_expires_dies_with_a_move_and_a_suppressed_address_goes_at_once(
    project: Project, web: Any
) -> None:
    """The link works for two days and only for the address it was mailed to: a move (which
    revokes the links of before) kills it. An address nothing may be mailed to (suppressed)
    could never get the link: its data goes at once, and the suppression stays."""
    for email in ("late@example.org", "moves@example.org", "blocked@example.org"):
        project.ok("subscribers", "add", email, "--keywords", "kv cache")
    store, links = web.services.store, web.services.links

    def ask(email: str, client: httpx.Client) -> httpx.Response:
        url = links.preferences_url(store.subscribers.get(email))
        page = client.get(url)
        form = {"action": "forget", "confirm_forget": "on", "csrf": csrf_of(page)}
        return client.post(url, data=form)

    def link_to(email: str) -> str:
        [mail] = [m for m in project.mails() if m["To"] == email]
        [link] = re.findall(r"http\S+/forget/\S+", mail.get_body(("plain",)).get_content())
        return link

    project.ok("suppression", "add", "blocked@example.org")
    with httpx.Client(timeout=10) as person:
        for email in ("late@example.org", "moves@example.org"):
            assert ask(email, person).status_code == 200
        late, moves = link_to("late@example.org"), link_to("moves@example.org")
        csrf = csrf_of(person.get(late))
        project.ok("subscribers", "edit", "moves@example.org", "--email", "moved@example.org")
        assert person.get(moves).status_code in (400, 410)
        web.clock.advance(days=3)
        assert person.get(late).status_code == 410
        assert person.post(late, data={"csrf": csrf}).status_code == 410
        gone = ask("blocked@example.org", person)
        assert gone.status_code == 200 and 'id="forgotten"' in gone.text
        # each press mails the address: three an hour, then the page says to wait
        assert [ask("late@example.org", person).status_code for _ in range(3)] == [200, 200, 429]
    assert [m["To"] for m in project.mails()] == ["late@example.org", "moves@example.org"] + [
        "late@example.org"
    ] * 2
    assert project.query("select email from subscriber order by email") == [
        ("late@example.org",),
        ("moved@example.org",),
    ]
    assert project.query("select email from suppression") == [("blocked@example.org",)]
