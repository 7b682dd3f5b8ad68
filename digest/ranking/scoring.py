"""Profiles x papers -> the best papers of each profile, as sparse and dense matrix products.

A profile's score for a paper is the sum of its keywords' scores (keywords.py), plus what it
learned from votes: a Rocchio centroid of liked minus disliked papers, as cosine similarity
to the paper, weighted by how many votes there are so that a few votes never swamp the
keywords. A paper is eligible when one keyword scores at least `min_score` or it resembles
liked papers at least `LIKE_FLOOR`; an excluded keyword whose words all occur removes it.
Popularity multiplies relevance, never replaces it. Each keyword that has an eligible paper
gets at least one into the digest (coverage), so a narrow interest is never crowded out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from digest.ranking.features import Corpus
from digest.ranking.keywords import KeywordScores
from digest.ranking.results import Picks, Ranking

DEFAULT_BATCH = 4096
LIKE_WEIGHT = 1.5  # weight of the learned part at full confidence, against 1 per keyword
LIKE_HALF = 6.0  # votes at which the learned part has half its weight
DISLIKE_WEIGHT = 0.6  # Rocchio's gamma: how much a disliked paper pushes its kind down
LIKE_FLOOR = 0.22  # similarity to liked papers that makes a paper eligible on its own
BIG = np.float32(1e6)


@dataclass(frozen=True)
class Profile:
    """What one subscriber wants: keywords, exclusions, votes and the pull of popularity."""

    keywords: Sequence[str]
    exclude: Sequence[str] = ()
    liked: Sequence[str] = ()  # paper ids, latest first
    disliked: Sequence[str] = ()
    trending: float = 0.0  # 0..1


@dataclass(frozen=True)
class Voted:
    """The papers profiles voted on: id -> (title, abstract)."""

    papers: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def rank(
    corpus: Corpus,
    profiles: Sequence[Profile],
    top: int | Sequence[int],
    *,
    min_score: float = 0.0,
    not_before: Sequence[float] | None = None,
    seen: Sequence[set[str]] | None = None,
    voted: Voted | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> Ranking:
    """For each profile, its best eligible papers, best first."""
    limits = np.full(len(profiles), top) if isinstance(top, int) else np.asarray(top)
    similar = _VoteSpace(corpus, profiles, voted or Voted())
    batches: list[tuple[int, Picks | None, int]] = []
    for start in range(0, len(profiles), batch_size):
        stop = min(start + batch_size, len(profiles))
        picks = (
            _rank_batch(
                corpus,
                profiles[start:stop],
                limits[start:stop],
                min_score,
                None if not_before is None else not_before[start:stop],
                None if seen is None else seen[start:stop],
                similar,
            )
            if corpus.ids
            else None
        )
        batches.append((start, picks, stop - start))
    return Ranking(batches)


def keyword_hits(corpus: Corpus, keywords: Sequence[str], min_score: float) -> dict[str, int]:
    """How many papers of the corpus each keyword matches (scores at least `min_score`)."""
    if not corpus.ids or not keywords:
        return dict.fromkeys(keywords, 0)
    index = KeywordScores(corpus, list(keywords))
    counts = np.diff(index.hits(max(min_score, 1e-6)).indptr)
    return {k: int(c) for k, c in zip(index.keywords, counts, strict=True)}


class _VoteSpace:
    """Similarity of every voted paper to every candidate, computed once for all batches."""

    def __init__(self, corpus: Corpus, profiles: Sequence[Profile], voted: Voted) -> None:
        wanted = {pid for p in profiles for pid in (*p.liked, *p.disliked) if pid in voted.papers}
        self.row = {pid: i for i, pid in enumerate(sorted(wanted))}
        self.sim = corpus.similarity([voted.papers[pid] for pid in sorted(wanted)])

    def learned(self, profiles: Sequence[Profile]) -> tuple[np.ndarray, sp.csr_matrix] | None:
        """(profiles x papers learned scores, profiles x voted liked-paper weights) or None."""
        if not self.row:
            return None
        rows, cols, vals, like_rows, like_cols = [], [], [], [], []
        for r, p in enumerate(profiles):
            liked = [self.row[pid] for pid in p.liked if pid in self.row]
            disliked = [self.row[pid] for pid in p.disliked if pid in self.row]
            votes = len(liked) + len(disliked)
            if not votes:
                continue
            confidence = LIKE_WEIGHT * votes / (votes + LIKE_HALF)
            for col in liked:
                rows.append(r)
                cols.append(col)
                vals.append(confidence / len(liked))
                like_rows.append(r)
                like_cols.append(col)
            for col in disliked:
                rows.append(r)
                cols.append(col)
                vals.append(-confidence * DISLIKE_WEIGHT / len(disliked))
        if not rows:
            return None
        shape = (len(profiles), len(self.row))
        weights = sp.csr_matrix((np.asarray(vals, np.float32), (rows, cols)), shape=shape)
        likes = sp.csr_matrix(
            (np.ones(len(like_rows), np.float32), (like_rows, like_cols)), shape=shape
        )
        return np.asarray(weights @ self.sim, dtype=np.float32), likes


def _rank_batch(
    corpus: Corpus,
    profiles: Sequence[Profile],
    limits: np.ndarray,
    min_score: float,
    not_before: Sequence[float] | None,
    seen: Sequence[set[str]] | None,
    similar: _VoteSpace,
) -> Picks:
    keyword_ids: dict[str, int] = {}
    intern = keyword_ids.setdefault
    n = len(profiles)
    inc_cols = [intern(k, len(keyword_ids)) for p in profiles for k in p.keywords]
    inc_sizes = np.fromiter((len(p.keywords) for p in profiles), dtype=np.int64, count=n)
    exc_cols = [intern(k, len(keyword_ids)) for p in profiles for k in p.exclude]
    exc_sizes = np.fromiter((len(p.exclude) for p in profiles), dtype=np.int64, count=n)
    shape = (n, len(keyword_ids))
    rows = np.arange(n)
    include = sp.csr_matrix(
        (np.ones(len(inc_cols), np.float32), (np.repeat(rows, inc_sizes), inc_cols)), shape=shape
    )
    exclude = sp.csr_matrix(
        (np.ones(len(exc_cols), np.float32), (np.repeat(rows, exc_sizes), exc_cols)), shape=shape
    )
    index = KeywordScores(corpus, list(keyword_ids))
    hits = index.hits(max(min_score, 1e-6))
    scores = np.asarray((include @ index.scores).toarray(), dtype=np.float32)
    eligible = (include @ hits).toarray() > 0
    learned = similar.learned(profiles)
    if learned is not None:
        extra, _ = learned
        scores += extra
        eligible |= extra >= LIKE_FLOOR * (LIKE_WEIGHT / 2)
    eligible &= ~((exclude @ index.full).toarray() > 0)
    trending = np.fromiter((p.trending for p in profiles), dtype=np.float32, count=n)
    if trending.any():
        scores *= 1.0 + trending[:, None] * corpus.popularity[None, :]
    if not_before is not None:
        eligible &= corpus.first_seen[None, :] > np.asarray(not_before)[:, None]
    if seen is not None:
        position = corpus.position
        seen_rows = [r for r, ids in enumerate(seen) for pid in ids if pid in position]
        seen_cols = [position[pid] for ids in seen for pid in ids if pid in position]
        eligible[seen_rows, seen_cols] = False
    scores[~eligible | (scores <= 0)] = 0.0
    best, best_scores = _covering_top(scores, limits, include, hits)
    counts = np.minimum((best_scores > 0).sum(axis=1), limits)
    return Picks(
        corpus.ids,
        best,
        best_scores,
        counts,
        include,
        hits.tocsc(),
        index.keywords,
        None if learned is None else (learned[1], similar),
    )


def _covering_top(
    scores: np.ndarray, limits: np.ndarray, include: sp.csr_matrix, hits: sp.csr_matrix
) -> tuple[np.ndarray, np.ndarray]:
    """The best papers per row, after giving every keyword with an eligible paper one slot."""
    best, best_scores = _top(scores, limits)
    pair_rows = np.repeat(np.arange(include.shape[0]), np.diff(include.indptr))
    pair_kw = include.indices
    if not len(pair_kw):
        return best, best_scores
    hit = hits.toarray() > 0  # keywords x papers
    width = best.shape[1]
    in_top = np.arange(width)[None, :] < np.minimum(limits, width)[pair_rows][:, None]
    picked = best[pair_rows]
    covered = (hit[pair_kw[:, None], picked] & (best_scores[pair_rows] > 0) & in_top).any(axis=1)
    todo = np.flatnonzero(~covered)
    if not len(todo):
        return best, best_scores
    r, k = pair_rows[todo], pair_kw[todo]
    candidate = np.where(hit[k], scores[r], 0.0)
    choice = candidate.argmax(axis=1)
    found = candidate[np.arange(len(todo)), choice] > 0
    if not found.any():
        return best, best_scores
    boosted = scores.copy()
    boosted[r[found], choice[found]] += BIG
    chosen, _ = _top(boosted, limits)
    chosen_scores = np.take_along_axis(scores, chosen, axis=1)
    order = np.argsort(-chosen_scores, axis=1, kind="stable")
    return np.take_along_axis(chosen, order, axis=1), np.take_along_axis(
        chosen_scores, order, axis=1
    )


def _top(scores: np.ndarray, limits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the column indices and scores of the k best, best first."""
    width = scores.shape[1]
    k = int(min(max(int(limits.max(initial=0)), 1), width))
    best = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < width
        else np.tile(np.arange(width), (scores.shape[0], 1))
    )
    best_scores = np.take_along_axis(scores, best, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    return np.take_along_axis(best, order, axis=1), np.take_along_axis(best_scores, order, axis=1)
