"""Benchmark stages 1 and 2: parsing and storing listings, and ranking (in a child process)."""

from __future__ import annotations

import multiprocessing as mp
import random
import tempfile
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import synth
from memory import peak_rss_mb
from stage import NOW, TODAY, Figure, Sizes, StageResult, profiled

# stage 1: parse + ingest ----------------------------------------------------------------


def stage_ingest(sizes: Sizes, profile: bool) -> StageResult:
    """Parse synthetic layout-C listings and upsert them into a fresh SQLite file."""
    from digest.ingest import store_records
    from digest.sources.text import parse_text
    from digest.store import Store

    rng = random.Random(1)
    papers = [synth.make_paper(rng, i) for i in range(sizes.ingest_papers)]
    step = sizes.papers_per_listing
    texts = [
        synth.listing_c(rng, papers[start : start + step], TODAY)
        for start in range(0, len(papers), step)
    ]
    result = StageResult("ingest")
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        store = Store(f"sqlite:///{db}")
        parse_s = upsert_s = 0.0
        new = known = bad = 0
        with profiled(profile, "ingest"):
            for number, text in enumerate(texts):
                t0 = time.perf_counter()
                listing = parse_text(text, f"bench-{number:04d}.txt", TODAY)
                t1 = time.perf_counter()
                upserted = store_records(store, listing.records, "bench", NOW)
                t2 = time.perf_counter()
                parse_s += t1 - t0
                upsert_s += t2 - t1
                new, known, bad = (
                    new + upserted.new,
                    known + upserted.known,
                    bad + listing.bad_records,
                )
        # The same papers sighted again (a paper shows up on several pages): all known.
        again = texts[: max(1, len(texts) // 5)]
        again_n = 0
        t0 = time.perf_counter()
        for number, text in enumerate(again):
            listing = parse_text(text, f"again-{number:04d}.txt", TODAY)
            again_n += store_records(store, listing.records, "bench-again", NOW).known
        again_s = time.perf_counter() - t0
        stored = store.papers.count()
        store.close()
        db_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
    total = parse_s + upsert_s
    rate = new / total if total else 0.0
    result.figures = [
        Figure("papers/s (parse + upsert, new)", rate, "papers/s", ">= 5,000", rate >= 5_000),
        Figure("  parse_text alone", new / parse_s if parse_s else 0, "papers/s"),
        Figure("  store_records alone", new / upsert_s if upsert_s else 0, "papers/s"),
        Figure("papers/s re-sighted (all known)", again_n / again_s if again_s else 0, "papers/s"),
    ]
    result.details = {
        "listings": len(texts),
        "papers_per_listing": step,
        "new": new,
        "known": known,
        "bad_records": bad,
        "stored": stored,
        "parse_seconds": round(parse_s, 3),
        "upsert_seconds": round(upsert_s, 3),
        "resighted": again_n,
        "resighted_seconds": round(again_s, 3),
        "db_mb": round(db_mb, 1),
        "listing_kb_avg": round(sum(len(t.encode()) for t in texts) / len(texts) / 1024, 1),
    }
    return result


# stage 2: rank (in a child process, for a clean peak RSS) -------------------------------


def rank_child(conn: Connection, sizes: Sizes, profile: bool, keywords: bool = False) -> None:
    """Build the corpus and profiles, rank (or score distinct keywords), and send the
    figures back to the parent."""
    try:
        conn.send(_keywords_measure(sizes) if keywords else _rank_measure(sizes, profile))
    except BaseException:
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


VOTES_PER_SUBSCRIBER = 20
VOTED_POOL = 5_000  # history papers the votes are drawn from


def _keywords_measure(sizes: Sizes) -> dict[str, Any]:
    """Score `distinct_keywords` different two-word keywords against the rank stage's papers
    through the planning workers' keyword cache: the time and the memory it adds."""
    from digest.ranking import Corpus, FeatureStats
    from digest.ranking.keywords import KeywordCache
    from digest.ranking.text import words
    from digest.ranking.topics import Topics

    rng = random.Random(5)
    papers = [synth.make_paper(rng, i) for i in range(sizes.rank_papers)]
    texts = [(p.title, p.abstract) for p in papers]
    stats = FeatureStats.of(texts)
    corpus = Corpus([str(i) for i in range(len(papers))], *zip(*texts, strict=True), stats=stats)
    topics = Topics.learn(texts, stats)
    if topics is not None:
        corpus.semantic = topics.index(corpus)
    vocabulary = sorted({w for text in texts for w in words(" ".join(text)) if len(w) > 3})
    keywords = list(
        dict.fromkeys(
            f"{rng.choice(vocabulary)} {rng.choice(vocabulary)}"
            for _ in range(sizes.distinct_keywords * 2)
        )
    )[: sizes.distinct_keywords]
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    scored = KeywordCache(corpus).scores(keywords)
    seconds = time.perf_counter() - t0
    return {
        "keywords": len(keywords),
        "papers": len(papers),
        "seconds": seconds,
        "added_mb": peak_rss_mb() - rss_before,
        "stored_scores": int(scored.scores.nnz),
    }


def _rank_measure(sizes: Sizes, profile: bool) -> dict[str, Any]:

    from digest.config import DEFAULT_MIN_SCORE
    from digest.ranking import Corpus, FeatureStats, Profile, Voted, rank
    from digest.ranking.topics import SAMPLE as TOPIC_SAMPLE
    from digest.ranking.topics import Topics

    rss_imports = peak_rss_mb()
    rng = random.Random(2)
    papers = [synth.make_paper(rng, i) for i in range(sizes.rank_papers)]
    ids = [f"arxiv:2506.{i:05d}" for i in range(len(papers))]
    pool = min(VOTED_POOL, sizes.rank_subscribers)
    history = {
        f"arxiv:2505.{i:05d}": (p.title, p.abstract)
        for i, p in enumerate(synth.make_paper(rng, 100_000 + i) for i in range(pool))
    }
    history_ids = list(history)
    wanted = synth.profiles(rng, sizes.rank_subscribers)
    profiles = []
    for keywords, exclude in wanted:
        votes = rng.sample(history_ids, VOTES_PER_SUBSCRIBER)
        profiles.append(
            Profile(keywords, exclude, liked=votes[:15], disliked=votes[15:], trending=0.1)
        )
    popularity = [rng.random() ** 3 for _ in ids]
    t0 = time.perf_counter()
    stats = FeatureStats.of([(p.title, p.abstract) for p in papers] + list(history.values()))
    stats_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    corpus = Corpus(
        ids,
        [p.title for p in papers],
        [p.abstract for p in papers],
        popularity=popularity,
        stats=stats,
    )
    corpus_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    texts = [(p.title, p.abstract) for p in papers] + list(history.values())
    topics = Topics.learn(texts[:TOPIC_SAMPLE], stats)
    topics_s = time.perf_counter() - t0
    if topics is not None:  # as planning does without the semantic extra
        corpus.semantic = topics.index(corpus)
    rss_before = peak_rss_mb()
    with profiled(profile, "rank"):
        t0 = time.perf_counter()
        results = rank(corpus, profiles, top=10, min_score=DEFAULT_MIN_SCORE, voted=Voted(history))
        counts = results.counts()
        rank_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    read = sum(len(results[i]) for i in range(0, len(profiles), 100))
    matches_s = (time.perf_counter() - t0) / max(read, 1)
    peak = peak_rss_mb()
    return {
        "rank_seconds": rank_s,
        "corpus_seconds": corpus_s,
        "stats_seconds": stats_s,
        "topics_seconds": topics_s,
        "match_list_us_per_pick": matches_s * 1e6,
        "peak_rss_mb": peak,
        "rss_after_imports_mb": rss_imports,
        "rss_before_rank_mb": rss_before,
        "subscribers": len(profiles),
        "papers": len(ids),
        "votes_per_subscriber": VOTES_PER_SUBSCRIBER,
        "voted_pool": pool,
        "vocabulary": len(corpus.vocab),
        "distinct_keywords": len({k for p in profiles for k in p.keywords}),
        "mean_matches": float(counts.mean()),
        "share_with_matches": float((counts > 0).mean()),
        "share_full_10": float((counts >= 10).mean()),
    }


def _in_child(sizes: Sizes, profile: bool, keywords: bool) -> dict[str, Any]:
    """A rank measurement in a spawned child, so that its peak RSS is its own."""
    context = mp.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=rank_child, args=(child, sizes, profile, keywords))
    process.start()
    child.close()
    try:
        data: dict[str, Any] = parent.recv()
    except EOFError:
        data = {"error": f"rank child died (exit code {process.exitcode})"}
    process.join()
    return data


def stage_rank(sizes: Sizes, profile: bool) -> StageResult:
    """Rank in one child process; score many distinct keywords in another."""
    data = _in_child(sizes, profile, keywords=False)
    result = StageResult("rank")
    if "error" in data:
        result.error = str(data["error"])
        return result
    tail = _in_child(sizes, profile, keywords=True)
    if "error" in tail:
        result.error = str(tail["error"])
        return result
    seconds, peak = float(data["rank_seconds"]), float(data["peak_rss_mb"])
    label = (
        f"{data['subscribers']:,} subs (keywords + {data['votes_per_subscriber']} votes)"
        f" x {data['papers']:,} papers"
    )
    result.figures = [
        Figure(f"rank() {label}", seconds, "s", "<= 5 s", seconds <= 5.0),
        Figure("peak RSS of the rank process", peak, "MB", "<= 1,024 MB", peak <= 1024.0),
        Figure("  Corpus() build (BM25F + TF-IDF rows)", float(data["corpus_seconds"]), "s"),
        Figure("  FeatureStats of the history", float(data["stats_seconds"]), "s"),
        Figure("  Topics learned from the history", float(data["topics_seconds"]), "s"),
        Figure("  RSS before rank() (inputs built)", float(data["rss_before_rank_mb"]), "MB"),
        Figure(
            f"{tail['keywords']:,} distinct keywords x {tail['papers']:,} papers scored",
            float(tail["seconds"]),
            "s",
        ),
        Figure("  memory it adds (peak RSS)", float(tail["added_mb"]), "MB"),
    ]
    result.details = {**data, "distinct_keywords_run": tail}
    return result
