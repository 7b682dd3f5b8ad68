"""What a digest shows: the views its templates render (made by compose.py for an email and
by the web pages), and what rendering gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from digest.paper_links import best_url

BYLINE_JOIN = " · "  # between the parts of a paper's byline (in the text part: render.py)


@dataclass
class PaperView:
    """What a digest shows of one paper."""

    title: str
    abstract: str
    matched: list[str]
    url: str | None = None
    authors: list[str] = field(default_factory=list)
    author_count: int | None = None
    organization: str | None = None
    published: date | None = None
    upvotes: int | None = None
    more_url: str | None = None  # "more like this" vote link
    less_url: str | None = None  # "less like this" vote link
    similar_to_title: str | None = None  # the liked paper it resembles
    arxiv_id: str | None = None
    github_repo: str | None = None
    project_page: str | None = None
    ai_summary: str | None = None  # a one-line summary from the listing
    trending: bool = False  # among the day's most popular papers
    categories: list[str] = field(default_factory=list)  # arXiv categories
    comments: int | None = None  # comments in the HF discussion
    related: list[str] = field(default_factory=list)  # keywords matched not by its own words

    @property
    def link(self) -> str | None:
        """The paper's best page."""
        return best_url(self.url, self.arxiv_id)

    @property
    def byline(self) -> str:
        """The byline's parts as one line."""
        return BYLINE_JOIN.join(self.byline_parts)

    @property
    def byline_parts(self) -> tuple[str, ...]:
        """Authors (or their count), organisation, categories, date, upvotes, trending."""
        parts = []
        if self.authors:
            names = ", ".join(self.authors[:3])
            total = max(len(self.authors), self.author_count or 0)
            parts.append(names + (f" et al. ({total} authors)" if total > 3 else ""))
        elif self.author_count:
            parts.append(f"{self.author_count} author{'s' if self.author_count != 1 else ''}")
        if self.organization:
            parts.append(self.organization)
        if self.categories:
            parts.append(", ".join(self.categories[:3]))
        if self.published:
            parts.append(self.published.strftime("%d %b %Y").lstrip("0"))
        if self.upvotes:
            parts.append(f"{self.upvotes} upvote{'s' if self.upvotes != 1 else ''}")
        if self.trending:
            parts.append("trending")
        return tuple(parts)


@dataclass
class DigestView:
    """Everything one digest email shows."""

    email: str
    keywords: list[str]
    edition: date
    papers: list[PaperView]
    unsubscribe_url: str
    preferences_url: str
    also_trending: list[PaperView] = field(default_factory=list)
    browser_url: str | None = None  # this digest as a web page ("view in browser")
    archive_url: str | None = None  # the subscriber's past digests
    feed_url: str | None = None  # the subscriber's Atom feed
    past: list[tuple[str, str]] = field(default_factory=list)  # (edition, url), on the web page
    grouped: bool = False  # papers under the interest that brought them
    weekly: bool = False  # a week's papers: headed and worded as such


@dataclass(frozen=True)
class RenderedDigest:
    """A rendered digest, ready to become an email."""

    subject: str
    html: str  # ASCII: other characters as character references (skeleton.ascii_html)
    text: str
    text_pieces: tuple[str, ...] = ()  # the text in pieces, a paper's own apart (or none)
