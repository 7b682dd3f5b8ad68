"""Tests for sniffing the kind of a listing body."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from digest.errors import ParseError
from digest.sources.arxiv import parse_arxiv_feed
from digest.sources.base import Listing
from digest.sources.detect import KINDS, detect_kind
from digest.sources.hf import parse_hf_api, parse_hf_page

FIXTURES = Path(__file__).parent / "fixtures" / "sources"

PARSERS: dict[str, Callable[[bytes, str], Listing]] = {
    "hf-api": parse_hf_api,
    "hf-page": parse_hf_page,
    "arxiv-rss": parse_arxiv_feed,
    "arxiv-atom": parse_arxiv_feed,
}

TEXT_LAYOUT_A = b"""latexit sha1
PoGDiff: Product-of-Gaussians Diffusion Models for Imbalanced Text-to-Image Generation
Diffusion models have made significant advancements in recent years.
"""

TEXT_LAYOUT_C = b"""Daily Papers
new
Get trending papers in your email inbox!
Subscribe
byAK and the research community
Mar 12
A Title

An abstract.

  \xe2\x80\xa2 5 authors
\xc2\xb7
Mar 11
"""


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "kind", "count"),
    [
        ("hf_api_daily.json", "hf-api", 5),
        ("hf_api_partial.json", "hf-api", 2),
        ("hf_page_daily.html", "hf-page", 5),
        ("arxiv_rss_cs_lg.xml", "arxiv-rss", 5),
        ("arxiv_rss_empty.xml", "arxiv-rss", 0),
        ("arxiv_atom_cs_lg.xml", "arxiv-atom", 3),
        ("arxiv_api_query.xml", "arxiv-atom", 3),
    ],
)
def test_fixtures_are_detected_and_parse_with_the_matching_parser(
    name: str, kind: str, count: int
) -> None:
    body = load(name)
    assert detect_kind(body) == kind
    assert len(PARSERS[kind](body, name).records) == count


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("hf_api_malformed.json", "not valid JSON"),
        ("hf_api_not_list.json", "JSON error answer: Invalid date format"),
        ("hf_page_no_data.html", 'HTML page without a data-target="DailyPapers" element'),
    ],
)
def test_unrecognised_json_and_html_are_parse_errors(name: str, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        detect_kind(load(name))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("body", [TEXT_LAYOUT_A, TEXT_LAYOUT_C, b"[Mar 12] A title\nabstract\n"])
def test_text_listings_are_text(body: bytes) -> None:
    assert detect_kind(body) == "text"
    assert detect_kind(body, "text/plain; charset=utf-8") == "text"


def test_seed_like_text_starting_with_a_tag_is_still_text() -> None:
    assert detect_kind(b"<b>Not markup</b> just a title line\nAn abstract.\n") == "text"


def test_byte_order_mark_and_leading_whitespace_are_ignored() -> None:
    assert detect_kind(b"\xef\xbb\xbf\n  []") == "hf-api"
    assert detect_kind(b"\xef\xbb\xbf" + load("arxiv_rss_cs_lg.xml")) == "arxiv-rss"


def test_json_object_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="JSON object, not a Daily Papers array"):
        detect_kind(b'{"dailyPapers": []}')


def test_json_content_type_with_a_non_json_body_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="not valid JSON"):
        detect_kind(b"Service Unavailable", "application/json")


def test_html_content_type_without_markup_is_checked_as_html() -> None:
    with pytest.raises(ParseError, match="HTML page without"):
        detect_kind(b"Too Many Requests", "text/html; charset=utf-8")


def test_xml_content_type_with_a_non_xml_body_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="served as application/rss\\+xml but is not XML"):
        detect_kind(b"Rate exceeded.", "application/rss+xml")


def test_other_xml_is_a_parse_error() -> None:
    body = b'<?xml version="1.0"?>\n<!-- note --><error><code>500</code></error>'
    with pytest.raises(ParseError, match="XML with root element <error>, not an RSS or Atom"):
        detect_kind(body)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "arxiv-rss"),
        (
            b'<?xml version="1.0"?>\n<!-- <feed> in a comment -->\n'
            b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>',
            "arxiv-rss",
        ),
        (b'<atom:feed xmlns:atom="http://www.w3.org/2005/Atom"></atom:feed>', "arxiv-atom"),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"/>', "arxiv-atom"),
        (b"<div data-target='DailyPapers' data-props='{}'></div>", "hf-page"),
        (
            b"<!DOCTYPE html><html><body><div data-target=DailyPapers></div></body></html>",
            "hf-page",
        ),
    ],
)
def test_markup_roots(body: bytes, kind: str) -> None:
    assert detect_kind(body) == kind


@pytest.mark.parametrize(
    ("body", "feed"),
    [
        (
            b"<!DOCTYPE html><html><body><div id='dlpage'><h1>Computation and Language</h1>"
            b"<a href='/list/cs.CL/pastweek?show=25'>past week</a><dl id='articles'>"
            b"<dt><a href='/abs/2412.01234'>arXiv:2412.01234</a></dt></dl></div></body></html>",
            "https://rss.arxiv.org/rss/cs.CL",
        ),
        (b'<html><body><div id="dlpage">search results</div></body></html>', "rss/cs.LG"),
    ],
)
def test_an_arxiv_web_page_names_the_feed_to_use(body: bytes, feed: str) -> None:
    """arxiv.org/list/cs.CL/new is what a person sees and pastes; its feed is what we read."""
    with pytest.raises(ParseError, match="a page of arxiv.org's web site, not a feed") as info:
        detect_kind(body, "text/html")
    assert feed in str(info.value)


def test_empty_body_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="the body is empty"):
        detect_kind(b" \n\t")


def test_kinds_are_the_documented_five() -> None:
    assert KINDS == ("hf-api", "hf-page", "arxiv-rss", "arxiv-atom", "text")
