"""Tests for the arXiv feed parser (RSS 2.0, Atom listing feeds and the query API's Atom)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import SHARED_PAPER
from conftest import load_source as load

from digest.errors import ParseError
from digest.ingest.identity import is_replacement, record_key
from digest.sources.arxiv import (
    latex_accents,
    parse_arxiv_feed,
    split_authors,
)
from digest.sources.base import Listing, PaperRecord
from digest.sources.hf import parse_hf_api

MAY_8 = dt.date(2026, 5, 8)


def rss(items: str, channel_title: str = "cs.LG updates on arXiv.org") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{channel_title}</title><link>http://rss.arxiv.org/rss/cs.LG</link>"
        f"<description>d</description>{items}</channel></rss>"
    )


@pytest.fixture(scope="module")
def rss_listing() -> Listing:
    return parse_arxiv_feed(load("arxiv_rss_cs_lg.xml"), "arxiv-rss:cs.LG")


def test_rss_first_item_fills_every_field(rss_listing: Listing) -> None:
    assert rss_listing.records[0] == PaperRecord(
        **SHARED_PAPER,
        published=MAY_8,
        listing_date=MAY_8,
        url="https://arxiv.org/abs/2605.05242",
        categories=["cs.LG", "cs.AI", "cs.CL"],
        announce_type="new",
        position=0,
    )


def test_rss_listing_values(rss_listing: Listing) -> None:
    assert rss_listing.source == "arxiv-rss:cs.LG"
    assert rss_listing.listing_date == MAY_8
    assert rss_listing.bad_records == 0
    assert rss_listing.problems == []
    assert [(r.arxiv_id, r.announce_type) for r in rss_listing.records] == [
        ("2605.05242", "new"),
        ("2605.05107", "new"),
        ("2605.04871", "cross"),
        ("2501.01234", "replace"),
        ("math/0601001", "replace-cross"),
    ]
    assert [r.position for r in rss_listing.records] == [0, 1, 2, 3, 4]


def test_rss_replacements_are_kept_but_marked(rss_listing: Listing) -> None:
    assert [is_replacement(r) for r in rss_listing.records] == [False, False, False, True, True]
    old = rss_listing.records[4]
    assert old.url == "https://arxiv.org/abs/math/0601001"
    assert record_key(old) == "arxiv:math/0601001"
    assert old.categories == ["math.PR", "cs.LG"]


def test_rss_authors_with_and_and_latex_accents(rss_listing: Listing) -> None:
    assert rss_listing.records[1].authors == ["Ingrid Solberg", "Kwame Mensah", "Yuki Tanaka"]
    assert rss_listing.records[1].author_count == 3
    assert rss_listing.records[2].authors == ["Jun-ho Park", "Ana Lucía Ferreira"]


def test_rss_abstract_keeps_latex_and_unescapes_xml(rss_listing: Listing) -> None:
    second = rss_listing.records[1]
    assert second.title == (
        "Regret Bounds for $\\epsilon$-Greedy Exploration in Linear MDPs with "
        "$O(\\sqrt{T})$ Switching"
    )
    assert second.abstract == (
        "We prove that $\\epsilon$-greedy exploration attains $\\tilde{O}(d\\sqrt{H^3 T})$ "
        "regret in linear MDPs when the policy switches at most $O(\\sqrt{T})$ times, and "
        "that the bound is tight when $d < H$ & rewards are bounded. Experiments on "
        "\\texttt{DeepSea} confirm the rate."
    )
    assert not second.abstract.startswith("arXiv:")


def test_atom_listing_feed() -> None:
    listing = parse_arxiv_feed(load("arxiv_atom_cs_lg.xml"), "arxiv-atom:cs.LG")
    assert [(r.arxiv_id, r.announce_type) for r in listing.records] == [
        ("2605.05242", "new"),
        ("2605.05188", "new"),
        ("2410.00042", "replace"),
    ]
    assert [is_replacement(r) for r in listing.records] == [False, False, True]
    second = listing.records[1]
    assert second.authors == ["Fatima Zahra Benali", "Lukas Müller"]
    assert second.abstract.endswith("coverage $1-\\alpha$ that holds for $p < 0.05$ shifts.")
    assert second.categories == ["cs.LG", "stat.ML"]
    assert (second.published, second.listing_date) == (MAY_8, MAY_8)
    assert listing.listing_date == MAY_8


def test_api_query_answer() -> None:
    listing = parse_arxiv_feed(load("arxiv_api_query.xml"), "arxiv-api")
    first, second, third = listing.records
    assert first.title == "Capacity-Aware Routing for Sparse Mixture-of-Experts"
    assert first.abstract.startswith("Sparse mixture-of-experts (MoE) models route each token")
    assert "\n" not in first.abstract
    assert first.authors == ["Maya Okonkwo", "Tomás Herrera", "Lina Vogt"]
    assert first.announce_type is None
    assert second.arxiv_id == "2605.05001"  # id was http://arxiv.org/abs/2605.05001v2
    assert second.url == "https://arxiv.org/abs/2605.05001"
    assert second.categories == ["stat.ML", "cs.LG"]  # primary category first
    assert (second.published, second.listing_date) == (dt.date(2026, 5, 6), dt.date(2026, 5, 7))
    assert second.abstract.endswith("matches AdamW at $\\frac{1}{2}$ the memory.")
    assert third.arxiv_id == "hep-th/9901001"
    assert third.categories == ["hep-th", "cs.LG"]
    assert listing.listing_date == dt.date(2026, 5, 7)
    assert listing.bad_records == 0


def test_same_paper_in_hf_and_arxiv_has_the_same_key(rss_listing: Listing) -> None:
    hf = parse_hf_api(load("hf_api_daily.json"), "hf")
    hf_keys = {record_key(r) for r in hf.records}
    shared = [record_key(r) for r in rss_listing.records if record_key(r) in hf_keys]
    assert shared == ["arxiv:2605.05242", "arxiv:2605.04871"]


def test_empty_feed_is_an_empty_listing_not_an_error() -> None:
    listing = parse_arxiv_feed(load("arxiv_rss_empty.xml"), "weekend")
    assert listing.records == []
    assert listing.bad_records == 0
    assert listing.problems == []
    assert listing.listing_date == dt.date(2026, 5, 9)


def test_invalid_xml_without_entries_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match=r"not well-formed XML \(line 5, column 24") as info:
        parse_arxiv_feed(load("arxiv_rss_malformed.xml"), "broken.xml")
    assert str(info.value).startswith("broken.xml: ")
    assert "\n" not in str(info.value)


def test_truncated_feed_keeps_the_entries_it_could_read() -> None:
    listing = parse_arxiv_feed(load("arxiv_rss_truncated.xml"), "truncated")
    assert [r.arxiv_id for r in listing.records] == ["2605.05242"]
    assert listing.bad_records == 1
    assert listing.problems[0].startswith("feed is not well-formed XML (line 32")
    assert listing.problems[1] == "entry 1: no arXiv id in the guid/id, link or description"


def test_bad_entries_are_counted_and_good_ones_kept() -> None:
    listing = parse_arxiv_feed(load("arxiv_rss_partial.xml"), "partial")
    assert [(r.arxiv_id, r.position) for r in listing.records] == [("2605.05242", 1)]
    assert listing.bad_records == 2
    assert listing.problems == [
        "entry 0: no arXiv id in the guid/id, link or description",
        "entry 2: 2605.05300: title missing",
    ]


@pytest.mark.parametrize("name", ["hf_page_daily.html", "hf_api_daily.json"])
def test_documents_that_are_not_feeds_are_parse_errors(name: str) -> None:
    with pytest.raises(ParseError, match="not an RSS or Atom feed") as info:
        parse_arxiv_feed(load(name), name)
    assert "\n" not in str(info.value)


def test_text_bodies_are_never_fetched_or_opened(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="not an RSS or Atom feed"):
        parse_arxiv_feed("https://rss.arxiv.org/rss/cs.LG", "url-like")
    path = tmp_path / "feed.xml"
    path.write_bytes(load("arxiv_rss_cs_lg.xml"))
    with pytest.raises(ParseError, match="not an RSS or Atom feed"):
        parse_arxiv_feed(str(path), "path-like")


def test_text_and_bytes_give_the_same_listing(rss_listing: Listing) -> None:
    text = load("arxiv_rss_cs_lg.xml").decode("utf-8")
    assert parse_arxiv_feed(text, "arxiv-rss:cs.LG") == rss_listing


def test_api_error_answer_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="arXiv API answered with an error: incorrect id format"):
        parse_arxiv_feed(load("arxiv_api_error.xml"), "api")


def test_feed_error_for_bad_category_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="check the category names"):
        parse_arxiv_feed(rss("", channel_title="Feed error for query: cs.XX"), "bad-cat")


def test_old_rss_style_title_suffix_html_and_announce_type_from_description() -> None:
    item = (
        "<item><title>Old Style Title. (arXiv:0801.01234v2 [cs.LG] UPDATED)</title>"
        "<link>http://arxiv.org/abs/0801.01234</link>"
        "<description>&lt;p&gt;arXiv:0801.01234v2 Announce Type: Replace\nAbstract: "
        "Uses $a &amp;lt; b$ here.&lt;/p&gt;</description>"
        '<dc:creator>&lt;a href="http://arxiv.org/a/doe_j_1"&gt;J. Doe&lt;/a&gt;, '
        '&lt;a href="http://arxiv.org/a/roe_r_1"&gt;R. Ro\\"e&lt;/a&gt;</dc:creator></item>'
    )
    record = parse_arxiv_feed(rss(item), "old").records[0]
    assert record.title == "Old Style Title."
    assert record.arxiv_id == "0801.01234"
    assert record.abstract == "Uses $a < b$ here."
    assert record.authors == ["J. Doe", "R. Roë"]
    assert record.announce_type == "replace"
    assert is_replacement(record) is True


def test_inline_html_in_an_abstract_leaves_no_space_inside_words_or_before_punctuation() -> None:
    item = (
        "<item><title>T</title><link>https://arxiv.org/abs/2609.00001</link>"
        "<description>arXiv:2609.00001v1 Announce Type: new\nAbstract: A thing "
        "&lt;em&gt;works&lt;/em&gt;, with O(n&lt;sup&gt;2&lt;/sup&gt;) cost.&lt;br/&gt;Next"
        "&lt;p&gt;paragraph.&lt;/p&gt;</description></item>"
    )
    record = parse_arxiv_feed(rss(item), "inline").records[0]
    assert record.abstract == "A thing works, with O(n2) cost. Next paragraph."


def test_feed_whose_entries_are_all_unusable_is_a_parse_error() -> None:
    items = "<item><title>Blog post</title><link>https://example.org/post</link></item>" * 2
    with pytest.raises(ParseError, match=r"none of the 2 entries is an arXiv paper \(entry 1: no"):
        parse_arxiv_feed(rss(items), "blog")


def test_many_bad_entries_cap_the_problem_list() -> None:
    good = "<item><title>T</title><guid>oai:arXiv.org:2605.01111v1</guid></item>"
    listing = parse_arxiv_feed(rss(good + "<item><title>No id</title></item>" * 25), "many")
    assert listing.bad_records == 25
    assert len(listing.problems) == 21
    assert listing.problems[-1] == "... and 5 more bad entries"


def test_id_from_link_when_guid_is_missing() -> None:
    item = "<item><title>T</title><link>https://arxiv.org/abs/2605.07777</link></item>"
    record = parse_arxiv_feed(rss(item), "s").records[0]
    assert (record.arxiv_id, record.abstract, record.authors) == ("2605.07777", "", [])
    assert record.author_count is None
    assert record.announce_type is None


@pytest.mark.parametrize(
    ("announce_type", "expected"),
    [
        ("replace", True),
        ("replace-cross", True),
        ("Replace-Cross ", True),
        ("new", False),
        ("cross", False),
        (None, False),
    ],
)
def test_is_replacement(announce_type: str | None, expected: bool) -> None:
    assert is_replacement(PaperRecord(title="t", announce_type=announce_type)) is expected


def test_split_authors() -> None:
    assert split_authors("A. Smith (MIT, CSAIL), B. Jones and C. Lee; D. Roe, and E. Poe") == [
        "A. Smith (MIT, CSAIL)",
        "B. Jones",
        "C. Lee",
        "D. Roe",
        "E. Poe",
    ]
    assert split_authors("Solo Author et al.") == ["Solo Author et al."]
    assert split_authors("X. Y., et al.") == ["X. Y."]
    assert split_authors("Alexander Sanders, Andrea Anders") == [
        "Alexander Sanders",
        "Andrea Anders",
    ]


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        ("Tom\\'as", "Tomás"),
        ("Nikola Pi\\v{z}urica", "Nikola Pižurica"),
        ("Milovi\\'{c}", "Milović"),
        ("Ren{\\'e}", "René"),
        ("Paul Erd\\H{o}s", "Paul Erdős"),
        ("Fran\\c{c}ois", "François"),
        ("{\\O}ystein", "Øystein"),
        ("Stra\\ss e", "Straß e"),
        ("Mart\\'{\\i}n", "Martín"),
        ("$\\ell_\\infty$ and $a \\le b \\ll c$", "$\\ell_\\infty$ and $a \\le b \\ll c$"),
        ('\\emph{Schr\\"odinger}', "\\emph{Schrödinger}"),
    ],
)
def test_latex_accents(latex: str, text: str) -> None:
    assert latex_accents(latex) == text


@pytest.mark.parametrize("reference", [b"&#xD800;", b"&#55296;", b"&#x110000;"])
def test_a_reference_to_no_character_in_a_broken_feed_is_read_around(reference: bytes) -> None:
    """A character reference to a surrogate or past U+10FFFF, in a feed that is not
    well-formed (feedparser's loose parser then reads it), raised UnicodeEncodeError inside
    feedparser; the feed is read with U+FFFD in its place."""
    body = load("arxiv_rss_cs_lg.xml").replace(b"<title>", b"<title>" + reference, 1)
    body = body.replace(b"</channel>", b"<broken></channel>")  # not well-formed
    listing = parse_arxiv_feed(body, "broken")
    assert listing.records  # what could be read is kept


def test_an_encoding_declaration_that_is_not_text_is_a_parse_error() -> None:
    """A byte that is not UTF-8 in the XML declaration's encoding made feedparser raise
    UnicodeDecodeError; it is a ParseError that names the source."""
    body = load("arxiv_rss_cs_lg.xml").replace(b"encoding='UTF-8'", b"encoding='\x90TF-8'", 1)
    with pytest.raises(ParseError, match="^damaged: not a feed that can be read"):
        parse_arxiv_feed(body, "damaged")


def test_direction_overrides_in_a_feed_are_dropped() -> None:
    """XML forbids most controls but lets a feed carry U+202E or U+2066 by reference."""
    item = (
        "<item><title>Safe &#x202E;title</title><link>https://arxiv.org/abs/2609.00002</link>"
        "<description>arXiv:2609.00002v1 Announce Type: new\nAbstract: An &#x202E;abstract."
        "</description><dc:creator>Ann&#x2066; Lee</dc:creator>"
        "<category>cs.LG&#x202E;</category></item>"
    )
    record = parse_arxiv_feed(rss(item), "controls").records[0]
    assert (record.title, record.abstract) == ("Safe title", "An abstract.")
    assert (record.authors, record.categories) == (["Ann Lee"], ["cs.LG"])
