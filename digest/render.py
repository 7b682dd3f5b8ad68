"""Digest rendering: jinja2 templates over templates/, a DigestView -> (subject, html, text)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup

from digest.inline_css import InliningLoader
from digest.paper_links import best_url, paper_links, summary_and_rest
from digest.skeleton import Pieces, ascii_html, cut, fill, fill_html, fill_text, html_text, slot
from digest.views import BYLINE_JOIN, DigestView, PaperView, RenderedDigest
from digest.vocabulary import long_day

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_SLOTS = ("subject", "heading", "email", "unsubscribe_url", "preferences_url")
_LINKS = ("browser_url", "archive_url", "feed_url")  # optional: part of a skeleton's shape
_MORE, _LESS, _WHY = slot("more"), slot("less"), slot("why")  # a reader's parts of a paper
ABSTRACT_CHARS = 420
# characters of a digest's html part: Gmail clips a message whose html passes 102 KB, and
# the unsubscribe link at its foot with it (a 50-paper digest was 124 KB)
HTML_BUDGET = 92_000
LIKED_TITLE_CHARS = 60


ELLIPSIS, TEXT_ELLIPSIS = "…", "..."
TEXT_BYLINE_JOIN = " | "  # the text part's BYLINE_JOIN


def plain_text(text: str) -> str:
    """Text for the plain-text part: an ellipsis as three dots. With a byline's parts joined
    by a bar, not a middle dot, this leaves most digests' text parts ASCII (the ellipsis
    that marks a cut abstract was the only other non-ASCII character of 387 of the 393 papers
    in the bundled seeds), and an ASCII part goes as it is, not in quoted-printable."""
    return text.replace(ELLIPSIS, TEXT_ELLIPSIS) if ELLIPSIS in text else text


def trim(text: str, limit: int = ABSTRACT_CHARS) -> str:
    """Cut text at a word boundary near `limit` characters, marking the cut with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.-")
    return cut + ELLIPSIS


@lru_cache(maxsize=8)
def _wrap_pattern(width: int) -> re.Pattern[str]:
    # a line is as many words as fit in `width`; a longer word stands alone on its line
    return re.compile(r"(?:(\S.{0," + str(width - 1) + r"})(?:\s+|$))|(?:(\S+)(?:\s+|$))")


def wrap(text: str, width: int = 72, indent: str = "") -> str:
    """Greedy word wrap (words are never split); much faster than textwrap for mail bodies."""
    lines = (
        m.group(1) or m.group(2) for m in _wrap_pattern(width).finditer(" ".join(text.split()))
    )
    return ("\n" + indent).join(lines)


