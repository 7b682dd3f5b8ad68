"""Rendering and email building: escaping, golden files, headers, size, transports."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from digest.errors import TransportError
from digest.mail import MaildirTransport, build_message, outgoing
from digest.mail.mime import QP_KEPT
from digest.render import Renderer, trim
from digest.views import DigestView, PaperView, RenderedDigest

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"
NASTY = '<script>alert("x")</script> Tom & Jerry\'s "quoted" <b>bold</b>'


def view(papers: list[PaperView] | None = None) -> DigestView:
    return DigestView(
        email="alice@example.org",
        keywords=["kv cache", "quantization"],
        edition=date(2026, 11, 22),
        papers=papers
        if papers is not None
        else [
            PaperView(
                title="KVQuant: KV Cache Quantization",
                abstract="We quantize the cache. " * 30,
                matched=["kv cache", "quantization"],
                url="https://arxiv.org/abs/2401.18079",
                authors=["Coleman Hooper", "Sehoon Kim", "Hiva Mohammadzadeh", "M. Mahoney"],
                published=date(2024, 1, 31),
                upvotes=12,
            ),
            PaperView(
                title="SCBench",
                abstract="A KV cache-centric benchmark.",
                matched=["kv cache"],
                author_count=9,
                organization="Microsoft",
                more_url="https://digest.example.org/vote/MORE",
                less_url="https://digest.example.org/vote/LESS",
                similar_to_title="MatryoshkaKV: Adaptive KV Compression via Trainable Orthogonal"
                " Projection",
            ),
        ],
        unsubscribe_url="https://digest.example.org/unsubscribe/TOKEN",
        preferences_url="https://digest.example.org/preferences/TOKEN",
        also_trending=[
            PaperView(
                title="Moshi: a speech-text foundation model",
                abstract="Real-time dialogue.",
                matched=[],
                upvotes=80,
                more_url="https://digest.example.org/vote/MORE2",
                less_url="https://digest.example.org/vote/LESS2",
            )
        ]
        if papers is None
        else [],
    )


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


@pytest.mark.parametrize("skeletons", [True, False])
def test_a_cut_abstract_keeps_the_text_part_ascii_and_sent_as_it_is(skeletons: bool) -> None:
    """The ellipsis of a cut is three dots in the text part and a byline's parts are joined
    by a bar (the HTML keeps both characters): with them a digest's text part is ASCII and
    needs no quoted-printable. A paper's own letters stay as they are."""
    long = PaperView(
        title="Cut",
        abstract="word " * 200,
        matched=["kv cache"],
        author_count=3,
        published=date(2026, 11, 1),
        upvotes=4,
    )
    accented = PaperView(title="Métriques…", abstract="é " * 200, matched=["kv cache"])
    renderer = Renderer(skeletons=skeletons)
    for papers, text_cte in (([long], "7bit"), ([long, accented], "quoted-printable")):
        rendered = renderer.render(view(papers))
        assert "word..." in rendered.text and "…" not in rendered.text
        assert "3 authors | 1 Nov 2026 | 4 upvotes" in rendered.text
        assert "word&#8230;" in rendered.html or "word…" in rendered.html
        assert "3 authors &#183; 1 Nov 2026" in rendered.html or "3 authors · 1" in rendered.html
        parsed = message_from_bytes(two_parts(rendered.text, rendered.html), policy=policy.default)
        plain = parsed.get_body(("plain",))
        assert plain is not None and plain["Content-Transfer-Encoding"] == text_cte
        assert plain.get_content().replace("\r\n", "\n") == rendered.text
    assert "Métriques..." in rendered.text and "é é" in rendered.text


def test_twenty_paper_html_part_stays_under_60_kb() -> None:
    """Every field and link filled in, long vote tokens, grouped under two interests."""
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
            more_url=vote + "m",
            less_url=vote + "l",
        )
        for i in range(20)
    ]
    digest = _with(view(papers))
    digest.browser_url = digest.archive_url = digest.feed_url = vote
    html = Renderer().render(digest).html
    assert html.count('class="paper"') == 20
    assert len(html.encode()) <= 60 * 1024


