"""The Hugging Face Daily Papers JSON API parser (its page parser: test_sources_hf_page)."""

from __future__ import annotations

import datetime as dt
import html
import json

import pytest
from conftest import SHARED_PAPER
from conftest import load_source as load

from digest.errors import ParseError, ValidationError
from digest.ingest.identity import record_key
from digest.sources.base import Listing, PaperRecord, find_arxiv_id
from digest.sources.detect import detect_kind
from digest.sources.hf import (
    hf_api_url,
    hf_is_last_page,
    hf_item_to_record,
    hf_items_to_listing,
    parse_hf_api,
    parse_hf_page,
)

API = "https://huggingface.co/api/daily_papers"


def item(paper_id: str = "2605.01234", **paper: object) -> dict[str, object]:
    return {"paper": {"id": paper_id, "title": "A Title", **paper}}


@pytest.fixture(scope="module")
def api_listing() -> Listing:
    return parse_hf_api(load("hf_api_daily.json"), "hf-api:2026-05-08")


def test_api_first_item_fills_every_field(api_listing: Listing) -> None:
    assert api_listing.records[0] == PaperRecord(
        **SHARED_PAPER,
        organization="Open Lab Research",
        published=dt.date(2026, 5, 7),
        listing_date=dt.date(2026, 5, 8),
        upvotes=87,
        comments=4,
        url="https://huggingface.co/papers/2605.05242",
        thumbnail="https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2605.05242.png",
        github_repo="https://github.com/open-lab/capacity-moe",
        project_page="https://open-lab.github.io/capacity-moe/",
        categories=[],
        ai_summary="Learned per-layer capacity budgets reduce dropped tokens in sparse MoE models.",
        announce_type=None,
        position=0,
    )


def test_api_listing_level_values(api_listing: Listing) -> None:
    assert api_listing.source == "hf-api:2026-05-08"
    assert [r.arxiv_id for r in api_listing.records] == [
        "2605.05242",
        "2605.04871",
        "2605.05013",
        "2605.04110",
        "2605.03377",
    ]
    assert [r.position for r in api_listing.records] == [0, 1, 2, 3, 4]
    assert [r.upvotes for r in api_listing.records] == [87, 41, 23, 9, 3]
    assert [r.comments for r in api_listing.records] == [4, 0, 2, 1, 0]
    assert api_listing.listing_date == dt.date(2026, 5, 8)
    assert api_listing.bad_records == 0
    assert api_listing.problems == []
    assert record_key(api_listing.records[0]) == "arxiv:2605.05242"


def test_api_hidden_author_is_skipped_and_not_counted(api_listing: Listing) -> None:
    first = api_listing.records[0]
    assert "Tomas Herrera" not in first.authors
    assert first.author_count == 3
    assert api_listing.records[3].author_count == 5


def test_api_summary_whitespace_is_collapsed(api_listing: Listing) -> None:
    assert "\n" not in api_listing.records[0].abstract
    assert "  " not in api_listing.records[0].abstract
    assert api_listing.records[3].abstract == (
        "We locate the attention heads that copy from far context and show that "
        "fine-tuning only them recovers 95% of full long-context training."
    )


def test_api_latex_and_symbols_are_kept(api_listing: Listing) -> None:
    second = api_listing.records[1]
    assert second.title == "$π$-Flow: Policy Distillation for Few-Step Flow Matching"
    assert second.abstract.endswith(
        'so that quality stays high when steps < 8 & the "teacher" is frozen.'
    )
    assert "$\\pi$" in second.abstract


def test_api_organization_uses_fullname_then_name(api_listing: Listing) -> None:
    assert [r.organization for r in api_listing.records] == [
        "Open Lab Research",
        None,
        "uw-nlp",
        None,
        None,
    ]


def test_api_optional_links(api_listing: Listing) -> None:
    links = [(r.github_repo, r.project_page) for r in api_listing.records]
    assert links == [
        ("https://github.com/open-lab/capacity-moe", "https://open-lab.github.io/capacity-moe/"),
        (None, None),  # githubRepo is null
        (None, "https://proofgrade.github.io"),
        ("https://github.com/wzhang/retrieval-heads", None),
        (None, None),
    ]


def test_api_published_is_paper_date(api_listing: Listing) -> None:
    assert [r.published for r in api_listing.records] == [
        dt.date(2026, 5, 7),
        dt.date(2026, 5, 7),
        dt.date(2026, 5, 7),
        dt.date(2026, 5, 6),
        dt.date(2026, 5, 5),
    ]


def test_partial_page_keeps_good_items_and_counts_bad_ones() -> None:
    listing = parse_hf_api(load("hf_api_partial.json"), "partial")
    assert [(r.arxiv_id, r.position) for r in listing.records] == [
        ("2605.05242", 0),
        ("2605.04871", 5),
    ]
    assert listing.bad_records == 4
    assert listing.problems == [
        "item 1: 'paper.id' missing",
        "item 2: expected an object, got a JSON string",
        "item 3: paper 2605.09999: title missing",
        "item 4: 'paper' object missing",
    ]


