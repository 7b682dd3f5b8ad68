"""nDCG@10 and P@10 of the service's ranker beside Okapi BM25 on the judged profiles, and a
simulated round of feedback.

    .venv/bin/python bench/relevance/evaluate.py [--split dev|heldout|all] [--quiet] [--semantic]

--semantic adds the optional sentence-embedding layer (pip install -e '.[semantic]').

Day-sized windows: the service ranks one day's new papers at a time, often a hundred or so,
where a narrow keyword may have no exact match at all. The papers are also cut into DAYS
disjoint windows by id (about 100 papers each); a profile's "day" figure is its mean nDCG@10
over the windows that hold a paper relevant to it, beside BM25 fitted on the same window.

Feedback simulation: the papers are split in two halves by id. A profile's first digest is
drawn from one half with keywords alone; the simulated reader likes its relevant papers
(grade >= 1) and dislikes the others; the other half is then ranked with keywords alone
(before) and with those votes (after). Both directions are run and averaged; a direction
whose unseen half holds no relevant paper measures nothing (nDCG is undefined there, not 0)
and is left out, as IR evaluations leave out queries without relevant documents.

The "blind" line averages the profiles judged after the ranker's last change (marked
`blind = true` in profiles.toml; JUDGING.md says which), whatever their split: the nearest
thing here to the profiles of readers nobody has seen.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BM25,
    Doc,
    JudgedProfile,
    load_corpus,
    load_judgments,
    load_profiles,
    ndcg_at,
    precision_at,
)

from digest.config import DEFAULT_MIN_SCORE
from digest.ranking import Corpus, FeatureStats, Profile, Voted, rank, split_keywords
from digest.ranking.semantic import Embedder, SemanticIndex, load_embedder, paper_text
from digest.ranking.topics import Topics

MIN_SCORE = DEFAULT_MIN_SCORE  # the service default
DAYS = 4  # windows the judged papers are cut into: about 100 papers each, a day's listing


@dataclass
class Row:
    """One profile's figures."""

    name: str
    split: str
    ndcg: float
    p10: float
    bm25_ndcg: float
    bm25_p10: float
    day: float
    day_bm25: float
    picked: int
    wanted: int
    before: float
    after: float
    blind: bool = False


class Vectors:
    """Sentence embeddings of the judged papers, encoded once (the semantic extra)."""

    def __init__(self, embedder: Embedder, docs: Sequence[Doc]) -> None:
        self.embedder = embedder
        encoded = embedder.encode([paper_text(d.title, d.abstract) for d in docs])
        self.of = dict(zip((d.id for d in docs), encoded, strict=True))

    def index(self, docs: Sequence[Doc]) -> SemanticIndex:
        """The semantic layer over these docs."""
        return SemanticIndex(self.embedder, np.stack([self.of[d.id] for d in docs]))


def corpus_of(
    docs: Sequence[Doc], stats: FeatureStats, vectors: Vectors | None, topics: Topics | None
) -> Corpus:
    """The service's corpus of these docs, weighted by the whole history's stats, with the
    semantic extra's vectors when given, else the topics learned from the history."""
    corpus = Corpus(
        [d.id for d in docs],
        [d.title for d in docs],
        [d.abstract for d in docs],
        stats=stats,
        semantic=None if vectors is None else vectors.index(docs),
    )
    if vectors is None and topics is not None:
        corpus.semantic = topics.index(corpus)
    return corpus


def ranked(corpus: Corpus, profile: Profile, top: int) -> list[str]:
    """The service's ranking of a corpus for one profile."""
    [matches] = rank(corpus, [profile], top, min_score=MIN_SCORE)
    return [m.paper_id for m in matches]


def half(paper_id: str) -> int:
    """0 or 1, fixed per paper."""
    return hashlib.sha256(paper_id.encode()).digest()[0] & 1


def day(paper_id: str) -> int:
    """The day-sized window a paper falls in, fixed per paper (drawn apart from `half`)."""
    return int.from_bytes(hashlib.sha256(b"day:" + paper_id.encode()).digest()[:4], "big") % DAYS


def split_docs(docs: Sequence[Doc], part: Callable[[str], int], parts: int) -> list[list[Doc]]:
    """The docs cut into `parts` lists by `part(id)` (in 0..parts-1)."""
    return [[d for d in docs if part(d.id) == i] for i in range(parts)]


def over_days(ranking: Callable[[int], list[str]], grades: dict[str, int]) -> float:
    """Mean nDCG@10 of `ranking(window)` over the windows holding a relevant paper."""
    scores = []
    for window in range(DAYS):
        graded = {pid: g for pid, g in grades.items() if day(pid) == window}
        if any(g >= 1 for g in graded.values()):
            scores.append(ndcg_at(ranking(window), graded))
    return statistics.mean(scores)


