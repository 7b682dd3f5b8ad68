"""Rendering a digest: golden files, escaping, trimming, grouping, reasons, inlined CSS, the
skeleton a shape is filled into."""

from __future__ import annotations

import dataclasses
import os
import re
from datetime import date

import pytest
from digest_view import GOLDEN, LONG_ABSTRACT, NASTY, message_of, view

from digest.mail.mime import QP_KEPT
from digest.render import Renderer, trim
from digest.views import DigestView, PaperView


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{name} changed: UPDATE_GOLDEN=1 to accept"


def test_golden_digest_html_and_text() -> None:
    rendered = Renderer().render(view())
    assert rendered.subject == "Papers digest 22 Nov 2026: 2 new papers on kv cache, quantization"
    check_golden("digest.html", rendered.html)
    check_golden("digest.txt", rendered.text)


def test_html_escapes_titles_abstracts_and_urls() -> None:
    paper = PaperView(title=NASTY, abstract=NASTY, matched=[NASTY], url='https://x.org/?a=1&b="2"')
    html = Renderer().render(view([paper])).html
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Tom &amp; Jerry&#39;s" in html
    assert 'href="https://x.org/?a=1&amp;b=&#34;2&#34;"' in html


def test_text_part_is_not_html_escaped() -> None:
    paper = PaperView(title="A & B <C>", abstract="x " * 30, matched=["a"])
    assert "1. A & B <C>" in Renderer().render(view([paper])).text


def test_javascript_urls_are_not_linked() -> None:
    paper = PaperView(title="T", abstract="a", matched=["a"], url="javascript:alert(1)")
    html = Renderer().render(view([paper])).html
    assert "javascript:" not in html


def test_trim_cuts_at_a_word_with_an_ellipsis() -> None:
    assert trim("short text") == "short text"
    cut = trim("word " * 200, 50)
    assert cut.endswith("…") and len(cut) <= 51 and not cut.endswith(" …")


def _full(count: int) -> DigestView:
    """A digest of `count` papers with every field and link filled in, long vote tokens,
    grouped under two interests."""
    long_abstract = "Transformers with long context need memory. " * 60
    vote = "https://digest.example.org/vote/v2." + "x" * 110
    papers = [
        PaperView(
            title=f"Paper {i} " * 10,
            abstract=long_abstract,
            matched=["kv cache" if i % 2 else "quantization"],
            url=f"https://huggingface.co/papers/2605.{i:05d}",
            arxiv_id=f"2605.{i:05d}",
            github_repo=f"https://github.com/some-lab/project-{i}",
            project_page=f"https://some-lab.github.io/project-{i}/",
            ai_summary="A one-line summary of what the paper does and finds. " * 2,
            authors=["A B"] * 40,
            organization="Some Lab",
            upvotes=40,
            comments=3,
            categories=["cs.LG", "cs.CL"],
            more_url=vote + f"{i}m",
            less_url=vote + f"{i}l",
        )
        for i in range(count)
    ]
    digest = _with(view(papers))
    digest.browser_url = digest.archive_url = digest.feed_url = vote
    return digest


def test_twenty_paper_html_part_stays_under_60_kb() -> None:
    html = Renderer().render(_full(20)).html
    assert html.count('class="paper"') == 20 and html.count('class="abstract"') == 20
    assert len(html.encode()) <= 60 * 1024


@pytest.mark.parametrize("count", [40, 50])
def test_a_long_digest_is_not_clipped_by_gmail(count: int) -> None:
    """Gmail clips an html part over 102 KB, the unsubscribe link at its foot with it (50
    such papers were 157 KB): the last papers of a long digest come without their abstracts
    (the text part keeps all)."""
    digest = _full(count)
    rendered = Renderer().render(digest)
    html = rendered.html
    assert len(html.encode()) <= 100 * 1024 and digest.unsubscribe_url in html
    assert html.count('class="paper"') == count and html.count('class="vote"') == count
    kept = html.count('class="abstract"')
    assert kept < count and ('id="p1"' in html)
    last = html[html.index(f'id="p{kept + 1}"') :]
    assert 'class="abstract"' not in last and 'class="summary"' not in last
    if count == 40:  # the first ones keep theirs
        assert html[: html.index('id="p2"')].count('class="abstract"') == 1
    each = Renderer().render(_full(1)).text.count("Transformers with long context")
    assert rendered.text.count("Transformers with long context") == each * count
    assert Renderer(skeletons=False).render(digest).html == html
    # the digest's web page (view in browser) is not clipped: every abstract is there
    assert Renderer().render(digest, budget=None).html.count('class="abstract"') == count


