"""Topics learned from the history: a latent semantic space (a truncated SVD of the papers'
TF-IDF rows, as in latent semantic analysis) where a keyword and the papers of its field are
close even when they share few words.

It is the default install's semantic layer (numpy and scipy only): its cosine is blended into
each keyword's score like the sentence embeddings of the semantic extra, which replace it when
installed. Of the papers a keyword matches by its words, those among the words of its field
come first. A keyword's own cosine makes no match (see CLOSE); closeness in this space to the
papers its words match best does (pseudo-relevance feedback, keywords.py).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from digest.ranking.features import Corpus, FeatureStats, feature_counts, unit_rows
from digest.ranking.text import stems

RANK = 50  # dimensions of the space, at most
MIN_DOCS = 40  # fewer papers in the history than this: no topics (nothing to learn them from)
DOCS_PER_DIMENSION = 4  # a small history gets fewer dimensions: rank <= papers / 4
SAMPLE = 5_000  # newest papers the space is learned from
REFIT_GROWTH = 1.25  # learned again once the history has grown by this factor
BLEND = 0.5  # weight of the rescaled cosine added to a keyword's lexical score
# never: the topics order the papers that match, they make no match of their own. A space
# learned from one history maps words, not phrases: "limit order book" lands near first-order
# optimisation, and "krylov methods" (krylov in one paper only) near whatever "methods" is
CLOSE = float("inf")
FORMAT = (
    12  # 2: British spellings; 3: agent nouns; 4: -ize words; 5-11: stems of their own; 12: C++
)


@dataclass(frozen=True, eq=False)
class Topics:
    """The space: each term's coordinates (one column per stem) and the history's size then."""

    terms: tuple[str, ...]
    components: np.ndarray  # (rank, terms), float32
    n_docs: int  # papers in the history's statistics when learned

    @classmethod
    def learn(cls, papers: Iterable[tuple[str, str]], stats: FeatureStats) -> Topics | None:
        """The space of these (title, abstract) pairs weighted by `stats`, or None when there
        are too few of them."""
        pairs = list(papers)
        if len(pairs) < MIN_DOCS:
            return None
        vocab: dict[str, int] = {}
        # the words of a corpus's unit rows: the title's twice
        rows = [stems(abstract) + 2 * stems(title) for title, abstract in pairs]
        matrix = feature_counts(rows, vocab, grow=True, with_pairs=False)
        idf = np.fromiter((stats.idf(term) for term in vocab), np.float32, len(vocab))
        unit = unit_rows(matrix, idf)
        kept = np.flatnonzero(np.diff(unit.tocsc().indptr) >= 2)  # one paper's: links nothing
        rank = min(RANK, len(pairs) // DOCS_PER_DIMENSION, len(kept) - 1)
        if rank < 2:
            return None
        terms = np.array(list(vocab), dtype=object)[kept]
        components = _top_directions(sp.csr_matrix(unit[:, kept]), rank)
        return cls(tuple(terms.tolist()), components, stats.n_docs)

    def stale(self, stats: FeatureStats) -> bool:
        """Whether the history has grown enough since the space was learned to learn it again."""
        return stats.n_docs >= REFIT_GROWTH * max(self.n_docs, 1)

    def index(self, corpus: Corpus) -> TopicIndex:
        """The papers of a corpus in this space, and keywords on demand."""
        return TopicIndex(self, corpus)

    def to_bytes(self) -> bytes:
        """A compact serialisation for the store (numpy's npz, no pickled objects)."""
        out = io.BytesIO()
        np.savez_compressed(
            out,
            format=np.array(FORMAT),
            terms=np.array(self.terms, dtype=str),
            components=self.components.astype(np.float32),
            n_docs=np.array(self.n_docs),
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Topics | None:
        """A space written by to_bytes, or None when the blob is of another format."""
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as data:
                if int(data["format"]) != FORMAT:
                    return None
                return cls(
                    tuple(data["terms"].tolist()),
                    data["components"].astype(np.float32),
                    int(data["n_docs"]),
                )
        except (OSError, ValueError, KeyError):
            return None


class TopicIndex:
    """A corpus's papers as unit vectors of the topic space, and keywords on demand (the
    ranker's `Semantic`)."""

    blend = BLEND
    close = CLOSE

    def __init__(self, topics: Topics, corpus: Corpus) -> None:
        self.topics = topics
        self.corpus = corpus
        self.column = {term: i for i, term in enumerate(topics.terms)}
        where = np.fromiter((self.column.get(f, -1) for f in corpus.vocab), np.int64)
        self.known = np.flatnonzero(where >= 0)  # the corpus's features the space knows
        self.directions = topics.components[:, where[self.known]].T
        self.papers = self._coordinates(corpus.unit)

    def _coordinates(self, unit: sp.csr_matrix) -> np.ndarray:
        """Unit vectors in the space of unit TF-IDF rows over the corpus's features."""
        return _unit_rows(np.asarray(unit[:, self.known] @ self.directions, dtype=np.float32))

    def embed(self, rows: sp.csr_matrix) -> np.ndarray:
        """Unit vectors of other papers given as `Corpus.vectors` rows."""
        return self._coordinates(rows)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of keywords: their stems' coordinates weighted by IDF (zero when the
        space knows none of them)."""
        rows, cols, vals = [], [], []
        for r, text in enumerate(texts):
            for term in dict.fromkeys(stems(text)):
                col = self.column.get(term)
                if col is not None:
                    rows.append(r)
                    cols.append(col)
                    vals.append(self.corpus.weight(term))
        weights = sp.csr_matrix(
            (np.asarray(vals, np.float32), (rows, cols)),
            shape=(len(texts), len(self.topics.terms)),
        )
        return _unit_rows(np.asarray(weights @ self.topics.components.T, dtype=np.float32))


def _top_directions(matrix: sp.csr_matrix, rank: int, seed: int = 0) -> np.ndarray:
    """The `rank` leading right singular vectors of a sparse matrix, strongest first (ARPACK,
    started from a seeded vector: the same history gives the same space)."""
    _, strengths, directions = svds(matrix.astype(np.float64), k=rank, random_state=seed)
    order = np.argsort(-strengths)
    return np.ascontiguousarray(directions[order], dtype=np.float32)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)
