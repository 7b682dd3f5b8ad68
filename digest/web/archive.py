"""Past digests on the web: each digest as a page ("view in browser"), the list of a
subscriber's digests, and their private Atom feed. Every route only reads."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from digest.compose import stored_view
from digest.errors import NotFoundError
from digest.models import Subscriber
from digest.store.contents import Contents
from digest.store.engine import as_utc
from digest.subscriptions import lifecycle as signup
from digest.subscriptions.links import edition_page
from digest.vocabulary import long_day
from digest.web.context import WebContext
from digest.web.routes import Web

router = APIRouter()
FEED_DIGESTS = 10  # the digests an Atom feed carries
# the digest page is the email itself, whose styles are inline (it has no script)
DIGEST_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _reader(web: WebContext, purpose: str, token: str) -> tuple[Subscriber, int]:
    """The subscriber a link names (a stored one: it has an id), and that id."""
    subscriber = signup.subscriber_for(web.store, web.links, purpose, token, web.clock())
    assert subscriber.id is not None
    return subscriber, subscriber.id


def _edition(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise NotFoundError(f"there is no digest of {text[:20]!r}: editions are dates") from None


def _stored(web: WebContext, ids: list[int]) -> list[Contents]:
    """The stored digests with these ids, in this order."""
    found = web.store.deliveries.contents(ids)
    return [found[i] for i in ids if i in found]


def _past(web: WebContext, subscriber: Subscriber, subscriber_id: int) -> list[tuple[str, str]]:
    """The subscriber's digests that went out, newest first: (the day as people write it,
    its page)."""
    archive = web.links.archive_url(subscriber)
    return [
        (long_day(date.fromisoformat(edition)), edition_page(archive, edition))
        for _, edition in web.store.archive.editions(subscriber_id)
    ]


@router.get("/digests/{token}", response_class=HTMLResponse)
def archive(request: Request, web: Web, token: str) -> HTMLResponse:
    """The subscriber's past digests, newest first."""
    subscriber, subscriber_id = _reader(web, "archive", token)
    return web.page(
        request,
        "archive",
        subscriber=subscriber,
        digests=_past(web, subscriber, subscriber_id),
        feed_url=web.links.feed_url(subscriber),
        preferences_url=web.links.preferences_url(subscriber),
    )


@router.get("/digests/{token}/{edition}", response_class=HTMLResponse)
def digest_page(request: Request, web: Web, token: str, edition: str) -> HTMLResponse:
    """One digest as it was emailed, with the list of the others."""
    subscriber, subscriber_id = _reader(web, "archive", token)
    delivery = web.store.archive.delivery_of(subscriber_id, _edition(edition))
    if delivery is None:
        raise NotFoundError(f"you have no digest of {edition}: see the list of your digests")
    [contents] = _stored(web, [delivery])
    view = stored_view(contents, web.links)
    view.browser_url = None
    view.past = _past(web, subscriber, subscriber_id)
    html = web.mailer.renderer.render(view, budget=None).html  # a page is not clipped
    return HTMLResponse(html, headers={"Content-Security-Policy": DIGEST_CSP})


@router.get("/feed/{token}")
def feed(request: Request, web: Web, token: str) -> Response:
    """The Atom feed of the papers of the subscriber's latest digests."""
    subscriber, subscriber_id = _reader(web, "feed", token)
    ids = [i for i, _ in web.store.archive.editions(subscriber_id, FEED_DIGESTS)]
    # each digest's entries are dated when it was made: the edition's day at midnight UTC
    # lay hours ahead for a reader east of Greenwich, and feed readers sort by it
    digests = [(stored_view(c, web.links), _stamp(c.created_at)) for c in _stored(web, ids)]
    updated = max((made for _, made in digests), default=_stamp(web.clock()))
    body = web.pages.get_template("web/feed.xml").render(
        subscriber=subscriber,
        digests=digests,
        updated=updated,
        self_url=web.links.feed_url(subscriber),
        archive_url=web.links.archive_url(subscriber),
    )
    return Response(_NOT_XML.sub("", body), media_type="application/atom+xml; charset=utf-8")


def _stamp(moment: datetime) -> str:
    """An Atom date-time (RFC 3339, UTC, to the second)."""
    return as_utc(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
