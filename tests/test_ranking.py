"""Ranking: soft keyword queries, stems, acronyms, coverage, votes, popularity, filters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

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
    split_keywords,
    stems,
    trending_box,
)
from digest.ranking.acronyms import Acronyms, definitions
from digest.ranking.keywords import KeywordCache, KeywordScores, keyword_forms
from digest.ranking.spelling import american
from digest.ranking.text import compound_forms

PAPERS = {
    "kv": ("KV Cache Quantization for Long Context", "We quantize the key-value cache of LLMs."),
    "diff": ("Video Diffusion Models", "A diffusion model that generates video frames."),
    "med": ("Diffusion Models for Medical Imaging", "Diffusion models applied to medical scans."),
    "gal": ("Dwarf Galaxy Rotation Curves", "Rotation curves of a dwarf galaxy and dark matter."),
    "rl": (
        "Aligning Assistants with Human Preferences",
        "We study reinforcement learning from human feedback for chat assistants.",
    ),
    "spec": ("Speculative Decoding with Draft Trees", "Draft models propose tokens to verify."),
    "dec": ("A Decoder for Error Correcting Codes", "Decoding noisy channel outputs quickly."),
    "t2i": ("Text-to-Image Generation with Layouts", "Text to image models follow layouts."),
}
# A history that defines acronyms the candidates above only spell out (or only abbreviate).
HISTORY = [
    ("RLHF at scale", "Reinforcement learning from human feedback (RLHF) tunes chat models."),
    ("Serving LLMs", "Large language models (LLMs) need fast serving systems."),
    ("Caches", "The key-value (KV) cache grows with the context."),
]


def corpus(
    ids: list[str] | None = None,
    first_seen: list[float] | None = None,
    popularity: list[float] | None = None,
) -> Corpus:
    ids = ids or list(PAPERS)
    stats = FeatureStats.of([PAPERS[i] for i in ids] + HISTORY)
    return Corpus(
        ids,
        [PAPERS[i][0] for i in ids],
        [PAPERS[i][1] for i in ids],
        first_seen,
        popularity=popularity,
        stats=stats,
    )


def corpus_of(papers: dict[str, tuple[str, str]], **kw: object) -> Corpus:
    """A corpus of these papers (id -> title, abstract), in their order."""
    ids = list(papers)
    return Corpus(ids, [papers[i][0] for i in ids], [papers[i][1] for i in ids], **kw)  # type: ignore[arg-type]


def word_scores(c: Corpus, keyword: str) -> dict[str, float]:
    """Paper id -> what the paper's own words score for the keyword."""
    return dict(zip(c.ids, KeywordScores(c, [keyword]).worded.toarray()[0].tolist(), strict=True))


def top_ids(c: Corpus, profile: Profile, top: int = 10, **kw: object) -> list[str]:
    [matches] = rank(c, [profile], top, **kw)  # type: ignore[arg-type]
    return [m.paper_id for m in matches]


def test_split_keywords_trims_lowercases_and_dedupes() -> None:
    assert split_keywords(" KV cache, quantization,,kv  cache ;RLHF\n") == [
        "kv cache",
        "quantization",
        "rlhf",
    ]


@pytest.mark.parametrize(
    ("typed", "keywords"),
    [
        ('"kv cache", \u201cspeculative decoding\u201d', ["kv cache", "speculative decoding"]),
        ("LLM quantization (GPTQ, AWQ), RLHF", ["llm quantization (gptq, awq)", "rlhf"]),
        ("mixture of experts [moe, routing]; dpo", ["mixture of experts [moe, routing]", "dpo"]),
        ("llm (quantization, rlhf", ["llm (quantization", "rlhf"]),  # never closed
        ("RLHF | DPO", ["rlhf", "dpo"]),
        ("kv cache, long context.", ["kv cache", "long context"]),
        ('"a" or "b", it\'s \'x\'', ['"a" or "b"', "it's 'x'"]),  # quotes inside stay
    ],
)
def test_split_keywords_reads_keywords_as_people_type_them(typed: str, keywords: list[str]) -> None:
    assert split_keywords(typed) == keywords


