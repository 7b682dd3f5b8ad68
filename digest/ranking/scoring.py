"""Profiles x papers -> the best papers of each profile, as sparse and dense matrix products.

A profile's score for a paper is the sum of its keywords' scores (keywords.py) and of its
keywords read as one BM25F query (a word two keywords share counts twice), plus what it
learned from votes: a Rocchio centroid of liked minus disliked papers, as cosine similarity
to the paper (of their words; a fifth of it in the topic space when there is one), weighted
by how many votes there are so that a few votes never swamp the keywords. A paper is
eligible when one keyword scores at least `min_score` or its words resemble liked papers'
at least `LIKE_FLOOR`; an excluded keyword whose words all occur removes it.
Among the eligible papers, those like the profile's own best matches move up (pseudo-relevance
feedback, as if the reader had liked the top few); that guess gives way to the reader's own
votes as they come (its pull times 1 - confidence in the votes). Popularity multiplies
relevance, never replaces it. Each keyword that has an eligible paper gets at least one into
the digest (coverage), so a narrow interest is never crowded out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from digest.ranking.features import Corpus
from digest.ranking.keywords import KeywordCache, KeywordScores
from digest.ranking.results import Picks, Ranking
from digest.ranking.selection import covering_top, top

DEFAULT_BATCH = 4096
LIKE_WEIGHT = 6.0  # weight of the learned part at full confidence, against 1 per keyword
LIKE_HALF = 3.0  # votes at which the learned part has half its weight
DISLIKE_WEIGHT = 0.6  # Rocchio's gamma: how much a disliked paper pushes its kind down
LIKE_FLOOR = 0.07  # closeness to liked papers (soft max of cosines) that makes a paper eligible
SOFT_MAX = 4.0  # power of the power mean that stands in for the max over liked papers
PSEUDO_WEIGHT = 5.0  # pull of a profile's best matches on the order of the others
PSEUDO_DEPTH = 5  # how many best matches stand in for papers the reader would like
ONE_QUERY_WEIGHT = 2.0  # weight of the whole profile read as one BM25 query, against 1 a keyword
MEANING = 0.2  # share of the semantic layer's cosine in how alike a voted paper and a paper are
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
    # a keyword's near misses are damped by its exact matches among the papers some profile
    # may get (keywords.py): papers older than every window are not today's
    counted = None
    if not_before is not None and len(not_before):
        counted = corpus.first_seen > float(np.min(not_before))
    cache = KeywordCache(corpus, counted=counted)
    bounds = [
        (start, min(start + batch_size, len(profiles)))
        for start in range(0, len(profiles), batch_size)
    ]
    batches: list[tuple[int, Picks | None, int]] = []
    # the learned part of the next batch is computed on a second core (scipy and numpy
    # release the GIL) while this batch's keywords are scored
    with ThreadPoolExecutor(max_workers=1) as helper:
        ahead = deque(helper.submit(similar.learned, *b) for b in bounds[:2])
        for i, (start, stop) in enumerate(bounds):
            learned = ahead.popleft()
            if i + 2 < len(bounds):
                ahead.append(helper.submit(similar.learned, *bounds[i + 2]))
            picks = (
                _rank_batch(
                    corpus,
                    profiles[start:stop],
                    limits[start:stop],
                    min_score,
                    None if not_before is None else not_before[start:stop],
                    None if seen is None else seen[start:stop],
                    similar,
                    learned,
                    cache,
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


class _Learned(NamedTuple):
    """What a batch of profiles learned from their votes (_VoteSpace.learned)."""

    scores: np.ndarray  # profiles x papers: the Rocchio part of the score
    close: np.ndarray  # profiles x papers: close enough to liked papers to be eligible
    likes: sp.csr_matrix  # profiles x voted papers: 1 where liked
    trust: np.ndarray  # per profile, confidence in its votes (0..1)


class _VoteSpace:
    """Similarity of every voted paper to every candidate, and each profile's vote weights
    (Rocchio: liked papers' mean minus DISLIKE_WEIGHT x disliked papers' mean, scaled by
    confidence in the number of votes), built once for all batches."""

    def __init__(self, corpus: Corpus, profiles: Sequence[Profile], voted: Voted) -> None:
        known = voted.papers
        named = set(chain.from_iterable(p.liked for p in profiles))
        named.update(chain.from_iterable(p.disliked for p in profiles))
        ids = sorted(named.intersection(known))
        self.row = {pid: i for i, pid in enumerate(ids)}
        rows = corpus.vectors([known[pid] for pid in ids])
        self.sim = corpus.similarity(rows)
        # the closeness that makes a paper eligible stays lexical: words the liked papers use
        self.sim_power = np.power(np.maximum(self.sim, 0.0), SOFT_MAX, dtype=np.float32)
        semantic = corpus.semantic
        vectors = semantic.embed(rows) if semantic is not None and ids else None
        if semantic is not None and vectors is not None:
            # what a vote teaches reaches the papers that say it in other words
            meaning = np.maximum(vectors @ semantic.papers.T, 0.0)
            self.sim = ((1 - MEANING) * self.sim + MEANING * meaning).astype(np.float32)
        shape = (len(profiles), len(ids))
        liked = self._votes([p.liked for p in profiles], shape)
        disliked = self._votes([p.disliked for p in profiles], shape)
        n_liked, n_disliked = np.diff(liked.indptr), np.diff(disliked.indptr)
        votes = n_liked + n_disliked
        self.trust = (votes / (votes + LIKE_HALF)).astype(np.float32)  # 0 without votes
        confidence = LIKE_WEIGHT * self.trust
        like_w = np.divide(confidence, n_liked, out=np.zeros(len(profiles)), where=n_liked > 0)
        dislike_w = -DISLIKE_WEIGHT * np.divide(
            confidence, n_disliked, out=np.zeros(len(profiles)), where=n_disliked > 0
        )
        self.likes = liked
        self.weights = sp.csr_matrix(
            sp.diags(like_w.astype(np.float32)) @ liked
            + sp.diags(dislike_w.astype(np.float32)) @ disliked
        )

    def _votes(self, lists: list[Sequence[str]], shape: tuple[int, int]) -> sp.csr_matrix:
        """A 0/1 matrix: row r marks the voted papers of lists[r] (unknown papers left out)."""
        sizes = np.fromiter(map(len, lists), np.int64, len(lists))
        flat = np.fromiter(
            map(self.row.get, chain.from_iterable(lists), repeat(-1)), np.int64, int(sizes.sum())
        )
        rows = np.repeat(np.arange(len(lists)), sizes)
        keep = flat >= 0
        data = np.ones(int(keep.sum()), np.float32)
        matrix = sp.csr_matrix((data, (rows[keep], flat[keep])), shape=shape)
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return matrix

    def learned(self, start: int, stop: int) -> _Learned | None:
        """For profiles start:stop x papers: the learned scores, whether a paper is close to
        the liked papers (a power mean of cosines, near their max), the liked papers, and
        each profile's confidence in its votes (0..1)."""
        weights = self.weights[start:stop]
        if not weights.nnz:
            return None
        likes = self.likes[start:stop]
        counts = np.maximum(np.diff(likes.indptr), 1).astype(np.float32)
        mean_power = sp.csr_matrix(sp.diags(1.0 / counts) @ likes) @ self.sim_power
        close = mean_power >= LIKE_FLOOR**SOFT_MAX  # the power mean at least LIKE_FLOOR
        learned = np.asarray(weights @ self.sim, dtype=np.float32)
        return _Learned(learned, close, likes, self.trust[start:stop])