def test_wrongly_typed_optional_fields_become_none() -> None:
    last = parse_hf_api(load("hf_api_partial.json"), "partial").records[1]
    assert last.upvotes is None  # "41" is a string
    assert last.comments is None  # true is a boolean
    assert last.published is None  # "not a date"
    assert last.listing_date == dt.date(2026, 5, 8)
    assert last.authors == []
    assert last.author_count is None  # authors was not a list
    assert last.organization is None  # blank name
    assert last.thumbnail is None


@pytest.mark.parametrize("junk", [10**30, -1, 2**31])
def test_a_count_no_listing_shows_becomes_none(junk: int) -> None:
    """Upvotes or comments below zero or beyond any count (10**30 would not fit the
    database's integer and lose the whole listing at storing): unknown, the paper kept."""
    record = hf_item_to_record({**item(upvotes=junk), "numComments": junk}, 0)
    assert (record.upvotes, record.comments) == (None, None)
    assert hf_item_to_record(item(upvotes=2**31 - 1), 0).upvotes == 2**31 - 1


def test_empty_array_is_an_empty_listing() -> None:
    listing = parse_hf_api(b"[]", "empty")
    assert listing.records == []
    assert listing.bad_records == 0
    assert listing.listing_date is None


def test_array_of_only_bad_items_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match=r"none of the 2 items .*item 0: 'paper' object missing"):
        parse_hf_api(b'[{"title": "x"}, 3]', "bad")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (load("hf_api_malformed.json"), r"is not valid JSON \(Expecting value: line 30"),
        (load("hf_api_not_list.json"), "answered with an error: Invalid date format"),
        (b'{"papers": []}', "expected a JSON array of papers, got a JSON object"),
        (b'"hello"', "got a JSON string"),
        (load("hf_page_daily.html"), "is HTML or XML, not JSON"),
        (b"   ", "is empty"),
        (b"\xff\xfe[]", "not UTF-8 text"),
    ],
)
def test_api_bad_bodies_are_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        parse_hf_api(body, "src")
    assert str(info.value).startswith("src: ")
    assert "\n" not in str(info.value)


def test_api_accepts_text_and_a_byte_order_mark() -> None:
    body = json.dumps([item("2605.00002", upvotes=5)])
    assert parse_hf_api(body, "s").records[0].upvotes == 5
    assert parse_hf_api(b"\xef\xbb\xbf" + body.encode(), "s").records[0].arxiv_id == "2605.00002"


def test_item_ids_versions_and_non_arxiv_ids() -> None:
    versioned = hf_item_to_record(item("2605.05242v2"), 7)
    assert versioned.arxiv_id == "2605.05242"
    assert versioned.position == 7
    other = hf_item_to_record(item("not-an-arxiv-id"), 0)
    assert other.arxiv_id is None
    assert other.url == "https://huggingface.co/papers/not-an-arxiv-id"
    assert record_key(other).startswith("title:")


def test_item_title_falls_back_to_item_level() -> None:
    record = hf_item_to_record(
        {"paper": {"id": "2605.00003"}, "title": "Item Title", "summary": "Item summary."}, 0
    )
    assert (record.title, record.abstract) == ("Item Title", "Item summary.")


def test_a_bare_paper_without_the_item_wrapper_is_read_as_its_own_paper() -> None:
    body = json.dumps(
        [
            {
                "id": "2509.04664",
                "title": "Why Language Models Hallucinate",
                "summary": "Like students\nfacing hard exam questions.",
                "authors": [{"name": "Adam Tauman Kalai", "hidden": False}],
                "publishedAt": "2025-09-04T21:26:31.000Z",
                "submittedOnDailyAt": "2025-09-08T02:44:20.973Z",
                "upvotes": 180,
            },
            {"title": "no id, no paper"},
        ]
    )
    listing = parse_hf_api(body, "bare")
    [record] = listing.records
    assert (record.arxiv_id, record.title, record.upvotes) == (
        "2509.04664",
        "Why Language Models Hallucinate",
        180,
    )
    assert record.abstract == "Like students facing hard exam questions."
    assert (record.authors, record.listing_date) == (["Adam Tauman Kalai"], dt.date(2025, 9, 8))
    assert listing.problems == ["item 1: 'paper' object missing"]


def test_items_to_listing_caps_problem_list() -> None:
    listing = hf_items_to_listing([item("2605.00004"), *([{}] * 25)], "many")
    assert listing.bad_records == 25
    assert len(listing.problems) == 21
    assert listing.problems[-1] == "... and 5 more bad items"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, f"{API}?p=0&limit=50"),
        ({"date": "2026-05-08"}, f"{API}?date=2026-05-08&p=0&limit=50"),
        ({"date": dt.date(2026, 5, 8), "page": 2}, f"{API}?date=2026-05-08&p=2&limit=50"),
        ({"week": "2026-W19", "limit": 100}, f"{API}?week=2026-W19&p=0&limit=100"),
        ({"month": "2026-05"}, f"{API}?month=2026-05&p=0&limit=50"),
    ],
)
def test_api_url(kwargs: dict[str, object], expected: str) -> None:
    assert hf_api_url(API, **kwargs) == expected  # type: ignore[arg-type]


