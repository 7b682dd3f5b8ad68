"""Ranking, the words: how keywords are split, stemmed, abbreviated and matched."""

from __future__ import annotations

import pytest
from ranking_corpus import HISTORY, assert_outscores, corpus, corpus_of, top_ids, word_scores

from digest.ranking import Corpus, FeatureStats, Profile, rank, split_keywords, stems
from digest.ranking.acronyms import Acronyms, definitions, known
from digest.ranking.keywords import keyword_forms
from digest.ranking.known_acronyms import KNOWN
from digest.ranking.text import compound_forms, split_profile


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
        ("domain adaptation / distribution shift", ["domain adaptation", "distribution shift"]),
        ("LLM/VLM agents (text / vision)", ["llm/vlm agents (text / vision)"]),
        ("kv cache, long context.", ["kv cache", "long context"]),
        ('"a" or "b", it\'s \'x\'', ['"a" or "b"', "it's 'x'"]),  # quotes inside stay
        ("- kv cache\n- long context", ["kv cache", "long context"]),  # a pasted list
        ("1. kv cache\n2) RLHF\n\u2022 1.5-bit LLMs", ["kv cache", "rlhf", "1.5-bit llms"]),
        ("graph neural networks OR GNNs", ["graph neural networks", "gnns"]),
        ("text or image editing", ["text or image editing"]),  # a word, not the operator
        # a label before the list and the prose around keywords are not what is wanted
        ("My research interests: ASR, and also TTS", ["asr", "tts"]),
        ("Keywords:\n- kv cache\n- RLHF", ["kv cache", "rlhf"]),
        ("llm agents, tool use, etc.", ["llm agents", "tool use"]),
        ("I am interested in protein folding", ["protein folding"]),
        ("graph learning, especially GNNs; moe and more", ["graph learning", "gnns", "moe"]),
        ("#llm #agents, C#", ["llm", "agents", "c#"]),
        (
            "field theory: renormalization, i/o, or-tools",
            ["field theory: renormalization", "i/o", "or-tools"],
        ),
        # pasted from a page: a soft hyphen or a zero-width space shows nothing, so is nothing
        ("quanti\u00adzation, kv\u200bcache, \ufeffrlhf", ["quantization", "kvcache", "rlhf"]),
    ],
)
def test_split_keywords_reads_keywords_as_people_type_them(typed: str, keywords: list[str]) -> None:
    assert split_keywords(typed) == keywords


@pytest.mark.parametrize(
    ("typed", "wanted", "unwanted"),
    [
        ("diffusion models, -medical", ["diffusion models"], ["medical"]),
        ("llm NOT agents", ["llm"], ["agents"]),
        ("llm AND NOT agents, rlhf", ["llm", "rlhf"], ["agents"]),
        ("kv cache -quantization -pruning", ["kv cache"], ["quantization", "pruning"]),
        ("rlhf; not medical; !robotics; without video", ["rlhf"], ["medical", "robotics", "video"]),
        # hyphens of words, bullets, numbers and a lower-case "not" inside stay what they are
        ("long-context, non-convex\n- kv cache", ["long-context", "non-convex", "kv cache"], []),
        ("temperature -1, what not to learn", ["temperature -1", "what not to learn"], []),
        ("pre-training -based", ["pre-training"], ["based"]),
    ],
)
def test_exclusions_typed_as_in_a_search_engine(
    typed: str, wanted: list[str], unwanted: list[str]
) -> None:
    assert split_profile(typed) == (wanted, unwanted)


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
    assert stems("transformers") == ["transform", "transformer"]
    assert stems("parameters") == ["paramet"]
    # an -ize verb's words stay together, apart from the word it is made of
    assert stems("visualization visualized visual") == ["visualiz", "visualiz", "visual"]
    assert stems("generalization generally") == ["generaliz", "general"]
    assert stems("quantization quantized") == ["quantiz", "quantiz"]
    papers = {
        "noun": ("A Tokenizer for Code", "We train a tokenizer on source code."),
        "verb": ("Token Pruning for Fast Inference", "We drop tokens to speed up inference."),
    }
    assert_outscores(corpus_of(papers), [("tokenizer", "noun", "verb")], 4)


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
    cases = [
        ("few-shot learning", "few", "zero"),
        ("few shot learning", "few", "zero"),  # typed apart, as people do
        ("off-policy evaluation", "off", "on"),
    ]
    assert_outscores(c, cases, 5)
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
    assert_outscores(
        corpus_of(papers), [("out-of-distribution detection", "ood", "distributed")], 2
    )


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


