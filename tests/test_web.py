"""The web app over real HTTP (uvicorn on 127.0.0.1): the whole subscription life and bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from conftest import Project

FETCHED_AT = "2026-11-22T11:00:00+00:00"
FORM = {
    "email": "Researcher@Example.org",
    "keywords": "kv cache, quantization",
    "exclude": "",
    "timezone": "Europe/Berlin",
    "send_at": "06:00",
    "frequency": "daily",
    "weekly_day": "0",
    "max_papers": "5",
}


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def signup(client: httpx.Client, **changes: str) -> httpx.Response:
    token = csrf_of(client.get("/"))
    return client.post("/subscribe", data={**FORM, **changes, "csrf": token})


def link_in(mail: Any, kind: str) -> str:
    text = mail.get_body(("plain",)).get_content()
    match = re.search(rf"(http://127\.0\.0\.1:\d+/{kind}/\S+)", text)
    assert match, f"a /{kind}/ link in the mail"
    return match.group(1)


def test_subscribe_confirm_receive_one_click_unsubscribe(
    project: Project, web: Any, client: httpx.Client
) -> None:
    project.ok("fetch", "--now", FETCHED_AT)
    page = client.get("/")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    response = signup(client)
    assert response.status_code == 200 and "Check your inbox" in response.text
    assert project.query("select email, status from subscriber") == [
        ("researcher@example.org", "pending")
    ]
    [confirmation] = project.mails()
    assert confirmation["To"] == "researcher@example.org"
    assert confirmation["List-Unsubscribe"] is None

    pending_run = project.ok("run", "--now", "2026-11-22T12:00:00+00:00")
    assert "0 subscribers due" in pending_run.out and len(project.mails()) == 1

    confirm_url = link_in(confirmation, "confirm")
    scanned = httpx.get(confirm_url)  # B7: a mail scanner's cookie-less GET confirms nothing
    assert scanned.status_code == 200 and "data-autosubmit" in scanned.text
    assert project.query("select status from subscriber") == [("pending",)]
    with httpx.Client() as person:
        page = person.get(confirm_url)
        confirmed = person.post(confirm_url, data={"csrf": csrf_of(page)})
        assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
        assert "every day" in confirmed.text and "daily day" not in confirmed.text
        assert confirmed.headers["referrer-policy"] == "no-referrer"
        replay = person.get(confirm_url)
        assert replay.status_code == 409
    assert project.query("select status from subscriber") == [("active",)]

    project.ok("run", "--now", "2026-11-22T12:00:00+00:00")
    digest = project.mails()[-1]
    assert digest["Subject"].startswith("Papers digest 22 Nov 2026")
    assert "kv cache" in digest.get_body(("plain",)).get_content()
    header = digest["List-Unsubscribe"]
    one_click = re.match(r"<(http[^>]+)>, <mailto:", header)
    assert one_click and digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # RFC 8058: a bare POST from the mail provider, no cookie, no CSRF token
    first = httpx.post(one_click.group(1), data={"List-Unsubscribe": "One-Click"})
    again = httpx.post(one_click.group(1), data={"List-Unsubscribe": "One-Click"})
    assert first.status_code == 200 and again.status_code == 200
    assert project.query("select status from subscriber") == [("unsubscribed",)]

    project.ok("fetch", "--now", "2026-11-23T11:00:00+00:00")
    after = project.ok("run", "--now", "2026-11-23T12:00:00+00:00")
    assert "0 subscribers due" in after.out
    assert len(project.mails()) == 2


def test_exclusions_typed_among_the_keywords_are_shown_as_understood(
    project: Project, web: Any, client: httpx.Client
) -> None:
    """ "-medical" in the keywords field: the confirmation pages say it is left out."""
    signup(client, keywords="diffusion models, -medical", exclude="")
    assert project.query("select keywords, exclude from subscriber") == [
        ('["diffusion models"]', '["medical"]')
    ]
    confirm_url = link_in(project.mails()[-1], "confirm")
    with httpx.Client() as person:
        page = person.get(confirm_url)
        said = "new papers on: diffusion models, leaving out papers on: medical."
        assert said in page.text
        confirmed = person.post(confirm_url, data={"csrf": csrf_of(page)})
        assert said in confirmed.text


def test_unsubscribe_page_shows_a_button_and_changes_nothing_until_pressed(
    project: Project, web: Any, client: httpx.Client
) -> None:
    project.ok("subscribers", "add", "a@example.org", "--keywords", "rlhf")
    subscriber = web.services.store.subscribers.get("a@example.org")
    url = web.services.links.unsubscribe_url(subscriber)
    page = httpx.get(url)
    assert page.status_code == 200 and 'id="unsubscribe"' in page.text
    assert project.query("select status from subscriber") == [("active",)]
    pressed = httpx.post(
        url, data={"List-Unsubscribe": "One-Click"}, headers={"Accept": "text/html"}
    )
    assert "You are unsubscribed" in pressed.text
    assert project.query("select status from subscriber") == [("unsubscribed",)]
    # the way back keeps every setting: the preferences page, where Resubscribe is
    back = re.search(r'href="([^"]+)" id="way-back"', pressed.text)
    assert back is not None and back.group(1) == web.services.links.preferences_url(subscriber)
    with httpx.Client(timeout=10) as person:
        page = person.get(back.group(1))
        assert 'id="resubscribe"' in page.text
        person.post(back.group(1), data={"action": "resubscribe", "csrf": csrf_of(page)})
    assert project.query("select status, keywords from subscriber") == [("active", '["rlhf"]')]


def test_known_address_reveals_nothing_and_gets_one_mail_an_hour(
    project: Project, web: Any, client: httpx.Client
) -> None:
    """A new address is sent a confirmation link; one that already gets a digest (its owner
    lost the link to their settings, or forgot they subscribed) the link to its preferences,
    its settings unchanged. The page is the same, and each address gets a mail an hour."""
    project.ok("subscribers", "add", "known@example.org", "--keywords", "rlhf")
    new = signup(client, email="new@example.org")
    known = signup(client, email="known@example.org")
    assert new.status_code == known.status_code == 200
    # the same page, but for the address it repeats (so that a typo shows)
    assert new.text.replace("new@", "X@") == known.text.replace("known@", "X@")
    assert "<strong>new@example.org</strong>" in new.text and "spam folder" in new.text
    assert project.query("select status, keywords from subscriber where email like 'known%'") == [
        ("active", '["rlhf"]')
    ]
    signup(client, email="new@example.org")
    signup(client, email="known@example.org")
    mails = project.mails()
    assert [(m["To"], m["Subject"]) for m in mails] == [
        ("new@example.org", "Confirm your papers digest"),
        ("known@example.org", "Your papers digest settings"),
    ]
    reminder = mails[1].get_body(("plain",)).get_content()
    assert "already gets a digest of new research papers on: “rlhf”" in reminder
    assert "/confirm/" not in reminder
    settings = httpx.get(link_in(mails[1], "preferences"))
    assert settings.status_code == 200 and "known@example.org" in settings.text
    assert "/unsubscribe/" in reminder
    web.clock.advance(minutes=61)
    project.ok("subscribers", "pause", "known@example.org")
    signup(client, email="new@example.org")
    signup(client, email="known@example.org")
    mails = project.mails()
    assert [m["To"] for m in mails[2:]] == ["new@example.org", "known@example.org"]
    assert "paused for now" in mails[3].get_body(("plain",)).get_content()
    assert project.query("select status, keywords from subscriber where email like 'known%'") == [
        ("paused", '["rlhf"]')
    ]


def test_preferences_change_pause_and_resume(project: Project, web: Any) -> None:
    project.ok("subscribers", "add", "p@example.org", "--keywords", "rlhf")
    store, links = web.services.store, web.services.links
    url = links.preferences_url(store.subscribers.get("p@example.org"))
    with httpx.Client(timeout=10) as c:
        page = c.get(url)
        assert page.status_code == 200 and "rlhf" in page.text
        token = csrf_of(page)
        saved = c.post(
            url,
            data={
                **FORM,
                "keywords": "diffusion models, video",
                "send_at": "07:15",
                "frequency": "weekly",
                "weekly_day": "4",
                "layout": "flat",
                "csrf": token,
            },
        )
        assert saved.status_code == 200 and "Saved." in saved.text
        assert '<option value="flat" selected>' in saved.text
        paused = c.post(url, data={"action": "pause", "csrf": token})
        assert 'id="status">paused' in paused.text
        resumed = c.post(url, data={"action": "resume", "csrf": token})
        assert 'id="status">active' in resumed.text
    after = store.subscribers.get("p@example.org")
    assert (
        after.keywords,
        after.send_at,
        after.frequency,
        after.weekly_day,
        after.status,
        after.grouped,
    ) == (["diffusion models", "video"], "07:15", "weekly", 4, "active", False)
    assert after.email == "p@example.org"


def test_resubscribe_from_the_signup_page_and_from_the_preferences_page(
    project: Project, web: Any, client: httpx.Client
) -> None:
    """Someone who left comes back: signing up again within the hour mails a new confirmation,
    and their preferences page has a Resubscribe button (Save alone says they are out)."""
    signup(client, email="back@example.org")
    [confirmation] = project.mails()
    with httpx.Client() as person:
        page = person.get(link_in(confirmation, "confirm"))
        person.post(link_in(confirmation, "confirm"), data={"csrf": csrf_of(page)})
    store, links = web.services.store, web.services.links
    url = links.unsubscribe_url(store.subscribers.get("back@example.org"))
    httpx.post(url, data={"List-Unsubscribe": "One-Click"})
    web.clock.advance(minutes=10)
    signup(client, email="back@example.org")
    assert [m["To"] for m in project.mails()] == ["back@example.org", "back@example.org"]
    assert project.query("select status from subscriber") == [("pending",)]

    project.ok("subscribers", "add", "prefs@example.org", "--keywords", "rlhf")
    prefs = links.preferences_url(store.subscribers.get("prefs@example.org"))
    httpx.post(
        links.unsubscribe_url(store.subscribers.get("prefs@example.org")),
        data={"List-Unsubscribe": "One-Click"},
    )
    with httpx.Client(timeout=10) as c:
        page = c.get(prefs)
        assert 'id="resubscribe"' in page.text and 'id="status">unsubscribed' in page.text
        token = csrf_of(page)
        saved = c.post(prefs, data={**FORM, "keywords": "rlhf", "csrf": token})
        assert "You are unsubscribed: press Resubscribe" in saved.text
        back = c.post(prefs, data={"action": "resubscribe", "csrf": token})
        assert 'id="status">active' in back.text and "Welcome back" in back.text
        assert 'id="resubscribe"' not in back.text
    assert store.subscribers.get("prefs@example.org").status == "active"


def test_preview_before_any_paper_blames_no_keyword(client: httpx.Client) -> None:
    data = client.get("/preview", params={"keywords": "kv cache, speculativ decoding"}).json()
    assert data == {
        "papers": [],
        "unmatched": [],
        "suggestions": {},
        "note": "No papers arrived in the last seven days yet: nothing to preview.",
    }


def test_live_preview_lists_matching_papers(project: Project, client: httpx.Client) -> None:
    project.ok("fetch", "--now", FETCHED_AT)
    data = client.get("/preview", params={"keywords": "kv cache"}).json()
    assert data["papers"] and all("kv cache" in p["matched"] for p in data["papers"])
    assert data["unmatched"] == []
    mixed = client.get("/preview", params={"keywords": "kv cache, zebrafish husbandry"}).json()
    assert mixed["papers"] and mixed["unmatched"] == ["zebrafish husbandry"]
    assert data["suggestions"] == mixed["suggestions"] == {}
    typo = client.get("/preview", params={"keywords": "speculativ decoding"}).json()
    assert typo["suggestions"] == {"speculativ": "speculative"}
    empty = client.get("/preview", params={"keywords": ""})
    assert empty.status_code == 400 and "empty" in empty.json()["error"]
    long = client.get("/preview", params={"keywords": "x" * 10_000})
    assert long.status_code == 400


def test_preview_reads_exclusions_typed_among_the_keywords(
    project: Project, client: httpx.Client
) -> None:
    """ "kv cache -quantization" as a search engine reads it: no paper that says quantization,
    and quantization is not a keyword that "matched nothing"."""
    project.ok("fetch", "--now", FETCHED_AT)
    plain = client.get("/preview", params={"keywords": "kv cache", "exclude": ""}).json()
    titled = [p for p in plain["papers"] if "compression" in p["title"].lower()]
    assert titled  # the seeds hold KV cache compression papers
    data = client.get("/preview", params={"keywords": "kv cache -compression"}).json()
    assert data["papers"] and data["unmatched"] == []
    assert not [p for p in data["papers"] if "compression" in p["title"].lower()]
    only = client.get("/preview", params={"keywords": "-compression"})
    assert only.status_code == 400 and "give at least one to look for" in only.json()["error"]


def test_the_preview_ranks_as_planning_does(
    project: Project, web: Any, client: httpx.Client
) -> None:
    """With the word weights and topics planning stored, the preview's scores are those of
    ranking the same papers as planning would (it used to weigh words by the papers alone)."""
    from datetime import datetime

    from digest.config import DEFAULT_MIN_SCORE
    from digest.pipeline import build_corpus, feature_stats, topic_space
    from digest.ranking import Profile, rank

    project.ok("fetch", "--now", FETCHED_AT)
    store = web.services.store
    now = datetime.fromisoformat(FETCHED_AT)
    stats = feature_stats(store, now)
    topics = topic_space(store, stats, now)
    assert topics is not None  # the seeds are enough to learn topics from
    papers = store.papers.newest()
    corpus = build_corpus(papers, stats, topics=topics)
    profile = Profile(["kv cache", "speculative decoding"])
    [expected] = rank(corpus, [profile], 8, min_score=DEFAULT_MIN_SCORE)
    data = client.get("/preview", params={"keywords": "kv cache, speculative decoding"}).json()
    titles = {p.id: p.title for p in papers}
    assert [(p["title"], round(p["score"], 3)) for p in data["papers"]] == [
        (titles[m.paper_id], round(m.score, 3)) for m in expected
    ]


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


def test_health_says_whether_the_database_answers(web: Any, client: httpx.Client) -> None:
    """Container health checks ask /healthz: it is healthy while the database answers, and
    says so without saying why not (it is public)."""
    from digest.store import make_engine

    assert client.get("/healthz").json() == {"ok": True}
    store = web.services.store
    working = store.engine
    store.engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # refused
    try:
        answer = client.get("/healthz")
    finally:
        store.engine.dispose()
        store.engine = working
    assert answer.status_code == 503 and answer.json() == {"ok": False}
    assert client.get("/healthz").status_code == 200


def test_a_reader_pauses_until_a_day_from_the_preferences_page(project: Project, web: Any) -> None:
    """The Pause button takes an optional day: the page then says when the digest starts
    again by itself; a day gone by, or one that is not a day, is refused, nothing changed."""
    project.ok("subscribers", "add", "h@example.org", "--keywords", "rlhf")
    store, links = web.services.store, web.services.links
    url = links.preferences_url(store.subscribers.get("h@example.org"))
    with httpx.Client(timeout=10) as c:
        token = csrf_of(c.get(url))
        for typed in ("2026-11-01", "soon"):
            refused = c.post(url, data={"action": "pause", "pause_until": typed, "csrf": token})
            assert refused.status_code == 400 and 'id="status">active' in refused.text
        paused = c.post(url, data={"action": "pause", "pause_until": "2026-12-24", "csrf": token})
        assert paused.status_code == 200
        assert "paused until Thursday 24 December 2026" in paused.text
        assert 'id="resumes"> until Thursday 24 December 2026' in c.get(url).text
    reader = store.subscribers.get("h@example.org")
    assert reader.status == "paused" and reader.paused_until == datetime(2026, 12, 24, tzinfo=UTC)


def test_unknown_addresses_get_a_page_and_head_is_answered_without_a_body(
    client: httpx.Client,
) -> None:
    """A cut or mistyped link gets the site's error page (HTML), not a JSON body; a wrong
    method says which it allows; HEAD (uptime monitors, link checkers) is the GET's status and
    headers with no body, and changes nothing since no GET does."""
    for path in ("/nothing", "/preferences/abc/extra", "/static/missing.js"):
        missing = client.get(path)
        assert missing.status_code == 404, path
        assert missing.headers["content-type"].startswith("text/html")
        assert "there is no page at this address" in missing.text
        assert "detail" not in missing.text
    wrong = client.delete("/subscribe")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert "cannot be opened this way" in wrong.text
    page = client.get("/")
    head = client.head("/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == page.headers["content-type"]
    assert head.headers["content-length"] == page.headers["content-length"]
    assert client.head("/nothing").status_code == 404
    assert client.head("/static/style.css").status_code == 200
