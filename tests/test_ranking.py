"""Ranking: near misses, exclusions, coverage, votes, popularity, filters, batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from ranking_corpus import HISTORY, PAPERS, corpus, corpus_of, top_ids

from digest.config import DEFAULT_MIN_SCORE
from digest.ranking import (
    Corpus,
    FeatureStats,
    Profile,
    Voted,
    keyword_hits,
    keywords,
    rank,
    scoring,
    trending_box,
)
from digest.ranking.keywords import KeywordCache, KeywordScores

NEAR = ("Sparse and Discrete Interpretability", "Codebook features make networks legible.")
EXACT = [
    (f"Mechanistic Interpretability of Circuit {i}", f"We trace circuit {i} in a transformer.")
    for i in range(10)
]
GREEK = ["alpha", "beta", "gamma", "delta", "kappa", "lambda", "sigma", "omega", "theta", "zeta"]
FILLER = [(f"Protein Folding Study {g}", f"Structures of the {g} protein family.") for g in GREEK]


def numbered(papers: list[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """The papers under ids "0", "1", ... in their order."""
    return {str(i): paper for i, paper in enumerate(papers)}


def test_a_near_miss_counts_more_on_a_day_without_exact_matches() -> None:
    stats = FeatureStats.of([NEAR, *EXACT, *FILLER])  # the same word weights on both days

    def near_miss_score(day: list[tuple[str, str]]) -> float:
        c = corpus_of(numbered(day), stats=stats)
        return float(KeywordScores(c, ["mechanistic interpretability"]).worded[0, 0])

    alone = near_miss_score([NEAR, *FILLER])  # nothing on this day says the whole keyword
    crowded = near_miss_score([NEAR, *EXACT])  # ten papers do: a digest's worth
    assert alone > 2 * crowded > 0
    assert alone >= DEFAULT_MIN_SCORE > crowded  # eligible alone, not among exact matches


def test_exact_matches_older_than_every_window_do_not_damp_a_near_miss() -> None:
    # the exact matches came yesterday: the reader got them; today holds only the near miss
    papers = [NEAR, *FILLER, *EXACT]
    first_seen = [2.0] * (1 + len(FILLER)) + [1.0] * len(EXACT)
    c = corpus_of(numbered(papers), first_seen=first_seen, stats=FeatureStats.of(papers))
    profile = Profile(["mechanistic interpretability"])
    today = top_ids(c, profile, min_score=DEFAULT_MIN_SCORE, not_before=[1.5])
    assert today == ["0"]
    everything = top_ids(c, profile, 20, min_score=DEFAULT_MIN_SCORE)
    assert "0" not in everything and len(everything) == len(EXACT)  # among them: too weak


def test_exclude_is_a_hard_filter() -> None:
    c = corpus()
    assert set(top_ids(c, Profile(["diffusion models"]), min_score=0.3)) == {"diff", "med"}
    assert top_ids(c, Profile(["diffusion models"], ["medical"]), min_score=0.3) == ["diff"]


def test_words_in_brackets_narrow_a_keyword_but_never_empty_it() -> None:
    c = corpus()
    # no paper says "gptq" or "awq": a keyword holding them matched nothing at all
    assert top_ids(c, Profile(["kv cache quantization gptq awq"]), min_score=0.3) == []
    assert top_ids(c, Profile(["kv cache quantization (gptq, awq)"]), min_score=0.3) == ["kv"]
    assert top_ids(c, Profile(["(gptq)"]), min_score=0.3) == []
    # an excluded keyword still needs all its words, those in brackets too
    profile = Profile(["diffusion models"], ["diffusion (medical)"])
    assert top_ids(c, profile, min_score=0.3) == ["diff"]
    assert top_ids(c, Profile(["diffusion models"], ["diffusion (oncology)"]), min_score=0.3) == [
        "diff",
        "med",
    ]


def test_every_keyword_with_a_match_gets_a_slot() -> None:
    broad = {
        f"b{i}": (f"Diffusion Models Study {i}", "Diffusion models, diffusion models.")
        for i in range(6)
    }
    narrow = {"n": ("Galaxy Clusters", "A survey of a galaxy cluster.")}
    papers = {**broad, **narrow}
    c = corpus_of(papers)
    picks = top_ids(c, Profile(["diffusion models", "galaxy"]), top=3, min_score=0.3)
    assert len(picks) == 3 and "n" in picks
    # profiles with different sizes in one batch: the narrow paper stays within each limit
    wanted = Profile(["diffusion models", "galaxy"])
    small, large = rank(c, [wanted, wanted], [2, 6], min_score=0.3)
    assert "n" in [m.paper_id for m in small] and len(small) == 2
    assert "n" in [m.paper_id for m in large] and len(large) == 6
    assert [m.score for m in large] == sorted((m.score for m in large), reverse=True)


def test_the_topic_of_liked_papers_gets_a_slot_beside_broad_keywords() -> None:
    broad = {
        f"b{i}": (f"Diffusion Models Study {i}", "Diffusion models, diffusion models.")
        for i in range(6)
    }
    papers = {**broad, "g": ("Dwarf Galaxy Rotation", "Rotation curves of a dwarf galaxy.")}
    c = corpus_of(papers)
    liked = Voted({"old": ("Galaxy Rotation Curves", "Rotation curves of a galaxy halo.")})
    [matches] = rank(
        c, [Profile(["diffusion models"], liked=["old"])], 3, min_score=0.3, voted=liked
    )
    assert "g" in [m.paper_id for m in matches] and len(matches) == 3


def test_window_seen_and_min_score_filters() -> None:
    c = corpus(first_seen=[float(i) for i in range(len(PAPERS))])
    profile = Profile(["diffusion models", "galaxies", "kv cache", "rlhf"])
    assert set(top_ids(c, profile, min_score=0.3)) == {"kv", "diff", "med", "gal", "rl"}
    assert set(top_ids(c, profile, min_score=0.3, not_before=[2.0])) == {"gal", "rl"}
    assert set(top_ids(c, profile, min_score=0.3, seen=[{"kv", "gal"}])) == {"diff", "med", "rl"}
    assert top_ids(c, profile, min_score=5.0) == []


def test_batches_and_profiles_are_independent_and_scores_add_up_per_keyword(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scoring, "PSEUDO_WEIGHT", 0.0)  # the keywords' part alone adds up
    monkeypatch.setattr(scoring, "ONE_QUERY_WEIGHT", 0.0)
    c = corpus()
    profiles = [Profile(["diffusion models", "video"]), Profile(["kv cache"]), Profile(["rlhf"])]
    together = rank(c, profiles, 5, batch_size=2, min_score=0.0)
    for profile, matches in zip(profiles, together, strict=True):
        [alone] = rank(c, [profile], 5, min_score=0.0)
        assert matches == alone
    per_keyword = {
        k: {m.paper_id: m.score for m in rank(c, [Profile([k])], 10, min_score=0.0)[0]}
        for k in ("diffusion models", "video")
    }
    for m in together[0]:
        expected = sum(scores.get(m.paper_id, 0.0) for scores in per_keyword.values())
        assert abs(m.score - expected) < 1e-3


def test_liking_papers_on_a_new_topic_brings_that_topic_in() -> None:
    old = {
        "g1": ("Dwarf Galaxy Dynamics", "Dark matter in dwarf galaxy rotation curves."),
        "g2": ("Galaxy Rotation and Dark Matter Halos", "Rotation curves trace dark matter."),
    }
    c = corpus()
    profile = Profile(["kv cache"], liked=["g1", "g2"])
    without = top_ids(c, Profile(["kv cache"]), min_score=0.3)
    [with_votes] = rank(c, [profile], 10, min_score=0.3, voted=Voted(old))
    assert "gal" not in without
    assert "gal" in [m.paper_id for m in with_votes]
    [gal] = [m for m in with_votes if m.paper_id == "gal"]
    assert gal.similar_to in {"g1", "g2"} and gal.matched == []
    assert "kv" in [m.paper_id for m in with_votes]  # the keyword's paper stays


class _Meaning:
    """A semantic layer that knows what each paper is about (one axis per subject)."""

    blend, close = 0.0, 1.0  # keywords stay lexical: only the votes read it

    def __init__(self, papers: list[list[float]], liked: list[float]) -> None:
        self.papers = np.array(papers, dtype=np.float32)
        self.liked = np.array([liked], dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.zeros((len(texts), self.papers.shape[1]), dtype=np.float32)

    def embed(self, rows: object) -> np.ndarray:
        return self.liked


def test_a_vote_reaches_papers_about_the_same_thing_in_other_words() -> None:
    """Two papers match the keyword alike and share no word with the liked paper: the one
    the semantic layer places beside it comes first."""
    texts = {
        "a": ("Models of Rotation", "Rotation of stellar systems studied with models."),
        "b": ("Models of Rotation", "Rotation of rigid bodies studied with models."),
    }
    liked = {"old": ("Dark Halo Kinematics", "Kinematics of dark halos around galaxies.")}
    c = corpus_of(texts)
    plain = rank(c, [Profile(["rotation models"], liked=["old"])], 2, voted=Voted(liked))
    assert plain[0][0].score == pytest.approx(plain[0][1].score)
    c.semantic = _Meaning([[1.0, 0.0], [0.0, 1.0]], liked=[1.0, 0.0])
    [votes] = rank(c, [Profile(["rotation models"], liked=["old"])], 2, voted=Voted(liked))
    assert [m.paper_id for m in votes] == ["a", "b"] and votes[0].score > votes[1].score


def test_three_votes_never_crowd_the_keywords_out() -> None:
    liked = {
        f"g{i}": ("Dwarf Galaxy Rotation Curves", "Rotation curves of a dwarf galaxy, dark matter.")
        for i in range(3)
    }
    extra = {"gal2": PAPERS["gal"], "gal3": PAPERS["gal"]}  # more papers like the liked ones
    c = corpus_of({**PAPERS, **extra}, stats=corpus().stats)
    profile = Profile(["kv cache"], liked=list(liked))
    [with_votes] = rank(c, [profile], 2, min_score=0.3, voted=Voted(liked))
    assert "kv" in [m.paper_id for m in with_votes]  # the keyword keeps a place of two


def test_disliked_kind_goes_down() -> None:
    c = corpus()
    votes = Voted({"m0": ("Diffusion for Medical Scans", "Medical imaging with diffusion.")})
    [plain] = rank(c, [Profile(["diffusion models"])], 5, min_score=0.3)
    [disliked] = rank(
        c, [Profile(["diffusion models"], disliked=["m0"])], 5, min_score=0.3, voted=votes
    )
    assert plain[0].paper_id == "med" or plain[1].paper_id == "med"
    assert [m.paper_id for m in disliked][0] == "diff"


def test_popularity_reorders_relevant_papers_but_never_adds_irrelevant_ones() -> None:
    popularity = [1.0 if i in ("med", "gal") else 0.0 for i in PAPERS]
    c = corpus(popularity=popularity)
    calm = top_ids(c, Profile(["diffusion models"]), min_score=0.3)
    keen = top_ids(c, Profile(["diffusion models"], trending=1.0), min_score=0.3)
    assert set(calm) == set(keen) == {"diff", "med"}
    assert keen[0] == "med"


def test_keywords_scored_a_few_at_a_time_score_as_all_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The keyword cache scores new keywords in blocks of BLOCK_CELLS keywords x papers (its
    memory is bounded by the block); the rows are those of scoring them all at once."""
    c = corpus()
    names = ["kv cache", "diffusion models", "rlhf", "video", "galaxy", "speculative decoding"]
    whole = KeywordScores(c, names)
    monkeypatch.setattr(keywords, "BLOCK_CELLS", 2 * len(c.ids))  # two keywords a block
    cache = KeywordCache(c)
    got = cache.scores(names[::-1])  # another order, from three blocks
    assert len(cache.blocks) == 3
    for part in ("scores", "full", "evidence"):
        expected = getattr(whole, part).toarray()[::-1]
        assert abs(getattr(got, part).toarray() - expected).max() < 1e-6
    assert got.keywords == names[::-1]


