"""The topic space learned from the history (latent semantic analysis, the default install's
semantic layer): what it learns, how it is stored and when it is learned again."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from digest.ingest import store_records
from digest.planner import feature_stats, topic_space
from digest.ranking import Corpus, FeatureStats, Profile, rank
from digest.ranking import keywords as keywords_module
from digest.ranking import topics as topics_module
from digest.ranking.keywords import KeywordScores
from digest.ranking.topics import MIN_DOCS, Topics
from digest.sources.base import PaperRecord
from digest.store import Store

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
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


def test_of_two_papers_with_the_same_words_the_one_of_the_keywords_field_scores_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A keyword's own cosine in topic space orders, it does not match: it is added to its
    score, so of two papers that hold its word alike, the one among its field's words gains
    more; which papers match stays what the words say (feedback from the keyword's best
    matches apart, tested below)."""
    monkeypatch.setattr(keywords_module, "PRF_FIELD_WEIGHT", 0.0)
    papers, _ = two_fields()
    trading = [(t, f"{a} trading") for t, a in papers[:10]]  # finance papers on trading
    rng = random.Random(3)
    words = " ".join(rng.choice(LEARNING) for _ in range(60))
    ours = ("Our paper", f"{' '.join(rng.choice(FINANCE[:-1]) for _ in range(60))} trading")
    theirs = ("Their paper", f"{words} trading")  # as long, with one "trading" too
    history = [*trading, *papers[10:], ours, theirs]
    topics = Topics.learn(history, FeatureStats.of(history))
    assert topics is not None

    def keyword(with_topics: Topics | None) -> KeywordScores:
        return KeywordScores(corpus_of(history, with_topics), ["trading"])

    plain, blended = keyword(None), keyword(topics)
    plain_ours, plain_theirs = plain.scores.toarray()[0, -2:]
    near, far = blended.scores.toarray()[0, -2:]
    # the words alone score both alike but for pseudo-relevance feedback (ours resembles the
    # best matches); the topics add more to the paper among the keyword's field
    assert near - far > plain_ours - plain_theirs + 0.1
    # what matches is what the words match: the topics add no match of their own
    assert (blended.evidence != plain.scores).nnz == 0


def test_papers_of_the_field_of_a_keywords_best_matches_gain_without_its_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pseudo-relevance feedback in topic space: a keyword whose best matches are finance
    papers also scores the finance papers that lack its word, and no paper of another field;
    a keyword without a strong match (half its words unknown) adds nothing of the kind."""
    papers, finance = two_fields()
    history = [(t, f"{a} trading") for t, a in papers[:10]] + papers[10:]
    topics = Topics.learn(history, FeatureStats.of(history))
    assert topics is not None
    corpus = corpus_of(history, topics)

    def evidence(keyword: str, field_weight: float) -> np.ndarray:
        monkeypatch.setattr(keywords_module, "PRF_FIELD_WEIGHT", field_weight)
        return np.asarray(KeywordScores(corpus, [keyword]).evidence.toarray()[0])

    gain = evidence("trading", keywords_module.PRF_FIELD_WEIGHT) - evidence("trading", 0.0)
    # every finance paper without "trading" gains, by how close it is to the trading papers
    assert gain[10:finance].min() > 0 and gain[10:finance].mean() > 0.1
    assert not gain[finance:].any()  # machine-learning papers gain nothing
    weak = evidence("trading zzyzx", keywords_module.PRF_FIELD_WEIGHT)
    assert (weak == evidence("trading zzyzx", 0.0)).all()


def test_why_names_the_keyword_as_matched_only_where_the_papers_words_match_it() -> None:
    """The papers a keyword reaches through its best matches are said to be related to it:
    "matched" names only keywords the paper's own words match."""
    papers, finance = two_fields()
    history = [(t, f"{a} trading") for t, a in papers[:10]] + papers[10:]
    topics = Topics.learn(history, FeatureStats.of(history))
    corpus = corpus_of(history, topics)
    [picks] = rank(corpus, [Profile(["trading"])], len(history), min_score=0.05)
    by_id = {int(m.paper_id): m for m in picks}
    said = {i for i, (t, a) in enumerate(history) if "trading" in f"{t} {a}".split()}
    with_word = [m for i, m in by_id.items() if i in said]
    without = [m for i, m in by_id.items() if i not in said]
    assert len(with_word) == len(said) and len(without) > 5  # feedback reached papers without it
    assert all(m.matched == ["trading"] and not m.related for m in with_word)
    assert all(m.matched == [] and list(m.related) == ["trading"] for m in without)
    assert all(i < finance for i in by_id)  # none of the other field


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
