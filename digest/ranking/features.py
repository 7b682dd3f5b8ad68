"""The feature space: stored document frequencies and acronyms, and the papers as matrices.

Features are word stems and adjacent stem pairs. Their weights come from `FeatureStats`,
learned from the history and stored, so that today's papers, last month's liked papers and
every keyword are weighted alike whatever the candidate window holds.
"""

from __future__ import annotations

import functools
import json
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from digest.ranking.acronyms import Acronyms
from digest.ranking.text import features, stems

# 2: British spellings folded into American ones; 3: agent nouns; 4: -ize words; 5: "use", "out";
# 6: words with a stem of their own; 7: clipped words; 8-12: more of them, "state-of-the-art";
# 13: C++, C#, F#
STATS_FORMAT = 13
UNIT_FEATURES = 64  # features kept per paper vector for vote similarity
DENSE_LIMIT = 16_000_000  # floats up to which similarity is a dense product


class Semantic(Protocol):
    """An optional sentence-embedding layer: unit vectors of the papers and of keywords."""

    papers: np.ndarray  # (papers, dimensions), L2-normalised, in corpus order
    blend: float  # weight of the rescaled cosine added to the lexical score
    close: float  # cosine from which a paper matches a keyword without sharing its words

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of short texts (keywords), (len(texts), dimensions)."""
        ...

    def embed(self, rows: sp.csr_matrix) -> np.ndarray | None:
        """Unit vectors of other papers given as `Corpus.vectors` rows, made as the corpus's
        papers' are; None when this layer embeds text and cannot do so cheaply."""
        ...


@dataclass(frozen=True)
class Weights:
    """The constants of the field-weighted BM25 model (BM25F)."""

    k1: float = 1.2
    b_title: float = 0.3
    b_abstract: float = 0.75
    title: float = 2.5  # a word in the title counts as much as 2.5 in the abstract
    abstract: float = 1.0
    phrase: float = 0.6  # weight of an adjacent pair, relative to its words' mean IDF


