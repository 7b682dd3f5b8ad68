"""Ranking: TF-IDF profiles, matched keywords, exclusions, windows, and vectorised == naive."""

from __future__ import annotations

import numpy as np

from digest.ranking import Corpus, Profile, paper_text, rank, split_keywords, tokenize

PAPERS = {
    "kv": ("KV Cache Quantization for Long Context", "We quantize the key value cache of LLMs."),
    "diff": ("Video Diffusion Models", "A diffusion model that generates video frames."),
    "med": ("Diffusion Models for Medical Imaging", "Diffusion models applied to medical scans."),
    "gal": ("Dwarf Galaxies and Dark Matter", "Rotation curves of dwarf galaxies."),
    "rl": ("Reinforcement Learning from Human Feedback", "RLHF aligns models with people."),
}


def corpus(first_seen: list[float] | None = None) -> Corpus:
    ids = list(PAPERS)
    return Corpus(ids, [paper_text(*PAPERS[i]) for i in ids], first_seen)


def test_split_keywords_trims_lowercases_and_dedupes() -> None:
    assert split_keywords(" KV cache, quantization,,kv  cache ;RLHF\n") == [
        "kv cache",
        "quantization",
        "rlhf",
    ]


def test_tokenize_folds_plurals_and_drops_stop_words() -> None:
    assert tokenize("The models of galaxies") == ["model", "galaxie"]
    assert tokenize("analysis class") == ["analysis", "class"]


def test_profile_gets_matching_papers_with_reasons() -> None:
    [matches] = rank(corpus(), [Profile(["kv cache", "quantization"])], 3)
    assert [m.paper_id for m in matches] == ["kv"]
    assert matches[0].matched == ["kv cache", "quantization"]
    assert matches[0].score > 0


def test_exclude_removes_papers_matching_an_excluded_keyword() -> None:
    [plain, excluding] = rank(
        corpus(), [Profile(["diffusion models"]), Profile(["diffusion models"], ["medical"])], 5
    )
    assert {m.paper_id for m in plain} == {"diff", "med"}
    assert [m.paper_id for m in excluding] == ["diff"]


def test_a_phrase_matches_only_when_all_its_words_occur() -> None:
    [matches] = rank(corpus(), [Profile(["dark energy"])], 5)
    assert matches == []  # "dark" alone is in "gal", but "energy" is nowhere


def test_top_limit_min_score_window_and_seen_filters() -> None:
    c = corpus(first_seen=[10.0, 20.0, 30.0, 40.0, 50.0])
    profile = Profile(["diffusion models", "galaxies", "kv cache", "rlhf"])
    [all_of_them] = rank(c, [profile], 10)
    assert {m.paper_id for m in all_of_them} == {"kv", "diff", "med", "gal", "rl"}
    [two] = rank(c, [profile], 2)
    assert len(two) == 2 and two == all_of_them[:2]
    [recent] = rank(c, [profile], 10, not_before=[30.0])
    assert {m.paper_id for m in recent} == {"gal", "rl"}
    [unseen] = rank(c, [profile], 10, seen=[{"kv", "gal"}])
    assert {m.paper_id for m in unseen} == {"diff", "med", "rl"}
    [strict] = rank(c, [profile], 10, min_score=1.0)
    assert strict == []


def test_vectorised_scores_equal_a_naive_per_pair_computation() -> None:
    c = corpus()
    profiles = [
        Profile(["diffusion models", "video"]),
        Profile(["kv cache"]),
        Profile(["galaxies", "dark matter", "rlhf"]),
    ]
    ranked = rank(c, profiles, 5, batch_size=2)  # batches of 2 exercise the batching
    docs = c.docs.toarray()
    for profile, matches in zip(profiles, ranked, strict=True):
        kw = c.vectorizer.transform(list(profile.keywords)).toarray()
        naive = (kw @ docs.T).sum(axis=0) / np.sqrt(len(profile.keywords))
        for m in matches:
            assert abs(m.score - naive[c.ids.index(m.paper_id)]) < 1e-3
        scores = [m.score for m in matches]
        assert scores == sorted(scores, reverse=True)


def test_empty_corpus_and_no_profiles() -> None:
    empty = Corpus([], [])
    assert list(rank(empty, [Profile(["x"])], 3)) == [[]]
    assert list(rank(corpus(), [], 3)) == []
