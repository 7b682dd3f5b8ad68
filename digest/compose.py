"""The views and links of one email: what a digest shows of each paper, and the message
composed from one stored delivery."""

from __future__ import annotations

from datetime import date, datetime

from digest.mail import Outgoing, build_message, outgoing
from digest.models import Paper, Subscriber
from digest.render import DigestView, PaperView, Renderer
from digest.store.deliveries import Contents
from digest.store.engine import as_utc
from digest.subscriptions.links import Links


def paper_view(
    paper: Paper,
    matched: list[str],
    votes: tuple[str, str] | None = None,
    similar_to_title: str | None = None,
) -> PaperView:
    """What the digest shows of one paper: its reasons and (more, less) vote links."""
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
        more_url=votes[0] if votes else None,
        less_url=votes[1] if votes else None,
        similar_to_title=similar_to_title,
    )


def vote_links(links: Links, subscriber: Subscriber, paper_id: str, issued: int) -> tuple[str, str]:
    """The "more like this" and "less like this" links of one paper for one subscriber."""
    return (
        links.vote_url(subscriber, paper_id, 1, issued),
        links.vote_url(subscriber, paper_id, -1, issued),
    )


def digest_view(
    subscriber: Subscriber,
    edition: str,
    papers: list[PaperView],
    links: Links,
    also_trending: list[PaperView] | None = None,
) -> DigestView:
    """The view of one subscriber's digest for one edition."""
    return DigestView(
        email=subscriber.email,
        keywords=list(subscriber.keywords),
        edition=date.fromisoformat(edition),
        papers=papers,
        unsubscribe_url=links.unsubscribe_url(subscriber),
        preferences_url=links.preferences_url(subscriber),
        also_trending=also_trending or [],
    )


def compose(
    contents: Contents, renderer: Renderer, links: Links, sender: str, now: datetime
) -> Outgoing:
    """The email for one stored delivery, rendered from its stored items."""
    delivery, subscriber = contents.delivery, contents.subscriber
    assert delivery.id is not None and delivery.message_id is not None
    issued = int(as_utc(delivery.created_at).timestamp())
    sections: dict[str, list[PaperView]] = {"main": [], "trending": []}
    for paper, item in contents.items:
        sections.setdefault(item.section, []).append(
            paper_view(
                paper,
                item.matched,
                vote_links(links, subscriber, paper.id, issued),
                contents.titles.get(item.similar_to or ""),
            )
        )
    view = digest_view(subscriber, delivery.edition, sections["main"], links, sections["trending"])
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
        unsubscribe_mailto=links.unsubscribe_mailto(subscriber),
    )
    envelope = links.bounce_address(delivery.id) or sender
    return outgoing(delivery.id, message, envelope, subscriber.email)
