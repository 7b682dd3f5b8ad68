"""A bounced reader's way back, over real HTTP: the preferences page says why nothing comes;
a link mailed to the address, followed from that mailbox, starts the digest again. Only
bounces: other suppressions stay with the operator."""

from __future__ import annotations

import re
from typing import Any

import httpx
from conftest import Project
from web_forms import csrf_of


def bounced(project: Project, email: str, reason: str = "bounce") -> None:
    """`email` subscribed, then stopped as bounced with its address suppressed (`reason`)."""
    project.ok("subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00")
    project.query(
        "update subscriber set status = 'bounced', hard_bounces = 3, "
        f"last_bounce_at = '2026-11-20 08:00:00.000000' where email = '{email}'"
    )
    project.query(
        "insert into suppression (email, reason, detail, created_at) values "
        f"('{email}', '{reason}', 'status 5.1.1', '2026-11-20 08:00:00.000000')"
    )


def test_a_bounced_reader_starts_the_digest_again_from_their_mailbox(
    project: Project, web: Any
) -> None:
    bounced(project, "back@example.org")
    store, links = web.services.store, web.services.links
    url = links.preferences_url(store.subscribers.get("back@example.org"))
    with httpx.Client(timeout=10) as person:
        page = person.get(url)
        assert 'id="stopped"' in page.text and "Mail to this address bounced" in page.text
        assert 'id="restart"' in page.text
        asked = person.post(url, data={"action": "restart", "csrf": csrf_of(page)})
        assert asked.status_code == 200 and "on its way to back@example.org" in asked.text
        [mail] = project.mails()
        assert mail["To"] == "back@example.org" and "again" in mail["Subject"]
        [link] = re.findall(r"http\S+/restart/\S+", mail.get_body(("plain",)).get_content())
        assert project.query("select status from subscriber") == [("bounced",)]
        confirm = person.get(link)
        assert confirm.status_code == 200 and 'id="restart"' in confirm.text
        assert project.query("select status from subscriber") == [("bounced",)]  # a GET: nothing
        assert person.post(link, data={}).status_code == 403  # without the page's CSRF token
        done = person.post(link, data={"csrf": csrf_of(confirm)})
        assert done.status_code == 200 and 'id="restarted"' in done.text
        assert person.post(link, data={"csrf": csrf_of(confirm)}).status_code == 200  # again
        assert 'id="restarted"' in person.get(link).text  # used: says so, offers no button
    assert project.query("select status, hard_bounces, last_bounce_at from subscriber") == [
        ("active", 0, None)
    ]
    assert project.query("select count(*) from suppression") == [(0,)]
    page = httpx.get(url)
    assert 'id="stopped"' not in page.text and 'id="restart"' not in page.text


def test_other_stops_stay_with_the_operator_and_the_link_expires(
    project: Project, web: Any
) -> None:
    """A complaint or the operator's suppression is no bounce: the page says why nothing
    comes and offers no restart, and asking anyway mails nothing. A restart link lasts two
    days and opens nothing else."""
    bounced(project, "complained@example.org", reason="complaint")
    project.ok("subscribers", "add", "held@example.org", "--keywords", "kv cache")
    project.ok("suppression", "add", "held@example.org")
    bounced(project, "late@example.org")
    store, links = web.services.store, web.services.links
    with httpx.Client(timeout=10) as person:
        for email, why in (
            ("complained@example.org", "marked as spam"),
            ("held@example.org", "the operator stopped all mail to it"),
        ):
            url = links.preferences_url(store.subscribers.get(email))
            page = person.get(url)
            assert why in page.text and "Only the operator" in page.text
            assert 'id="restart"' not in page.text
            asked = person.post(url, data={"action": "restart", "csrf": csrf_of(page)})
            assert asked.status_code == 400 and "bounced" in asked.text
        assert project.mails() == []
        url = links.preferences_url(store.subscribers.get("late@example.org"))
        person.post(url, data={"action": "restart", "csrf": csrf_of(person.get(url))})
        [mail] = project.mails()
        [link] = re.findall(r"http\S+/restart/\S+", mail.get_body(("plain",)).get_content())
        token = link.rsplit("/", 1)[1]
        assert person.get(f"{web.url}/forget/{token}").status_code == 400  # purpose-bound
        web.clock.advance(days=3)
        assert person.get(link).status_code == 410
    assert project.query("select status from subscriber where email = 'late@example.org'") == [
        ("bounced",)
    ]
