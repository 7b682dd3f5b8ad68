"""The web app over real HTTP (uvicorn on 127.0.0.1): the whole subscription life, preferences,
the live preview, health, and what an unknown address gets."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from conftest import Project, free_port
from web_forms import FETCHED_AT, FORM, csrf_of, link_in, signup


def test_subscribe_confirm_receive_one_click_unsubscribe(
    project: Project, web: Any, client: httpx.Client
) -> None:
    project.ok("fetch", "--now", FETCHED_AT)
    page = client.get("/")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # the form shows the defaults a signup gets (the popularity weight's field was empty)
    for field, default in {"max_papers": "10", "send_at": "08:00", "trending": "0.1"}.items():
        assert re.search(rf'name="{field}"[^>]* value="{re.escape(default)}"', page.text), field
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
        # an action no page of this version sends is not taken for "save" (which would have
        # emptied the keywords here)
        odd = c.post(url, data={"action": "papers", "csrf": token})
        assert odd.status_code == 400 and "this form is out of date: reload the page" in odd.text
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


def test_a_base_url_with_a_path_serves_every_page_and_asset_under_it(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https://example.org/digest behind a reverse proxy: the pages' own addresses (styles,
    scripts, the signup form, the live preview) start with /digest, and a request is answered
    whether the proxy passes the path on whole or strips /digest itself."""
    from web_server import serve

    port = free_port()
    monkeypatch.setenv("DIGEST_BASE_URL", f"http://127.0.0.1:{port}/digest")
    project.ok("fetch", "--now", FETCHED_AT)
    with serve(port, "/digest") as web, httpx.Client(base_url=web.url, timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 200 and "x-robots-tag" not in page.headers
        addresses = re.findall(r'(?:href|src|action|data-source)="(/[^"]*)"', page.text)
        assert addresses and all(a.startswith("/digest/") for a in addresses), addresses
        for address in addresses:
            if "static/" in address or address.endswith("/preview"):
                reached = httpx.get(f"http://127.0.0.1:{port}{address}?keywords=kv+cache")
                assert reached.status_code == 200, address
        assert httpx.get(f"http://127.0.0.1:{port}/static/style.css").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/digestive").status_code == 404

        response = client.post("/subscribe", data={**FORM, "csrf": csrf_of(page)})
        assert response.status_code == 200 and "Check your inbox" in response.text
        [confirmation] = project.mails()
        confirm_url = link_in(confirmation, "digest/confirm")
        stripped = confirm_url.replace("/digest/", "/", 1)  # as a proxy that strips it sends
        for url in (confirm_url, stripped):
            assert httpx.get(url).status_code == 200, url
        with httpx.Client() as person:
            form = person.get(confirm_url)
            confirmed = person.post(confirm_url, data={"csrf": csrf_of(form)})
            assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    assert project.query("select status from subscriber") == [("active",)]
