"""The outbox: claim queued deliveries, render them from their stored items, send, record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from digest.errors import PermanentDeliveryError
from digest.links import Links
from digest.mail import Outgoing, Transport, build_message
from digest.models import Delivery, Paper, Subscriber
from digest.render import DigestView, PaperView, Renderer
from digest.store import Store

BATCH = 200
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 60.0


@dataclass
class SendReport:
    """How many deliveries one send pass moved to each outcome."""

    sent: int = 0
    retry: int = 0
    failed: int = 0


def paper_view(paper: Paper, matched: list[str]) -> PaperView:
    """What the digest shows of one paper, with the keywords it matched."""
    return PaperView(
        title=paper.title,
        abstract=paper.abstract,
        matched=list(matched),
        url=paper.url,
        authors=list(paper.authors),
        author_count=paper.author_count,
        organization=paper.organization,
        published=paper.published,
        upvotes=paper.upvotes,
    )


def digest_view(
    subscriber: Subscriber, edition: str, papers: list[PaperView], links: Links
) -> DigestView:
    """The view of one subscriber's digest for one edition."""
    return DigestView(
        email=subscriber.email,
        keywords=list(subscriber.keywords),
        edition=date.fromisoformat(edition),
        papers=papers,
        unsubscribe_url=links.unsubscribe_url(subscriber),
        preferences_url=links.preferences_url(subscriber),
    )


def compose(
    store: Store, delivery: Delivery, renderer: Renderer, links: Links, sender: str, now: datetime
) -> Outgoing:
    """The email for one stored delivery, rendered from its stored items."""
    assert delivery.id is not None and delivery.message_id is not None
    subscriber, rows = store.delivery_contents(delivery.id)
    view = digest_view(
        subscriber,
        delivery.edition,
        [paper_view(paper, item.matched) for paper, item in rows],
        links,
    )
    rendered = renderer.render(view)
    message = build_message(
        sender=sender,
        to=subscriber.email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=delivery.message_id,
        date=now,
        unsubscribe_url=view.unsubscribe_url,
        unsubscribe_mailto=links.unsubscribe_mailto,
    )
    return Outgoing(delivery.id, message)


def send_due(
    store: Store,
    transport: Transport,
    renderer: Renderer,
    links: Links,
    sender: str,
    now: datetime,
    *,
    batch: int = BATCH,
) -> SendReport:
    """Send every delivery that is ready, batch by batch, recording each outcome."""
    report = SendReport()
    while ids := store.claim_deliveries(now, batch):
        by_id = {d.id: d for d in store.deliveries_by_id(ids)}
        outgoing = [compose(store, by_id[i], renderer, links, sender, now) for i in ids]
        for outcome in transport.send(outgoing):
            delivery = by_id[outcome.delivery_id]
            if outcome.error is None:
                store.mark_delivery(outcome.delivery_id, "sent", now)
                report.sent += 1
            elif (
                isinstance(outcome.error, PermanentDeliveryError)
                or delivery.attempts + 1 >= MAX_ATTEMPTS
            ):
                store.mark_delivery(
                    outcome.delivery_id,
                    "failed",
                    now,
                    error=str(outcome.error),
                    code=outcome.error.code,
                )
                report.failed += 1
            else:
                wait = timedelta(seconds=BACKOFF_SECONDS * 2**delivery.attempts)
                store.mark_delivery(
                    outcome.delivery_id,
                    "retry",
                    now,
                    error=str(outcome.error),
                    code=outcome.error.code,
                    retry_at=now + wait,
                )
                report.retry += 1
    return report
