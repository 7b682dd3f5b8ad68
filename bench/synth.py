"""Deterministic synthetic data for the benchmark: listings, papers, profiles, digests.

Everything is generated locally from a seeded `random.Random`; nothing is downloaded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Interest keywords a researcher would type; papers are written around them.
_KEYWORDS_HAND = """
kv cache, long context, quantization, diffusion models, video generation, speculative decoding,
mixture of experts, state space models, mamba, retrieval augmented generation, rlhf,
direct preference optimization, reward modeling, instruction tuning, chain of thought,
in-context learning, tool use, llm agents, multi-agent systems, code generation,
program synthesis, theorem proving, mathematical reasoning, test-time scaling,
reasoning models, reinforcement learning, offline reinforcement learning, world models,
model-based rl, imitation learning, robot learning, embodied ai, vision language models,
multimodal llm, image captioning, visual question answering, text-to-image generation,
image editing, 3d reconstruction, neural radiance fields, gaussian splatting, novel view synthesis,
pose estimation, object detection, semantic segmentation, instance segmentation,
self-supervised learning, contrastive learning, representation learning, masked autoencoders,
vision transformers, convolutional networks, graph neural networks, knowledge graphs,
recommender systems, information retrieval, dense retrieval, reranking, embeddings,
text embeddings, sentence embeddings, machine translation, speech recognition, text-to-speech,
speech synthesis, audio generation, music generation, protein folding, protein design,
drug discovery, molecular generation, materials discovery, weather forecasting,
climate modeling, time series forecasting, anomaly detection, federated learning,
differential privacy, membership inference, machine unlearning, adversarial robustness,
adversarial attacks, jailbreaks, red teaming, ai safety, alignment, interpretability,
mechanistic interpretability, sparse autoencoders, probing, hallucination detection,
factuality, uncertainty estimation, calibration, conformal prediction, bayesian inference,
variational inference, gaussian processes, causal inference, causal discovery,
out-of-distribution detection, domain adaptation, domain generalization, continual learning,
catastrophic forgetting, meta-learning, few-shot learning, zero-shot learning,
transfer learning, knowledge distillation, model compression, pruning, sparsity,
low-rank adaptation, parameter-efficient fine-tuning, lora, efficient inference,
flash attention, sparse attention, linear attention, positional encoding, rotary embeddings,
context extension, memory efficient training, distributed training, pipeline parallelism,
data parallelism, mixed precision training, optimizers, learning rate schedules,
scaling laws, pretraining data, data curation, synthetic data, data contamination,
benchmark evaluation, llm evaluation, llm as a judge, human evaluation, tokenization,
byte-level models, multilingual models, low-resource languages, code llm, software engineering,
bug repair, formal verification, neurosymbolic reasoning, symbolic regression,
physics-informed neural networks, neural operators, pde solvers, scientific machine learning,
medical imaging, radiology report generation, clinical nlp, electronic health records,
autonomous driving, trajectory prediction, motion planning, slam, point clouds,
lidar perception, video understanding, action recognition, temporal grounding,
document understanding, ocr, table understanding, chart understanding, gui agents, web agents,
planning, search, monte carlo tree search, game playing, multi-armed bandits,
online learning, optimization theory, generalization bounds, neural tangent kernel,
grokking, double descent, emergent abilities, model merging, ensembles, active learning,
semi-supervised learning, weak supervision, label noise, fairness, bias mitigation,
explainability, counterfactual explanations, energy-based models, normalizing flows,
flow matching, consistency models, autoregressive image generation, masked generative models,
image super-resolution, image restoration, video editing, talking head generation,
avatar generation, human motion generation, 4d generation, text-to-3d, mesh generation,
sim-to-real transfer, dexterous manipulation, legged locomotion, humanoid robots,
vision-language-action models, spiking neural networks, neuromorphic computing,
quantum machine learning, hardware acceleration, edge deployment, on-device llm
"""
_ADJECTIVES = (
    "efficient",
    "scalable",
    "robust",
    "sparse",
    "adaptive",
    "hierarchical",
    "multimodal",
    "federated",
    "causal",
    "contrastive",
)
_NOUNS = (
    "attention",
    "retrieval",
    "reasoning",
    "planning",
    "alignment",
    "pretraining",
    "decoding",
    "distillation",
    "segmentation",
    "tokenization",
)


def _keyword_pool() -> list[str]:
    hand = [k.strip() for k in _KEYWORDS_HAND.replace("\n", " ").split(",") if k.strip()]
    combos = [f"{a} {n}" for a in _ADJECTIVES for n in _NOUNS]
    seen: dict[str, None] = {}
    for keyword in hand + combos:
        seen.setdefault(keyword, None)
    return list(seen)


KEYWORDS: list[str] = _keyword_pool()


def _words(text: str) -> list[str]:
    return text.split()


_FILLER = _words(
    """
