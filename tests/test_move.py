"""A reader moves their digest to another address from the preferences page, over real HTTP:
a link mailed to the new address, a GET that changes nothing, a POST that moves, the old
address told; taken and suppressed addresses get no mail and the same answer; link misuse."""

from __future__ import annotations

import re
from typing import Any

import httpx
from conftest import Project
from web_forms import csrf_of, link_in

OLD, NEW = "reader@example.org", "reader@new.example.edu"


def preferences_url(web: Any, email: str = OLD) -> str:
    store, links = web.services.store, web.services.links
    return str(links.preferences_url(store.subscribers.get(email)))


def ask_move(client: httpx.Client, url: str, new: str) -> httpx.Response:
    token = csrf_of(client.get(url))
    return client.post(url, data={"action": "move", "new_email": new, "csrf": token})


def to(project: Project) -> list[str]:
    return [str(m["To"]) for m in project.mails()]


def reader(project: Project) -> None:
    project.ok("fetch")
    project.ok("subscribers", "add", OLD, "--keywords", "kv cache", "--send-at", "06:00")
    [paper] = [row[0] for row in project.query("select id from paper order by id limit 1")]
    project.ok("subscribers", "feedback", OLD, "--like", paper)


def test_a_reader_moves_their_digest_with_its_votes_and_the_old_address_is_told(
    project: Project, web: Any, client: httpx.Client
) -> None:
    reader(project)
    old_preferences = preferences_url(web)
    asked = ask_move(client, old_preferences, "Reader@New.Example.edu")
    assert asked.status_code == 200 and "a link to move it there is on its way" in asked.text
    [mail] = project.mails()
    assert mail["To"] == NEW and "Confirm your new address" in mail["Subject"]
    link = link_in(mail, "move")

    page = client.get(link)  # a mail scanner's GET: a page with a button, nothing moves
    assert page.status_code == 200 and NEW in page.text and 'id="move"' in page.text
    assert project.query("select email from subscriber") == [(OLD,)]

    moved = client.post(link, data={"csrf": csrf_of(page)})
    assert moved.status_code == 200 and 'id="moved"' in moved.text
    assert project.query("select email, status from subscriber") == [(NEW, "active")]
    assert [v for _, v in project.query("select paper_id, value from vote")] == [1]
    assert to(project) == [NEW, OLD]  # the old mailbox hears where its digest went
    assert NEW in project.mails()[-1].get_body(("plain",)).get_content()

    # the links of before (that the old mailbox holds) no longer open the preferences
    assert client.get(old_preferences).status_code in (400, 410)
    replay = client.post(link, data={"csrf": csrf_of(page)})
    assert replay.status_code in (400, 410) and "no longer valid" in replay.text
    fresh = re.search(r'href="([^"]+/preferences/[^"]+)"', moved.text)
    assert fresh and client.get(fresh.group(1)).status_code == 200