def test_nothing_new_note_when_a_digest_has_no_papers() -> None:
    """Worded for every frequency: a weekly reader's next look is not tomorrow, nor is a
    weekdays reader's on a Friday."""
    rendered = Renderer().render(view([]))
    assert rendered.subject == "Papers digest 22 Nov 2026: nothing new on kv cache, quantization"
    note = "Nothing new matched your topics (kv cache, quantization) since your last digest."
    assert note in rendered.text and note in rendered.html
    assert "tomorrow" not in rendered.text and "today" not in rendered.text
    assert "Unsubscribe" in rendered.text


def test_the_subject_names_the_topics_that_brought_the_papers() -> None:
    """Not the profile's first three: a reader of many topics sees what today's digest is
    about in the inbox (most papers first, the profile's order breaking ties)."""
    keywords = ["kv cache", "quantization", "rlhf", "galaxies", "speech", "sparse attention"]
    papers = [
        PaperView(title="A", abstract="a", matched=["galaxies"]),
        PaperView(title="B", abstract="b", matched=["speech", "galaxies"]),
        PaperView(title="C", abstract="c", matched=[], related=["rlhf"]),
        PaperView(title="D", abstract="d", matched=["speech"]),
    ]
    daily = dataclasses.replace(view(papers), keywords=keywords)
    subject = "Papers digest 22 Nov 2026: 4 new papers on galaxies, speech, rlhf"
    assert Renderer().render(daily).subject == subject
    fourth = PaperView(title="E", abstract="e", matched=["kv cache"])
    more = dataclasses.replace(daily, papers=[*papers, fourth])
    assert Renderer().render(more).subject.endswith("on galaxies, speech, kv cache, ...")
    liked_only = dataclasses.replace(daily, papers=[PaperView(title="F", abstract="f", matched=[])])
    assert Renderer().render(liked_only).subject.endswith("on kv cache, quantization, rlhf, ...")


def test_a_day_of_one_digit_is_written_without_a_zero() -> None:
    rendered = Renderer().render(dataclasses.replace(view(), edition=date(2026, 12, 7)))
    assert rendered.subject.startswith("Papers digest 7 Dec 2026: ")
    assert rendered.text.startswith("Your papers digest for Monday 7 December 2026\n")


def test_wrap_fills_lines_and_never_splits_a_word() -> None:
    from digest.render import wrap

    text = "alpha beta  gamma\ndelta " + "x" * 30 + " epsilon"
    assert wrap(text, 12, "> ") == "alpha beta\n> gamma delta\n> " + "x" * 30 + "\n> epsilon"
    assert wrap("", 10) == ""
    assert all(len(line) <= 72 for line in wrap("word " * 200).splitlines())


