"""Benchmark stage: reading what people type into the public forms, at its worst, and
the live preview it feeds.

The signup page's live preview splits the keywords on every keystroke, for anyone, up to
the form's 4,000 characters a field (120 previews a minute per client). A reading whose
cost grows with the square of the length (a regex that may start anywhere in a long run of
spaces, or looks ahead to the end of the text after every comma) turns a few clients into
a busy service, so the worst of a set of adversarial fields is timed against a plain one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from stage import Figure, Sizes, StageResult, profiled

FIELD = 4_000  # characters: the web form's limit on one field
WORST_MS = 20.0  # a field read in at most this long: linear, a few ms
PREVIEW_PAPERS = 5_000  # a week of several arXiv categories: what the preview ranks
PREVIEW_MS = 50.0  # one preview (keywords read, ranked, matched, typos looked up)


def fields() -> dict[str, str]:
    """Adversarial fields of FIELD characters, and a plain one."""
    n = FIELD
    return {
        "plain keywords": ("kv cache, speculative decoding, long context; " * n)[:n],
        "spaces": "a" + " " * (n - 2) + "b",
        "commas": "," * n,
        "spaces then #": " " * (n - 2) + "#a",
        "spaced slashes": (" / " * n)[:n],
        "exclusions": (" -a" * n)[:n],
        "NOTs": (" NOT" * n)[:n],
        "open brackets": "(" * n,
        "hyphenated": ("-a" * n)[:n],
    }


def _worst(read: Callable[[str], object], repeats: int = 5) -> dict[str, float]:
    """Milliseconds to read each field (the best of `repeats`: the machine's noise aside)."""
    times = {}
    for name, text in fields().items():
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            with contextlib.suppress(Exception):  # a refused field costs its reading too
                read(text)
            best = min(best, time.perf_counter() - started)
        times[name] = best * 1000
    return times


def stage_forms(sizes: Sizes, profile: bool) -> StageResult:
    """The slowest adversarial field through the keyword and paper readers, in ms."""
    from digest.subscriptions.preferences import check_topics
    from digest.subscriptions.votes import paper_key

    result = StageResult("forms")
    with profiled(profile, "forms"):
        keywords = _worst(lambda text: check_topics(text, text))
        papers = _worst(paper_key)
    for what, times in (("keywords and exclusions", keywords), ("a paper reference", papers)):
        worst = max(times, key=times.__getitem__)
        result.figures.append(
            Figure(
                f"{what}: slowest 4,000-character field ({worst})",
                times[worst],
                "ms",
                f"<= {WORST_MS:g} ms",
                times[worst] <= WORST_MS,
            )
        )
        result.figures.append(Figure("  plain field", times["plain keywords"], "ms"))
        result.details[what] = times
    ms = _preview_ms()
    result.figures.append(
        Figure(
            f"live preview: 3 keywords x {PREVIEW_PAPERS:,} papers",
            ms,
            "ms",
            f"<= {PREVIEW_MS:g} ms",
            ms <= PREVIEW_MS,
        )
    )
    return result


def _preview_ms(repeats: int = 5) -> float:
    """What WebContext.preview computes for one request on a cached corpus, best of
    `repeats` (the corpus' first request pays for its cached matrices once)."""
    import random

    import synth

    from digest.ranking import Corpus, FeatureStats, Profile, keyword_hits, rank
    from digest.ranking.suggest import suggestions
    from digest.subscriptions.preferences import check_topics

    rng = random.Random(3)
    papers = [synth.make_paper(rng, i) for i in range(PREVIEW_PAPERS)]
    texts = [(p.title, p.abstract) for p in papers]
    stats = FeatureStats.of(texts)
    corpus = Corpus(
        [f"p{i}" for i in range(len(papers))],
        [t for t, _ in texts],
        [a for _, a in texts],
        stats=stats,
    )
    best = float("inf")
    for _ in range(repeats + 1):
        started = time.perf_counter()
        keywords, exclude = check_topics("kv cache, speculative decoding, long context", "")
        rank(corpus, [Profile(keywords, exclude)], 8, min_score=0.05)
        keyword_hits(corpus, keywords, 0.05)
        suggestions(keywords, stats.df)
        best = min(best, time.perf_counter() - started)
    return best * 1000
