"""What ranking returns: each profile's picks as arrays, turned into Match lists on demand."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple, Protocol, overload

import numpy as np
import scipy.sparse as sp


class VoteSpace(Protocol):
    """What a match needs of the voted papers: their rows and similarity to the papers."""

    row: dict[str, int]  # voted paper id -> row of `sim`
    sim: np.ndarray  # voted papers x candidate papers, cosine


SIMILAR_FLOOR = 0.12  # cosine above which a pick is said to be "like" a liked paper


class Match(NamedTuple):
    """One paper chosen for one profile: its score, the keywords its words match, the liked
    paper it most resembles (when votes helped choose it), and the keywords it matched only
    through papers like it or its meaning (related). A tuple: planning 100,000 digests makes
    a million."""

    paper_id: str
    score: float
    matched: list[str]
    similar_to: str | None = None
    related: Sequence[str] = ()


class Picks:
    """The ranked top papers of one batch of profiles."""

    def __init__(
        self,
        ids: list[str],
        best: np.ndarray,
        scores: np.ndarray,
        counts: np.ndarray,
        include: sp.csr_matrix,
        hits: sp.csc_matrix,
        keywords: list[str],
        likes: tuple[sp.csr_matrix, VoteSpace] | None,
        worded: sp.csr_matrix | None = None,
    ) -> None:
        self.ids, self.best, self.scores, self.counts = ids, best, scores, counts
        self.include, self.hits, self.keywords, self.likes = include, hits, keywords, likes
        self.worded = worded  # keywords x papers that the paper's own words match (None: all)
        self._hits_of: dict[int, set[int]] = {}  # paper column -> keywords it matches
        self._loose_of: dict[int, set[int]] = {}  # paper column -> those not by its words
        self._id_of: dict[int, str] | None = None  # liked row -> paper id

    @functools.cached_property
    def _loose(self) -> tuple[sp.csc_matrix, np.ndarray] | None:
        """The keywords x papers matched only through papers like them (not their words), and
        per pick (as `best`) whether one of those is its profile's (most picks: no); None when
        every match is by words. Worked out when the picks are first read, not by rank()."""
        if self.worded is None:
            return None
        loose = sp.csc_matrix(self.hits - self.worded)
        loose.data = (loose.data > 0).astype(np.float32)  # what the words match is matched
        loose.eliminate_zeros()
        if not loose.nnz:
            return None
        rows, width = self.best.shape
        at_picks = sp.csr_matrix(loose.T)[self.best.ravel()]  # (picks, keywords)
        theirs = self.include[np.repeat(np.arange(rows), width)]
        found = np.asarray(theirs.multiply(at_picks).sum(axis=1)).ravel() > 0
        return loose, found.reshape(rows, width)

    @staticmethod
    def _column(matrix: sp.csc_matrix, col: int, cache: dict[int, set[int]]) -> set[int]:
        found = cache.get(col)
        if found is None:
            found = cache[col] = set(
                matrix.indices[matrix.indptr[col] : matrix.indptr[col + 1]].tolist()
            )
        return found

    def matches(self, row: int) -> list[Match]:
        """The picks of one profile, best first, with their reasons."""
        include = self.include
        wanted = include.indices[include.indptr[row] : include.indptr[row + 1]].tolist()
        liked: list[int] = []
        names: list[str] = []
        if self.likes is not None:
            likes, space = self.likes
            liked = likes.indices[likes.indptr[row] : likes.indptr[row + 1]].tolist()
            if self._id_of is None:
                self._id_of = {i: pid for pid, i in space.row.items()}
            names = [self._id_of[i] for i in liked]
        out = []
        count = int(self.counts[row])
        keywords = self.keywords
        scores = np.round(self.scores[row, :count], 4).tolist()
        loose_picks = self._loose
        flags = [False] * count if loose_picks is None else loose_picks[1][row, :count].tolist()
        for col, score, flag in zip(self.best[row, :count].tolist(), scores, flags, strict=True):
            hits = self._column(self.hits, col, self._hits_of)
            related: list[str] | tuple[()] = ()
            if flag and loose_picks is not None:
                loose = self._column(loose_picks[0], col, self._loose_of)
                matched = [keywords[k] for k in wanted if k in hits and k not in loose]
                related = sorted(keywords[k] for k in wanted if k in loose)
            else:
                matched = [keywords[k] for k in wanted if k in hits]
            if len(matched) > 1:
                matched.sort()
            similar = None
            if liked and self.likes is not None:
                sims = self.likes[1].sim[liked, col]
                best = int(np.argmax(sims))
                if sims[best] >= SIMILAR_FLOOR:
                    similar = names[best]
            out.append(Match(self.ids[col], score, matched, similar, related))
        return out


class Ranking(Sequence[list[Match]]):
    """Every profile's picks; computed as arrays, turned into Match lists only when read."""

    def __init__(self, batches: list[tuple[int, Picks | None, int]]) -> None:
        self._batches = batches  # (first row, picks or None when there are no papers, rows)
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
        for start, picks, rows in self._batches:
            if index < start + rows:
                return [] if picks is None else picks.matches(index - start)
        raise IndexError(index)  # pragma: no cover

    def counts(self) -> np.ndarray:
        """How many papers each profile got, as one array."""
        parts = [
            np.zeros(rows, dtype=np.int64) if p is None else p.counts
            for _, p, rows in self._batches
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


__all__ = ["Match", "Picks", "Ranking", "Sequence"]
