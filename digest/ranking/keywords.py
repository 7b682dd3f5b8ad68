"""Keywords as soft queries: each keyword's score for every paper, in [0, about 1].

A keyword is scored with field-weighted BM25 over its stems and adjacent pairs (a phrase, and
words adjacent in the text, score more), divided by the score of a paper holding the whole
phrase once in its title and once in its abstract. Papers matching part of a keyword score in
proportion to the IDF weight they match, damped by `coord`. A keyword also matches through
the acronyms and long forms learned from the history ("rlhf" <-> "reinforcement learning from
human feedback"); its score is the best of its variants.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from digest.ranking.acronyms import MAX_VARIANTS
from digest.ranking.features import Corpus, Semantic
from digest.ranking.text import features, stem, words

COORD = 1.0  # how hard partial matches are damped: score x (share of IDF matched) ** COORD


def keyword_stems(corpus: Corpus, keyword: str) -> list[str]:
    """A keyword's stems; a plural the stemmer keeps ("llms") falls back to its singular."""
    out = []
    for word in words(keyword):
        token = stem(word)
        if token not in corpus.stats.df and word.endswith("s") and len(word) > 2:
            singular = stem(word[:-1])
            if singular in corpus.stats.df or singular in corpus.stats.acronyms.expand:
                token = singular
        out.append(token)
    return out


class KeywordScores:
    """Scores of distinct keywords against every paper of a corpus."""

    def __init__(self, corpus: Corpus, keywords: Sequence[str], coord: float = COORD) -> None:
        self.keywords = list(keywords)
        n_kw, n_docs = len(self.keywords), len(corpus.ids)
        slots: list[list[tuple[int, tuple[str, ...]]]] = [[] for _ in range(MAX_VARIANTS)]
        for k, keyword in enumerate(self.keywords):
            tokens = keyword_stems(corpus, keyword)
            for slot, variant in enumerate(corpus.stats.acronyms.variants(tokens)):
                if variant:
                    slots[slot].append((k, variant))
        self.scores = sp.csr_matrix((n_kw, n_docs), dtype=np.float32)
        self.full = sp.csr_matrix((n_kw, n_docs), dtype=np.float32)
        for variants in slots:
            if variants and n_docs:
                score, full = _score_variants(corpus, variants, n_kw, coord)
                self.scores = self.scores.maximum(score)
                self.full = self.full.maximum(full)
        self.scores = sp.csr_matrix(self.scores)
        self.full = sp.csr_matrix(self.full)
        if corpus.semantic is not None and n_kw and n_docs:
            self.scores = _blend(self.scores, corpus.semantic, self.keywords)

    def hits(self, threshold: float) -> sp.csr_matrix:
        """1 where a keyword scores at least `threshold` on a paper."""
        hit = sp.csr_matrix(self.scores >= threshold, dtype=np.float32) if threshold > 0 else None
        if hit is None:
            hit = self.scores.copy()
            hit.data = (hit.data > 0).astype(np.float32)
        hit.eliminate_zeros()
        return hit


def _score_variants(
    corpus: Corpus, variants: list[tuple[int, tuple[str, ...]]], n_kw: int, coord: float
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(score, all-stems-present) of one variant per keyword, as (n_kw x papers) matrices."""
    full_weight = float(
        corpus.saturate(np.asarray([corpus.weights.title + corpus.weights.abstract]))[0]
    )
    rows, cols, vals, uni_rows, uni_cols, uni_vals = [], [], [], [], [], []
    norms = np.ones(n_kw, dtype=np.float32)
    uni_total = np.ones(n_kw, dtype=np.float32)
    required = np.zeros(n_kw, dtype=np.float32)
    for k, tokens in variants:
        unigrams = list(dict.fromkeys(tokens))
        norm, total = 0.0, 0.0
        for feature in dict.fromkeys(features(tokens)):
            weight = corpus.weight(feature)
            norm += weight * full_weight
            col = corpus.vocab.get(feature)
            if "_" not in feature:
                total += weight
            if col is None:
                continue
            rows.append(k)
            cols.append(col)
            vals.append(weight)
            if "_" not in feature:
                uni_rows.append(k)
                uni_cols.append(col)
                uni_vals.append(weight)
        norms[k], uni_total[k], required[k] = norm or 1.0, total or 1.0, len(unigrams)
    shape = (n_kw, len(corpus.vocab))
    query = sp.csr_matrix((np.asarray(vals, np.float32), (rows, cols)), shape=shape)
    raw = sp.csr_matrix(query @ corpus.bm25.T)
    raw = sp.csr_matrix(sp.diags(1.0 / norms) @ raw)
    present = sp.csr_matrix((np.asarray(uni_vals, np.float32), (uni_rows, uni_cols)), shape=shape)
    matched = sp.csr_matrix(present @ corpus.present.T)
    share = sp.csr_matrix(sp.diags(1.0 / uni_total) @ matched)
    if coord:
        raw = sp.csr_matrix(raw.multiply(share.power(coord)))
    counts = (
        sp.csr_matrix((np.ones(len(uni_rows), np.float32), (uni_rows, uni_cols)), shape=shape)
        @ corpus.present.T
    )
    counts = sp.csr_matrix(counts)
    row_of = np.repeat(np.arange(n_kw), np.diff(counts.indptr))
    counts.data = (counts.data >= required[row_of]).astype(np.float32)
    counts.eliminate_zeros()
    return raw, counts


SEMANTIC_FLOOR = 0.25  # cosine below which a keyword and a paper count as unrelated


def _blend(lexical: sp.csr_matrix, semantic: Semantic, keywords: list[str]) -> sp.csr_matrix:
    """(1 - blend) x lexical + blend x rescaled cosine of keyword and paper embeddings."""
    cosine = semantic.encode(keywords) @ semantic.papers.T
    rescaled = np.clip((cosine - SEMANTIC_FLOOR) / (1.0 - SEMANTIC_FLOOR), 0.0, 1.0)
    mixed = (1.0 - semantic.blend) * lexical.toarray() + semantic.blend * rescaled
    return sp.csr_matrix(mixed.astype(np.float32))
