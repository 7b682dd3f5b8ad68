"""Past digests on the web over real HTTP: "view in browser" shows the digest as emailed, the
archive lists the subscriber's digests, the Atom feed carries their papers; every link is
signed, personal and read-only."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import httpx
from conftest import Project
from sent_digest import link, send_first_digest

ATOM = "{http://www.w3.org/2005/Atom}"
LATER = "2026-11-23T12:00:00+00:00"


def test_view_in_browser_shows_the_digest_as_emailed_and_lists_past_digests(
    project: Project, web: Any, client: httpx.Client
) -> None:
    mail = send_first_digest(project)
    html = mail.get_body(("html",)).get_content()
    view = link(mail, "View in your browser")
    assert f'href="{view}"' in html and "View in browser" in html
    assert view.endswith("/2026-11-22")
    page = client.get(view)
    assert page.status_code == 200
    titles = [
        t
        for (t,) in project.query(
            "select p.title from delivery_item i join paper p on p.id = i.paper_id"
        )
    ]
    assert titles and all(t.split(":")[0][:30] in page.text for t in titles)
    assert "Your past digests" in page.text and '">Sunday 22 November 2026</a>' in page.text
    assert "View in browser" not in page.text  # the page does not link to itself
    csp = page.headers["content-security-policy"]
    assert (
        "script-src" not in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    )
    assert page.headers["cache-control"] == "no-store"
    listing = client.get(link(mail, "Past digests"))
    assert listing.status_code == 200 and f'href="{view}"' in listing.text
    assert project.query("select count(*) from vote") == [(0,)]


def test_the_atom_feed_carries_the_papers_of_the_digests(
    project: Project, web: Any, client: httpx.Client
) -> None:
    mail = send_first_digest(project)
    answer = client.get(link(mail, "Atom feed (keep it private)"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(answer.content)
    entries = feed.findall(f"{ATOM}entry")
    sent = project.query("select count(*) from delivery_item")[0][0]
    assert len(entries) == sent > 0
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == len(ids)
    first = entries[0]
    assert first.findtext(f"{ATOM}title") and first.findtext(f"{ATOM}summary")
    assert first.find(f"{ATOM}author/{ATOM}name") is not None
    assert {c.get("term") for c in first.findall(f"{ATOM}category")} <= {"kv cache", "long context"}
    # dated when the digest was made (sent at noon UTC), not at midnight of its edition's day
    assert feed.findtext(f"{ATOM}updated") == "2026-11-22T12:00:00Z"
    assert {e.findtext(f"{ATOM}updated") for e in entries} == {"2026-11-22T12:00:00Z"}


def test_forged_revoked_and_wrong_purpose_links_and_unknown_editions(
    project: Project, web: Any, client: httpx.Client
) -> None:
    mail = send_first_digest(project)
    view, feed = link(mail, "View in your browser"), link(mail, "Atom feed (keep it private)")
    token = view.split("/digests/")[1].split("/")[0]
    altered = token[:-2] + ("yy" if token.endswith("xx") else "xx")
    assert client.get(view.replace(token, altered)).status_code in (400, 404, 410)
    assert client.get(view.replace("2026-11-22", "2026-11-21")).status_code == 404
    assert client.get(view.replace("2026-11-22", "yesterday")).status_code == 404
    # a feed token does not open the archive (purpose-bound), nor the reverse
    feed_token = feed.rsplit("/", 1)[1]
    assert client.get(f"/digests/{feed_token}").status_code in (400, 410)
    assert client.get(f"/feed/{token}").status_code in (400, 410)
    project.ok("subscribers", "edit", "reader@example.org", "--revoke-links")
    assert client.get(view).status_code in (400, 410)
    assert client.get(feed).status_code in (400, 410)


def test_a_second_digest_joins_the_list_and_the_feed(
    project: Project, web: Any, client: httpx.Client
) -> None:
    first = send_first_digest(project)
    listing = project.root / "next-day.txt"
    listing.write_text(
        "Daily papers\n"
        "Paged Key-Value Cache Compression for Long Context Serving\n"
        "We compress the key-value cache of long context language models page by page, keeping"
        " accuracy on long context benchmarks while the kv cache shrinks fourfold in memory.\n"
        "Streaming Attention Sinks Revisited for Long Context Inference\n"
        "Long context inference keeps a few sink tokens and a sliding kv cache window; we study"
        " when this loses information and propose a cheap repair for long context retrieval.\n"
    )
    project.ok("fetch", "--now", LATER, str(listing))
    project.ok("send", "--now", LATER)
    listing = client.get(link(first, "Past digests")).text
    # each linked by its day as people write it
    editions = re.findall(r'/(2026-11-2\d)">[A-Z][a-z]+day 2\d November 2026</a>', listing)
    sent = [
        e
        for (e,) in project.query(
            "select edition from delivery where status = 'sent' order by edition desc"
        )
    ]
    assert editions == sent == ["2026-11-23", "2026-11-22"]
    feed = ET.fromstring(client.get(link(first, "Atom feed (keep it private)")).content)
    papers = project.query("select count(*) from delivery_item")[0][0]
    assert len(feed.findall(f"{ATOM}entry")) == papers
    assert feed.findtext(f"{ATOM}updated") == "2026-11-23T12:00:00Z"  # the newest digest made
