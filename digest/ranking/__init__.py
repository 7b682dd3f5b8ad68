"""Profiles x papers -> scores and reasons: field-weighted BM25 keywords, learned votes,
popularity, coverage; sparse matrix products, no loop over subscriber x paper.

    text.py      words, stems, pairs           acronyms.py  learned acronym <-> long form
    features.py  stored stats, Corpus          keywords.py  keywords as soft queries
    scoring.py   Profile, rank, keyword_hits   results.py   Match, Ranking
    trending.py  trending marks, the box       known_acronyms.py  common acronyms, a fallback
    suggest.py   did you mean: typed words no paper holds
"""

from digest.ranking.features import Corpus, FeatureStats, Weights
from digest.ranking.results import Match, Ranking
from digest.ranking.scoring import Profile, Voted, keyword_hits, rank
from digest.ranking.text import split_keywords, stems
from digest.ranking.trending import hot_papers, trending_box

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