def feedback_round(
    corpora: Sequence[Corpus], voted_on: Voted, judged: JudgedProfile, grades: dict[str, int]
) -> tuple[float, float]:
    """nDCG@10 on unseen papers before and after one digest of simulated votes (averaged over
    the directions whose unseen half holds a relevant paper); `corpora` are the two halves."""
    keywords = Profile(split_keywords(judged.keywords))
    before, after = [], []
    for first, second in ((0, 1), (1, 0)):
        digest = ranked(corpora[first], keywords, judged.max_papers)
        liked = [pid for pid in digest if grades.get(pid, 0) >= 1]
        disliked = [pid for pid in digest if grades.get(pid, 0) < 1]
        unseen = {pid: g for pid, g in grades.items() if half(pid) == second}
        if not any(g >= 1 for g in unseen.values()):
            continue
        voted = Profile(keywords.keywords, liked=liked, disliked=disliked)
        before.append(ndcg_at(ranked(corpora[second], keywords, 10), unseen))
        with_votes = rank(corpora[second], [voted], 10, min_score=MIN_SCORE, voted=voted_on)
        after.append(ndcg_at([m.paper_id for m in with_votes[0]], unseen))
    return statistics.mean(before), statistics.mean(after)


def evaluate(split: str, semantic: bool = False) -> list[Row]:
    """Every judged profile of the split, measured (with the semantic extra if asked)."""
    docs = load_corpus()
    stats = FeatureStats.of((d.title, d.abstract) for d in docs)
    embedder = load_embedder("on") if semantic else None
    vectors = Vectors(embedder, docs) if embedder is not None else None
    topics = Topics.learn(((d.title, d.abstract) for d in docs), stats)  # as from the history
    corpus = corpus_of(docs, stats, vectors, topics)
    bm25 = BM25(docs)
    halves = [corpus_of(h, stats, vectors, topics) for h in split_docs(docs, half, 2)]
    voted_on = Voted({d.id: (d.title, d.abstract) for d in docs})
    days = split_docs(docs, day, DAYS)
    day_corpora = [corpus_of(d, stats, vectors, topics) for d in days]
    day_bm25 = [BM25(d) for d in days]
    judgments = load_judgments()
    rows = []
    for judged in load_profiles():
        grades = judgments.get(judged.name)
        if grades is None or (split != "all" and judged.split != split):
            continue
        profile = Profile(split_keywords(judged.keywords))
        ours = ranked(corpus, profile, 10)
        base = bm25.rank(judged.keywords, 10)
        digest = ranked(corpus, profile, judged.max_papers)
        relevant = sum(1 for g in grades.values() if g >= 1)

        def ours_on(window: int, profile: Profile = profile) -> list[str]:
            return ranked(day_corpora[window], profile, 10)

        def bm25_on(window: int, keywords: str = judged.keywords) -> list[str]:
            return day_bm25[window].rank(keywords, 10)

        before, after = feedback_round(halves, voted_on, judged, grades)
        rows.append(
            Row(
                judged.name,
                judged.split,
                ndcg_at(ours, grades),
                precision_at(ours, grades),
                ndcg_at(base, grades),
                precision_at(base, grades),
                over_days(ours_on, grades),
                over_days(bm25_on, grades),
                len(digest),
                min(judged.max_papers, relevant),
                before,
                after,
                judged.blind,
            )
        )
    return rows


def report(rows: list[Row], quiet: bool) -> None:
    """Print the table and the averages."""
    head = (
        f"{'profile':24} {'split':8} {'nDCG@10':>8} {'BM25':>6} {'P@10':>6} {'BM25':>6}"
        f" {'day':>6} {'BM25':>6} {'digest':>7} {'fb before':>9} {'after':>6}"
    )
    if not quiet:
        print(head)
        for r in rows:
            full = "" if r.picked >= r.wanted else " SHORT"
            print(
                f"{r.name:24} {r.split:8} {r.ndcg:8.3f} {r.bm25_ndcg:6.3f} {r.p10:6.3f}"
                f" {r.bm25_p10:6.3f} {r.day:6.3f} {r.day_bm25:6.3f}"
                f" {r.picked:>3}/{r.wanted:<3} {r.before:9.3f} {r.after:6.3f}"
                f"{full}"
            )
    blind = ["blind"] if any(r.blind for r in rows) else []
    for split in sorted({r.split for r in rows}) + blind + ["all"]:
        part = [r for r in rows if split in ("all", r.split) or (split == "blind" and r.blind)]
        if not part:
            continue

        def mean(name: str, rows: list[Row] = part) -> float:
            return statistics.mean(getattr(r, name) for r in rows)

        drops = [r.name for r in part if r.after < r.before - 0.05]
        short = [r.name for r in part if r.picked < r.wanted]
        print(
            f"{split:8} n={len(part):2}  nDCG@10 {mean('ndcg'):.3f} (BM25 {mean('bm25_ndcg'):.3f},"
            f" {mean('ndcg') - mean('bm25_ndcg'):+.3f})  P@10 {mean('p10'):.3f}"
            f" (BM25 {mean('bm25_p10'):.3f})  day-sized windows {mean('day'):.3f}"
            f" (BM25 {mean('day_bm25'):.3f}, {mean('day') - mean('day_bm25'):+.3f})"
            f"  feedback {mean('before'):.3f} -> {mean('after'):.3f}"
            f" ({mean('after') - mean('before'):+.3f}; drops > 0.05: {drops or 'none'})"
            f"  short digests: {short or 'none'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "heldout", "all"), default="all")
    parser.add_argument("--quiet", action="store_true", help="Only the averages.")
    parser.add_argument(
        "--semantic", action="store_true", help="With the sentence-embedding extra installed."
    )
    args = parser.parse_args()
    report(evaluate(args.split, args.semantic), args.quiet)


if __name__ == "__main__":
    main()
