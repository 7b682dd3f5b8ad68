"""The service's ranker before issue 8 (TF-IDF, all-words keyword filter), kept for pooling."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import overload

import numpy as np
import scipy.sparse as sp

_TOKEN = re.compile(r"\w\w+")
DEFAULT_BATCH = 4096


@cache
def _stop_words() -> frozenset[str]:
    # imported here: scikit-learn takes a second to import, and most commands never rank
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens without stop words, with plural endings folded."""
    out = []
    stop = _stop_words()
    for token in _TOKEN.findall(text.lower()):
        if token in stop:
            continue
        if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
            token = token[:-1]
        out.append(token)
    return out


def split_keywords(text: str) -> list[str]:
    """`"kv cache, quantization"` -> `["kv cache", "quantization"]`, duplicates dropped."""
    seen: dict[str, None] = {}
    for part in re.split(r"[,;\n]", text):
        keyword = " ".join(part.split()).lower()
        if keyword:
            seen.setdefault(keyword, None)
    return list(seen)


@dataclass(frozen=True)
class Profile:
    """What one subscriber wants (keywords) and does not want (exclude)."""

    keywords: Sequence[str]
    exclude: Sequence[str] = ()


@dataclass(frozen=True)
class Match:
    """One paper chosen for one profile: its score and the keywords it matched."""

    paper_id: str
    score: float
    matched: list[str] = field(default_factory=list)


class Corpus:
    """The papers being ranked, vectorised once."""

    def __init__(
        self, ids: Sequence[str], texts: Sequence[str], first_seen: Sequence[float] | None = None
    ) -> None:
        self.ids = list(ids)
        self.first_seen = np.asarray(
            first_seen if first_seen is not None else np.zeros(len(ids)), dtype=np.float64
        )
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(
            tokenizer=tokenize,
            token_pattern=None,
            lowercase=False,
            ngram_range=(1, 2),
            sublinear_tf=True,
            dtype=np.float32,
        )
        if self.ids:
            self.docs = sp.csr_matrix(self.vectorizer.fit_transform(texts))
        else:
            self.docs = sp.csr_matrix((0, 0), dtype=np.float32)
        self.present = self.docs.copy()
        self.present.data[:] = 1.0  # which terms each paper contains


def paper_text(title: str, abstract: str) -> str:
    """The text a paper is ranked on: the title counts twice."""
    return f"{title}. {title}. {abstract}"


class _KeywordIndex:
    """Every distinct keyword of a batch of profiles, scored against every paper once."""

    def __init__(self, corpus: Corpus, keywords: list[str]) -> None:
        self.keywords = keywords
        vocab = corpus.vectorizer.vocabulary_ if corpus.ids else {}
        weights = corpus.vectorizer.transform(keywords) if corpus.ids else None
        # cosine of each keyword with each paper (rows are L2-normalised by TF-IDF)
        self.scores = sp.csr_matrix(weights @ corpus.docs.T) if weights is not None else None
        rows, cols, required = [], [], np.zeros(len(keywords), dtype=np.float32)
        for k, keyword in enumerate(keywords):
            tokens = set(tokenize(keyword))
            required[k] = len(tokens)
            for token in tokens:
                if token in vocab:
                    rows.append(k)
                    cols.append(vocab[token])
        width = corpus.docs.shape[1]
        mask = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(keywords), width)
        )
        hits = sp.csr_matrix(mask @ corpus.present.T) if corpus.ids else None
        # a keyword matches a paper when every one of its words occurs in it
        if hits is not None:
            row_of = np.repeat(np.arange(hits.shape[0]), np.diff(hits.indptr))
            hits.data = (hits.data >= required[row_of]).astype(np.float32)
            hits.eliminate_zeros()
        self.full = hits


class _Batch:
    """The ranked top papers of one batch of profiles, as arrays; Match objects on demand."""

    def __init__(
        self,
        ids: list[str],
        best: np.ndarray,
        scores: np.ndarray,
        counts: np.ndarray,
        include: sp.csr_matrix,
        full: sp.csc_matrix,
        keywords: list[str],
    ) -> None:
        self.ids, self.best, self.scores, self.counts = ids, best, scores, counts
        self.include, self.full, self.keywords = include, full, keywords

    def matches(self, row: int) -> list[Match]:
        """The picks of one profile, best first, with the keywords each matched."""
        wanted = set(
            self.include.indices[self.include.indptr[row] : self.include.indptr[row + 1]].tolist()
        )
        out = []
        count = int(self.counts[row])
        for col, score in zip(
            self.best[row, :count].tolist(), self.scores[row, :count].tolist(), strict=True
        ):
            hits = self.full.indices[self.full.indptr[col] : self.full.indptr[col + 1]].tolist()
            matched = sorted(self.keywords[k] for k in hits if k in wanted)
            out.append(Match(self.ids[col], round(score, 4), matched))
        return out


