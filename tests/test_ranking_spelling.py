"""Ranking, the spelling: British and American spellings meet, and a typed word no paper holds
gets the common word one edit away as a suggestion."""

from __future__ import annotations

import pytest
from ranking_corpus import top_ids

from digest.ranking import Corpus, FeatureStats, Profile, split_keywords, stems
from digest.ranking.spelling import american


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
    "supervision", "precise" from "precisely"."""
    alike = "supervised precise exercise pairwise noise promise comprise otherwise hour genre"
    for word in [*alike.split(), "crises", "disable"]:
        assert american(word) == word
    assert stems("supervised")[0] == stems("supervision")[0]
    assert stems("self-supervised")[-1] == stems("selfsupervision")[0]
    assert stems("precise") == stems("precisely")


def test_a_keyword_finds_papers_spelled_on_the_other_side() -> None:
    papers = [
        ("Regularisation of Tokenisers", "We analyse the behaviour of optimised tokenisers."),
        ("Regularization of Tokenizers", "We analyze the behavior of optimized tokenizers."),
        ("Galaxy Surveys", "Dwarf galaxies in deep fields."),
    ]
    c = Corpus(["uk", "us", "gal"], *zip(*papers, strict=True), stats=FeatureStats.of(papers))
    for keyword in ("tokenizer regularization", "tokeniser regularisation"):
        assert sorted(top_ids(c, Profile([keyword]), min_score=0.3)) == ["uk", "us"]


def _df(*texts: str) -> dict[str, int]:
    return dict(FeatureStats.of((t, "") for t in texts).df)


TYPO_HISTORY = _df(
    *["Speculative decoding for faster LLM inference"] * 3,
    *["Retrieval-augmented generation with dense retrieval"] * 4,
    *["Knowledge distillation of diffusion models"] * 5,
    "Tokamak plasma control",
)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("speculativ decoding", {"speculativ": "speculative"}),  # a letter dropped
        ("retreival augmented generation", {"retreival": "retrieval"}),  # two swapped
        (
            "knowlege distillation, difusion models",
            {"knowlege": "knowledge", "difusion": "diffusion"},
        ),
        ("dense retrival", {"retrival": "retrieval"}),
        ("speculatove decoding", {"speculatove": "speculative"}),  # one changed
    ],
)
def test_a_typed_word_no_paper_holds_gets_the_common_word_one_edit_away(
    typed: str, meant: dict[str, str]
) -> None:
    from digest.ranking.suggest import suggestions

    assert suggestions(split_keywords(typed), TYPO_HISTORY) == meant


@pytest.mark.parametrize(
    "typed",
    [
        "speculative decodings, knowledge distilled",  # known words, in other forms
        "optimisation of tokamak plasmas",  # British spelling; a rare word the history holds
        "RLHF, LLMs, ddpm",  # acronyms and short words are never corrected
        "specul4tive decoding",  # nor words with digits
        "zebrafish husbandry",  # unknown, and nothing common is one edit away
        "tokamaks",  # known
        "tokamac",  # one paper holds "tokamak": too rare to be what was meant
        "distilation",  # stemmed as "distillation" is: it matches, nothing to suggest
    ],
)
def test_known_words_short_words_and_words_far_from_any_common_one_get_no_suggestion(
    typed: str,
) -> None:
    from digest.ranking.suggest import suggestions

    assert suggestions(split_keywords(typed), TYPO_HISTORY) == {}


def test_only_the_first_few_unknown_words_are_looked_at() -> None:
    """A form full of junk must not cost seconds: each unknown word costs ~500 stems."""
    from digest.ranking.suggest import MAX_CHECKED, suggestions

    junk = [f"zqx{chr(97 + i)}vw" for i in range(MAX_CHECKED)]
    assert suggestions([*junk[1:], "speculativ decoding"], TYPO_HISTORY) == {
        "speculativ": "speculative"
    }
    assert suggestions([*junk, "speculativ decoding"], TYPO_HISTORY) == {}
