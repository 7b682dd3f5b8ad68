"""The saved text listings (layouts A, B, C) in seeds/."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest

from digest.errors import ParseError
from digest.ingest.identity import dedupe, normalise_title
from digest.sources.text import parse_text

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
TODAY = date(2026, 11, 22)


def parse_seed(name: str) -> list:  # type: ignore[type-arg]
    path = next(SEEDS.glob(f"{name}_*.txt"))
    return parse_text(path.read_text(encoding="utf-8"), path.name, TODAY).records


def test_every_record_of_every_seed_is_read() -> None:
    records = [
        r
        for path in sorted(SEEDS.glob("*.txt"))
        for r in parse_text(path.read_text(encoding="utf-8"), path.name, TODAY).records
    ]
    assert len(records) == 404
    assert len(dedupe(records)) == 393
    assert len({normalise_title(r.title) for r in records}) == 393


def test_per_file_counts_and_no_bad_records() -> None:
    counts = {}
    for path in sorted(SEEDS.glob("*.txt")):
        listing = parse_text(path.read_text(encoding="utf-8"), path.name, TODAY)
        counts[path.name[:3]] = len(listing.records)
        assert listing.bad_records == 0
    assert counts == {"000": 6, "001": 75, "002": 171, "003": 100, "004": 52}


def test_layout_a_skips_junk_first_line() -> None:
    records = parse_seed("000")
    assert records[0].title.startswith("PoGDiff: Product-of-Gaussians Diffusion Models")
    assert records[0].abstract.startswith("Diffusion models have made significant")
    assert records[1].title == "Neurosymbolic Diffusion Models"
    assert all(r.listing_date is None for r in records)


def test_layout_b_reads_page_date_and_keeps_latex_leftovers() -> None:
    records = parse_seed("001")
    first = records[0]
    assert first.title == "Learning Unnormalized Statistical Models via Compositional Optimization"
    assert "noise-contrastive estimation~(NCE)" in first.abstract
    assert first.listing_date == date(2026, 3, 12)
    assert first.author_count is None and first.upvotes is None


def test_layout_c_reads_authors_dates_and_upvotes() -> None:
    records = parse_seed("002")
    by_title = {r.title: r for r in records}
    hedging = records[0]
    assert hedging.author_count == 3
    assert hedging.published == date(2023, 9, 27)
    assert hedging.upvotes is None
    plan = by_title[
        "Plan and Budget: Effective and Efficient Test-Time Scaling on Large "
        "Language Model Reasoning"
    ]
    # "May 21 2": page year, 2 upvotes
    assert (plan.author_count, plan.published, plan.upvotes) == (7, date(2026, 5, 21), 2)
    assert records[0].listing_date == date(2026, 10, 31)


def test_layout_c_organisation_line_instead_of_authors() -> None:
    records = parse_seed("002") + parse_seed("003")
    orgs = {r.organization for r in records if r.organization}
    assert {"DeepSeek", "NYU VisionX"} <= {o.split(" ", 1)[1] for o in orgs}
    assert all(r.author_count is None for r in records if r.organization)


def test_layout_c_records_without_metadata_block_are_kept() -> None:
    records = parse_seed("002") + parse_seed("003")
    bare = [r for r in records if r.published is None]
    assert bare, "some C records have no metadata block"
    assert all(r.abstract for r in bare)


def test_duplicates_merge_keeping_the_richer_record() -> None:
    records = [
        r
        for path in sorted(SEEDS.glob("*.txt"))
        for r in parse_text(path.read_text(encoding="utf-8"), path.name, TODAY).records
    ]
    merged = {normalise_title(r.title): r for r in dedupe(records)}
    title = "concept arithmetics for circumventing concept inhibition in diffusion models"
    copies = [r for r in records if normalise_title(r.title) == title]
    assert len(copies) == 2
    richest = merged[title]
    assert len(richest.abstract) == max(len(c.abstract) for c in copies)
    for name in ("author_count", "published", "listing_date", "upvotes"):
        values = [getattr(c, name) for c in copies if getattr(c, name) is not None]
        if values:
            assert getattr(richest, name) is not None, name
    # every paper that any copy dated keeps its date after merging
    for merged_record in dedupe(records):
        same = [
            r for r in records if normalise_title(r.title) == normalise_title(merged_record.title)
        ]
        if any(r.published for r in same):
            assert merged_record.published is not None


PAGE = """new