class Renderer:
    """A jinja2 environment built once; render() is then pure and fast."""

    def __init__(self, templates: Path = TEMPLATES, skeletons: bool = True) -> None:
        self.templates = templates
        self.skeletons = skeletons  # False: every digest rendered whole (the same output)
        self.env = Environment(
            loader=InliningLoader(FileSystemLoader(str(templates)), sheet="email/digest.html"),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=False,
            keep_trailing_newline=True,
        )
        self.env.filters["wrap"] = wrap
        self.html = self.env.get_template("email/digest.html")
        self.text = self.env.get_template("email/digest.txt")
        # a paper reads the same in every digest that has it: its parts are rendered once (per
        # renderer), and so is each set of reasons; per reader, they and the vote links are
        # only filled in
        self._paper_parts = lru_cache(maxsize=8192)(self._render_paper)
        self._why_parts = lru_cache(maxsize=8192)(self._render_why)
        self._why_skeletons = lru_cache(maxsize=64)(self._why_skeleton)
        self._pair = lru_cache(maxsize=16)(self._load_pair)  # loaded once, not per paper
        # most digests share one of a few shapes (how many papers, under which groups): each
        # shape is rendered once with slots, and a reader's digest only fills them in
        self._skeletons = lru_cache(maxsize=256)(self._skeleton)

    def __reduce__(self) -> tuple[type[Renderer], tuple[Path, bool]]:
        # to a composing process as where its templates are: an environment does not pickle
        return Renderer, (self.templates, self.skeletons)

    def render_pair(self, name: str, context: Mapping[str, object]) -> tuple[str, str]:
        """The plain-text and HTML versions of templates `name`.txt and `name`.html."""
        text, html = self._pair(name)
        return text.render(context), html.render(context)

    def _load_pair(self, name: str) -> tuple[Template, Template]:
        return self.env.get_template(f"{name}.txt"), self.env.get_template(f"{name}.html")

    def render(self, view: DigestView, budget: int | None = HTML_BUDGET) -> RenderedDigest:
        """The subject, HTML and plain-text versions of one digest (papers past `budget`
        characters of html without their abstracts)."""
        count = len(view.papers)
        edition = view.edition
        day = long_day(edition)
        heading = (
            f"Your weekly papers digest, the week to {day}"
            if view.weekly
            else f"Your papers digest for {day}"
        )
        topics = subject_topics(view.papers, view.keywords)
        name = "Weekly papers digest" if view.weekly else "Papers digest"
        subject = f"{name} {edition.day} {edition:%b %Y}: " + (
            f"{count} new paper{'s' if count != 1 else ''} on {topics}"
            if count
            else f"nothing new on {topics}"
        )
        sections = sections_of(view.papers, view.keywords, view.grouped)
        order = [i for _, indexes in sections for i in indexes]
        papers = [self._paper(view.papers[i], n) for n, i in enumerate(order, start=1)]
        fixed = {"subject": subject, "heading": heading}
        html, text, pieces = self._both(view, fixed, papers, sections)
        if budget is not None and len(html) > budget:  # its last papers without abstracts
            excess = len(html) - budget
            for k in range(len(papers) - 1, -1, -1):
                if excess <= 0:
                    break
                brief = self._paper(view.papers[order[k]], k + 1, brief=True)
                excess -= len(papers[k].html) - len(brief.html)
                papers[k] = brief
            html = self._both(view, fixed, papers, sections)[0]  # the text part is not clipped
        subject = " ".join(subject.split())
        return RenderedDigest(subject=subject, html=html, text=text, text_pieces=tuple(pieces))

    def _both(
        self,
        view: DigestView,
        fixed: dict[str, str],
        papers: list[PaperParts],
        sections: list[tuple[str | None, list[int]]],
    ) -> tuple[str, str, list[str]]:
        """The digest's html, text and text pieces (none when rendered whole)."""
        groups, start = [], 0
        for label, indexes in sections:
            groups.append(Group(label, papers[start : start + len(indexes)]))
            start += len(indexes)
        if view.also_trending or view.past or not self.skeletons:  # rare shapes: whole
            html, text = self._whole(view, fixed, papers, groups)
            return html, text, []
        html, pieces = self._filled(view, fixed, papers, groups)
        # a paper's own parts were folded when first rendered; a reader's values are here
        pieces = [plain_text(piece) for piece in pieces]
        return html, "".join(pieces), pieces

    def _whole(
        self, view: DigestView, fixed: dict[str, str], papers: list[PaperParts], groups: list[Group]
    ) -> tuple[str, str]:
        """The digest's html and text, the templates rendered with all its values."""
        context = {
            **fixed,
            "email": view.email,
            "keywords": view.keywords,
            "papers": papers,
            "groups": groups,
            "also_trending": [_paper_context(p) for p in view.also_trending],
            "unsubscribe_url": view.unsubscribe_url,
            "preferences_url": view.preferences_url,
            "browser_url": view.browser_url,
            "archive_url": view.archive_url,
            "feed_url": view.feed_url,
            "past": view.past,
            "weekly": view.weekly,
        }
        return ascii_html(self.html.render(context)), plain_text(self.text.render(context))

    def _filled(
        self, view: DigestView, fixed: dict[str, str], papers: list[PaperParts], groups: list[Group]
    ) -> tuple[str, list[str]]:
        """The digest's html and text pieces: its shape's skeleton, filled with this reader's
        parts (`fixed`: the subject and heading)."""
        links = (view.browser_url, view.archive_url, view.feed_url)
        shape = Shape(tuple((bool(g.label), len(g.papers)) for g in groups), *map(bool, links))
        values = {
            slot("email"): view.email,
            slot("keywords"): ", ".join(view.keywords),
            slot("unsubscribe_url"): view.unsubscribe_url,
            slot("preferences_url"): view.preferences_url,
        }
        values.update((slot(name), value) for name, value in fixed.items())
        values.update((slot(name), link) for name, link in zip(_LINKS, links, strict=True) if link)
        for j, group in enumerate(groups):
            if group.label:
                values[slot(f"group{j}")] = group.label
        values.update((slot(f"title{k}"), paper.title) for k, paper in enumerate(papers))
        html_only = {slot(f"html{k}"): paper.html for k, paper in enumerate(papers)}
        spliced = {slot(f"text{k}"): paper.text_pieces for k, paper in enumerate(papers)}
        skeleton = self._skeletons(shape)
        return fill_html(skeleton.html, values, html_only), fill_text(
            skeleton.text, values, spliced
        )

    def _skeleton(self, shape: Shape) -> Pieces:
        """The digest templates rendered once for a shape, with slots for a reader's parts."""
        papers: list[PaperParts] = []
        groups: list[Group] = []
        for j, (labelled, size) in enumerate(shape.groups):
            members: list[PaperParts] = []
            for _ in range(size):
                k = len(papers)
                slots = (slot(f"html{k}"), slot(f"text{k}"), slot(f"title{k}"))
                papers.append(PaperParts(Markup(slots[0]), (slots[1],), slots[2], k + 1))
                members.append(papers[-1])
            groups.append(Group(slot(f"group{j}") if labelled else None, members))
        context: dict[str, object] = {name: slot(name) for name in _SLOTS}
        context.update(keywords=[slot("keywords")], papers=papers, groups=groups)
        context.update(also_trending=[], past=[])
        for name, present in zip(_LINKS, (shape.browser, shape.archive, shape.feed), strict=True):
            context[name] = slot(name) if present else None
        return cut(self.html.render(context), self.text.render(context))

    def _paper(self, p: PaperView, number: int, brief: bool = False) -> PaperParts:
        """One paper of the digest: its html and text parts with this reader's vote links
        (brief: without its abstract)."""
        shown = Shown(
            p.title,
            p.url,
            "" if brief else p.abstract,
            p.byline_parts,
            p.more_url is not None,
            p.arxiv_id,
            p.github_repo,
            p.project_page,
            None if brief else p.ai_summary,
            p.comments,
        )
        why_html, why_text = self._why_parts(tuple(p.matched), tuple(p.related), p.similar_to_title)
        more, less = p.more_url or "", p.less_url or ""
        pieces = self._paper_parts(shown)  # filled here, not by fill(): a hundred times a digest
        html = {_MORE: html_text(more), _LESS: html_text(less), _WHY: why_html}
        text = {_MORE: more, _LESS: less, _WHY: why_text}
        return PaperParts(
            Markup("".join([html.get(piece, piece) for piece in pieces.html])),
            tuple([text.get(piece, piece) for piece in pieces.text]),
            p.title,
            number,
        )

    def _render_paper(self, shown: Shown) -> Pieces:
        """A paper's html and text, cut where the reader's vote links and reasons go."""
        s = shown
        summary, rest = (
            (s.ai_summary, " ".join(s.abstract.split()))
            if s.ai_summary
            else summary_and_rest(s.abstract)
        )
        paper = {
            "title": s.title,
            "url": best_url(s.url, s.arxiv_id),
            "links": paper_links(
                s.title, s.url, s.arxiv_id, s.github_repo, s.project_page, s.comments
            ),
            "summary": summary,
            "abstract": trim(rest),
            "byline": BYLINE_JOIN.join(s.byline),
            "text_byline": TEXT_BYLINE_JOIN.join(s.byline),
            "why": _WHY,
            "more_url": _MORE if s.votes else None,
            "less_url": _LESS if s.votes else None,
        }
        text, html = self.render_pair("email/paper", {"paper": paper})
        return cut(html, plain_text(text))

    def _render_why(
        self, matched: tuple[str, ...], related: tuple[str, ...], liked_title: str | None
    ) -> tuple[str, str]:
        """The "why you got this" line, as html and text."""
        liked = trim(liked_title, LIKED_TITLE_CHARS) if liked_title else None
        if not self.skeletons:
            context = {"matched": list(matched), "related": list(related), "liked": liked}
            text, html = self.render_pair("email/why", context)
            return html, text
        values = {slot(f"kw{i}"): keyword for i, keyword in enumerate(matched + related)}
        if liked:
            values[slot("liked")] = liked
        return fill(self._why_skeletons(len(matched), len(related), bool(liked)), values)

    def _why_skeleton(self, count: int, related: int, liked: bool) -> Pieces:
        """The "why" templates rendered once for `count` keywords matched, `related` keywords
        related and a liked paper or not."""
        context = {
            "matched": [slot(f"kw{i}") for i in range(count)],
            "related": [slot(f"kw{i}") for i in range(count, count + related)],
            "liked": slot("liked") if liked else None,
        }
        text, html = self.render_pair("email/why", context)
        return cut(html, text)