def test_a_real_stemmer_and_hyphens_make_word_forms_meet() -> None:
    assert stems("galaxies") == stems("galaxy")
    assert stems("long-context") == [*stems("long context"), "longcontext"]
    assert "bilevel" in stems("bi-level") and stems("bilevel") == ["bilevel"]
    assert stems("LLMs") == stems("LLM")
    assert stems("KVQuant") == ["kvquant", "kv", "quant"]
    # model and data set names read alike with or without their hyphen
    assert stems("GPT-4") == stems("GPT4") == ["gpt", "4", "gpt4"]
    assert stems("CIFAR10") == stems("CIFAR-10") and stems("4bit") == stems("4-bit")
    assert stems("A100") == ["a100"] and stems("3D") == ["3d"]  # short names stay whole
    c = corpus()
    assert top_ids(c, Profile(["galaxies"]), min_score=0.3) == ["gal"]
    assert top_ids(c, Profile(["text-to-image"]), min_score=0.3) == ["t2i"]


def test_an_agent_noun_is_not_every_text_about_its_verb() -> None:
    # Snowball cuts "tokenizer" to "token" and "accelerator" to "acceler"; the noun stays too
    assert stems("tokenizers") == ["tokeniz", "tokenizer"] and stems("tokens") == ["token"]
    assert stems("LLM accelerator") == ["llm", "acceler", "accelerator"]
    assert stems("transformers") == ["transform"] and stems("parameters") == ["paramet"]
    # an -ize verb's words stay together, apart from the word it is made of
    assert stems("visualization visualized visual") == ["visualiz", "visualiz", "visual"]
    assert stems("generalization generally") == ["generaliz", "general"]
    assert stems("quantization quantized") == ["quantiz", "quantiz"]
    papers = {
        "noun": ("A Tokenizer for Code", "We train a tokenizer on source code."),
        "verb": ("Token Pruning for Fast Inference", "We drop tokens to speed up inference."),
    }
    c = corpus_of(papers)
    score = word_scores(c, "tokenizer")
    assert score["noun"] > 4 * score["verb"]


def test_a_compound_with_a_stop_word_is_not_its_other_half() -> None:
    # split, "few-shot" is "shot" (zero-shot too) and "off-policy" is "policy" (on-policy too)
    papers = {
        "few": ("Few-Shot Learning with Prototypes", "Few-shot learning from five examples."),
        "zero": ("Zero-Shot Learning with Attributes", "Zero-shot learning of unseen classes."),
        "off": ("Off-Policy Evaluation", "Off-policy evaluation of bandit policies."),
        "on": ("On-Policy Evaluation", "On-policy evaluation of agents."),
        "edu": ("AI in Schools", "The use of AI in education."),
    }
    c = corpus_of(papers)
    for keyword, right, wrong in [
        ("few-shot learning", "few", "zero"),
        ("few shot learning", "few", "zero"),  # typed apart, as people do
        ("off-policy evaluation", "off", "on"),
    ]:
        score = word_scores(c, keyword)
        assert score[right] > 5 * score[wrong], keyword
    # no paper writes "ineducation": the keyword keeps its words
    assert top_ids(c, Profile(["AI use in education"])) == ["edu"]
    # a stop word before a compound of two words leaves that compound's two forms alone
    assert len(keyword_forms(c, "learning in zero-shot classes")) == 2


