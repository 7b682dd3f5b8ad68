"""Planning against a long history: today's papers and the same subscribers, with HISTORY
older papers already stored, and in every history but the first (a service that just
started) also --digest-days days of digests already sent to each subscriber, ten old
papers each. Planning should read only the candidate window, so its time should not grow
with the history.

    python bench/history.py --history 10000 1000000 --subscribers 10000 --digest-days 30

Prints a JSON list, an object per history: seconds to build it and to plan (the best of three
runs, each on a fresh copy of the database), and the database size. The runs alternate
between the histories (short, long, short, long, ...), so that a machine whose speed drifts
meets them alike: their ratio is the figure that holds.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import e2e
import synth

from digest.pipeline import Policy, feature_stats, plan
from digest.store import Store

CHUNK = 50_000
COLUMNS = "id, title_norm, title, abstract, authors, categories, first_seen_at, updated_at"


def old_rows(count: int, rng: random.Random) -> Iterator[tuple[str, ...]]:
    """`count` papers first seen one to four years before the bench's today, newest first."""
    words = synth.KEYWORDS
    start = e2e.NOW - timedelta(days=365)
    for i in range(count):
        title = f"{rng.choice(words)} and {rng.choice(words)} revisited ({i})"
        abstract = f"We study {rng.choice(words)} for {rng.choice(words)}. " * 3
        seen = (start - timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S.%f")
        yield (f"arxiv:old.{i:07d}", title.lower(), title, abstract, "[]", "[]", seen, seen)


DIGEST = (
    "INSERT INTO delivery (subscriber_id, edition, status, attempts, created_at, sent_at)"
    " VALUES (?, ?, 'sent', 1, ?, ?)"
)
ITEMS = (
    "INSERT INTO delivery_item (delivery_id, rank, paper_id, score, matched, section, trending,"
    " related) VALUES (?, ?, ?, 1.0, '[]', 'main', 0, '[]')"
)


def add_past_digests(path: Path, days: int, history: int) -> None:
    """For each subscriber and each of the `days` days before today, a digest sent with ten
    old papers (straight through sqlite3)."""
    rng = random.Random(13)
    with sqlite3.connect(path) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM subscriber ORDER BY id")]
        for day in range(days, 0, -1):
            when = e2e.NOW - timedelta(days=day)
            stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
            for sid in ids:
                delivery = conn.execute(DIGEST, (sid, when.date().isoformat(), stamp, stamp))
                papers = (f"arxiv:old.{p:07d}" for p in rng.sample(range(history), 10))
                conn.executemany(
                    ITEMS, [(delivery.lastrowid, r, p) for r, p in enumerate(papers, start=1)]
                )


def build(path: Path, history: int, subscribers: int, digest_days: int = 0) -> float:
    """Create the database: the old history first (straight through sqlite3), then today,
    then `digest_days` days of digests sent before today."""
    t0 = time.perf_counter()
    Store(f"sqlite:///{path}").close()  # the schema
    rng = random.Random(11)
    with sqlite3.connect(path) as conn:
        rows = old_rows(history, rng)
        while chunk := [row for _, row in zip(range(CHUNK), rows, strict=False)]:
            conn.executemany(
                f"INSERT INTO paper ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunk
            )
    store = Store(f"sqlite:///{path}")
    e2e.seed(store, subscribers, 1_000)
    feature_stats(store, e2e.NOW)  # learned once by a running service, not at every plan
    store.close()
    if digest_days:
        add_past_digests(path, digest_days, history)
    return time.perf_counter() - t0


def run(
    histories: list[int], subscribers: int, digest_days: int = 0, repeats: int = 3
) -> list[dict[str, Any]]:
    """Build a database for each history once (past digests in all but the first), then time
    planning over fresh copies of them in turn, `repeats` times each; the best time of each
    counts (the others met a busier machine)."""
    days = {h: 0 if i == 0 else digest_days for i, h in enumerate(histories)}
    with tempfile.TemporaryDirectory(prefix="digest-history-") as tmp:
        built = {h: build(Path(tmp) / f"built{h}.db", h, subscribers, days[h]) for h in histories}
        times: dict[int, list[float]] = {h: [] for h in histories}
        facts: dict[int, dict[str, Any]] = {}
        for _ in range(repeats):
            for history in histories:
                path = Path(tmp) / "history.db"
                source_path = Path(tmp) / f"built{history}.db"
                with sqlite3.connect(source_path) as source, sqlite3.connect(path) as copy:
                    source.backup(copy)  # WAL included, unlike a file copy
                size_mb = path.stat().st_size / 1e6
                store = Store(f"sqlite:///{path}")
                t0 = time.perf_counter()
                report = plan(store, e2e.NOW, Policy(min_score=0.05, processes=e2e.PLAN_PROCESSES))
                times[history].append(time.perf_counter() - t0)
                facts[history] = {
                    "papers": store.papers.count(),
                    "digest_days": days[history],
                    "planned": report.planned,
                    "database_mb": round(size_mb, 1),
                }
                store.close()
                path.unlink()
    return [
        {
            "history": history,
            "subscribers": subscribers,
            **facts[history],
            "build_seconds": round(built[history], 1),
            "plan_seconds": round(min(times[history]), 2),
            "plan_seconds_all": [round(t, 2) for t in times[history]],
        }
        for history in histories
    ]


def main() -> None:
    """Command line: one run, its figures as JSON on stdout."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--history", type=int, nargs="+", required=True, help="older papers stored (each)"
    )
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument(
        "--digest-days",
        type=int,
        default=0,
        help="days of digests already sent to each subscriber (all histories but the first)",
    )
    args = parser.parse_args()
    print(json.dumps(run(args.history, args.subscribers, args.digest_days)))


if __name__ == "__main__":
    main()