def test_message_is_multipart_alternative_with_list_headers() -> None:
    rendered = Renderer().render(view())
    message = build_message(
        sender="Digest <digest@example.org>",
        to="alice@example.org",
        subject=rendered.subject + "\r\nBcc: victim@example.org",
        text=rendered.text,
        html=rendered.html,
        message_id="<digest-1-2026-11-22@example.org>",
        date=datetime(2026, 11, 22, 8, tzinfo=UTC),
        unsubscribe_url="https://digest.example.org/unsubscribe/TOKEN",
        unsubscribe_mailto="mailto:unsubscribe@example.org?subject=unsubscribe",
    )
    parsed = message_from_bytes(message, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Bcc"] is None
    assert "\n" not in parsed["Subject"]
    assert parsed["List-Unsubscribe"] == (
        "<https://digest.example.org/unsubscribe/TOKEN>, "
        "<mailto:unsubscribe@example.org?subject=unsubscribe>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Date"] == "Sun, 22 Nov 2026 08:00:00 +0000"
    assert parsed["Message-ID"] == "<digest-1-2026-11-22@example.org>"


def test_maildir_transport_writes_readable_messages(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "mail")
    rendered = Renderer().render(view())
    message = message_of(rendered, message_id="<m1@example.org>", unsubscribe_url="https://u")
    outcomes = transport.send([outgoing(7, message, "d@example.org", "a@example.org")])
    assert [(o.delivery_id, o.sent) for o in outcomes] == [(7, True)]
    [path] = list((tmp_path / "mail" / "new").iterdir())
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == rendered.subject
    assert transport.count() == 1


def test_a_maildir_made_here_is_its_owners_alone(tmp_path: Path) -> None:
    """Digests carry their readers' signed links: a new Maildir is 0700 and its messages
    0600 whatever the umask; a Maildir the operator shares with a group (0750) gets 0640."""
    old = os.umask(0o022)
    try:
        transport = MaildirTransport(tmp_path / "var" / "mail")
        raw = message_of(Renderer().render(view()), message_id="<m@x>", unsubscribe_url="https://u")
        transport.send([outgoing(1, raw, "d@example.org", "a@example.org")])
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "var" / "mail").iterdir()
        }
        assert modes == {"tmp": 0o700, "new": 0o700, "cur": 0o700}
        assert stat.S_IMODE((tmp_path / "var" / "mail").stat().st_mode) == 0o700
        [message] = (tmp_path / "var" / "mail" / "new").iterdir()
        assert stat.S_IMODE(message.stat().st_mode) == 0o600
        shared = tmp_path / "shared"
        for folder in ("tmp", "new", "cur"):
            (shared / folder).mkdir(parents=True)
            (shared / folder).chmod(0o750)
        MaildirTransport(shared).send([outgoing(2, raw, "d@example.org", "a@example.org")])
        [message] = (shared / "new").iterdir()
        assert stat.S_IMODE(message.stat().st_mode) == 0o640
        assert stat.S_IMODE((shared / "new").stat().st_mode) == 0o750  # left as it was
    finally:
        os.umask(old)


def test_maildir_in_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(TransportError, match="cannot open Maildir"):
        MaildirTransport(blocker / "mail")


def test_nothing_new_note_when_a_digest_has_no_papers() -> None:
    """Worded for every frequency: a weekly reader's next look is not tomorrow, nor is a
    weekdays reader's on a Friday."""
    rendered = Renderer().render(view([]))
    assert rendered.subject == "Papers digest 22 Nov 2026: nothing new on kv cache, quantization"
    note = "Nothing new matched your topics (kv cache, quantization) since your last digest."
    assert note in rendered.text and note in rendered.html
    assert "tomorrow" not in rendered.text and "today" not in rendered.text
    assert "Unsubscribe" in rendered.text


def test_a_day_of_one_digit_is_written_without_a_zero() -> None:
    rendered = Renderer().render(dataclasses.replace(view(), edition=date(2026, 12, 7)))
    assert rendered.subject.startswith("Papers digest 7 Dec 2026: ")
    assert rendered.text.startswith("Your papers digest for Monday 7 December 2026\n")


def test_non_ascii_subject_and_sender_name_are_encoded_and_read_back() -> None:
    raw = build_message(
        sender="Dïgest Bot <digest@example.org>",
        to="a@example.org",
        subject="Papers digest: 3 new papers on métriques, …",
        text="héllo " * 40,
        html="<p>héllo</p>",
        message_id="<m2@example.org>",
        date=datetime(2026, 11, 22, tzinfo=UTC),
    )
    assert raw.isascii() and b"\r\n" in raw
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Papers digest: 3 new papers on métriques, …"
    assert parsed["From"] == "Dïgest Bot <digest@example.org>"
    assert parsed.get_body(("plain",)).get_content() == "héllo " * 40  # type: ignore[union-attr]