def test_a_paper_rendered_once_carries_each_readers_own_vote_links() -> None:
    """A paper's parts are rendered once and reused: the vote links must still be the reader's
    own, escaped in the html part, and a reader without votes gets none."""
    renderer = Renderer()

    def paper(more: str | None, less: str | None) -> PaperView:
        return PaperView(
            title="Shared & cached",
            abstract="Once.",
            matched=["kv cache"],
            more_url=more,
            less_url=less,
        )

    first = renderer.render(
        view([paper("https://d.example/vote/A?x=1&y=2", "https://d.example/vote/B")])
    )
    second = renderer.render(view([paper("https://d.example/vote/C", "https://d.example/vote/D")]))
    plain = renderer.render(view([paper(None, None)]))
    assert 'href="https://d.example/vote/A?x=1&amp;y=2"' in first.html
    assert "https://d.example/vote/A?x=1&y=2" in first.text
    assert "/vote/C" in second.html and "/vote/D" in second.text
    assert "/vote/A" not in second.html + second.text and "/vote/C" not in first.html + first.text
    assert "/vote/" not in plain.html + plain.text and "More like this" not in plain.text
    assert "\x00" not in first.html + first.text + second.html + plain.text
    assert renderer._paper_parts.cache_info().hits >= 1


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("$\\pi$-Flow: Few-Step Flow Matching", "π-Flow: Few-Step Flow Matching"),
        (
            "noise-contrastive estimation~(NCE) is slow",
            "noise-contrastive estimation (NCE) is slow",
        ),
        (
            "Experiments on \\texttt{DeepSea} cut cost by 20% & more",
            "Experiments on DeepSea cut cost by 20% & more",
        ),
        ("$\\tilde{O}(d\\sqrt{T})$ regret, \\textbf{tight}", "Õ(d√(T)) regret, tight"),
        ("Plain text with 100% of #1 Q&A stays", "Plain text with 100% of #1 Q&A stays"),
        # amounts were read as math: "a fee of 5 and10"
        ("a fee of $5 and $10, or $1.5B.", "a fee of $5 and $10, or $1.5B."),
        ("$5$ layers, $5.3$ better", "5 layers, 5.3 better"),  # math numbers stay math
        # scripts Unicode has characters for (they read 10^-3, R^2, l_1)
        ("lr $10^{-3}$, R$^2$-Guard, $\\ell_1$, $Q^*$", "lr 10⁻³, R²-Guard, ℓ₁, Q*"),
        ("$x^{(t)}_{max}$", "x^(t)ₘₐₓ"),  # "t" has no superscript: left as it was
    ],
)
def test_latex_in_listings_reads_as_unicode(raw: str, shown: str) -> None:
    from digest.latex import readable

    assert readable(raw) == shown


def test_a_grouped_digest_puts_each_paper_under_its_first_interest_best_group_first() -> None:
    def paper(title: str, matched: list[str]) -> PaperView:
        return PaperView(title=title, abstract="An abstract of some words.", matched=matched)

    papers = [
        paper("Alpha KV", ["kv cache", "quantization"]),
        paper("Beta quant", ["quantization"]),
        paper("Gamma KV", ["kv cache"]),
        paper("Delta liked", []),
    ]
    grouped = Renderer().render(_with(view(papers)))
    text = grouped.text
    order = [text.index(t) for t in ("== kv cache ==", "\n1. Alpha KV", "\n2. Gamma KV")]
    order += [text.index(t) for t in ("== quantization ==", "\n3. Beta quant")]
    order += [text.index(t) for t in ("== Like papers you liked ==", "\n4. Delta liked")]
    assert order == sorted(order)
    html = grouped.html
    assert html.count('<h2 class="group"') == 3
    third = html[html.index('<div id="p3">') : html.index('<div id="p4">')]
    assert "Beta quant" in third and re.search(r'<a href="#p3"[^>]*>Beta quant</a>', html)
    flat = Renderer().render(view(papers))
    assert "==" not in flat.text and 'class="group"' not in flat.html
    assert flat.text.index("2. Beta quant") < flat.text.index("3. Gamma KV")
    one_topic = Renderer().render(_with(view(papers[::2][:1] + papers[2:3])))
    assert 'class="group"' not in one_topic.html  # a single group needs no heading


def test_why_names_matched_keywords_then_related_ones_then_the_liked_paper() -> None:
    """A keyword the paper's words match is named as such; one it reached only through
    papers like it is said to be related; a related-only paper is grouped under it."""
    papers = [
        PaperView(
            title="Both",
            abstract="Words.",
            matched=["kv cache"],
            related=["long context"],
            similar_to_title="A liked paper",
        ),
        PaperView(title="Only related", abstract="Words.", matched=[], related=["long context"]),
    ]
    done = Renderer().render(_with(view(papers)))
    lines = [s for line in done.text.splitlines() if (s := line.strip()).startswith("Why you")]
    assert lines == [
        'Why you got this: kv cache; related to long context; like "A liked paper", which you'
        " liked",
        "Why you got this: related to long context",
    ]
    assert re.search(r"kv cache</span> &#183; related to <span[^>]*>long context</span>", done.html)
    text = done.text
    assert text.index("== long context ==") < text.index("2. Only related\n   Search")


