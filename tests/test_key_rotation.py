"""A rotation of the signing key (DIGEST_SECRET_KEY, the old one as DIGEST_RETIRED_SECRET_KEY):
mail already sent keeps what it must (unsubscribe, by link and by mail; the private feed and
archive), and nothing that changes a subscription or counts against a reader."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import TEST_KEY, Project, free_port
from returned_mail import dsn, returned_mail
from sent_digest import link, send_first_digest, vote_links
from web_server import serve

from digest.errors import LinkError
from digest.mail.addresses import bounce_address, unsubscribe_address
from digest.models import new_public_id
from digest.subscriptions.links import Links
from digest.subscriptions.tokens import make_token

NEW_KEY = "a-new-secret-key-after-the-rotation-long-enough"
OLD = TEST_KEY.encode()


def test_a_retired_key_reads_only_what_old_mail_must_keep_doing() -> None:
    pub = new_public_id()
    links = Links(NEW_KEY.encode(), "https://d.example", "d.example", retired=[OLD])
    for purpose in ("unsubscribe", "archive", "feed"):
        assert links.read(purpose, make_token(OLD, purpose, pub, 1), now=0).subscriber == pub
    for purpose in ("preferences", "forget", "decline"):
        with pytest.raises(LinkError):
            links.read(purpose, make_token(OLD, purpose, pub, 1), now=0)
    unrotated = Links(NEW_KEY.encode(), "https://d.example", "d.example")
    with pytest.raises(LinkError):
        unrotated.read("unsubscribe", make_token(OLD, "unsubscribe", pub, 1), now=0)


def test_old_mail_unsubscribes_and_reads_its_feed_after_a_rotation(
    project: Project, web: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mail = send_first_digest(project)  # signed with the old key
    unsubscribe, feed = link(mail, "Unsubscribe"), link(mail, "Atom feed (keep it private)")
    preferences = link(mail, "Change your topics or schedule")
    [more, _] = vote_links(mail)[:2]
    monkeypatch.setenv("DIGEST_SECRET_KEY", NEW_KEY)
    monkeypatch.setenv("DIGEST_RETIRED_SECRET_KEY", TEST_KEY)
    with serve(free_port()) as rotated, httpx.Client(base_url=rotated.url, timeout=10) as client:

        def get(url: str) -> httpx.Response:
            return client.get(url.replace(web.url, rotated.url))

        assert get(feed).status_code == 200
        assert get(preferences).status_code in (400, 410)  # a leaked old key changes nothing
        assert get(more).status_code in (400, 410)
        assert get(unsubscribe).status_code == 200
        answer = client.post(
            unsubscribe.replace(web.url, rotated.url), data={"List-Unsubscribe": "One-Click"}
        )
        assert answer.status_code == 200
    assert project.query("select status from subscriber") == [("unsubscribed",)]
    assert project.query("select count(*) from vote") == [(0,)]


def test_the_inbox_reads_unsubscribes_of_the_retired_key_but_not_its_bounces(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mailto: unsubscribe of old mail still unsubscribes. A bounce address names a
    delivery by its number, which anyone can guess: signed with a retired (maybe leaked)
    key, it names nobody, or whoever holds the key could bounce every reader."""
    monkeypatch.setenv("DIGEST_BOUNCE_LIMIT", "1")
    for email in ("leaves@example.org", "gone@example.org"):
        project.ok("subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00")
    project.ok("run", "--now", "2026-11-22T12:00:00+00:00")
    ids = dict(project.query("select email, public_id from subscriber"))
    [(delivery,)] = project.query(
        "select d.id from delivery d join subscriber s on s.id = d.subscriber_id"
        " where s.email = 'gone@example.org'"
    )
    box = returned_mail(project, monkeypatch)
    to = unsubscribe_address(OLD, "localhost", ids["leaves@example.org"])
    box.add(f"From: a@b.example\r\nTo: {to}\r\nSubject: unsubscribe\r\n\r\n".encode())
    monkeypatch.setenv("DIGEST_SECRET_KEY", NEW_KEY)
    unrotated = project.ok("inbox").out
    assert unrotated.startswith("0 bounces, 0 complaints, 0 unsubscribes; 0 naming nobody")
    assert "1 not understood" in unrotated
    box.add(dsn(bounce_address(OLD, "localhost", delivery), "5.1.1"))
    monkeypatch.setenv("DIGEST_RETIRED_SECRET_KEY", TEST_KEY)
    out = project.ok("inbox").out
    assert out.startswith("0 bounces, 0 complaints, 1 unsubscribe; 1 naming nobody")
    assert dict(project.query("select email, status from subscriber")) == {
        "leaves@example.org": "unsubscribed",
        "gone@example.org": "active",
    }


def test_the_retired_key_is_masked_like_the_key(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_RETIRED_SECRET_KEY", TEST_KEY)
    out = project.ok("config").out
    assert TEST_KEY not in out and "retired_secret_key" in out
