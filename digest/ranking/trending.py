"""Popularity on its own: the papers marked as trending, and the optional "also trending
today" box (relevance never comes from popularity; scoring.py multiplies it in)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from digest.ranking.features import Corpus
from digest.ranking.keywords import KeywordScores
from digest.ranking.results import Match

TRENDING_BOX = 3
TRENDING_FLOOR = 0.25  # popularity a paper needs to be shown for popularity alone
HOT_FLOOR = 0.5  # popularity (1 = the day's most popular) that earns the "trending" mark


def hot_papers(corpus: Corpus) -> set[str]:
    """The papers popular enough to be marked as trending: the few at the top of their day."""
    return {corpus.ids[i] for i in np.flatnonzero(corpus.popularity >= HOT_FLOOR).tolist()}


def trending_box(
    corpus: Corpus,
    chosen: set[str],
    not_before: float,
    seen: set[str],
    exclude: Sequence[str] = (),
    size: int = TRENDING_BOX,
) -> list[Match]:
    """The most popular new papers not already chosen: the optional "also trending" box."""
    order = np.argsort(-corpus.popularity, kind="stable")
    banned: set[int] = set()
    if exclude:
        index = KeywordScores(corpus, list(exclude))
        banned = set(index.full.indices.tolist())
    out: list[Match] = []
    for i in order.tolist():
        if corpus.popularity[i] < TRENDING_FLOOR or len(out) == size:
            break
        pid = corpus.ids[i]
        if pid in chosen or pid in seen or i in banned or corpus.first_seen[i] <= not_before:
            continue
        out.append(Match(pid, round(float(corpus.popularity[i]), 4), []))
    return out
