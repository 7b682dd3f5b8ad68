"""The topic space learned from the history (latent semantic analysis, the default install's
semantic layer): what it learns, how it is stored and when it is learned again."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.ingest import store_records
from digest.planner import feature_stats, topic_space
from digest.ranking import Corpus, FeatureStats, Profile, rank, split_keywords
from digest.ranking import topics as topics_module
from digest.ranking.topics import MIN_DOCS, Topics
from digest.sources.base import PaperRecord
from digest.store import Store

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
SEEDS = Path(__file__).resolve().parent.parent / "seeds"
FINANCE_PROFILE = "market microstructure, algorithmic trading, portfolio, financial time series"
FINANCE = """market order flow liquidity portfolio hedging volatility returns asset pricing
limit book spread investors equity stock exchange price impact execution trading""".split()  # noqa: SIM905
LEARNING = """model training neural network transformer attention language benchmark dataset
accuracy inference tokens layers gradient loss pretraining fine-tuning images""".split()  # noqa: SIM905


def field_papers(
    rng: random.Random, words: list[str], prefix: str, count: int
) -> list[tuple[str, str]]:
    """`count` (title, abstract) pairs of one field: its words and 200 more of its own,
    drawn with a long tail as in real abstracts."""
    vocab = words + [f"{prefix}{chr(97 + k % 26)}{chr(97 + k // 26)}word" for k in range(200)]
    weights = [1.0 / (rank + 1) ** 0.7 for rank in range(len(vocab))]
    return [
        (" ".join(rng.choices(vocab, weights, k=8)), " ".join(rng.choices(vocab, weights, k=60)))
        for _ in range(count)
    ]


def two_fields() -> tuple[list[tuple[str, str]], int]:
    """Papers of two fields that share no word: finance first, then machine learning;
    returns the papers and how many are finance."""
    rng = random.Random(7)
    finance = field_papers(rng, FINANCE, "fin", 30)
    return finance + field_papers(rng, LEARNING, "lrn", 70), len(finance)


def corpus_of(papers: list[tuple[str, str]], topics: Topics | None) -> Corpus:
    stats = FeatureStats.of(papers)
    corpus = Corpus(
        [str(i) for i in range(len(papers))],
        [t for t, _ in papers],
        [a for _, a in papers],
        stats=stats,
    )
    if topics is not None:
        corpus.semantic = topics.index(corpus)
    return corpus


def seed_papers() -> list[tuple[str, str, str]]:
    """(id, title, abstract) of the distinct papers of the bundled seed listings."""
    from datetime import date

    from digest.ingest.identity import dedupe, record_key
    from digest.sources.text import parse_text

    records = []
    for path in sorted(SEEDS.glob("*.txt")):
        listing = parse_text(path.read_text(encoding="utf-8"), path.name, date(2026, 3, 12))
        records += listing.records
    return [(record_key(r), r.title, r.abstract) for r in dedupe(records)]


def test_a_niche_fields_papers_come_before_word_matches_from_the_main_field() -> None:
    """The seeds are mostly machine learning: for a finance profile, "algorithmic trading"
    matches ML abstracts weighing an "algorithm"'s "trade-off"; with the topics learned from
    the seeds, papers nearer finance take their places."""
    rows = seed_papers()
    texts = [(t, a) for _, t, a in rows]
    stats = FeatureStats.of(texts)
    topics = Topics.learn(texts, stats)
    assert topics is not None
    profile = Profile(split_keywords(FINANCE_PROFILE))

    def titles(with_topics: Topics | None) -> list[str]:
        ids, titles, abstracts = zip(*rows, strict=True)
        corpus = Corpus(ids, titles, abstracts, stats=stats)
        if with_topics is not None:
            corpus.semantic = with_topics.index(corpus)
        [matches] = rank(corpus, [profile], 5, min_score=0.05)
        by_id = {i: t for i, t, _ in rows}
        return [by_id[m.paper_id] for m in matches]

    # machine-learning papers that hold "algorithm" and "trade" (as in "trade-off")
    stray = ("Model Evaluation, Model Selection", "Alignment Tax of RLHF", "Distiller:")

    def strays(top: list[str]) -> int:
        return sum(any(t.startswith(s) or s in t for s in stray) for t in top)

    without, with_topics = titles(None), titles(topics)
    assert strays(without) == 3  # the words alone: three of five
    assert strays(with_topics) <= 1 and len(with_topics) == 5


def test_keywords_are_near_their_field_and_unknown_words_nowhere() -> None:
    papers, finance = two_fields()
    topics = Topics.learn(papers, FeatureStats.of(papers))
    assert topics is not None
    index = topics.index(corpus_of(papers, None))
    finance_kw, learning_kw, unknown = index.encode(["portfolio hedging", "neural", "zzyzx"])
    finance_papers, learning_papers = index.papers[:finance], index.papers[finance:]
    assert (finance_papers @ finance_kw).mean() > 0.3 > abs((learning_papers @ finance_kw).mean())
    assert (learning_papers @ learning_kw).mean() > 0.3 > abs((finance_papers @ learning_kw).mean())
    assert not unknown.any()  # a keyword the space does not know is close to nothing


def test_topics_survive_the_store_and_other_blobs_are_refused() -> None:
    papers, _ = two_fields()
    topics = Topics.learn(papers, FeatureStats.of(papers))
    assert topics is not None
    again = Topics.from_bytes(topics.to_bytes())
    assert again is not None
    assert again.terms == topics.terms and again.n_docs == topics.n_docs == len(papers)
    assert (again.components == topics.components).all()
    assert Topics.from_bytes(b"not a space") is None
    assert Topics.learn(papers[: MIN_DOCS - 1], FeatureStats.of(papers)) is None


def test_the_space_is_stored_once_and_learned_again_when_the_history_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'd.sqlite'}")
    papers, _ = two_fields()

    def add(rows: list[tuple[str, str]], day: int) -> None:
        records = [PaperRecord(title=t, abstract=a) for t, a in rows]
        store_records(store, records, "listing", NOW + timedelta(days=day))

    learned: list[int] = []
    real_learn = Topics.learn

    def counting(texts: object, stats: FeatureStats) -> Topics | None:
        learned.append(stats.n_docs)
        return real_learn(texts, stats)  # type: ignore[arg-type]

    monkeypatch.setattr(topics_module.Topics, "learn", staticmethod(counting))
    add(papers[:80], 0)
    first = topic_space(store, feature_stats(store, NOW), NOW)
    assert first is not None and learned == [80]
    again = topic_space(store, feature_stats(store, NOW), NOW)  # read back, not learned
    assert again is not None and again.terms == first.terms and learned == [80]
    add(papers[80:], 1)  # 100 papers: grown by 25 %
    later = topic_space(store, feature_stats(store, NOW), NOW)
    assert learned == [80, 100] and later is not None and later.n_docs == 100
    store.close()