def test_keyword_hits_counts_matches_and_zero_for_unknown() -> None:
    hits = keyword_hits(corpus(), ["diffusion models", "quasars"], 0.3)
    assert hits == {"diffusion models": 2, "quasars": 0}


def test_feature_stats_round_trip() -> None:
    stats = FeatureStats.of(HISTORY)
    again = FeatureStats.from_bytes(stats.to_bytes())
    assert again is not None
    assert again.n_docs == 3 and again.df == stats.df
    assert again.acronyms.expand == stats.acronyms.expand
    assert FeatureStats.from_bytes(b"not zlib") is None


def test_empty_corpus_and_no_profiles() -> None:
    empty = Corpus([], [], [])
    assert list(rank(empty, [Profile(["x"])], 3)) == [[]]
    assert list(rank(corpus(), [], 3)) == []


def test_trending_box_takes_popular_new_papers_not_chosen_seen_or_excluded() -> None:
    order = list(PAPERS)
    popularity = {"med": 0.9, "gal": 0.8, "rl": 0.7, "spec": 0.6, "dec": 0.1}
    c = corpus(
        first_seen=[10.0 if i != "spec" else 1.0 for i in order],
        popularity=[popularity.get(i, 0.0) for i in order],
    )
    box = trending_box(c, chosen={"gal"}, not_before=5.0, seen={"rl"}, exclude=["medical"])
    assert [m.paper_id for m in box] == []  # med excluded, gal chosen, rl seen, spec old
    box = trending_box(c, chosen=set(), not_before=5.0, seen=set())
    assert [m.paper_id for m in box] == ["med", "gal", "rl"]  # dec is below the floor