class Ranking(Sequence[list[Match]]):
    """Every profile's picks; computed as arrays, turned into Match lists only when read."""

    def __init__(self, batches: list[tuple[int, _Batch | None, int]]) -> None:
        self._batches = batches  # (first row, batch or None when empty, rows)
        self._size = sum(rows for _, _, rows in batches)

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> list[Match]: ...

    @overload
    def __getitem__(self, index: slice) -> list[list[Match]]: ...

    def __getitem__(self, index: int | slice) -> list[Match] | list[list[Match]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._size))]
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError(index)
        for start, batch, rows in self._batches:
            if index < start + rows:
                return [] if batch is None else batch.matches(index - start)
        raise IndexError(index)  # pragma: no cover

    def counts(self) -> np.ndarray:
        """How many papers each profile got, as one array."""
        parts = [
            np.zeros(rows, dtype=np.int64) if b is None else b.counts
            for _, b, rows in self._batches
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def rank(
    corpus: Corpus,
    profiles: Sequence[Profile],
    top: int | Sequence[int],
    *,
    min_score: float = 0.0,
    not_before: Sequence[float] | None = None,
    seen: Sequence[set[str]] | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> Ranking:
    """For each profile, its best papers (score >= min_score and at least one keyword matched)."""
    limits = np.full(len(profiles), top) if isinstance(top, int) else np.asarray(top)
    batches: list[tuple[int, _Batch | None, int]] = []
    for start in range(0, len(profiles), batch_size):
        stop = min(start + batch_size, len(profiles))
        batch = _rank_batch(
            corpus,
            profiles[start:stop],
            limits[start:stop],
            min_score,
            None if not_before is None else not_before[start:stop],
            None if seen is None else seen[start:stop],
        )
        batches.append((start, batch, stop - start))
    return Ranking(batches)


def _rank_batch(
    corpus: Corpus,
    profiles: Sequence[Profile],
    limits: np.ndarray,
    min_score: float,
    not_before: Sequence[float] | None,
    seen: Sequence[set[str]] | None,
) -> _Batch | None:
    if not corpus.ids:
        return None
    keyword_ids: dict[str, int] = {}
    intern = keyword_ids.setdefault
    inc_cols = [intern(k, len(keyword_ids)) for p in profiles for k in p.keywords]
    inc_sizes = np.fromiter(
        (len(p.keywords) for p in profiles), dtype=np.int64, count=len(profiles)
    )
    exc_cols = [intern(k, len(keyword_ids)) for p in profiles for k in p.exclude]
    exc_sizes = np.fromiter((len(p.exclude) for p in profiles), dtype=np.int64, count=len(profiles))
    rows = np.arange(len(profiles))
    weights = (1.0 / np.sqrt(np.maximum(inc_sizes, 1))).astype(np.float32)
    index = _KeywordIndex(corpus, list(keyword_ids))
    assert index.scores is not None and index.full is not None
    shape = (len(profiles), len(keyword_ids))
    include = sp.csr_matrix(
        (np.repeat(weights, inc_sizes), (np.repeat(rows, inc_sizes), inc_cols)), shape=shape
    )
    exclude = sp.csr_matrix(
        (np.ones(len(exc_cols), dtype=np.float32), (np.repeat(rows, exc_sizes), exc_cols)),
        shape=shape,
    )
    scores = (include @ index.scores).toarray()
    matched_any = (include @ index.full).toarray() > 0
    excluded = (exclude @ index.full).toarray() > 0
    scores[~matched_any | excluded | (scores < min_score)] = 0.0
    if not_before is not None:
        scores[corpus.first_seen[None, :] <= np.asarray(not_before)[:, None]] = 0.0
    if seen is not None:
        position = {pid: i for i, pid in enumerate(corpus.ids)}
        seen_rows = [r for r, ids in enumerate(seen) for pid in ids if pid in position]
        seen_cols = [position[pid] for ids in seen for pid in ids if pid in position]
        scores[seen_rows, seen_cols] = 0.0
    best, best_scores = _top(scores, limits)
    counts = np.minimum((best_scores > 0).sum(axis=1), limits)
    return _Batch(
        corpus.ids, best, best_scores, counts, include, index.full.tocsc(), index.keywords
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