def two_parts(text: str, html: str) -> bytes:
    """A message with these two parts and plain headers."""
    return build_message(
        sender="d@example.org",
        to="a@example.org",
        subject="s",
        text=text,
        html=html,
        message_id="<m4@example.org>",
        date=datetime(2026, 11, 22, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("text", "html", "text_cte", "html_cte"),
    [
        ("plain ascii", "<p>plain ascii</p>", "7bit", "7bit"),
        ("π-Flow", "<p>π-Flow</p>", "quoted-printable", "7bit"),  # &#960; in the HTML
        ("x" * 999, "<p>" + "x" * 999 + "</p>", "quoted-printable", "quoted-printable"),
        ("x" * 998, "<p>" + "x" * 991 + "</p>", "7bit", "7bit"),  # the longest 7bit lines
        ("a\n" * 600 + "x" * 999, "<p>ok</p>", "quoted-printable", "7bit"),  # a long last line
        ("y" * 900 + "\n" + "x" * 998 + "\nz", "<p>ok</p>", "7bit", "7bit"),
        ("a lone\rcarriage return", "<p>ok</p>", "quoted-printable", "7bit"),
    ],
)
def test_each_part_is_sent_as_is_when_7bit_allows_it_and_reads_back_the_same(
    text: str, html: str, text_cte: str, html_cte: str
) -> None:
    raw = two_parts(text, html)
    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = message_from_bytes(raw, policy=policy.default)
    plain, rich = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain["Content-Transfer-Encoding"] == text_cte
    assert rich["Content-Transfer-Encoding"] == html_cte
    assert plain.get_content().replace("\r\n", "\n") == text
    assert unescape(rich.get_content()) == html


@pytest.mark.parametrize(
    "text",
    [
        "π " + "x = 1 " * 120 + "\n. \nline \n" + "y\t" * 300 + "\n\nend",
        "π " + "x" * 600 + "\r\nCRLF given\n" + "z" * 600 + "\rlone CR\n",
    ],
)
def test_a_text_in_pieces_is_encoded_as_the_whole_text(text: str) -> None:
    """However the text is cut into pieces (long ones kept, cut mid-line or at line ends),
    and whether or not it holds CRs, its part is the whole text's, byte for byte."""
    from digest.mail.mime import _part

    whole = _part(text, html=False)
    for size in (1, 7, 513, 700, len(text)):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        assert _part(text, html=False, pieces=pieces) == whole
    assert whole[0] == b"quoted-printable"


@pytest.mark.parametrize("text", ["one\r\ntwo\n", "π one\r\ntwo\n"])
def test_crlf_line_ends_given_to_a_part_stay_single(text: str) -> None:
    raw = two_parts(text, "<p>π</p>\r\n<p>two</p>")
    assert b"\r\r" not in raw
    parsed = message_from_bytes(raw, policy=policy.default)
    plain, rich = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content().replace("\r\n", "\n") == text.replace("\r\n", "\n")
    assert unescape(rich.get_content()).replace("\r\n", "\n") == "<p>π</p>\n<p>two</p>"


def test_maildir_in_an_existing_empty_directory_works(tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()
    transport = MaildirTransport(tmp_path / "mail")
    raw = build_message(
        sender="d@example.org",
        to="a@example.org",
        subject="s",
        text="t",
        html="<p>h</p>",
        message_id="<m3@example.org>",
        date=datetime(2026, 11, 22, tzinfo=UTC),
    )
    [outcome] = transport.send([outgoing(1, raw, "d@example.org", "a@example.org")])
    assert outcome.sent and transport.count() == 1


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


# long enough to be encoded once and kept, with what quoted-printable must escape
LONG_ABSTRACT = (
    "Ünïcode π-flows = 3 … with trailing spaces   \n. \n"
    + "A sentence that goes on about kv caches and their discontents. " * 12
    + "\t tab = equals."
)


def message_of(rendered: RenderedDigest, **extra: Any) -> bytes:
    """The email of a rendered digest, its text part encoded from its pieces if it has them."""
    fields: dict[str, Any] = {
        "sender": "d@example.org",
        "to": "a@example.org",
        "message_id": "<m@example.org>",
        "date": datetime(2026, 11, 22, tzinfo=UTC),
        **extra,
    }
    return build_message(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        text_pieces=rendered.text_pieces,
        **fields,
    )


def test_quoted_printable_of_plain_lines_is_what_the_standard_encoder_gives() -> None:
    """The readers' lines of a digest are encoded without binascii when they only need "="
    escaped and long lines broken: byte for byte what b2a_qp gives, for 20,000 seeded
    random texts of the characters that matter (a lone ".", "=", spaces, long lines)."""
    import binascii
    import random

    from digest.mail.mime import CRLF, _plain_qp, _qp_lines

    rng = random.Random(20261206)
    alphabet = "ab =.\n-xyz09"
    taken = 0
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        if rng.random() < 0.5:
            text = text.replace(" ", "a")
        if rng.random() < 0.5:
            text = text.replace("=", "b")
        standard = binascii.b2a_qp(text.encode(), quotetabs=False, istext=True, header=False)
        assert _qp_lines(text) == standard.replace(b"\n", CRLF), text
        taken += _plain_qp(text) is not None
    assert taken > 10_000  # the plain path was tried, not only the fallback
    for length in range(60, 240):  # every break position of a long line
        line = "x" * length
        expected = binascii.b2a_qp(line.encode(), istext=True).replace(b"\n", CRLF)
        assert _plain_qp(line) == expected


def test_html_text_is_escaped_ascii_html_whatever_the_value() -> None:
    """Values that need no escaping skip it; the html is the same either way."""
    import random

    from markupsafe import escape

    from digest.skeleton import ascii_html, html_text

    rng = random.Random(7)
    alphabet = "ab &<>\"'π…=/:.-"
    for _ in range(5_000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert html_text(value) == ascii_html(escape(value))
    link = "https://d.example/vote/v3.abc_-x.y/more"
    assert html_text(link) is link  # as it is: nothing to escape