SPEECH = {
    "s1": ("Transformer Speech Recognition", "A transformer for speech recognition of audio."),
    "s2": ("Speech Transformer Models", "Transformer models for speech and audio."),
    "s3": ("Transformer ASR", "Speech recognition with a transformer on audio."),
    "far": ("Traffic Forecasting", "Forecasting road traffic flows, with a transformer."),
    "near": ("Streaming ASR", "Streaming speech recognition on audio, with a transformer."),
}


def test_among_papers_that_match_alike_those_like_the_best_matches_come_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pseudo-relevance feedback: two papers match "transformer" once in their abstracts;
    the one about what the profile's best matches are about (speech) ranks above the other."""
    c = corpus_of(SPEECH)
    order = [m.paper_id for m in rank(c, [Profile(["transformer"])], 5, min_score=0.0)[0]]
    assert order.index("near") < order.index("far")
    monkeypatch.setattr(scoring, "PSEUDO_WEIGHT", 0.0)
    plain = {m.paper_id: m.score for m in rank(c, [Profile(["transformer"])], 5)[0]}
    assert plain["near"] == plain["far"]  # the keyword alone cannot tell them apart


def test_the_guess_from_the_best_matches_gives_way_to_the_readers_votes() -> None:
    """Pseudo-relevance feedback guesses what the reader likes; once they have voted, their
    votes say it: the pull of the best matches is scaled by 1 - confidence in the votes
    (n / (n + LIKE_HALF)). Here the votes are on papers sharing no word with these, so what
    tells "near" from "far" is the pull alone."""
    c = corpus_of(SPEECH)
    galaxies = {
        f"g{i}": (f"Dwarf Galaxy {g}", f"Rotation curves of {g}.") for i, g in enumerate(GREEK)
    }

    def gap(liked: list[str]) -> float:
        profile = Profile(["transformer"], liked=liked)
        scores = {m.paper_id: m.score for m in rank(c, [profile], 5, voted=Voted(galaxies))[0]}
        return scores["near"] - scores["far"]

    alone = gap([])
    assert alone > 0.5
    for n in (1, 3, 10):
        share = 1 - n / (n + scoring.LIKE_HALF)
        assert gap(list(galaxies)[:n]) == pytest.approx(alone * share, rel=1e-3)