def test_api_url_keeps_other_query_parameters() -> None:
    url = hf_api_url(f"{API}?sort=trending&p=9", date="2026-05-08", page=1, limit=20)
    assert url == f"{API}?sort=trending&date=2026-05-08&p=1&limit=20"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"date": "2026-05-08", "week": "2026-W19"}, "only one of date, week and month"),
        ({"date": "08/05/2026"}, "write it like 2026-05-08"),
        ({"date": "2026-02-30"}, "date '2026-02-30' is not valid"),
        ({"week": "2026-19"}, "write it like 2026-W19"),
        ({"week": "2026-W54"}, "write it like 2026-W19"),
        ({"month": "2026-13"}, "write it like 2026-05"),
        ({"page": -1}, "page must be 0 or more"),
        ({"limit": 0}, "limit must be 1 or more"),
    ],
)
def test_api_url_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        hf_api_url(API, **kwargs)  # type: ignore[arg-type]


def test_last_page_is_a_short_page(api_listing: Listing) -> None:
    assert hf_is_last_page(api_listing, 50) is True
    assert hf_is_last_page(api_listing, 5) is False
    partial = parse_hf_api(load("hf_api_partial.json"), "partial")
    assert hf_is_last_page(partial, 6) is False  # bad items still fill the page
    assert hf_is_last_page(partial, 7) is True
    assert hf_is_last_page(Listing(source="x", records=[]), 50) is True


def test_older_items_take_their_listing_date_and_thumbnail_from_older_fields() -> None:
    """Before 2025 an item has no submittedOnDailyAt and names its image mediaUrl."""
    item = {
        "paper": {"id": "2312.00001", "title": "An older paper", "summary": "Text."},
        "publishedAt": "2023-12-04T10:00:00.000Z",
        "mediaUrl": "https://cdn.example/old.png",
    }
    [record] = parse_hf_api(json.dumps([item]), "hf").records
    assert record.listing_date == dt.date(2023, 12, 4)
    assert record.thumbnail == "https://cdn.example/old.png"


def test_a_daily_page_dates_its_papers_with_the_page_date() -> None:
    """Items of a day's page without a date of their own get the page's date."""
    item = {"paper": {"id": "2312.00001", "title": "Undated", "summary": "Text."}}
    props = json.dumps({"dailyPapers": [item], "date": "2026-05-08", "paperPeriod": "daily"})
    page = f"<div data-target=\"DailyPapers\" data-props='{props}'></div>"
    listing = parse_hf_page(page, "hf-page")
    assert listing.records[0].listing_date == dt.date(2026, 5, 8)
    assert listing.listing_date == dt.date(2026, 5, 8)


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,  # RecursionError in json.loads
        '[{"paper": {"id": "2605.01234", "title": "T", "upvotes": ' + "9" * 5_000 + "}}]",
    ],
)
def test_json_no_listing_would_send_is_a_parse_error(body: str) -> None:
    """Nesting a hundred thousand deep, or a number of 5,000 digits (Python refuses to convert
    it): a ParseError naming the source, not a RecursionError or ValueError that stopped the
    whole fetch run."""
    with pytest.raises(ParseError, match="^evil: .*JSON no listing would send"):
        parse_hf_api(body, "evil")
    props = html.escape('{"dailyPapers": ' + body + "}")
    page = f'<div data-target="DailyPapers" data-props="{props}">'
    with pytest.raises(ParseError, match="JSON no listing would send"):
        parse_hf_page(page, "evil")
    with pytest.raises(ParseError):
        detect_kind(body.encode())


def test_an_id_no_arxiv_paper_has_costs_nothing_and_a_bad_field_costs_its_item_alone() -> None:
    """An "old-style" id with a 40-letter archive was taken for an arXiv id, over the stored
    length: the whole listing failed (on every database)."""
    from digest.sources.base import paper_record

    junk = "a" * 40 + "/1234567"
    listing = hf_items_to_listing([item(junk, title="Long id"), item("2605.00009")], "hf")
    assert [r.arxiv_id for r in listing.records] == [None, "2605.00009"]
    assert find_arxiv_id("https://arxiv.org/abs/cond-mat/0601001v2") == "cond-mat/0601001"
    assert find_arxiv_id("oai:arXiv.org:math.AG/0101001v1") == "math.AG/0101001"
    with pytest.raises(ParseError, match="unusable arxiv_id"):
        paper_record(title="T", arxiv_id="x" * 40)