def test_use_and_out_are_words_of_a_keyword_not_stop_words() -> None:
    # "tool use" is a topic; read as "tool" it was every paper that mentions a tool
    assert stems("tool use, tools used") == ["tool", "use", "tool", "use"]
    papers = {
        "tool use": ("Tool Use in LLM Agents", "Agents learn tool use: they call APIs."),
        "a tool": ("A Tool for Profiling GPUs", "We release a tool that profiles kernels."),
        "apart": ("A Benchmark Tool", "The tool is easy to use for evaluation."),
    }
    c = corpus_of(papers)
    score = word_scores(c, "tool use")
    assert score["tool use"] > 2 * score["apart"] > 0 and score["a tool"] < score["apart"]
    # "out-of-distribution" is not "distribution": read so, it was also "distributed"
    papers = {
        "ood": ("Detecting Inputs Out of Distribution", "Out-of-distribution detection."),
        "distributed": (
            "Distributed Detection with Sensors",
            "Distributed detection over sensors.",
        ),
    }
    score = word_scores(corpus_of(papers), "out-of-distribution detection")
    assert score["ood"] > 2 * score["distributed"]


def test_a_hyphenated_keyword_matches_papers_that_split_or_join_the_compound() -> None:
    assert compound_forms("bi-level optimization") == [
        ["bi", "level", "optimization"],
        ["bilevel", "optimization"],
    ]
    assert compound_forms("GPT-4 agents") == [["gpt", "4", "agents"], ["gpt4", "agents"]]
    assert compound_forms("text-to-image, kv cache") == [["text", "image", "kv", "cache"]]
    papers = {
        "hyphen": ("Bi-level Optimization at Scale", "We solve bi-level optimization problems."),
        "joined": ("Bilevel Optimization at Scale", "We solve bilevel optimization problems."),
        "spaced": ("Bi level Optimization at Scale", "We solve bi level optimization problems."),
        "other": ("Convex Optimization at Scale", "We solve convex optimization problems."),
    }
    c = corpus_of(papers)
    score = word_scores(c, "bi-level optimization")
    # however a paper writes the compound, it holds the whole keyword
    assert score["joined"] == pytest.approx(score["hyphen"], rel=0.25)
    assert score["spaced"] == pytest.approx(score["hyphen"], rel=0.25)
    assert score["other"] < score["spaced"] / 4
    # an excluded compound removes the papers that write it any way
    kept = top_ids(c, Profile(["optimization"], ["bi-level"]), min_score=0.0)
    assert kept == ["other"]


@pytest.mark.parametrize(
    ("british", "american"),
    [
        ("optimisation", "optimization"),
        ("regularised", "regularized"),
        ("tokenisers", "tokenizers"),
        ("amortised", "amortized"),
        ("behaviour", "behavior"),
        ("nearest neighbours", "nearest neighbors"),
        ("analysed", "analyzed"),
        ("centre", "center"),
        ("catalogue", "catalog"),
        ("adversarial defence", "adversarial defense"),
        ("artefacts", "artifacts"),
    ],
)
def test_british_and_american_spellings_meet(british: str, american: str) -> None:
    assert stems(british) == stems(american)


def test_words_spelled_alike_on_both_sides_keep_their_kin() -> None:
    """Their -ise is the only spelling: folding it would part "supervised" from
    "supervision", "precise" from "precision"."""
    alike = "supervised precise exercise pairwise noise promise comprise otherwise hour genre"
    for word in [*alike.split(), "crises", "disable"]:
        assert american(word) == word
    assert stems("supervised")[0] == stems("supervision")[0]
    assert stems("self-supervised")[-1] == stems("selfsupervision")[0]
    assert stems("precise") == stems("precision")


def test_a_keyword_finds_papers_spelled_on_the_other_side() -> None:
    papers = [
        ("Regularisation of Tokenisers", "We analyse the behaviour of optimised tokenisers."),
        ("Regularization of Tokenizers", "We analyze the behavior of optimized tokenizers."),
        ("Galaxy Surveys", "Dwarf galaxies in deep fields."),
    ]
    c = Corpus(["uk", "us", "gal"], *zip(*papers, strict=True), stats=FeatureStats.of(papers))
    for keyword in ("tokenizer regularization", "tokeniser regularisation"):
        assert sorted(top_ids(c, Profile([keyword]), min_score=0.3)) == ["uk", "us"]


