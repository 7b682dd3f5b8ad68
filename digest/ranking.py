"""Profiles x papers -> scores and reasons: TF-IDF and sparse matrix products, no pair loops."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

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


def rank(
    corpus: Corpus,
    profiles: Sequence[Profile],
    top: int | Sequence[int],
    *,
    min_score: float = 0.0,
    not_before: Sequence[float] | None = None,
    seen: Sequence[set[str]] | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> list[list[Match]]:
    """For each profile, its best papers (score >= min_score and at least one keyword matched)."""
    limits = np.full(len(profiles), top) if isinstance(top, int) else np.asarray(top)
    results: list[list[Match]] = []
    for start in range(0, len(profiles), batch_size):
        stop = min(start + batch_size, len(profiles))
        results.extend(
            _rank_batch(
                corpus,
                profiles[start:stop],
                limits[start:stop],
                min_score,
                None if not_before is None else not_before[start:stop],
                None if seen is None else seen[start:stop],
            )
        )
    return results


def _rank_batch(
    corpus: Corpus,
    profiles: Sequence[Profile],
    limits: np.ndarray,
    min_score: float,
    not_before: Sequence[float] | None,
    seen: Sequence[set[str]] | None,
) -> list[list[Match]]:
    if not corpus.ids:
        return [[] for _ in profiles]
    keyword_ids: dict[str, int] = {}
    inc_rows, inc_cols, inc_vals, exc_rows, exc_cols = [], [], [], [], []
    for row, profile in enumerate(profiles):
        weight = 1.0 / np.sqrt(max(len(profile.keywords), 1))
        for keyword in profile.keywords:
            inc_rows.append(row)
            inc_cols.append(keyword_ids.setdefault(keyword, len(keyword_ids)))
            inc_vals.append(weight)
        for keyword in profile.exclude:
            exc_rows.append(row)
            exc_cols.append(keyword_ids.setdefault(keyword, len(keyword_ids)))
    index = _KeywordIndex(corpus, list(keyword_ids))
    assert index.scores is not None and index.full is not None
    shape = (len(profiles), len(keyword_ids))
    include = sp.csr_matrix(
        (np.asarray(inc_vals, dtype=np.float32), (inc_rows, inc_cols)), shape=shape
    )
    exclude = sp.csr_matrix(
        (np.ones(len(exc_rows), dtype=np.float32), (exc_rows, exc_cols)), shape=shape
    )
    scores = (include @ index.scores).toarray()
    matched_any = (include @ index.full).toarray() > 0
    excluded = (exclude @ index.full).toarray() > 0
    scores[~matched_any | excluded | (scores < min_score)] = 0.0
    if not_before is not None:
        scores[corpus.first_seen[None, :] <= np.asarray(not_before)[:, None]] = 0.0
    if seen is not None:
        position = {pid: i for i, pid in enumerate(corpus.ids)}
        rows = [r for r, ids in enumerate(seen) for pid in ids if pid in position]
        cols = [position[pid] for ids in seen for pid in ids if pid in position]
        scores[rows, cols] = 0.0
    return _top(scores, limits, index, include, corpus.ids)


def _top(
    scores: np.ndarray,
    limits: np.ndarray,
    index: _KeywordIndex,
    include: sp.csr_matrix,
    ids: list[str],
) -> list[list[Match]]:
    width = scores.shape[1]
    k = int(min(max(int(limits.max(initial=0)), 1), width))
    best = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < width
        else np.tile(np.arange(width), (scores.shape[0], 1))
    )
    best_scores = np.take_along_axis(scores, best, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    best = np.take_along_axis(best, order, axis=1)
    best_scores = np.take_along_axis(best_scores, order, axis=1)
    assert index.full is not None
    full = index.full.tocsc()
    out: list[list[Match]] = []
    for row in range(scores.shape[0]):
        wanted = set(include.indices[include.indptr[row] : include.indptr[row + 1]].tolist())
        picks = []
        for col, score in zip(
            best[row, : limits[row]], best_scores[row, : limits[row]], strict=True
        ):
            if score <= 0:
                break
            hit = full.indices[full.indptr[col] : full.indptr[col + 1]]
            matched = [index.keywords[k] for k in hit.tolist() if k in wanted]
            picks.append(Match(ids[col], round(float(score), 4), sorted(matched)))
        out.append(picks)
    return out
