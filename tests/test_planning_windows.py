"""Planning ranks the subscribers of each window length apart, among their windows' papers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.config import DEFAULT_MIN_SCORE
from digest.ingest import store_records
from digest.pipeline import Policy, plan
from digest.planner import choose_for
from digest.planning import local_edition, window_groups, window_start
from digest.sources.base import PaperRecord
from digest.store import Store
from digest.subscriptions.preferences import new_subscriber

NOW = datetime(2026, 3, 12, 8, 30, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = Policy(min_score=DEFAULT_MIN_SCORE, first_window_days=7)


def test_windows_are_grouped_by_their_length_in_whole_days() -> None:
    starts = [NOW - DAY + timedelta(minutes=10), NOW - 7 * DAY, NOW - DAY - timedelta(hours=1)]
    starts += [NOW - 2 * DAY, NOW - 6.8 * DAY, NOW - timedelta(hours=2)]
    assert window_groups(starts, NOW) == {1: [0, 2, 5], 7: [1, 4], 2: [3]}


def test_a_window_reaches_back_two_weeks_at_most() -> None:
    reader = new_subscriber(email="weekly@example.org", keywords="x", now=NOW - 60 * DAY)
    reader.id = 1

    def start(last: timedelta | None, first_days: int = 7) -> datetime:
        return window_start(reader, NOW, {} if last is None else {1: NOW - last}, first_days)

    assert start(None) == NOW - 7 * DAY  # a first digest
    assert start(13 * DAY) == NOW - 13 * DAY  # a weekly digest after a week of downtime
    assert start(60 * DAY) == NOW - 14 * DAY  # back from a pause
    assert start(60 * DAY, first_days=30) == NOW - 30 * DAY


def store_papers(store: Store, papers: list[tuple[str, str]], when: datetime) -> None:
    records = [PaperRecord(title=title, abstract=abstract) for title, abstract in papers]
    store_records(store, records, "t", when)


def test_a_daily_readers_digest_does_not_depend_on_a_new_subscriber_planned_beside(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'digest.sqlite'}")
    store.subscribers.add(
        new_subscriber(
            email="daily@example.org", keywords="mechanistic interpretability", now=NOW - 5 * DAY
        )
    )
    exact = [
        (f"Mechanistic Interpretability of Circuit {i}", f"We trace circuit {i} in a transformer.")
        for i in range(10)
    ]
    store_papers(store, exact, NOW - 3 * DAY)
    plan(store, NOW - DAY, POLICY)  # yesterday's digest holds the exact matches
    near = ("Sparse and Discrete Interpretability", "Codebook features make networks legible.")
    protein = [
        (f"Protein Folding of the {name} Family", f"Structures of {name} proteins.")
        for name in ("alpha", "beta", "gamma", "delta", "kappa")
    ]
    store_papers(store, [near, *protein], NOW - timedelta(hours=3))
    # never sent a digest: the first looks back a week, over the exact matches
    store.subscribers.add(
        new_subscriber(email="new@example.org", keywords="protein folding", now=NOW - DAY)
    )
    daily, new = (store.subscribers.get(e) for e in ("daily@example.org", "new@example.org"))
    assert daily is not None and new is not None

    def digests(*who: object) -> list[list[tuple[str, float]]]:
        due = [(s, local_edition(s, NOW)) for s in who]
        plans, _ = choose_for(store, due, NOW, POLICY)  # type: ignore[arg-type]
        return [[(m.paper_id, round(m.score, 4)) for m in p.items] for p in plans]

    [alone] = digests(daily)
    together, newcomer = digests(daily, new)
    titles = {p.id: p.title for p in store.papers.newest()}
    assert [titles[pid] for pid, _ in alone] == [near[0]]  # the best the day has
    assert together == alone
    assert sorted(titles[pid] for pid, _ in newcomer) == sorted(t for t, _ in protein)


def test_a_digest_planned_before_its_papers_were_fetched_is_not_sent_again(
    tmp_path: Path,
) -> None:
    """An operator replaying a day (`--now` earlier than the fetch), or a clock stepped back:
    the digest holds papers first seen after it was planned, inside the next window, which
    starts at that digest's time. Its papers count as received: nothing is sent twice."""
    store = Store(f"sqlite:///{tmp_path / 'digest.sqlite'}")
    store.subscribers.add(
        new_subscriber(email="daily@example.org", keywords="speculative decoding", now=NOW - DAY)
    )
    papers = [
        (f"Speculative Decoding {i}", f"Draft tokens {i} for faster decoding.") for i in range(3)
    ]
    store_papers(store, papers, NOW)  # fetched now...
    assert plan(store, NOW - timedelta(minutes=20), POLICY).planned == 1  # ...planned before
    [first] = store.deliveries.listed()
    reader = store.subscribers.get("daily@example.org")
    assert reader is not None
    plans, _ = choose_for(store, [(reader, local_edition(reader, NOW + DAY))], NOW + DAY, POLICY)
    assert first.status == "queued" and [p.items for p in plans] == [[]]