def subject_topics(papers: list[PaperView], keywords: list[str]) -> str:
    """Up to three of the reader's topics for the subject line: those that brought the most
    of the digest's papers (the profile's order breaks ties), else the profile's first."""
    brought = Counter(k for paper in papers for k in {*paper.matched, *paper.related})
    named = sorted((k for k in keywords if brought[k]), key=lambda k: -brought[k]) or keywords
    return ", ".join(named[:3]) + (", ..." if len(named) > 3 else "")


def sections_of(
    papers: list[PaperView], keywords: list[str], grouped: bool
) -> list[tuple[str | None, list[int]]]:
    """The papers' indexes under each interest, the group of the best paper first (a paper
    goes under the first of the reader's keywords it matched, else the first it is related
    to); one unnamed group when flat."""
    if not grouped:
        return [(None, list(range(len(papers))))]
    found: dict[str, list[int]] = {}
    for i, paper in enumerate(papers):
        label = next((k for k in keywords if k in paper.matched), None)
        label = label or next((k for k in keywords if k in paper.related), None)
        if label is None:
            named = paper.matched or paper.related
            label = named[0] if named else "Like papers you liked"
        found.setdefault(label, []).append(i)
    if len(found) < 2:
        return [(None, list(range(len(papers))))]
    return list(found.items())