Get trending papers in your email inbox!

Subscribe

Daily Papers

byAK and the research community

Nov 3

A Good Title About Sparse Attention

This abstract is long enough to be a real abstract about sparse attention methods.

  • 4 authors
·
Jan 18 12

·
Feb 2

Another Good Title

Another abstract that is long enough to count as the abstract of a paper.
"""


def test_a_page_with_a_bad_block_keeps_the_good_records_and_counts_the_bad() -> None:
    listing = parse_text(PAGE, "page.txt", TODAY)
    assert [r.title for r in listing.records] == [
        "A Good Title About Sparse Attention",
        "Another Good Title",
    ]
    assert listing.records[0].published == date(2026, 1, 18)
    assert listing.records[0].upvotes == 12
    assert listing.bad_records == 1


def test_a_date_without_year_after_the_page_date_belongs_to_the_year_before() -> None:
    page = PAGE.replace("Jan 18 12", "Dec 30")
    listing = parse_text(page, "page.txt", TODAY)
    assert listing.records[0].published == date(2025, 12, 30)


@pytest.mark.parametrize(
    "garbage",
    [
        "just one line",
        "#!/bin/sh\necho hello\nexit 0\n",
        "\x00\x01binary\x00",
        "",
    ],
)
def test_garbage_is_a_parse_error_that_names_the_file(garbage: str) -> None:
    with pytest.raises(ParseError, match="junk.txt"):
        parse_text(garbage, "junk.txt", TODAY)


@pytest.mark.parametrize("blank", ["", "\n\n", " \r\n\t "])
def test_an_empty_file_is_called_empty(blank: str) -> None:
    """Not "1 blank lines in 1" (a page saved into a file that stayed empty)."""
    with pytest.raises(ParseError, match=r"^empty.txt: the file is empty: save the listing"):
        parse_text(blank, "empty.txt", TODAY)


@pytest.mark.parametrize("line", ["Feb 30", "Apr 31", "Jan 0", "Foo 12", "Feb 30, 2025 7"])
def test_a_date_no_calendar_has_leaves_the_record_undated(line: str) -> None:
    """A metadata date that is no day ("Feb 30", an unknown month): the record is kept
    without a publication date (its upvotes still read), never a crash of the whole page."""
    listing = parse_text(PAGE.replace("Jan 18 12", line), "page.txt", TODAY)
    assert [r.title for r in listing.records][0] == "A Good Title About Sparse Attention"
    assert listing.records[0].published is None
    assert listing.records[0].author_count == 4
    assert listing.records[0].upvotes == (7 if line.endswith(" 7") else None)


def test_a_page_date_no_calendar_has_leaves_the_listing_undated() -> None:
    listing = parse_text(PAGE.replace("\nNov 3\n", "\nFeb 30\n"), "page.txt", TODAY)
    assert listing.listing_date is None
    assert [r.title for r in listing.records] == [
        "A Good Title About Sparse Attention",
        "Another Good Title",
    ]
    assert listing.records[0].published == date(2026, 1, 18)  # dated before TODAY


def test_feb_29_without_a_year_falls_in_the_latest_leap_year() -> None:
    """Printed without a year on a page of a year that has no Feb 29: the latest one before
    the page date."""
    listing = parse_text(PAGE.replace("Jan 18 12", "Feb 29"), "page.txt", TODAY)
    assert listing.records[0].published == date(2024, 2, 29)


def test_counts_no_listing_shows_are_dropped_and_the_page_is_stored(tmp_path: Path) -> None:
    """`• 99999999999999999999 authors` and as many upvotes: unknown, not numbers the
    database cannot hold (storing them failed the whole listing)."""
    from datetime import UTC, datetime

    from digest.ingest import store_records
    from digest.store import Store

    page = PAGE.replace("• 4 authors", "• 99999999999999999999 authors")
    listing = parse_text(page.replace("Jan 18 12", "Jan 18 99999999999999999999"), "p.txt", TODAY)
    record = listing.records[0]
    assert (record.author_count, record.upvotes, record.published) == (
        None,
        None,
        date(2026, 1, 18),
    )
    store = Store(f"sqlite:///{tmp_path / 'd.sqlite'}")
    store_records(store, listing.records, "p.txt", datetime(2026, 11, 22, tzinfo=UTC))
    assert store.papers.count() == 2


def _seed_blocks(name: str) -> tuple[list[str], list]:  # type: ignore[type-arg]
    """A block-layout seed cut at its blank lines, and its records as read whole."""
    path = next(SEEDS.glob(f"{name}_*.txt"))
    text = path.read_text(encoding="utf-8")
    return text.split("\n\n"), parse_text(text, path.name, TODAY).records


def _read(blocks: list[str]) -> tuple[list[tuple[str, str]], int]:
    listing = parse_text("\n\n".join(blocks), "edited", TODAY)
    return [(r.title, r.abstract) for r in listing.records], listing.bad_records


@pytest.mark.parametrize("name", ["001", "002"])  # layout B, layout C
def test_a_missing_title_or_abstract_costs_that_paper_alone(name: str) -> None:
    blocks, records = _seed_blocks(name)
    expected = [(r.title, r.abstract) for r in records]
    for n, paper in enumerate(records[:-1]):  # every paper in turn
        at = blocks.index(paper.title)
        others = expected[:n] + expected[n + 1 :]
        assert _read(blocks[: at + 1] + blocks[at + 2 :]) == (others, 1), f"abstract {n}"
        assert _read(blocks[:at] + blocks[at + 1 :]) == (others, 1), f"title {n}"


def test_a_missing_abstract_in_layout_a_costs_that_paper_alone() -> None:
    _, records = _seed_blocks("001")
    lines = ["junk line"] + [line for r in records for line in (r.title, r.abstract)]
    del lines[2 * 5 + 2]  # the sixth paper's abstract
    listing = parse_text("\n".join(lines), "edited", TODAY)
    expected = [(r.title, r.abstract) for r in records]
    assert [(r.title, r.abstract) for r in listing.records] == expected[:5] + expected[6:]
    assert listing.bad_records == 1


def test_a_stray_paragraph_or_day_heading_shifts_nothing() -> None:
    blocks, records = _seed_blocks("001")
    at = blocks.index(records[2].abstract)
    first, second = records[2].abstract.split(". ", 1)
    edited = blocks[:at] + [first + ".", second] + blocks[at + 1 : -4] + ["Mar 11"] + blocks[-4:]
    read, bad = _read(edited)
    expected = [(r.title, r.abstract) for r in records]
    assert read[:2] + read[3:] == expected[:2] + expected[3:]  # the others, whole
    assert read[2] == (records[2].title, first + ".")  # the abstract's first paragraph
    assert bad == 1  # the second paragraph: no title of its own


@pytest.mark.parametrize("joined", ["title and abstract", "abstract and metadata", "all three"])
def test_a_paper_without_blank_lines_between_its_parts_is_one_paper(joined: str) -> None:
    blocks, records = _seed_blocks("002")
    paper = records[7]
    assert paper.published is not None  # it has a metadata block
    at = blocks.index(paper.title)
    parts = {"title and abstract": (0, 2), "abstract and metadata": (1, 3), "all three": (0, 3)}
    start, end = parts[joined]
    edited = [*blocks[: at + start], "\n".join(blocks[at + start : at + end]), *blocks[at + end :]]
    read, bad = _read(edited)
    assert read == [(r.title, r.abstract) for r in records]
    assert bad == 0
    again = parse_text("\n\n".join(edited), "edited", TODAY).records[7]
    assert (again.author_count, again.published) == (paper.author_count, paper.published)


@pytest.mark.parametrize("seed", range(40))
def test_damage_anywhere_costs_at_most_the_papers_it_touches(seed: int) -> None:
    rng = random.Random(seed)
    name = rng.choice(["001", "002", "003", "004"])
    blocks, records = _seed_blocks(name)
    start = blocks.index(records[0].title)  # after the page's header
    head, body = blocks[:start], blocks[start:]
    hurt = rng.randint(1, 4)
    for _ in range(hurt):
        at = rng.randrange(len(body) - 1)
        damage = rng.choice(["delete", "repeat", "no blank line"])
        if damage == "delete":
            del body[at]
        elif damage == "repeat":
            body.insert(at, body[at])
        else:
            body[at : at + 2] = [f"{body[at]}\n{body[at + 1]}"]
    read, _ = _read(head + body)
    intact = {(r.title, r.abstract) for r in records}
    # each damage touches at most two papers (a joined abstract and the next title)
    assert len(intact.difference(read)) <= 2 * hurt


@pytest.mark.parametrize(
    ("byline", "header"),
    [
        ("by AK and the research community", "Subscribe"),
        ("By AK and the Research Community ", "SUBSCRIBE"),
    ],
)
def test_the_page_header_is_read_however_the_page_became_text(byline: str, header: str) -> None:
    path = next(SEEDS.glob("001_*.txt"))
    text = path.read_text(encoding="utf-8")
    edited = text.replace("byAK and the research community", byline).replace("Subscribe", header)
    listing = parse_text(edited, path.name, TODAY)
    assert [r.title for r in listing.records] == [r.title for r in parse_seed("001")]
    assert listing.bad_records == 0 and listing.listing_date == date(2026, 3, 12)


def test_layout_a_without_its_junk_first_line_loses_no_paper() -> None:
    path = next(SEEDS.glob("000_*.txt"))
    text = path.read_text(encoding="utf-8")
    listing = parse_text(text.split("\n", 1)[1], path.name, TODAY)  # starts with a title
    assert [r.title for r in listing.records] == [r.title for r in parse_seed("000")]
    assert listing.bad_records == 0


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_a_listing_saved_as_unicode_by_a_windows_editor_is_read(encoding: str) -> None:
    """Notepad's "Unicode" is UTF-16 with a byte order mark; CRLF line ends come with it."""
    from digest.sources.parse import parse_body

    path = next(SEEDS.glob("001_*.txt"))
    text = path.read_text(encoding="utf-8").replace("\n", "\r\n")
    body = ("\ufeff" if encoding == "utf-16-be" else "") + text
    listing = parse_body("auto", body.encode(encoding), path.name, TODAY)
    assert listing.records == parse_seed("001")


def test_a_listing_in_another_encoding_says_to_re_save_it_as_utf8() -> None:
    from digest.sources.parse import parse_body

    with pytest.raises(ParseError, match="not UTF-8 text .*re-save it as UTF-8"):
        parse_body("auto", "Caf\u00e9 title\nAn abstract.\n".encode("cp1252"), "x.txt", TODAY)


def test_controls_and_direction_overrides_in_a_text_listing_are_dropped() -> None:
    page = (
        PAGE.replace("A Good Title", "A Good\x1b[2J Title\u202e")
        .replace("  • 4 authors", "Open\x07 Lab\u2066")
        .replace("methods.", "methods\x01.")
    )
    [first, _] = parse_text(page, "page.txt", TODAY).records
    assert first.title == "A Good [2J Title About Sparse Attention"
    assert first.organization == "Open Lab"
    assert first.abstract.endswith("attention methods .")