we propose a novel framework that improves performance across diverse benchmarks while reducing
computational cost our approach leverages simple yet effective training objective experiments
demonstrate state of the art results significant gains over strong baselines moreover analysis
reveals why existing methods fail under realistic conditions furthermore ablation studies
confirm contribution each component code models data publicly available extensive empirical
evaluation shows consistent improvements theoretical guarantees convergence sample complexity
large scale dataset collected annotated careful human study additionally method generalizes
unseen tasks domains settings without additional supervision fine tuning inference latency
memory footprint throughput accuracy robustness quality diversity fidelity controllability
"""
)
_SENTENCES = (
    "In this paper, we study {k1} and its interaction with {k2}.",
    "Existing approaches to {k1} suffer from {f1} {f2} when combined with {k2}.",
    "We propose {name}, a {f1} method for {k1} that builds on {k3}.",
    "Our key insight is that {k2} can be reformulated as {f1} {f2} {f3}.",
    "Experiments on {n} benchmarks show that {name} improves {f1} by {p}% over {k3} baselines.",
    "We further analyse {k1} under {f1} {f2} and find that {k4} explains most of the gap.",
    "{name} reduces {f1} by {p}% while preserving {f2} {f3}.",
    "Extensive ablations confirm the contribution of {k2} and {k4}.",
    "Code and models are available at https://github.com/example/{slug}.",
)
_SYLLABLES = _words(
    "ka ro mi ze ta lu vo ne si da pe xo gi fa be qu ri mo tu la ve ni so hu ja co wi yo ke pa"
)
_FIRST = _words("Wei Anna Lukas Priya Omar Sofia Chen Maria Jonas Aiko Diego Fatima Ivan Lena Raj")
_LAST = _words("Zhang Müller Garcia Kim Singh Rossi Nakamura Silva Novak Haddad Dubois Okafor Li")
_ORGS = ("Google DeepMind", "Meta AI", "Microsoft Research", "NVIDIA", "Tsinghua University")


@dataclass(frozen=True)
class Paper:
    """One synthetic paper."""

    title: str
    abstract: str
    keywords: tuple[str, ...]


def model_name(index: int) -> str:
    """A unique, pronounceable model name per index (e.g. `Karomize`), like `PoGDiff`."""
    parts = []
    value = index
    for _ in range(4):
        value, digit = divmod(value, len(_SYLLABLES))
        parts.append(_SYLLABLES[digit])
    return "".join(parts).capitalize() + (f"-{value}" if value else "")


def make_paper(rng: random.Random, index: int, sentences: int = 9) -> Paper:
    """A paper about 3-6 pool keywords with a unique title and a ~1,000-1,500 char abstract."""
    chosen = tuple(rng.sample(KEYWORDS, rng.randint(3, 6)))
    name = model_name(index)
    k = [*chosen, *chosen][:4]
    title = rng.choice(
        (
            f"{name}: {k[0].capitalize()} with {k[1]} for {k[2]}",
            f"{name}: Towards {k[0]} via {k[1]}",
            f"{k[0].capitalize()} meets {k[1]}: {name} for {k[2]}",
            f"{name}: Scaling {k[0]} and {k[1]}",
        )
    )
    parts = []
    for template in rng.sample(_SENTENCES, min(sentences, len(_SENTENCES))):
        picks = rng.sample(k, 4) if len(set(k)) == 4 else k
        parts.append(
            template.format(
                k1=picks[0],
                k2=picks[1],
                k3=picks[2],
                k4=picks[3],
                name=name,
                f1=rng.choice(_FILLER),
                f2=rng.choice(_FILLER),
                f3=rng.choice(_FILLER),
                n=rng.randint(3, 12),
                p=rng.randint(2, 60),
                slug=name.lower(),
            )
        )
        parts.append(" ".join(rng.choices(_FILLER, k=rng.randint(6, 14))).capitalize() + ".")
    return Paper(title=title, abstract=" ".join(parts), keywords=chosen)


def _date_line(rng: random.Random) -> str:
    month = MONTHS[rng.randrange(12)]
    day = rng.randint(1, 28)
    text = f"{month} {day}" if rng.random() < 0.5 else f"{month} {day}, {rng.randint(2019, 2025)}"
    if rng.random() < 0.6:
        text += f" {rng.randint(1, 300)}"
    return text


def listing_c(rng: random.Random, papers: list[Paper], page: date) -> str:
    """A saved Daily Papers page in layout C (SOURCES.md), ~85% of records with a `·` block."""
    lines = [
        "new",
        "",
        "Get trending papers in your email inbox!",
        "",
        "Subscribe",
        "",
        "Daily Papers",
        "",
        "byAK and the research community",
        "",
        f"{MONTHS[page.month - 1]} {page.day}",
        "",
    ]
    for paper in papers:
        lines += [paper.title, "", paper.abstract, ""]
        roll = rng.random()
        if roll < 0.75:
            lines += [f"  • {rng.randint(1, 30)} authors", "·", _date_line(rng), ""]
        elif roll < 0.85:
            lines += [rng.choice(_ORGS), "·", _date_line(rng), ""]
    return "\n".join(lines)


def profiles(
    rng: random.Random, count: int, exclude_share: float = 0.1
) -> list[tuple[list[str], list[str]]]:
    """`count` (keywords, exclude) pairs: 2-4 keywords, popular keywords chosen more often."""
    weights = [1.0 / (rank + 1) ** 0.7 for rank in range(len(KEYWORDS))]
    order = KEYWORDS[:]
    rng.shuffle(order)
    out = []
    for _ in range(count):
        wanted = rng.randint(2, 4)
        chosen: dict[str, None] = {}
        while len(chosen) < wanted:
            chosen.setdefault(rng.choices(order, weights)[0], None)
        exclude = [rng.choice(order)] if rng.random() < exclude_share else []
        exclude = [e for e in exclude if e not in chosen]
        out.append((list(chosen), exclude))
    return out


def authors(rng: random.Random) -> list[str]:
    """3-12 plausible author names."""
    return [f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" for _ in range(rng.randint(3, 12))]
