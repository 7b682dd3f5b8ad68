"""The papers' history on a real SQLite file: one paper however many listings show it, merged
by one rule (arXiv id or title), bulk inserts read back exactly, replacements never new."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from digest.ingest import store_records
from digest.sources.base import PaperRecord
from digest.store import Store

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def store_at(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'db' / 'digest.sqlite'}")


def test_same_paper_twice_is_one_row_with_two_sightings(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    first = store_records(store, [PaperRecord(title="A Paper", upvotes=3)], "one", NOW)
    second = store_records(
        store, [PaperRecord(title="a paper!", upvotes=9, author_count=4)], "two", NOW
    )
    assert (first.new, first.known, second.new, second.known) == (1, 0, 0, 1)
    [paper] = store.papers.newest()
    assert (paper.upvotes, paper.author_count) == (9, 4)
    assert store.papers.count() == 1
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from sighting").scalar() == 2


def test_paper_known_by_title_takes_its_arxiv_id_later_with_history(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store_records(
        store, [PaperRecord(title="Sparse Attention Rocks", abstract="x" * 60)], "text", NOW
    )
    [before] = store.papers.newest()
    assert before.id.startswith("title:")
    store_records(
        store,
        [
            PaperRecord(
                title="Sparse Attention Rocks",
                arxiv_id="2605.00001v2",
                url="https://arxiv.org/abs/2605.00001",
            )
        ],
        "arxiv",
        NOW,
    )
    [after] = store.papers.newest()
    assert after.id == "arxiv:2605.00001" and after.arxiv_id == "2605.00001"
    assert after.abstract == "x" * 60
    with store.engine.connect() as conn:
        ids = conn.exec_driver_sql("select distinct paper_id from sighting").fetchall()
    assert ids == [("arxiv:2605.00001",)]


def test_replacement_announcements_never_create_papers(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    result = store_records(
        store,
        [PaperRecord(title="Old Paper v3", arxiv_id="2301.00001", announce_type="replace")],
        "arxiv",
        NOW,
    )
    assert (result.new, result.ignored) == (0, 1)
    assert store.papers.count() == 0


def test_bulk_inserted_papers_read_back_exactly(tmp_path: Path) -> None:
    from datetime import date, timedelta, timezone

    store = store_at(tmp_path)
    moment = datetime(2026, 11, 22, 8, 30, 1, 123456, tzinfo=timezone(timedelta(hours=2)))
    record = PaperRecord(
        title="Round Trip",
        abstract="ä" * 50,
        authors=["A", "B"],
        published=date(2024, 1, 2),
        categories=["cs.LG"],
        upvotes=3,
    )
    store_records(store, [record], "x", moment)
    [paper] = store.papers.newest()
    assert paper.first_seen_at == moment and paper.first_seen_at.tzinfo is not None
    assert (paper.published, paper.authors, paper.categories, paper.abstract) == (
        date(2024, 1, 2),
        ["A", "B"],
        ["cs.LG"],
        "ä" * 50,
    )
    assert store.papers.newest(since=moment)[0].id == paper.id
    assert store.papers.newest(since=moment + timedelta(microseconds=1)) == []


def test_bulk_inserts_of_several_statements_keep_every_row_and_value(tmp_path: Path) -> None:
    """On SQLite rows go in INSERT_CHUNK a statement, and the rest one by one."""
    from datetime import date

    from digest.store.engine import INSERT_CHUNK

    store = store_at(tmp_path)
    count = 2 * INSERT_CHUNK + 7
    records = [
        PaperRecord(
            title=f"Paper number {i}",
            abstract=f"abstract {i} " * 6,
            authors=[f"Author {i}", "Ä"],
            published=date(2024, 1, 1 + i % 28),
            categories=[f"cs.{i}"],
            upvotes=i,
        )
        for i in range(count)
    ]
    assert store_records(store, records, "x", NOW).new == count
    found = {p.title: p for p in store.papers.newest(limit=count + 1)}
    assert len(found) == count
    for i, record in enumerate(records):
        paper = found[record.title]
        assert (paper.abstract, paper.authors, paper.published) == (
            record.abstract,
            record.authors,
            record.published,
        )
        assert (paper.categories, paper.upvotes) == (record.categories, i)


def test_title_then_arxiv_id_in_one_batch_is_one_paper_with_both_sightings(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    result = store_records(
        store,
        [
            PaperRecord(title="Sparse Attention", abstract="a" * 60),
            PaperRecord(title="sparse attention!", arxiv_id="2605.00001v2", upvotes=4),
        ],
        "x",
        NOW,
    )
    assert (result.new, result.known) == (1, 1)
    [paper] = store.papers.newest()
    assert (paper.id, paper.upvotes, paper.abstract) == ("arxiv:2605.00001", 4, "a" * 60)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("select paper_id from sighting").fetchall()
    assert rows == [("arxiv:2605.00001",), ("arxiv:2605.00001",)]


def test_one_merge_rule_within_a_listing_and_across_listings(tmp_path: Path) -> None:
    """Two sightings of one paper give the same row whether they came in one listing or in
    two: the longer abstract, the first url, the union of categories, the latest upvotes."""
    first = PaperRecord(
        title="Sparse Attention",
        abstract="short",
        url="https://a",
        categories=["cs.LG"],
        upvotes=9,
    )
    second = PaperRecord(
        title="Sparse attention",
        abstract="a much longer abstract",
        url="https://b",
        categories=["cs.CL"],
        upvotes=4,
    )
    together = Store(f"sqlite:///{tmp_path / 'one.sqlite'}")
    store_records(together, [first, second], "s", NOW)
    apart = Store(f"sqlite:///{tmp_path / 'two.sqlite'}")
    store_records(apart, [first], "s", NOW)
    store_records(apart, [second], "s", NOW)

    def row(store: Store) -> tuple[object, ...]:
        [paper] = store.papers.newest()
        return paper.title, paper.abstract, paper.url, paper.categories, paper.upvotes

    assert (
        row(together)
        == row(apart)
        == ("Sparse Attention", "a much longer abstract", "https://a", ["cs.CL", "cs.LG"], 4)
    )


def test_a_title_run_into_its_abstract_is_a_bad_record_and_never_replaces_a_title(
    tmp_path: Path,
) -> None:
    """The longer title wins a merge, so a listing that ran an abstract into a known paper's
    title would rename it: such a record is counted bad and stored nowhere."""
    from digest.ingest import ingest_listing
    from digest.ingest.listings import LONGEST_TITLE
    from digest.sources.base import Listing

    good = PaperRecord(title="Sparse Attention", abstract="words", arxiv_id="2605.00001")
    store = store_at(tmp_path)
    store_records(store, [good], "s", NOW)
    glued = good.model_copy(update={"title": "Sparse Attention " + "We show that " * 100})
    assert len(glued.title) > LONGEST_TITLE
    other = PaperRecord(title="Another Paper", abstract="more words")
    report = ingest_listing(store, Listing(source="l", records=[glued, other]), "l", NOW)
    assert (report.new, report.known, report.bad) == (1, 0, 1)
    assert sorted(p.title for p in store.papers.newest()) == ["Another Paper", "Sparse Attention"]


def test_hf_and_arxiv_sightings_keep_the_hf_page_and_the_arxiv_date_in_either_order(
    tmp_path: Path,
) -> None:
    """Hugging Face lists a paper a day after arXiv announced it: the paper keeps HF's page
    (its links name the arXiv one) and arXiv's date, whichever listing came first."""
    from datetime import date

    arxiv = PaperRecord(
        title="Sparse Attention",
        arxiv_id="2501.00001",
        url="https://arxiv.org/abs/2501.00001",
        listing_date=date(2025, 1, 2),
    )
    hf = PaperRecord(
        title="Sparse Attention",
        arxiv_id="2501.00001",
        url="https://huggingface.co/papers/2501.00001",
        listing_date=date(2025, 1, 3),
        ai_summary="A summary.",
    )
    rows = []
    for name, order in (("a", [arxiv, hf]), ("b", [hf, arxiv])):
        store = Store(f"sqlite:///{tmp_path / name}.sqlite")
        for record in order:
            store_records(store, [record], "s", NOW)
        [paper] = store.papers.newest()
        rows.append((paper.url, paper.listing_date, paper.ai_summary))
    together = Store(f"sqlite:///{tmp_path / 'c.sqlite'}")
    store_records(together, [hf, arxiv], "s", NOW)
    [paper] = together.papers.newest()
    rows.append((paper.url, paper.listing_date, paper.ai_summary))
    assert (
        rows == [("https://huggingface.co/papers/2501.00001", date(2025, 1, 2), "A summary.")] * 3
    )
