"""The Hugging Face Daily Papers page parser: the listing in the page's data-props attribute,
the same records as the JSON API, and a page without it a clear ParseError."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import load_source as load

from digest.errors import ParseError
from digest.sources.hf import parse_hf_api, parse_hf_page


def test_page_gives_the_same_records_as_the_api() -> None:
    api_listing = parse_hf_api(load("hf_api_daily.json"), "hf-api:2026-05-08")
    page = parse_hf_page(load("hf_page_daily.html"), "hf-page:2026-05-08")
    assert page.records == api_listing.records
    assert page.source == "hf-page:2026-05-08"
    assert page.listing_date == dt.date(2026, 5, 8)
    assert page.bad_records == 0


def test_page_unescapes_attribute_json() -> None:
    raw = load("hf_page_daily.html").decode("utf-8")
    assert "steps &lt; 8 &amp; the\\n\\&quot;teacher\\&quot; is frozen" in raw
    assert "Grace O&#x27;Neil" in raw
    page = parse_hf_page(raw, "page")
    assert page.records[2].authors == ["Zoé Martin", "Rahul Iyer", "Grace O'Neil"]
    assert page.records[1].abstract.endswith('steps < 8 & the "teacher" is frozen.')


def test_page_ignores_the_marker_inside_a_script() -> None:
    raw = load("hf_page_daily.html").decode("utf-8")
    assert raw.index('div[data-target="DailyPapers"]') < raw.index('data-target="DailyPapers" ')
    assert len(parse_hf_page(raw, "page").records) == 5


def test_page_with_single_quoted_props() -> None:
    paper = {"paper": {"id": "2605.00001", "title": "A Title"}}
    props = json.dumps({"dailyPapers": [paper]}).replace("'", "&#39;")
    html = f"<html><body><div data-target='DailyPapers' data-props='{props}'></div></body></html>"
    listing = parse_hf_page(html, "inline")
    assert [r.arxiv_id for r in listing.records] == ["2605.00001"]
    assert listing.records[0].title == "A Title"


def test_page_without_the_element_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match='no element with data-target="DailyPapers"') as info:
        parse_hf_page(load("hf_page_no_data.html"), "hf_page_no_data.html")
    assert str(info.value).startswith("hf_page_no_data.html: ")
    assert "\n" not in str(info.value)


def test_page_with_broken_props_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="is not valid JSON") as info:
        parse_hf_page(load("hf_page_bad_props.html"), "bad")
    assert "\n" not in str(info.value)


def test_page_element_without_props_or_list_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="has no data-props attribute"):
        parse_hf_page('<div data-target="DailyPapers"></div>', "p")
    with pytest.raises(ParseError, match="has no 'dailyPapers' list"):
        parse_hf_page('<div data-target="DailyPapers" data-props="{&quot;x&quot;:1}"></div>', "p")
    with pytest.raises(ParseError, match="JSON array, not an object"):
        parse_hf_page('<div data-target="DailyPapers" data-props="[]"></div>', "p")
