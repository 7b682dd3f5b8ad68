"""Keywords as soft queries: each keyword's score for every paper, in [0, about 1].

A keyword is scored with field-weighted BM25 over its stems and adjacent pairs (a phrase, and
words adjacent in the text, score more), divided by the score of a paper holding the whole
phrase once in its title and once in its abstract. Papers matching part of a keyword score in
proportion to the IDF weight they match, damped the harder the more papers match it whole: on
a day with a digest's worth of exact matches a near miss counts for little, on a day with none
it is the best there is (the day: the papers `counted`, by default all of the corpus). A
keyword also matches through the acronyms and long forms learned from the history ("rlhf" <->
"reinforcement learning from human feedback"); its score is the best of its variants.
Pseudo-relevance feedback then adds a little for papers that resemble a keyword's best matches
(vocabulary the keyword lacks), by their words and, in the semantic space, by their field.
Then the cosine of keyword and paper in a semantic space is added: the topics learned from
the history (topics.py), or the semantic extra's sentence embeddings (semantic.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from digest.ranking.acronyms import MAX_VARIANTS
from digest.ranking.features import Corpus, Semantic
from digest.ranking.selection import best_columns
from digest.ranking.semantic import FLOOR
from digest.ranking.text import STOP_WORDS, compound_forms, features, stem, word_stems

# how hard partial matches are damped: score x (share of IDF matched) ** coord, where coord
# goes from COORD_NONE for a keyword no paper matches whole to COORD once FULL_ENOUGH do
COORD = 2.0
COORD_NONE = 0.5
FULL_ENOUGH = 10  # exact matches that fill a digest of the default size
VARIANT_SLOTS = MAX_VARIANTS + 1  # the acronym rewritings, and a form with compounds joined
LOOSE = 0.35  # what a multi-word keyword keeps when its words never occur side by side


def keyword_forms(corpus: Corpus, keyword: str) -> list[tuple[str, ...]]:
    """A keyword's stems, in each of its forms (compound_forms: hyphen compounds split or
    joined); a plural the stemmer keeps ("llms") falls back to its singular.

    A compound with a stop word in it ("few-shot", "off-policy", "in-context", typed apart
    too: "few shot") is its joined form alone when the papers write that: split, it loses
    the stop word and is every "-shot", "-policy" or "context" text."""
    glued = _STOP_THEN_WORD.sub(_glue, keyword)
    forms = _forms(corpus, glued)  # [split, joined] when a two-part compound joins
    stop_compound = any(
        part.lower() in STOP_WORDS for c in _COMPOUND.findall(glued) for part in c.split("-")
    )
    if stop_compound and len(forms) > 1 and all(s in corpus.stats.df for s in forms[-1]):
        return forms[-1:]
    return forms if glued == keyword else _forms(corpus, keyword)


def _forms(corpus: Corpus, keyword: str) -> list[tuple[str, ...]]:
    return [
        tuple(s for word in form for s in _stems_of(corpus, word))
        for form in compound_forms(keyword)
    ]


_COMPOUND = re.compile(r"[^\W_]+(?:-[^\W_]+)+")
_STOP_THEN_WORD = re.compile(r"\b([^\W_]+) +(?=[^\W_])")


def _glue(match: re.Match[str]) -> str:
    """A stop word typed apart from the word it qualifies, hyphenated to it: "few-"."""
    word = match.group(1)
    return f"{word}-" if word.lower() in STOP_WORDS else match.group(0)


def _stems_of(corpus: Corpus, word: str) -> tuple[str, ...]:
    root, *noun = word_stems(word)
    if root not in corpus.stats.df and word.endswith("s") and len(word) > 2:
        singular = stem(word[:-1])
        if singular in corpus.stats.df or singular in corpus.stats.acronyms.expand:
            return (singular, *noun)
    return (root, *noun)


_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")


def _outside_brackets(corpus: Corpus, keyword: str, stems: tuple[str, ...]) -> tuple[str, ...]:
    """The stems of what a keyword says outside brackets, when it has brackets: in
    "llm quantization (gptq, awq)" they hold examples (or an acronym) of what it names
    outside them, which then matches on its own; () otherwise."""
    outside = _BRACKETED.sub(" ", keyword)
    alone = keyword_forms(corpus, outside)[0] if outside != keyword else ()
    return alone if alone != stems else ()


class KeywordScores:
    """Scores of distinct keywords against every paper of a corpus."""

    def __init__(
        self, corpus: Corpus, keywords: Sequence[str], counted: np.ndarray | None = None
    ) -> None:
        self.keywords = list(keywords)
        n_kw, n_docs = len(self.keywords), len(corpus.ids)
        # one slot per variant, and a last for keywords without what they say in brackets
        slots: list[list[tuple[int, tuple[str, ...]]]] = [[] for _ in range(VARIANT_SLOTS + 1)]
        query = _Query(n_kw)
        for k, keyword in enumerate(self.keywords):
            forms = keyword_forms(corpus, keyword)
            for word in dict.fromkeys(forms[0]):
                query.add(k, word, corpus)
            rewritten = [v for form in forms for v in corpus.stats.acronyms.variants(form)]
            for slot, variant in enumerate(list(dict.fromkeys(rewritten))[:VARIANT_SLOTS]):
                if variant:
                    slots[slot].append((k, variant))
            if outside := _outside_brackets(corpus, keyword, forms[0]):
                slots[-1].append((k, outside))
        self.scores = sp.csr_matrix((n_kw, n_docs), dtype=np.float32)
        self.full = sp.csr_matrix((n_kw, n_docs), dtype=np.float32)
        for slot, variants in enumerate(slots):
            if variants and n_docs:
                score, full = _score_variants(corpus, variants, n_kw, counted)
                self.scores = self.scores.maximum(score)
                if slot < VARIANT_SLOTS:  # an exclusion needs the bracketed words too
                    self.full = self.full.maximum(full)
        self.scores = sp.csr_matrix(self.scores)
        self.full = sp.csr_matrix(self.full)
        self.words = query.matrix((n_kw, len(corpus.vocab)))  # IDF of each keyword's own stems
        self.worded = self.scores  # what the paper's own words score: "matched" in "why"
        if PRF_WEIGHT and n_kw and n_docs >= PRF_MIN_DOCS:
            self.scores = _expanded(self.scores, corpus)
        # what makes a paper match a keyword (eligible, named in "why", as related when its
        # words alone do not): the lexical score with its feedback, or with the semantic
        # layer a clearly close embedding; the blend only orders
        self.evidence = self.scores
        if corpus.semantic is not None and n_kw and n_docs:
            self.scores, self.evidence = _blend(self.scores, corpus.semantic, self.keywords)

    @classmethod
    def of_rows(
        cls,
        keywords: list[str],
        scores: sp.csr_matrix,
        full: sp.csr_matrix,
        words: sp.csr_matrix,
        evidence: sp.csr_matrix | None = None,
        worded: sp.csr_matrix | None = None,
    ) -> KeywordScores:
        """Scores already computed, one row per keyword (evidence and worded: the scores by
        default)."""
        made = cls.__new__(cls)
        made.keywords, made.scores, made.full, made.words = keywords, scores, full, words
        made.evidence = scores if evidence is None else evidence
        made.worded = scores if worded is None else worded
        return made

    def hits(self, threshold: float, words_only: bool = False) -> sp.csr_matrix:
        """1 where a keyword matches a paper with evidence at least `threshold` (with
        `words_only`, where the paper's own words score that much)."""
        evidence = self.worded if words_only else self.evidence
        hit = sp.csr_matrix(evidence >= threshold, dtype=np.float32) if threshold > 0 else None
        if hit is None:
            hit = evidence.copy()
            hit.data = (hit.data > 0).astype(np.float32)
        hit.eliminate_zeros()
        return hit


BLOCK_CELLS = 2_000_000  # keywords x papers scored at once by KeywordCache


class KeywordCache:
    """Keyword rows computed once and reused by every batch of profiles over one corpus
    (popular keywords recur in every batch); forgets everything past `limit` keywords."""

    def __init__(
        self, corpus: Corpus, limit: int = 50_000, counted: np.ndarray | None = None
    ) -> None:
        self.corpus = corpus
        self.limit = limit
        self.counted = counted
        self.blocks: list[KeywordScores] = []
        self.where: dict[str, tuple[int, int]] = {}  # keyword -> (block, row)

    def scores(self, keywords: list[str]) -> KeywordScores:
        """The scores of these keywords, in this order."""
        missing = [k for k in dict.fromkeys(keywords) if k not in self.where]
        if len(self.where) + len(missing) > self.limit:
            self.blocks.clear()
            self.where.clear()
            missing = list(dict.fromkeys(keywords))
        # a few thousand keywords at a time: scoring them takes several keywords x papers
        # arrays, and a page of profiles can name tens of thousands of new keywords
        step = max(1, BLOCK_CELLS // max(len(self.corpus.ids), 1))
        for start in range(0, len(missing), step):
            chunk = missing[start : start + step]
            self.blocks.append(KeywordScores(self.corpus, chunk, self.counted))
            block = len(self.blocks) - 1
            self.where.update((k, (block, row)) for row, k in enumerate(chunk))
        located = np.array([self.where[k] for k in keywords], dtype=np.int64).reshape(-1, 2)
        used = np.unique(located[:, 0])
        last: KeywordScores = self.blocks[int(used[-1])]
        if len(used) == 1 and last.keywords == keywords:
            return last
        order = np.argsort(located[:, 0], kind="stable")
        parts = [(self.blocks[int(b)], located[order][located[order][:, 0] == b, 1]) for b in used]
        back = np.empty_like(order)
        back[order] = np.arange(len(order))

        def stacked(part: str) -> sp.csr_matrix:
            stack = sp.vstack([getattr(block, part)[rows] for block, rows in parts])
            return sp.csr_matrix(stack)[back]

        lexical = all(block.evidence is block.scores for block, _ in parts)
        evidence = None if lexical else stacked("evidence")  # lexical: the scores themselves
        return KeywordScores.of_rows(
            keywords,
            stacked("scores"),
            stacked("full"),
            stacked("words"),
            evidence,
            stacked("worded"),
        )


def _score_variants(
    corpus: Corpus,
    variants: list[tuple[int, tuple[str, ...]]],
    n_kw: int,
    counted: np.ndarray | None = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(score, all-stems-present) of one variant per keyword, as (n_kw x papers) matrices.

    score = words x (share of IDF matched) ** coord x (LOOSE + (1 - LOOSE) x adjacency):
    a multi-word keyword whose words occur apart ("trade-off ... algorithms" for
    "algorithmic trading") keeps only LOOSE of its score; coord is the keyword's own
    (_coord: how many papers hold all its stems, of the papers `counted` when given).
    """
    full = corpus.whole_match
    words, pairs = _Query(n_kw), _Query(n_kw)
    required = np.zeros(n_kw, dtype=np.float32)
    for k, tokens in variants:
        required[k] = len(set(tokens))
        for feature in dict.fromkeys(features(tokens)):
            (pairs if "_" in feature else words).add(k, feature, corpus)
    shape = (n_kw, len(corpus.vocab))
    full_matches = sp.csr_matrix(words.binary(shape) @ corpus.present_by_feature)
    row_of = np.repeat(np.arange(n_kw), np.diff(full_matches.indptr))
    full_matches.data = (full_matches.data >= required[row_of]).astype(np.float32)
    full_matches.eliminate_zeros()
    share = sp.csr_matrix(words.share(corpus, shape))
    if counted is None:
        n_full = np.diff(full_matches.indptr)
    else:
        n_full = full_matches @ counted.astype(np.float32)
    coord = _coord(n_full)
    share.data **= coord[np.repeat(np.arange(n_kw), np.diff(share.indptr))]
    word_scores = sp.csr_matrix(words.scores(corpus, shape, full).multiply(share))
    adjacency = pairs.scores(corpus, shape, full)
    adjacency.data = np.minimum(adjacency.data, 1.0)
    loose = np.where(pairs.total > 0, LOOSE, 1.0).astype(np.float32)
    score = sp.csr_matrix(
        sp.diags(loose) @ word_scores + sp.diags(1.0 - loose) @ word_scores.multiply(adjacency)
    )
    return score, full_matches


def _coord(full_matches: np.ndarray) -> np.ndarray:
    """Each keyword's damping of partial matches, from how many papers match it whole."""
    enough = np.minimum(full_matches / FULL_ENOUGH, 1.0)
    return (COORD_NONE + (COORD - COORD_NONE) * enough).astype(np.float32)


class _Query:
    """The weighted features of one variant per keyword (words or pairs)."""

    def __init__(self, n_kw: int) -> None:
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.total = np.zeros(n_kw, dtype=np.float32)  # IDF weight, known features or not

    def add(self, k: int, feature: str, corpus: Corpus) -> None:
        weight = corpus.weight(feature)
        self.total[k] += weight
        col = corpus.vocab.get(feature)
        if col is not None:
            self.rows.append(k)
            self.cols.append(col)
            self.vals.append(weight)

    def matrix(self, shape: tuple[int, int]) -> sp.csr_matrix:
        return sp.csr_matrix((np.asarray(self.vals, np.float32), (self.rows, self.cols)), shape)

    def binary(self, shape: tuple[int, int]) -> sp.csr_matrix:
        ones = np.ones(len(self.rows), np.float32)
        return sp.csr_matrix((ones, (self.rows, self.cols)), shape)

    def scores(self, corpus: Corpus, shape: tuple[int, int], full: float) -> sp.csr_matrix:
        """BM25F of the features, over the score of a paper holding them in title and abstract."""
        norms = np.where(self.total > 0, self.total * full, 1.0).astype(np.float32)
        return sp.csr_matrix(sp.diags(1.0 / norms) @ (self.matrix(shape) @ corpus.bm25_by_feature))

    def share(self, corpus: Corpus, shape: tuple[int, int]) -> sp.csr_matrix:
        """The share of the features' IDF weight each paper holds."""
        totals = np.where(self.total > 0, self.total, 1.0).astype(np.float32)
        return sp.csr_matrix(
            sp.diags(1.0 / totals) @ (self.matrix(shape) @ corpus.present_by_feature)
        )


PRF_WEIGHT = 0.3  # pseudo-relevance feedback: the pull of a keyword's best matches
PRF_TOP = 3  # how many best matches make the keyword's centroid
PRF_STRONG = 0.5  # a best match must score this much to be trusted as relevant
PRF_FLOOR = 0.1  # cosine to the centroid below which nothing is added
PRF_MIN_DOCS = 20  # too few papers to trust their best matches
# the same in the semantic space: papers of the best matches' field, whatever their words.
# Near the keyword's own matches, not near the keyword: "limit order book" folded into a
# space of words lands near first-order optimisation, its matching papers do not
PRF_FIELD_WEIGHT = 0.3
PRF_FIELD_FLOOR = 0.5  # cosine to the best matches' centroid below which nothing is added


def _expanded(scores: sp.csr_matrix, corpus: Corpus) -> sp.csr_matrix:
    """Pseudo-relevance feedback: each keyword also scores papers like its best matches
    (cosine to the centroid of its PRF_TOP best papers, weighted by their scores), by their
    words and, with a semantic layer, by their place in its space."""
    dense = scores.toarray()
    top = best_columns(dense, PRF_TOP)
    top_scores = np.take_along_axis(dense, top, axis=1)
    weights = np.where(top_scores >= PRF_STRONG, top_scores, 0.0)
    total = weights.sum(axis=1, keepdims=True)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    _add_above(dense, corpus.centroid_cosine(top, weights), PRF_FLOOR, PRF_WEIGHT, rescale=False)
    if PRF_FIELD_WEIGHT and corpus.semantic is not None:
        field = _field_cosine(corpus.semantic.papers, top, weights)
        _add_above(dense, field, PRF_FIELD_FLOOR, PRF_FIELD_WEIGHT, rescale=True)
    return sp.csr_matrix(dense.astype(np.float32, copy=False))


def _add_above(
    dense: np.ndarray, cosine: np.ndarray, floor: float, weight: float, rescale: bool
) -> None:
    """dense += weight x cosine where cosine >= floor, the cosine rescaled from floor..1 to
    0..1 if asked. In place, `cosine` used up: these are keywords x papers, the largest
    arrays of a batch."""
    if rescale:
        cosine -= floor
        cosine *= weight / (1.0 - floor)
        np.maximum(cosine, 0.0, out=cosine)
    else:
        cosine[cosine < floor] = 0.0
        cosine *= weight
    dense += cosine


def _field_cosine(papers: np.ndarray, top: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row, the cosine to every paper of the weighted centroid of papers[top[row]], in a
    semantic space of unit paper vectors (zero where every weight is zero)."""
    centroid = np.einsum("kt,ktd->kd", weights.astype(np.float32), papers[top])
    norms = np.linalg.norm(centroid, axis=1, keepdims=True)
    centroid /= np.where(norms > 0, norms, 1.0)
    return np.asarray(centroid @ papers.T, dtype=np.float32)


def _blend(
    lexical: sp.csr_matrix, semantic: Semantic, keywords: list[str]
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(scores, evidence): lexical + blend x the keyword-paper cosine rescaled from
    [FLOOR, 1] to [0, 1], added, not mixed, so a lexical match keeps its score; and the
    lexical score, raised to 1 where the cosine is at least `close` (a match without the words)."""
    cosine = np.asarray(semantic.encode(keywords) @ semantic.papers.T, dtype=np.float32)
    np.minimum(cosine, 1.0, out=cosine)
    close = cosine >= semantic.close
    mixed = lexical.toarray()
    _add_above(mixed, cosine, FLOOR, semantic.blend, rescale=True)
    del cosine
    if not close.any():  # the topics never are: the evidence is the lexical score itself
        return sp.csr_matrix(mixed), lexical
    dense = lexical.toarray()
    evidence = np.where(close, np.maximum(dense, 1.0), dense)
    return sp.csr_matrix(mixed), sp.csr_matrix(evidence.astype(np.float32))
