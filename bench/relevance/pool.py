"""Pool the papers to judge: the top 20 of several rankers per profile, minus those judged.

    .venv/bin/python bench/relevance/pool.py [--depth 20] [--out bench/relevance/pool]

Writes pool/<profile>.md: the profile, its information need, and the papers to judge in a
shuffled order (so a judge cannot tell which ranker brought a paper, or its rank).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BM25,
    HERE,
    Doc,
    JudgedProfile,
    load_corpus,
    load_judgments,
    load_profiles,
    top_ids,
)

Ranker = Callable[[JudgedProfile, int], list[str]]


def keyword_union(bm25: BM25) -> Ranker:
    """Each keyword scored alone by BM25, normalised by its best score, summed (keywords parted
    as the service parts them: commas, semicolons, lines)."""
    from digest.ranking import split_keywords

    def run(profile: JudgedProfile, top: int) -> list[str]:
        total = [0.0] * len(bm25.docs)
        for keyword in split_keywords(profile.keywords):
            scores = bm25.scores(keyword)
            best = max(scores) or 1.0
            total = [t + s / best for t, s in zip(total, scores, strict=True)]
        return top_ids(bm25.docs, total, top)

    return run


def tfidf(docs: Sequence[Doc]) -> Ranker:
    """TF-IDF cosine over unigrams and bigrams (scikit-learn defaults, English stop words)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(stop_words="english", ngram_range=(1, 2), sublinear_tf=True)
    matrix = vectorizer.fit_transform([f"{d.title} {d.title} {d.abstract}" for d in docs])

    def run(profile: JudgedProfile, top: int) -> list[str]:
        scores = (matrix @ vectorizer.transform([profile.keywords]).T).toarray().ravel()
        return top_ids(docs, scores.tolist(), top)

    return run


def legacy(docs: Sequence[Doc]) -> Ranker:
    """The service's ranker as it was before issue 8 (legacy_ranker.py)."""
    from legacy_ranker import Corpus, Profile, paper_text, rank, split_keywords

    corpus = Corpus([d.id for d in docs], [paper_text(d.title, d.abstract) for d in docs])

    def run(profile: JudgedProfile, top: int) -> list[str]:
        [matches] = rank(corpus, [Profile(split_keywords(profile.keywords))], top)
        return [m.paper_id for m in matches]

    return run


def project(docs: Sequence[Doc]) -> Ranker:
    """The service's ranker as it is in this checkout."""
    from digest.ranking import Corpus, Profile, rank, split_keywords

    corpus = Corpus([d.id for d in docs], [d.title for d in docs], [d.abstract for d in docs])

    def run(profile: JudgedProfile, top: int) -> list[str]:
        [matches] = rank(corpus, [Profile(split_keywords(profile.keywords))], top, min_score=0.0)
        return [m.paper_id for m in matches]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=20, help="Top N of each ranker.")
    parser.add_argument("--out", type=Path, default=HERE / "pool", help="Where pools go.")
    parser.add_argument("--only", action="append", help="Only this profile (repeatable).")
    args = parser.parse_args()
    docs = load_corpus()
    by_id = {d.id: d for d in docs}
    bm25 = BM25(docs)
    plain = BM25(docs, stem=False)
    rankers: dict[str, Ranker] = {
        "bm25": lambda p, k: bm25.rank(p.keywords, k),
        "bm25-nostem": lambda p, k: plain.rank(p.keywords, k),
        "bm25-keywords": keyword_union(bm25),
        "tfidf": tfidf(docs),
        "legacy": legacy(docs),
        "project": project(docs),
    }
    judged = load_judgments()
    args.out.mkdir(parents=True, exist_ok=True)
    for profile in load_profiles():
        if args.only and profile.name not in args.only:
            continue
        pooled: dict[str, None] = {}
        for ranker in rankers.values():
            pooled.update(dict.fromkeys(ranker(profile, args.depth)))
        todo = [pid for pid in pooled if pid not in judged.get(profile.name, {})]
        random.Random(profile.name).shuffle(todo)
        lines = [
            f"# {profile.name}",
            f"keywords: {profile.keywords}",
            f"need: {profile.need}",
            f"papers to judge: {len(todo)}",
            "",
        ]
        for pid in todo:
            doc = by_id[pid]
            lines += [f"## {pid}", f"title: {doc.title}", f"abstract: {doc.abstract}", ""]
        (args.out / f"{profile.name}.md").write_text("\n".join(lines), encoding="utf-8")
        print(f"{profile.name}: {len(todo)} to judge")


if __name__ == "__main__":
    main()