def test_a_common_acronym_the_history_never_defined_still_works_both_ways() -> None:
    """A history without speech papers never saw "automatic speech recognition (ASR)"; the
    common meaning stands in (known_acronyms.py), until the history defines it otherwise."""
    papers = {
        "long": ("Streaming Speech Models", "Automatic speech recognition on device."),
        "short": ("Whisper at the Edge", "We make ASR fast on phones."),
        "other": ("Edge Vision Models", "Image recognition on device."),
    }
    c = corpus_of(papers, stats=FeatureStats.of([*papers.values(), *HISTORY]))
    assert "asr" not in {short for short, _ in c.stats.acronyms.counts}
    assert sorted(top_ids(c, Profile(["ASR"]), min_score=0.3)) == ["long", "short"]
    assert sorted(top_ids(c, Profile(["automatic speech recognition"]), min_score=0.3)) == [
        "long",
        "short",
    ]
    # the history's own sense wins: here "GP" is genetic programming, not a Gaussian process
    acronyms = Acronyms()
    assert acronyms.expand["gp"] == tuple(stems("Gaussian processes"))
    acronyms.learn(["Genetic programming (GP) evolves programs."])
    assert acronyms.expand["gp"] == tuple(stems("genetic programming"))
    # every listed acronym reads: "long form (SHORT)"
    assert len(known()) == len(KNOWN)
    # a theory paper that only ever says "RKHS", among papers about GPU kernels
    papers = {
        "rkhs": (
            "Augmentation as RKHS Regression",
            "Generalization bounds via RKHS approximation.",
        ),
        "gpu": ("Faster Sparse Kernels", "Our GPU kernels speed up sparse matrix products."),
    }
    c = corpus_of(papers, stats=FeatureStats.of([*papers.values(), *HISTORY]))
    assert top_ids(c, Profile(["reproducing kernel Hilbert spaces"]), min_score=0.3) == ["rkhs"]


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