@dataclass
class FeatureStats:
    """Document frequencies of stems, and acronyms, over a sample of the history."""

    n_docs: int = 0
    df: Counter[str] = field(default_factory=Counter)
    acronyms: Acronyms = field(default_factory=Acronyms)

    def add(self, papers: Iterable[tuple[str, str]]) -> None:
        """Count these (title, abstract) pairs in."""
        texts = []
        for title, abstract in papers:
            self.n_docs += 1
            self.df.update(set(stems(f"{title} {abstract}")))
            texts.append(abstract)
        self.acronyms.learn(texts)

    def idf(self, stem: str) -> float:
        """Okapi IDF of a stem; a stem never seen counts as seen once."""
        df = self.df.get(stem, 0) or 1
        return math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))

    def to_bytes(self) -> bytes:
        """A compact serialisation (zlib-compressed JSON) for the store."""
        data = {
            "format": STATS_FORMAT,
            "n_docs": self.n_docs,
            "df": dict(self.df),
            "acronyms": self.acronyms.to_rows(),
        }
        return zlib.compress(json.dumps(data, separators=(",", ":")).encode("utf-8"), 6)

    @classmethod
    def from_bytes(cls, blob: bytes) -> FeatureStats | None:
        """Stats written by to_bytes, or None when the blob is of another format."""
        try:
            data = json.loads(zlib.decompress(blob))
        except (zlib.error, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != STATS_FORMAT:
            return None
        return cls(int(data["n_docs"]), Counter(data["df"]), Acronyms.from_rows(data["acronyms"]))

    @classmethod
    def of(cls, papers: Iterable[tuple[str, str]]) -> FeatureStats:
        """Stats of these (title, abstract) pairs alone."""
        stats = cls()
        stats.add(papers)
        return stats


class Corpus:
    """The papers being ranked, as a BM25F matrix (keywords) and unit TF-IDF rows (votes)."""

    def __init__(
        self,
        ids: Sequence[str],
        titles: Sequence[str],
        abstracts: Sequence[str],
        first_seen: Sequence[float] | None = None,
        *,
        popularity: Sequence[float] | None = None,
        stats: FeatureStats | None = None,
        weights: Weights | None = None,
        semantic: Semantic | None = None,
    ) -> None:
        self.ids = list(ids)
        self.position = {pid: i for i, pid in enumerate(self.ids)}
        n = len(self.ids)
        self.first_seen = np.asarray(
            first_seen if first_seen is not None else np.zeros(n), dtype=np.float64
        )
        self.popularity = np.asarray(
            popularity if popularity is not None else np.zeros(n), dtype=np.float32
        )
        self.weights = weights or Weights()
        self.semantic = semantic
        self.stats = stats or FeatureStats.of(zip(titles, abstracts, strict=True))
        self.vocab: dict[str, int] = {}
        self._idf: dict[str, float] = {}
        title_rows = [stems(t) for t in titles]
        abstract_rows = [stems(a) for a in abstracts]
        title_tf = feature_counts(title_rows, self.vocab, grow=True)
        abstract_tf = feature_counts(abstract_rows, self.vocab, grow=True)
        shape = (n, len(self.vocab))
        title_tf.resize(shape)
        abstract_tf.resize(shape)
        self.idf = np.fromiter((self.weight(f) for f in self.vocab), np.float32, len(self.vocab))
        self.bm25 = self._bm25(title_tf, abstract_tf, title_rows, abstract_rows)
        words_only = np.fromiter(("_" not in f for f in self.vocab), np.float32, len(self.vocab))
        self.unit = self._unit(sp.csr_matrix((title_tf * 2 + abstract_tf) @ sp.diags(words_only)))
        self.present = self.bm25.copy()
        self.present.data[:] = 1.0

    @functools.cached_property
    def paper_similarity(self) -> np.ndarray | None:
        """Cosine of every paper to every other (dense), or None when that would be large."""
        n = len(self.ids)
        if not n or n * n > DENSE_LIMIT:
            return None
        used = np.unique(self.unit.indices)
        dense = self.unit[:, used].toarray()
        return np.asarray(dense @ dense.T, dtype=np.float32)

    def centroid_cosine(self, papers: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Per row r, the cosine to every paper of the centroid of papers[r] (column indexes),
        weighted by weights[r] (a weight of 0 leaves a paper out)."""
        rows = np.repeat(np.arange(len(papers)), papers.shape[1])
        matrix = sp.csr_matrix(
            (weights.ravel(), (rows, papers.ravel())), shape=(len(papers), len(self.ids))
        )
        matrix.eliminate_zeros()
        similarity = self.paper_similarity
        if similarity is not None:
            dots = np.asarray(matrix @ similarity)  # the centroid's dot product with each paper
            norms = np.sqrt(np.maximum(np.asarray(matrix.multiply(dots).sum(axis=1)).ravel(), 0))
        else:
            centroid = matrix @ self.unit
            dots = (centroid @ self.unit_by_feature).toarray()
            norms = np.sqrt(np.asarray(centroid.multiply(centroid).sum(axis=1))).ravel()
        dots = np.asarray(dots, dtype=np.float32)
        dots /= np.where(norms > 0, norms, 1.0).astype(np.float32)[:, None]  # in place: it is large
        return dots

    def weight(self, feature: str) -> float:
        """IDF of a stem, or of a pair (its words' mean IDF, scaled by the phrase weight)."""
        cached = self._idf.get(feature)
        if cached is None:
            a, sep, b = feature.partition("_")
            if sep:
                cached = self.weights.phrase * (self.stats.idf(a) + self.stats.idf(b)) / 2
            else:
                cached = self.stats.idf(feature)
            self._idf[feature] = cached
        return cached

    def saturate(self, tf: np.ndarray) -> np.ndarray:
        """BM25's term-frequency saturation."""
        k1 = self.weights.k1
        return (tf * (k1 + 1) / (tf + k1)).astype(np.float32)

    @functools.cached_property
    def bm25_by_feature(self) -> sp.csr_matrix:
        """The BM25F weights, features x papers (CSR: a profile's query multiplies it fast)."""
        return sp.csr_matrix(self.bm25.T)

    @functools.cached_property
    def present_by_feature(self) -> sp.csr_matrix:
        """Which paper holds which feature (1), features x papers, in CSR as bm25_by_feature:
        a product with a transposed view converts the whole matrix on every call."""
        return sp.csr_matrix(self.present.T)

    @functools.cached_property
    def unit_by_feature(self) -> sp.csr_matrix:
        """The papers' unit TF-IDF rows, features x papers, in CSR (as bm25_by_feature)."""
        return sp.csr_matrix(self.unit.T)

    @functools.cached_property
    def whole_match(self) -> float:
        """What a feature once in the title and once in the abstract weighs (before IDF):
        the unit keyword scores are measured in."""
        return float(self.saturate(np.asarray([self.weights.title + self.weights.abstract]))[0])

    def _bm25(
        self,
        title_tf: sp.csr_matrix,
        abstract_tf: sp.csr_matrix,
        titles: list[list[str]],
        abstracts: list[list[str]],
    ) -> sp.csr_matrix:
        w = self.weights
        len_t = np.fromiter((len(t) for t in titles), np.float32, len(titles))
        len_a = np.fromiter((len(a) for a in abstracts), np.float32, len(abstracts))
        mean_t = max(float(len_t.mean()) if len(len_t) else 1.0, 1.0)
        mean_a = max(float(len_a.mean()) if len(len_a) else 1.0, 1.0)
        norm_t = w.title / (1 - w.b_title + w.b_title * len_t / mean_t)
        norm_a = w.abstract / (1 - w.b_abstract + w.b_abstract * len_a / mean_a)
        matrix = sp.csr_matrix(sp.diags(norm_t) @ title_tf + sp.diags(norm_a) @ abstract_tf)
        matrix.data = self.saturate(matrix.data)
        return matrix

    def _unit(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        return unit_rows(counts, self.idf)

    def vectors(self, papers: Sequence[tuple[str, str]]) -> sp.csr_matrix:
        """Unit-length TF-IDF rows of other (title, abstract) pairs over this corpus's word
        stems (unknown stems dropped)."""
        titles, abstracts = [stems(t) for t, _ in papers], [stems(a) for _, a in papers]
        return self._unit(
            feature_counts(titles, self.vocab, False, with_pairs=False) * 2
            + feature_counts(abstracts, self.vocab, False, with_pairs=False)
        )

    def similarity(self, other: sp.csr_matrix) -> np.ndarray:
        """Cosine similarity of rows made by `vectors` to every paper: (rows, papers)."""
        if not other.shape[0] or not self.ids:
            return np.zeros((other.shape[0], len(self.ids)), dtype=np.float32)
        used = np.unique(other.indices)
        if len(used) * (other.shape[0] + len(self.ids)) <= DENSE_LIMIT:  # BLAS beats sparse
            dense = other[:, used].toarray()
            return np.asarray(dense @ self.unit[:, used].toarray().T, dtype=np.float32)
        return np.asarray((other @ self.unit_by_feature).toarray(), dtype=np.float32)


def feature_counts(
    rows: list[list[str]], vocab: dict[str, int], grow: bool, with_pairs: bool = True
) -> sp.csr_matrix:
    """Feature counts per row of stems (stems and pairs, or stems alone) over `vocab`'s
    columns; new features join the vocabulary only when `grow`."""
    indptr, cols, vals = [0], [], []
    lookup = vocab.setdefault if grow else None
    known = vocab.get
    for tokens in rows:
        for feature, count in Counter(features(tokens) if with_pairs else tokens).items():
            col = lookup(feature, len(vocab)) if lookup else known(feature)
            if col is not None:
                cols.append(col)
                vals.append(count)
        indptr.append(len(cols))
    return sp.csr_matrix(
        (np.asarray(vals, np.float32), np.asarray(cols, np.int64), np.asarray(indptr)),
        shape=(len(rows), len(vocab)),
    )


def unit_rows(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Unit-length rows of sublinear TF x IDF, each kept to its UNIT_FEATURES heaviest
    features (the light ones barely move a cosine and make products dense)."""
    matrix = counts.copy()
    matrix.data = ((1.0 + np.log(matrix.data)) * idf[matrix.indices]).astype(np.float32)
    matrix = _heaviest(matrix, UNIT_FEATURES)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags((1.0 / norms).astype(np.float32)) @ matrix)


def _heaviest(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Each row's `keep` largest entries (the others dropped), as CSR."""
    sizes = np.diff(matrix.indptr)
    if not len(sizes) or sizes.max() <= keep:
        return matrix
    rows = np.repeat(np.arange(len(sizes)), sizes)
    order = np.lexsort((-matrix.data, rows))
    rank_in_row = np.arange(len(order)) - np.repeat(matrix.indptr[:-1], sizes)
    kept = order[rank_in_row < keep]
    return sp.csr_matrix(
        (matrix.data[kept], (rows[kept], matrix.indices[kept])), shape=matrix.shape
    )
