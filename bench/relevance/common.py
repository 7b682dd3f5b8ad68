"""The judged set's parts: the seed corpus, the profiles, the judgments, BM25 and the metrics."""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
JUDGMENTS = HERE / "judgments"
PAGE_DATE = date(2026, 3, 12)


@dataclass(frozen=True)
class Doc:
    """One paper of the seeds."""

    id: str
    title: str
    abstract: str


@dataclass(frozen=True)
class JudgedProfile:
    """A keyword profile with the information need its judges read."""

    name: str
    keywords: str
    need: str
    split: str
    max_papers: int = 10
    blind: bool = False  # judged after the ranker's last change (JUDGING.md)


def load_corpus(seeds: Path = REPO / "seeds") -> list[Doc]:
    """The distinct papers of the seed listings, as the service reads them."""
    from digest.ingest.identity import dedupe, record_key
    from digest.sources.text import parse_text

    records = []
    for path in sorted(seeds.glob("*.txt")):
        records += parse_text(path.read_text(encoding="utf-8"), path.name, PAGE_DATE).records
    return [Doc(record_key(r), r.title, r.abstract) for r in dedupe(records)]


def load_profiles(path: Path = HERE / "profiles.toml") -> list[JudgedProfile]:
    """Every judged profile, in file order."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [JudgedProfile(**row) for row in data["profile"]]


def load_judgments(directory: Path = JUDGMENTS) -> dict[str, dict[str, int]]:
    """profile name -> paper id -> grade (0, 1, 2), from judgments/<profile>.tsv."""
    out: dict[str, dict[str, int]] = {}
    for path in sorted(directory.glob("*.tsv")):
        grades: dict[str, int] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            paper_id, grade, *_ = line.split("\t")
            grades[paper_id] = int(grade)
        out[path.stem] = grades
    return out


# -- Okapi BM25, the baseline ------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
STOP = frozenset(
    """a an and are as at be by for from has have in is it its of on or that
    the this to was were which with we our via using based towards toward into can not no""".split()  # noqa: SIM905
)


@cache
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def bm25_tokens(text: str, stem: bool = True) -> list[str]:
    """Lower-case alphanumeric words without stop words, Snowball-stemmed."""
    words = [w for w in _WORD.findall(text.lower()) if w not in STOP]
    return list(_stemmer().stemWords(words)) if stem else words


class BM25:
    """Okapi BM25 (k1 = 1.2, b = 0.75) over title + abstract: the plain baseline."""

    def __init__(self, docs: Sequence[Doc], k1: float = 1.2, b: float = 0.75, stem: bool = True):
        self.docs, self.k1, self.b, self.stem = list(docs), k1, b, stem
        self.tf = [Counter(bm25_tokens(f"{d.title} {d.abstract}", stem)) for d in self.docs]
        self.length = [sum(c.values()) for c in self.tf]
        self.avg = sum(self.length) / max(len(self.length), 1)
        df: Counter[str] = Counter()
        for counts in self.tf:
            df.update(counts.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: str) -> list[float]:
        """The BM25 score of every document for a query (its words, bag-of-words)."""
        terms = bm25_tokens(query, self.stem)
        out = []
        for counts, length in zip(self.tf, self.length, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / self.avg)
            out.append(
                sum(
                    self.idf.get(t, 0.0) * counts[t] * (self.k1 + 1) / (counts[t] + norm)
                    for t in terms
                    if counts[t]
                )
            )
        return out

    def rank(self, query: str, top: int) -> list[str]:
        """The ids of the `top` best documents with a positive score, best first."""
        return top_ids(self.docs, self.scores(query), top)


def top_ids(docs: Sequence[Doc], scores: Sequence[float], top: int) -> list[str]:
    """Ids of the `top` best-scoring docs (score > 0), ties broken by corpus order."""
    order = sorted(range(len(docs)), key=lambda i: -scores[i])
    return [docs[i].id for i in order[:top] if scores[i] > 0]


# -- metrics ------------------------------------------------------------------------------


def dcg(gains: Iterable[float]) -> float:
    """Discounted cumulative gain with gain 2^g - 1."""
    return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg_at(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k of a ranking against graded judgments (unjudged = 0)."""
    ideal = dcg(sorted(grades.values(), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg(grades.get(pid, 0) for pid in ranked[:k]) / ideal


def precision_at(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    """Share of the first k slots holding a relevant (grade >= 1) paper."""
    return sum(1 for pid in ranked[:k] if grades.get(pid, 0) >= 1) / k
