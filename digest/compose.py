"""The views and links of one email: what a digest shows of each paper, and the message
composed from one stored delivery."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from digest.latex import readable
from digest.mail import Outgoing, build_message, outgoing
from digest.models import Frequency
from digest.render import Renderer
from digest.store.contents import Contents
from digest.subscriptions.links import Links, TokenHolder, edition_page
from digest.views import DigestView, PaperView


class ShownPaper(Protocol):
    """What a digest reads of a paper (a stored Paper or a store.contents.PaperRow)."""

    @property
    def title(self) -> str: ...
    @property
    def abstract(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def authors(self) -> list[str]: ...
    @property
    def author_count(self) -> int | None: ...
    @property
    def organization(self) -> str | None: ...
    @property
    def published(self) -> date | None: ...
    @property
    def upvotes(self) -> int | None: ...
    @property
    def arxiv_id(self) -> str | None: ...
    @property
    def github_repo(self) -> str | None: ...
    @property
    def project_page(self) -> str | None: ...
    @property
    def ai_summary(self) -> str | None: ...
    @property
    def categories(self) -> list[str]: ...
    @property
    def comments(self) -> int | None: ...


class Reader(TokenHolder, Protocol):
    """Whom a digest is for (a Subscriber, or a store.contents.Recipient)."""

    @property
    def email(self) -> str: ...
    @property
    def keywords(self) -> list[str]: ...
    @property
    def grouped(self) -> bool: ...
    @property
    def frequency(self) -> str: ...


def paper_view(
    paper: ShownPaper,
    matched: list[str],
    votes: tuple[str, str] | None = None,
    similar_to_title: str | None = None,
    trending: bool = False,
    related: Sequence[str] = (),
) -> PaperView:
    """What the digest shows of one paper: its reasons and (more, less) vote links."""
    return PaperView(
        title=readable(paper.title),
        abstract=readable(paper.abstract),
        matched=list(matched),
        related=list(related),
        url=paper.url,
        authors=list(paper.authors),
        author_count=paper.author_count,
        organization=paper.organization,
        published=paper.published,
        upvotes=paper.upvotes,
        more_url=votes[0] if votes else None,
        less_url=votes[1] if votes else None,
        similar_to_title=similar_to_title,
        arxiv_id=paper.arxiv_id,
        github_repo=paper.github_repo,
        project_page=paper.project_page,
        ai_summary=readable(paper.ai_summary) if paper.ai_summary else None,
        trending=trending,
        categories=list(paper.categories),
        comments=paper.comments,
    )


def digest_view(
    subscriber: Reader,
    edition: str,
    papers: list[PaperView],
    links: Links,
    also_trending: list[PaperView] | None = None,
) -> DigestView:
    """The view of one subscriber's digest for one edition."""
    archive = links.archive_url(subscriber)  # this edition's page is under it
    return DigestView(
        email=subscriber.email,
        keywords=list(subscriber.keywords),
        edition=date.fromisoformat(edition),
        papers=papers,
        unsubscribe_url=links.unsubscribe_url(subscriber),
        preferences_url=links.preferences_url(subscriber),
        also_trending=also_trending or [],
        browser_url=edition_page(archive, edition),
        archive_url=archive,
        feed_url=links.feed_url(subscriber),
        grouped=subscriber.grouped,
        weekly=subscriber.frequency == Frequency.WEEKLY,
    )


def stored_view(contents: Contents, links: Links) -> DigestView:
    """The view of one stored delivery, from its stored items."""
    subscriber = contents.subscriber
    issued = int(contents.created_at.timestamp())
    sections: dict[str, list[PaperView]] = {"main": [], "trending": []}
    for paper, item in contents.items:
        sections.setdefault(item.section, []).append(
            paper_view(
                paper,
                item.matched,
                links.vote_urls(subscriber, paper.id, issued),
                contents.titles.get(item.similar_to or ""),
                item.trending and item.section == "main",  # the box says so itself
                item.related,
            )
        )
    return digest_view(subscriber, contents.edition, sections["main"], links, sections["trending"])


def compose(
    contents: Contents, renderer: Renderer, links: Links, sender: str, now: datetime
) -> Outgoing:
    """The email for one stored delivery, rendered from its stored items."""
    subscriber = contents.subscriber
    view = stored_view(contents, links)
    rendered = renderer.render(view)
    message = build_message(
        sender=sender,
        to=subscriber.email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=contents.message_id,
        date=now,
        unsubscribe_url=view.unsubscribe_url,
        unsubscribe_mailto=links.unsubscribe_mailto(subscriber),
        text_pieces=rendered.text_pieces,
    )
    envelope = links.bounce_address(contents.delivery_id) or sender
    return outgoing(contents.delivery_id, message, envelope, subscriber.email)
