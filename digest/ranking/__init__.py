"""Profiles x papers -> scores and reasons: field-weighted BM25 keywords, learned votes,
popularity, coverage; sparse matrix products, no loop over subscriber x paper.

    text.py      words, stems, pairs           acronyms.py  learned acronym <-> long form
    features.py  stored stats, Corpus          keywords.py  keywords as soft queries
    scoring.py   Profile, rank, keyword_hits   results.py   Match, Ranking
"""

from digest.ranking.features import Corpus, FeatureStats, Weights
from digest.ranking.results import Match, Ranking
from digest.ranking.scoring import (
    Profile,
    Voted,
    hot_papers,
    keyword_hits,
    rank,
    trending_box,
)
from digest.ranking.text import split_keywords, stems

__all__ = [
    "Corpus",
    "FeatureStats",
    "Match",
    "Profile",
    "Ranking",
    "Voted",
    "Weights",
    "hot_papers",
    "keyword_hits",
    "rank",
    "split_keywords",
    "stems",
    "trending_box",
]