def test_a_word_two_keywords_share_counts_for_the_whole_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The profile is also read as one query, as BM25 reads it: "prompt" is in both keywords,
    so a paper about prompting that holds neither keyword whole gains more from it than a
    paper holding "engineering" and "tuning", one word of each keyword."""
    papers = {
        "prompting": ("Prompting Strategies for Reasoning", "We compare prompts and prompting."),
        "engineering": (
            "Representation Engineering",
            "We steer models by engineering and tuning their representations.",
        ),
        "graphs": ("Graph Networks", "Message passing on graphs."),
        "galaxies": ("Galaxy Surveys", "Dwarf galaxies in deep fields."),
        "both": ("Prompt Engineering at Scale", "Prompt engineering for many tasks."),
    }
    c = corpus_of(papers)
    profile = [Profile(["prompt engineering", "prompt tuning"])]
    monkeypatch.setattr(scoring, "PSEUDO_WEIGHT", 0.0)

    def scores() -> dict[str, float]:
        return {m.paper_id: m.score for m in rank(c, profile, 5, min_score=0.0)[0]}

    read_as_one = scores()
    monkeypatch.setattr(scoring, "ONE_QUERY_WEIGHT", 0.0)
    apart = scores()
    gain = {pid: read_as_one[pid] - apart[pid] for pid in ("prompting", "engineering")}
    assert gain["prompting"] > 1.1 * gain["engineering"] > 0
    assert read_as_one["prompting"] > 1.05 * read_as_one["engineering"]
    assert set(read_as_one) == set(apart) == {"both", "prompting", "engineering"}  # eligible alike


def test_weak_matches_in_the_top_do_not_pull_up_papers_like_themselves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two papers are about "algorithmic trading"; five more only have its words apart
    ("trade-off ... algorithm"), three of them about distillation. The pseudo-feedback
    centroid of the top five weighs papers by score, so the weak matches, which outnumber
    the strong ones there, do not pull their own kind up: the trading papers stay first and
    the order-flow paper goes above the distillation one that the keyword alone prefers."""
    papers = {
        "t1": (
            "Algorithmic Trading with Order Flow",
            "Order flow, market impact: algorithmic trading.",
        ),
        "t2": (
            "Algorithmic Trading Strategies",
            "Market impact of order flow for algorithmic trading.",
        ),
        "w1": ("Trade-offs of a Distillation Algorithm", "Distillation of students by teachers."),
        "w2": ("Distillation Trade-offs: One Algorithm", "Students and teachers in distillation."),
        "w3": ("Trade-off Aware Distillation Algorithm", "Teachers, students and distillation."),
        "near": (
            "Order Flow Imbalance",
            "Order flow and market impact of orders in markets, flow of orders, impact on "
            "markets: an algorithm and a trade-off.",
        ),
        "far": (
            "Distillation Students",
            "Distillation of students by teachers, students of teachers, distillation by "
            "students: an algorithm and a trade-off.",
        ),
    }
    c = corpus_of(papers)
    profile = [Profile(["algorithmic trading"])]
    order = [m.paper_id for m in rank(c, profile, 7, min_score=0.0)[0]]
    assert set(order[:2]) == {"t1", "t2"}
    assert order.index("near") < order.index("far")
    monkeypatch.setattr(scoring, "PSEUDO_WEIGHT", 0.0)
    plain = {m.paper_id: m.score for m in rank(c, profile, 7, min_score=0.0)[0]}
    assert plain["far"] > plain["near"]  # the keyword alone puts the distillation one first
