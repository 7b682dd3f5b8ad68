"""Planning ranks the subscribers of each window length on their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.config import DEFAULT_MIN_SCORE
from digest.models import Subscriber
from digest.planning import choose, window_groups
from digest.ranking import Corpus, FeatureStats

NOW = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_windows_are_grouped_by_their_length_in_whole_days() -> None:
    starts = [NOW - DAY + timedelta(minutes=10), NOW - 7 * DAY, NOW - DAY - timedelta(hours=1)]
    starts += [NOW - 2 * DAY, NOW - 6.8 * DAY, NOW - timedelta(hours=2)]
    assert window_groups([s.timestamp() for s in starts], NOW) == [[0, 2, 5], [1, 4], [3]]


def person(sid: int, keywords: list[str]) -> Subscriber:
    return Subscriber(
        id=sid, email=f"r{sid}@example.org", keywords=keywords, created_at=NOW, updated_at=NOW
    )


def test_a_daily_readers_near_miss_is_not_damped_by_a_new_subscribers_week() -> None:
    near = ("Sparse and Discrete Interpretability", "Codebook features make networks legible.")
    exact = [
        (f"Mechanistic Interpretability of Circuit {i}", f"We trace circuit {i} in a transformer.")
        for i in range(10)
    ]
    protein = [
        (f"Protein Folding of the {name} Family", f"Structures of {name} proteins.")
        for name in ["alpha", "beta", "gamma", "delta", "kappa"]
    ]
    papers = [near, *protein, *exact]
    # the exact matches came three days ago: the daily reader got them in earlier digests
    today, earlier = (NOW - timedelta(hours=3)).timestamp(), (NOW - 3 * DAY).timestamp()
    corpus = Corpus(
        [f"p{i}" for i in range(len(papers))],
        [t for t, _ in papers],
        [a for _, a in papers],
        [today] * (1 + len(protein)) + [earlier] * len(exact),
        stats=FeatureStats.of(papers),
    )
    daily = person(1, ["mechanistic interpretability"])
    new = person(2, ["protein folding"])  # never sent: a first digest looks back a week

    def plan(*who: Subscriber) -> dict[int | None, list[str]]:
        plans = choose(
            corpus,
            [(s, "2026-03-12") for s in who],
            NOW,
            last_sent={1: NOW - DAY},
            received={},
            min_score=DEFAULT_MIN_SCORE,
            first_window_days=7,
        )
        return {p.subscriber.id: [m.paper_id for m in p.items] for p in plans}

    together = plan(daily, new)
    assert together[1] == ["p0"]  # the day's near miss, as when planned alone
    assert together[1] == plan(daily)[1]
    assert set(together[2]) == {f"p{i}" for i in range(1, 1 + len(protein))}