def test_words_the_stemmer_folds_into_another_meaning_keep_a_stem_of_their_own() -> None:
    # Snowball gives "continual" the stem of "continuous", "objective" that of "object",
    # "contrastive" that of "in contrast", "distribution" that of "distributed"
    for mine, other in [
        ("continual", "continuous"),
        ("object", "objectives"),
        ("contrastive", "contrast"),
        ("active", "activations"),
        ("distributed", "distribution"),
        ("positional", "positive"),
        ("direct", "directions"),
        ("experience", "experiments"),
        ("critic", "critical"),
        ("relation", "relative"),
        ("differential", "differentiable"),
        ("attribute", "attribution"),
        ("format", "formation"),
        ("rank", "ranking"),
        ("conformal", "conformation"),
        ("numerical", "numerous"),
        ("fairness", "fairly"),
        ("grounding", "ground-truth"),
        ("relational", "related"),
        ("exploration", "explore"),
        ("identity", "identical"),
        ("engine", "engineering"),
        ("affective", "affects"),
        ("response", "responsible"),
        ("natural", "naturally"),
        ("active", "activity"),
        ("informed", "information"),
        ("effects", "effective"),  # causal effects; "effective" is in every other abstract
        ("consists", "consistency"),
        ("demonstrate", "demonstrations"),
        ("comprehensive", "comprehension"),
        ("difference", "different"),
        ("limit", "limitations"),
        ("power", "powerful"),
        ("precise", "precision"),
        ("regression", "auto-regressive"),
        ("specifically", "specification"),
        ("complete", "completion"),
        ("associated", "associative"),
        ("collection", "collective"),
    ]:
        assert stems(mine)[0] != stems(other)[0], (mine, other)
    # a clipped word is the word it is short for
    assert stems("math maths") == stems("mathematics mathematical")
    assert stems("LLM evals") == stems("LLM evaluations")
    # their own families stay together
    assert stems("continual continually") == ["continual", "continual"]
    assert stems("distributions distributional") == ["distribution", "distribution"]
    assert stems("transformer") == ["transform", "transformer"]  # an agent noun, kept whole
    papers = {
        "continual": ("Continual Learning without Forgetting", "Continual learning of tasks."),
        "continuous": ("Learning in Continuous Time", "Continuous learning dynamics of nets."),
        "distributed": ("Distributed Training at Scale", "Distributed training over GPUs."),
        "distribution": ("Training under Distribution Shift", "Training data distributions."),
        "contrastive": ("Contrastive Learning of Images", "Contrastive learning of views."),
        "in contrast": ("Learning Rates", "In contrast to prior learning work, we ..."),
        "effects": ("Causal Effects of Policies", "We estimate causal effects from data."),
        "effective": ("Effective Causal Models", "An effective method for causal models."),
        "consistency": ("Consistency Models", "Consistency models sample in one step."),
        "consists": ("A Two-Stage Sampler", "Our model consists of two samplers."),
    }
    cases = [
        ("continual learning", "continual", "continuous"),
        ("distributed training", "distributed", "distribution"),
        ("contrastive learning", "contrastive", "in contrast"),
    ]
    assert_outscores(corpus_of(papers), cases, 2)
    # all words present, apart: these scored a third and a fifth of the right paper before
    cases = [
        ("causal effects", "effects", "effective"),
        ("consistency models", "consistency", "consists"),
    ]
    assert_outscores(corpus_of(papers), cases, 10)


def test_state_of_the_art_is_not_a_state_nor_an_art() -> None:
    # a quarter of abstracts claim it; read as words, each matched "state space models"
    assert stems("State-of-the-art results") == stems("SOTA results") == ["sota", "result"]
    papers = {
        "ssm": ("State Space Models for Audio", "Selective state space models of long audio."),
        "claim": (
            "A Latent Space for Audio Models",
            "State-of-the-art audio models learn a latent space.",
        ),
    }
    assert_outscores(corpus_of(papers), [("state space models", "ssm", "claim")], 5)  # before: 3.3


def test_languages_named_with_a_symbol_are_words() -> None:
    """C++, C# and F# were the letter C or F, too short to be matched on: the keyword matched
    nothing; a grade "C+" or "C-" stays nothing."""
    assert stems("Modern C++ templates, C#/.NET and F#") == [
        "modern", "cplusplus", "templat", "csharp", "net", "fsharp"
    ]  # fmt: skip
    assert stems("C++17") == ["cplusplus", "17", "cplusplus17"]  # as "C++ 17" and "GPT-4"
    assert stems("grade C+ or C-, abc++") == ["grade", "abc"]
    papers = {
        "cpp": ("Fuzzing C++ Compilers", "We fuzz C++-based compilers for template bugs."),
        "c": ("Fuzzing C Compilers", "We fuzz compilers of the C language."),
        "cs": ("Static Analysis for C#", "Null safety in C# programs."),
    }
    assert top_ids(corpus_of(papers), Profile(["c++"])) == ["cpp"]
    assert top_ids(corpus_of(papers), Profile(["c#"])) == ["cs"]


def test_a_soft_hyphen_splits_no_word_of_a_keyword_or_a_paper() -> None:
    """A keyword pasted with a soft hyphen found nothing ("no paper holds 'quanti'"), and a
    listing's abstract with one was not found by the word it spells."""
    from digest.sources.base import collapse_whitespace

    hyphenated = "Post-training quanti\u00adzation of\u200b large models"
    assert collapse_whitespace(hyphenated) == "Post-training quantization of large models"
    [keyword] = split_keywords("quanti\u00adzation")
    assert stems(keyword) == stems("quantization")