class PaperParts(NamedTuple):
    """One paper as the digest templates place it, with this reader's links filled in (a
    tuple, not a dict: jinja reads `paper.title` as an attribute first)."""

    html: Markup
    text_pieces: tuple[str, ...]  # the text in pieces: the paper's own, the reader's parts
    title: str
    number: int  # its place in the digest, from 1

    @property
    def text(self) -> str:
        """The paper's text (joined only where a template renders it whole)."""
        return "".join(self.text_pieces)


class Group(NamedTuple):
    """The papers under one interest (label None: a flat digest)."""

    label: str | None
    papers: list[PaperParts]


class Shape(NamedTuple):
    """What a digest skeleton depends on: its groups (labelled?, size) and optional links."""

    groups: tuple[tuple[bool, int], ...]
    browser: bool
    archive: bool
    feed: bool


class Shown(NamedTuple):
    """Everything a paper's cached parts depend on (its reasons and vote links come after)."""

    title: str
    url: str | None
    abstract: str
    byline: tuple[str, ...]  # its parts
    votes: bool
    arxiv_id: str | None
    github_repo: str | None
    project_page: str | None
    ai_summary: str | None
    comments: int | None


def _paper_context(p: PaperView) -> dict[str, object]:
    """What the templates read of one paper (the "also trending" box)."""
    liked = trim(p.similar_to_title, LIKED_TITLE_CHARS) if p.similar_to_title else None
    return {
        "title": p.title,
        "url": best_url(p.url, p.arxiv_id),
        "abstract": trim(p.abstract),
        "byline": p.byline,
        "matched": p.matched,
        "liked": liked,
        "more_url": p.more_url,
        "less_url": p.less_url,
    }
