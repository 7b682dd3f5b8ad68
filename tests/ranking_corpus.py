"""Small corpora the ranking tests share: eight papers, a history defining acronyms, helpers."""

from __future__ import annotations

from digest.ranking import Corpus, FeatureStats, Profile, rank
from digest.ranking.keywords import KeywordScores

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


def assert_outscores(c: Corpus, cases: list[tuple[str, str, str]], factor: float) -> None:
    """For each (keyword, right paper, wrong paper): the right paper's words score over
    `factor` times the wrong one's."""
    for keyword, right, wrong in cases:
        score = word_scores(c, keyword)
        assert score[right] > factor * score[wrong], keyword


def top_ids(c: Corpus, profile: Profile, top: int = 10, **kw: object) -> list[str]:
    [matches] = rank(c, [profile], top, **kw)  # type: ignore[arg-type]
    return [m.paper_id for m in matches]