def _with(digest: DigestView) -> DigestView:
    digest.grouped = True
    return digest


def test_the_listing_summary_comes_before_the_whole_abstract() -> None:
    abstract = "First sentence of the abstract is here. Second sentence follows it."
    with_summary = PaperView(
        title="T", abstract=abstract, matched=["kv cache"], ai_summary="A model does a thing."
    )
    html = Renderer().render(view([with_summary])).html
    assert re.search(r'<p class="summary"[^>]*>A model does a thing\.</p>', html)
    assert re.search(rf'<p class="abstract"[^>]*>{re.escape(abstract)}</p>', html)
    without = PaperView(title="T", abstract=abstract, matched=["kv cache"])
    html = Renderer().render(view([without])).html
    assert re.search(r'<p class="summary"[^>]*>First sentence of the abstract is here\.</p>', html)
    assert re.search(r'<p class="abstract"[^>]*>Second sentence follows it\.</p>', html)


def test_css_is_inlined_and_dark_mode_kept_in_style() -> None:
    html = Renderer().render(view()).html
    assert re.search(r'<body style="[^"]*background: #f4f4f5', html)
    assert re.search(r'<div class="paper" style="[^"]*border-radius: 8px', html)  # a fragment
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style and "@media (prefers-color-scheme: dark)" in style.group(1)
    assert ".paper {" not in style.group(1)  # plain rules live in the style attributes now
    assert "{%" not in html and "{{" not in html and "JINJATAG" not in html


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("count", [0, 1, 4])
@pytest.mark.parametrize("links", [False, True])
def test_a_digest_filled_into_its_shapes_skeleton_reads_as_if_rendered_whole(
    grouped: bool, count: int, links: bool
) -> None:
    """Digests of one shape share a skeleton rendered once, and so do the lines saying why a
    reader got a paper; filling in a reader's parts must give exactly what rendering the
    templates whole gives, escaping included."""
    keywords = [NASTY, "kv cache", "slot \x01title0\x01 & co, é"]
    papers = [
        PaperView(
            title=f"{NASTY} paper {i}",
            abstract="An abstract." if i % 2 else LONG_ABSTRACT,
            matched=[keywords[i % 3]] if i < 3 else [],
            related=[keywords[(i + 1) % 3]] if i % 3 else [],
            more_url=f"https://d.example/vote/{i}?a=1&b=2",
            less_url=f"https://d.example/vote/-{i}",
            similar_to_title=f"Liked {NASTY}" if i % 2 else None,
        )
        for i in range(count)
    ]
    digest = DigestView(
        email="a&b@example.org",
        keywords=keywords,
        edition=date(2026, 11, 22),
        papers=papers,
        unsubscribe_url="https://d.example/unsubscribe/T?x=1&y=2",
        preferences_url="https://d.example/preferences/T",
        browser_url="https://d.example/archive/T/2026-11-22" if links else None,
        archive_url="https://d.example/archive/T" if links else None,
        feed_url="https://d.example/feed/T&1" if links else None,
        grouped=grouped,
    )
    filled, whole = Renderer(), Renderer(skeletons=False)
    for _ in range(2):  # the second render reuses the skeleton (and the paper's kept lines)
        done, expected = filled.render(digest), whole.render(digest)
        assert (done.subject, done.html, done.text) == (
            expected.subject,
            expected.html,
            expected.text,
        )
        assert "".join(done.text_pieces) == done.text and not expected.text_pieces
        assert done.html.isascii() and "&#233;" in done.html  # é, as mail sends it
        kept = [p for p in done.text_pieces if len(p) >= QP_KEPT and "\n" in p]
        assert len(kept) == (count + 1) // 2  # each long paper's text is one kept piece
        # the text part encoded from the pieces is the text encoded whole, byte for byte
        assert message_of(done) == message_of(expected)
    assert filled._skeletons.cache_info().hits >= 1
    assert whole._skeletons.cache_info().currsize == 0