def test_acronyms_are_learned_from_abstracts_and_work_both_ways() -> None:
    assert ("rlhf", ("reinforc", "learn", "human", "feedback")) in definitions(HISTORY[0][1])
    assert ("llm", ("larg", "languag", "model")) in definitions(HISTORY[1][1])
    c = corpus()
    # "rl" never says RLHF; "kv" never says "large language models"
    assert top_ids(c, Profile(["rlhf"]), min_score=0.3) == ["rl"]
    assert top_ids(c, Profile(["large language models"]), min_score=0.3) == ["kv"]
    assert top_ids(c, Profile(["key-value cache"]), min_score=0.3) == ["kv"]


def test_an_acronym_with_two_senses_is_not_rewritten() -> None:
    acronyms = Acronyms()
    acronyms.learn(
        [
            "We train with differential privacy (DP) guarantees.",
            "Dynamic programming (DP) solves the Bellman equation.",
            "The key-value (KV) cache grows.",
            "A key value (KV) store.",  # the same sense, spelt apart: still one sense
        ]
    )
    privacy = tuple(stems("differential privacy"))
    assert acronyms.variants(list(privacy)) == [privacy]  # a bare "DP" may be the other one
    assert acronyms.variants(["dp"]) == [("dp",)]
    assert "kv" in acronyms.expand and "dp" not in acronyms.expand
    c = Corpus(
        ["bellman", "private"],
        ["Trajectory stitching", "Private fine-tuning"],
        [
            "Dynamic programming (DP) diverges; we avoid DP and DP-style updates.",
            "Differential privacy for language models.",
        ],
        stats=FeatureStats.of(
            [("", "We train with differential privacy (DP)."), ("", "Dynamic programming (DP).")]
        ),
    )
    assert top_ids(c, Profile(["differential privacy"]), min_score=0.2) == ["private"]


def test_partial_matches_score_in_proportion_and_phrases_and_titles_score_more() -> None:
    [matches] = rank(corpus(), [Profile(["speculative decoding"])], 10, min_score=0.0)
    score = {m.paper_id: m.score for m in matches}
    assert score["spec"] > score["dec"] > 0  # whole phrase beats one of its words
    extra = {
        "title": ("Sparse Attention Kernels", "We make transformers fast."),
        "abstract": ("Fast Transformers", "We write sparse attention kernels."),
        "scattered": ("Fast Kernels", "Sparse updates help, and so do attention heads."),
    }
    c = corpus_of(extra)
    assert top_ids(c, Profile(["sparse attention"])) == ["title", "abstract", "scattered"]


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
    assert [m.paper_id for m in small][1] == "n" and len(small) == 2
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


def test_among_papers_that_match_alike_those_like_the_best_matches_come_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pseudo-relevance feedback: two papers match "transformer" once in their abstracts;
    the one about what the profile's best matches are about (speech) ranks above the other."""
    papers = {
        "s1": ("Transformer Speech Recognition", "A transformer for speech recognition of audio."),
        "s2": ("Speech Transformer Models", "Transformer models for speech and audio."),
        "s3": ("Transformer ASR", "Speech recognition with a transformer on audio."),
        "far": ("Traffic Forecasting", "Forecasting road traffic flows, with a transformer."),
        "near": ("Streaming ASR", "Streaming speech recognition on audio, with a transformer."),
    }
    c = corpus_of(papers)
    order = [m.paper_id for m in rank(c, [Profile(["transformer"])], 5, min_score=0.0)[0]]
    assert order.index("near") < order.index("far")
    monkeypatch.setattr(scoring, "PSEUDO_WEIGHT", 0.0)
    plain = {m.paper_id: m.score for m in rank(c, [Profile(["transformer"])], 5)[0]}
    assert plain["near"] == plain["far"]  # the keyword alone cannot tell them apart


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