def _rank_batch(
    corpus: Corpus,
    profiles: Sequence[Profile],
    limits: np.ndarray,
    min_score: float,
    not_before: Sequence[float] | None,
    seen: Sequence[set[str]] | None,
    similar: _VoteSpace,
    learned_later: Future[_Learned | None],
    cache: KeywordCache,
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
    index = cache.scores(list(keyword_ids))
    threshold = max(min_score, 1e-6)
    hits = index.hits(threshold)
    scores = _product(include, index.scores)
    eligible = _product(include, hits) > 0
    learned = learned_later.result()
    if learned is not None:
        scores += learned.scores
        eligible |= learned.close
    if exc_cols:
        with_excludes = np.flatnonzero(exc_sizes)
        eligible[with_excludes] &= ~(_product(exclude[with_excludes], index.full) > 0)
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
    scores *= eligible  # what is not eligible scores nothing, and neither does a negative
    np.maximum(scores, 0.0, out=scores)  # score (in place: a masked write is 3x slower)
    positive = scores > 0  # the papers that can be sent; the next two add to them only
    scores += ONE_QUERY_WEIGHT * _as_one_query(corpus, include, index.words, positive)
    pull = np.full(n, PSEUDO_WEIGHT, np.float32)
    if learned is not None:  # the guess gives way to the reader's own votes
        pull *= 1.0 - learned.trust
    scores += _like_the_best(corpus, scores, pull, positive)
    liked_topic = None if learned is None else learned.close
    best, best_scores = covering_top(scores, limits, include, hits, liked_topic)
    counts = np.minimum((best_scores > 0).sum(axis=1), limits)
    return Picks(
        corpus.ids,
        best,
        best_scores,
        counts,
        include,
        hits.tocsc(),
        index.keywords,
        None if learned is None else (learned.likes, similar),
        # the words' own hits, unless they are the hits already (no feedback, no semantic layer)
        None if index.worded is index.evidence else index.hits(threshold, words_only=True),
    )


def _as_one_query(
    corpus: Corpus, include: sp.csr_matrix, words: sp.csr_matrix, eligible: np.ndarray
) -> np.ndarray:
    """Each profile's keywords read as one BM25F query, as plain BM25 reads them: a word two
    keywords share counts twice ("prompt" in "prompt engineering, prompt tuning"), and a paper
    holding words of several keywords gains though it holds none of them whole. Scaled as a
    keyword is (1: every word once in title and abstract); eligible papers only."""
    query = sp.csr_matrix(include @ words)
    totals = np.asarray(query.sum(axis=1), dtype=np.float32).ravel() * corpus.whole_match
    # over the words the profiles use only: sparse x dense, not a sparse product whose
    # result (most papers hold some word of most profiles) is nearly dense anyway
    used, columns = np.unique(query.indices, return_inverse=True)
    compact = sp.csr_matrix((query.data, columns, query.indptr), shape=(query.shape[0], len(used)))
    matched = np.asarray(compact @ corpus.bm25_by_feature[used].toarray(), dtype=np.float32)
    matched /= np.where(totals > 0, totals, 1.0)[:, None]
    matched *= eligible
    return matched


def _like_the_best(
    corpus: Corpus, scores: np.ndarray, pull: np.ndarray, eligible: np.ndarray
) -> np.ndarray:
    """Pseudo-relevance feedback on the whole profile: each eligible paper gains `pull` (per
    row) x its cosine to the centroid of the profile's PSEUDO_DEPTH best papers, so that
    among the papers that match, those about what the best matches are about come first. The
    centroid weighs each by its score: when only two papers really match, three weak matches
    filling the top five must not pull papers like themselves up (each is close to a centroid
    it is part of)."""
    best, best_scores = top(scores, np.array([PSEUDO_DEPTH]))
    cosine = corpus.centroid_cosine(best, best_scores.astype(np.float32))
    cosine *= eligible * pull[:, None]
    return cosine


def _product(left: sp.csr_matrix, right: sp.csr_matrix) -> np.ndarray:
    """left @ right as a dense float32 array; dense on the right when that is small."""
    if right.shape[0] * right.shape[1] <= 32_000_000:
        return np.asarray(left @ right.toarray(), dtype=np.float32)
    return np.asarray((left @ right).toarray(), dtype=np.float32)