def test_a_taken_or_suppressed_address_gets_no_mail_and_the_same_answer(
    project: Project, web: Any, client: httpx.Client
) -> None:
    reader(project)
    project.ok("subscribers", "add", "taken@example.org", "--keywords", "rlhf")
    project.ok("suppression", "add", "complained@example.org")
    url = preferences_url(web)
    addresses = ("free@example.org", "taken@example.org", "complained@example.org")
    answers = [ask_move(client, url, new) for new in addresses]
    texts = [a.text.replace(new, "X") for a, new in zip(answers, addresses, strict=True)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert texts[0] == texts[1] == texts[2]
    assert to(project) == ["free@example.org"]
    same = ask_move(client, url, OLD)
    assert same.status_code == 400 and "already the address" in same.text
    bad = ask_move(client, url, "not an address")
    assert bad.status_code == 400 and "invalid email address" in bad.text
    assert 'value="not an address"' in bad.text  # what was typed stays in the box
    assert project.query("select email from subscriber order by id") == [
        (OLD,),
        ("taken@example.org",),
    ]


def test_nobody_floods_an_address_with_move_links(
    project: Project, web: Any, client: httpx.Client
) -> None:
    """Anyone can sign up and type any address as their digest's new one, again and again:
    one address gets at most three such mails an hour, and the answer stays the same (it
    must not tell whether a mail went)."""
    reader(project)
    url = preferences_url(web)
    answers = [ask_move(client, url, "victim@example.org") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert len({a.text for a in answers}) == 1
    assert to(project) == ["victim@example.org"] * 3
    ask_move(client, url, "other@example.org")
    assert to(project)[-1] == "other@example.org"  # a limit per address, not per reader


def test_whoever_gets_an_unasked_move_link_can_stop_all_mail_to_their_address(
    project: Project, web: Any, client: httpx.Client
) -> None:
    reader(project)
    url = preferences_url(web)
    ask_move(client, url, "stranger@example.org")
    link = link_in(project.mails()[-1], "move")
    decline = f"{link}/decline"
    assert decline in project.mails()[-1].get_body(("plain",)).get_content()
    page = client.get(decline)
    assert page.status_code == 200 and "stranger@example.org" in page.text
    assert project.query("select count(*) from suppression") == [(0,)]  # a GET does nothing
    done = client.post(decline, data={"csrf": csrf_of(page)})
    assert done.status_code == 200 and 'id="declined"' in done.text
    assert project.query("select email, reason from suppression") == [
        ("stranger@example.org", "declined")
    ]
    ask_move(client, url, "stranger@example.org")
    assert to(project) == ["stranger@example.org"]  # nothing more
    moved = client.post(link, data={"csrf": csrf_of(client.get(link))})
    assert moved.status_code == 400 and project.query("select email from subscriber") == [(OLD,)]


def test_forged_and_overtaken_move_links_change_nothing(
    project: Project, web: Any, client: httpx.Client
) -> None:
    reader(project)
    ask_move(client, preferences_url(web), NEW)
    link = link_in(project.mails()[0], "move")
    head, _, mac = link.rpartition(".")
    forged = client.get(f"{head}.{'A' * len(mac)}")
    assert forged.status_code == 400
    csrf = csrf_of(client.get(link))
    assert client.post(link, data={"csrf": "0" * 32}).status_code == 403

    # the new address signed up on its own before the link was followed
    project.ok("subscribers", "add", NEW, "--keywords", "rlhf")
    taken = client.post(link, data={"csrf": csrf})
    assert taken.status_code == 409 and "has a digest of its own" in taken.text
    project.ok("subscribers", "remove", NEW)

    # an old address that bounced or complained is never mailed, not even to say it moved
    project.ok("suppression", "add", OLD)
    assert client.post(link, data={"csrf": csrf}).status_code == 200
    assert project.query("select email from subscriber") == [(NEW,)]
    assert to(project) == [NEW]


def test_a_move_link_expires(project: Project, web: Any, client: httpx.Client) -> None:
    reader(project)
    ask_move(client, preferences_url(web), NEW)
    link = link_in(project.mails()[0], "move")
    csrf = csrf_of(client.get(link))
    web.clock.advance(days=3)  # the link works for two days
    late = client.get(link)
    assert late.status_code == 410 and "expired" in late.text
    assert client.post(link, data={"csrf": csrf}).status_code == 410
    assert project.query("select email from subscriber") == [(OLD,)]


def test_a_signup_never_confirmed_at_the_new_address_gives_way(
    project: Project, web: Any, client: httpx.Client
) -> None:
    """The reader tried the signup form with the new address first, and never confirmed."""
    reader(project)
    project.ok("subscribers", "add", NEW, "--keywords", "rlhf", "--confirm")
    asked = ask_move(client, preferences_url(web), NEW)
    assert asked.status_code == 200
    link = link_in(project.mails()[-1], "move")
    moved = client.post(link, data={"csrf": csrf_of(client.get(link))})
    assert moved.status_code == 200
    assert project.query("select email, keywords, status from subscriber") == [
        (NEW, '["kv cache"]', "active")
    ]


def moved_by_link(project: Project, web: Any, client: httpx.Client, new: str = NEW) -> str:
    """The reader's digest moved to `new` through the mailed link; the taker's preferences."""
    ask_move(client, preferences_url(web), new)
    link = link_in(project.mails()[-1], "move")
    moved = client.post(link, data={"csrf": csrf_of(client.get(link))})
    found = re.search(r'href="([^"]+/preferences/[^"]+)"', moved.text)
    assert moved.status_code == 200 and found is not None
    return found.group(1)


def test_the_old_address_can_take_a_moved_digest_back(
    project: Project, web: Any, client: httpx.Client
) -> None:
    """A forwarded digest carries its preferences link, and so the power to move the digest
    to the forwardee's address. The mail telling the old address holds an undo link: its GET
    changes nothing, its POST brings the digest back with its votes and revokes the taker's
    links; the taker is told without an undo link of their own (no tug of war)."""
    reader(project)
    taker_preferences = moved_by_link(project, web, client, "taker@example.net")
    told = project.mails()[-1]
    assert told["To"] == OLD and "take your digest back" in told.get_body(("plain",)).get_content()
    undo = link_in(told, "move")

    page = client.get(undo)  # a scanner's GET
    assert page.status_code == 200 and "Take your digest back" in page.text
    assert client.get(f"{undo}/decline").status_code == 400  # it takes back, it stops nothing
    assert project.query("select email from subscriber") == [("taker@example.net",)]
    back = client.post(undo, data={"csrf": csrf_of(page)})
    assert back.status_code == 200
    assert project.query("select email from subscriber") == [(OLD,)]
    assert [v for _, v in project.query("select paper_id, value from vote")] == [1]
    assert client.get(taker_preferences).status_code in (400, 410)
    notice = project.mails()[-1]
    assert notice["To"] == "taker@example.net"
    assert "/move/" not in notice.get_body(("plain",)).get_content()  # no undo for the taker
    assert client.post(undo, data={"csrf": csrf_of(page)}).status_code in (400, 410)


def test_an_undo_link_works_for_two_weeks(project: Project, web: Any, client: httpx.Client) -> None:
    reader(project)
    moved_by_link(project, web, client)
    undo = link_in(project.mails()[-1], "move")
    web.clock.advance(days=13)  # the old mailbox may be read once a week: longer than a move
    assert client.get(undo).status_code == 200
    web.clock.advance(days=2)
    late = client.get(undo)
    assert late.status_code == 410 and "expired" in late.text
    assert project.query("select email from subscriber") == [(NEW,)]
