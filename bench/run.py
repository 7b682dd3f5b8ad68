"""papers digest benchmark: one figure per stage against the targets in DESIGN.md.

    .venv/bin/python bench/run.py                 # every stage, full sizes (a few minutes)
    .venv/bin/python bench/run.py --quick         # small sizes, a smoke test
    .venv/bin/python bench/run.py --stage rank    # one stage
    .venv/bin/python bench/run.py --profile       # also cProfile each timed region

It reports and does not assert: a missed target is printed as MISSED and the exit status
stays 0. Only a stage that crashes makes it exit 1. Results go to bench/out/results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing as mp
import os
import platform
import pstats
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from io import StringIO
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sinks
import synth
from memory import peak_rss_mb

if TYPE_CHECKING:
    from digest.render import DigestView

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
STAGES = ("ingest", "rank", "render", "send", "e2e", "history", "scaleout")
TODAY = date(2025, 6, 2)
NOW = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)
HOST = sinks.HOST
SENDER = "papers digest <digest@papers-digest.example>"


@dataclass(frozen=True)
class Sizes:
    """How much work each stage does."""

    ingest_papers: int
    papers_per_listing: int
    rank_subscribers: int
    rank_papers: int
    render_digests: int
    send_messages: int
    send_rounds: int
    e2e_subscribers: int
    history_papers: int  # the long history planning is timed against (vs 10,000)
    history_subscribers: int
    scaleout_digests: int
    distinct_keywords: int  # a page of real profiles names many more than the synthetic pool


FULL = Sizes(
    20_000, 50, 100_000, 1_000, 5_000, 2_000, 3, 100_000, 1_000_000, 10_000, 20_000, 20_000
)
QUICK = Sizes(2_000, 50, 5_000, 200, 300, 200, 1, 1_000, 50_000, 1_000, 1_000, 2_000)


@dataclass
class Figure:
    """One measured number, its target and whether it meets it (None: no target)."""

    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None


@dataclass
class StageResult:
    """Everything one stage measured."""

    stage: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None


# helpers --------------------------------------------------------------------------------


@contextmanager
def profiled(enabled: bool, name: str, top: int = 25) -> Iterator[None]:
    """cProfile the block when enabled; print the top functions and save bench/out/NAME.prof."""
    if not enabled:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        OUT.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(OUT / f"{name}.prof"))
        buffer = StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        print(f"\n--- cProfile: {name} (saved to {OUT / (name + '.prof')}) ---")
        print(buffer.getvalue())


def log(message: str) -> None:
    """Progress on stderr, so stdout stays the report."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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


# stage 3: render ------------------------------------------------------------------------


def digest_views(count: int, seed: int = 3) -> list[DigestView]:
    """`count` digests of 10 papers each with realistic (long) abstracts and links."""
    from digest.render import DigestView, PaperView

    rng = random.Random(seed)
    pool = [synth.make_paper(rng, 100_000 + i, sentences=12) for i in range(200)]
    views = []
    for number in range(count):
        chosen = rng.sample(pool, 10)
        keywords = list(dict.fromkeys(k for p in chosen[:3] for k in p.keywords[:1]))
        papers = [
            PaperView(
                title=p.title,
                abstract=p.abstract,
                matched=list(p.keywords[:2]),
                url=f"https://arxiv.org/abs/2506.{rng.randint(0, 99_999):05d}",
                authors=synth.authors(rng),
                organization=rng.choice((None, "Google DeepMind", "Tsinghua University")),
                published=date(2025, 5, rng.randint(1, 31)),
                upvotes=rng.randint(0, 250),
            )
            for p in chosen
        ]
        token = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789-_", k=120))
        views.append(
            DigestView(
                email=f"reader{number}@example.org",
                keywords=keywords,
                edition=TODAY,
                papers=papers,
                unsubscribe_url=f"https://digest.example.org/unsubscribe?t={token}",
                preferences_url=f"https://digest.example.org/preferences?t={token}",
            )
        )
    return views


def build_email(view: DigestView, subject: str, text: str, html: str, number: int) -> bytes:
    """The full multipart email, as sent, for one rendered digest."""
    from digest.mail import build_message
    from digest.mail.addresses import unsubscribe_address
    from digest.models import new_public_id

    return build_message(
        sender=SENDER,
        to=view.email,
        subject=subject,
        text=text,
        html=html,
        message_id=f"<digest-{number}-{TODAY.isoformat()}@papers-digest>",
        date=NOW,
        unsubscribe_url=view.unsubscribe_url,
        unsubscribe_mailto=unsubscribe_address(
            b"bench-key", "papers-digest.example", new_public_id()
        ),
    )


def stage_render(sizes: Sizes, profile: bool) -> StageResult:
    """Digests rendered per second on one core, and how big the email gets."""
    from digest.render import Renderer

    views = digest_views(min(sizes.render_digests, 500))
    renderer = Renderer()
    for view in views[:20]:  # warm up jinja2's compiled templates and caches
        renderer.render(view)
    n = sizes.render_digests
    with profiled(profile, "render"):
        t0 = time.perf_counter()
        rendered = [renderer.render(views[i % len(views)]) for i in range(n)]
        render_s = time.perf_counter() - t0
    html_kb = [len(r.html.encode()) / 1024 for r in rendered[: len(views)]]
    text_kb = [len(r.text.encode()) / 1024 for r in rendered[: len(views)]]
    m = len(views)  # emails are built for each distinct view only: they are slower
    t0 = time.perf_counter()
    messages = [
        build_email(views[i], r.subject, r.text, r.html, i) for i, r in enumerate(rendered[:m])
    ]
    build_s = time.perf_counter() - t0
    mail_kb = [len(b) / 1024 for b in messages]
    rate = n / render_s
    whole = 1 / (render_s / n + build_s / m)
    result = StageResult("render")
    result.figures = [
        Figure("digests/s, one core (html + text)", rate, "digests/s", ">= 1,000", rate >= 1_000),
        Figure("html part, 10 papers (max)", max(html_kb), "KB", "<= 60 KB", max(html_kb) <= 60),
        Figure("  text part, 10 papers (max)", max(text_kb), "KB"),
        Figure("  whole email as sent (max)", max(mail_kb), "KB"),
        Figure("  build_message() rate (bytes as sent)", m / build_s, "msgs/s"),
        Figure("  render + build rate", whole, "msgs/s"),
    ]
    result.details = {
        "digests": n,
        "distinct_views": m,
        "emails_built": m,
        "render_seconds": round(render_s, 3),
        "build_message_seconds": round(build_s, 3),
        "html_kb_mean": round(sum(html_kb) / len(html_kb), 2),
        "text_kb_mean": round(sum(text_kb) / len(text_kb), 2),
        "email_kb_mean": round(sum(mail_kb) / len(mail_kb), 2),
    }
    return result


# stage 4: send --------------------------------------------------------------------------


def stage_send(sizes: Sizes, profile: bool) -> StageResult:
    """SmtpTransport vs a bare aiosmtplib client, same bytes, same local sink."""
    import e2e

    from digest.mail import Outcome, outgoing
    from digest.mail.smtp import SmtpSettings, SmtpTransport
    from digest.render import Renderer

    n = sizes.send_messages
    views = digest_views(min(n, 500), seed=4)
    renderer = Renderer()
    batch = []
    for i in range(n):
        view = views[i % len(views)]
        view.email = f"reader{i}@example.org"
        r = renderer.render(view)
        batch.append(
            outgoing(i, build_email(view, r.subject, r.text, r.html, i), SENDER, view.email)
        )
    bytes_only = [(o.sender, o.recipient, o.raw) for o in batch]  # what the bare client sends
    sink = sinks.open_sink(log)
    port = sink.port

    def through_transport(connections: int) -> list[Outcome]:
        transport = SmtpTransport(SmtpSettings(HOST, port, connections=connections))
        try:
            return transport.send(batch)
        finally:
            transport.close()  # QUIT on each connection, as a send run ends

    def timed(run: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        run()
        return time.perf_counter() - t0

    bare: list[float] = []
    bare4: list[float] = []
    single: list[float] = []
    transport: list[float] = []
    failures = 0
    try:
        timed(lambda: asyncio.run(e2e.bare_pool(port, bytes_only[: min(n, 100)], 1)))  # warm up
        for _ in range(sizes.send_rounds):
            bare.append(timed(lambda: asyncio.run(e2e.bare_pool(port, bytes_only, 1))))
            bare4.append(timed(lambda: asyncio.run(e2e.bare_pool(port, bytes_only, 4))))
            single.append(timed(lambda: through_transport(1)))
            with profiled(profile and not transport, "send"):
                t0 = time.perf_counter()
                outcomes = through_transport(4)
                transport.append(time.perf_counter() - t0)
            failures += sum(1 for o in outcomes if not o.sent)
    finally:
        received = sink.stop()
    bare_rate, single_rate = n / min(bare), n / min(single)
    bare4_rate, transport_rate = n / min(bare4), n / min(transport)
    ratio = transport_rate / bare4_rate
    result = StageResult("send")
    result.figures = [
        Figure(
            "SmtpTransport / bare client (4 connections each)",
            ratio * 100,
            "%",
            ">= 90 %",
            ratio >= 0.9,
        ),
        Figure("  bare aiosmtplib sendmail(), one connection", bare_rate, "msgs/s"),
        Figure("  SmtpTransport, 1 connection", single_rate, "msgs/s"),
        Figure("  bare aiosmtplib sendmail(), 4 connections", bare4_rate, "msgs/s"),
        Figure("  SmtpTransport, 4 connections", transport_rate, "msgs/s"),
    ]
    result.details = {
        "messages": n,
        "rounds": sizes.send_rounds,
        "bare_seconds": [round(s, 3) for s in bare],
        "bare_4_connections_seconds": [round(s, 3) for s in bare4],
        "single_connection_seconds": [round(s, 3) for s in single],
        "transport_seconds": [round(s, 3) for s in transport],
        "transport_failures": failures,
        "sink_received": received,
        "message_kb_mean": round(sum(len(o.raw) for o in batch) / n / 1024, 2),
        "sink": sink.name,
    }
    return result


# driver ---------------------------------------------------------------------------------


def stage_e2e(sizes: Sizes, profile: bool) -> StageResult:
    """Subscribers planned, rendered and sent through the pipeline to the local sink, in a
    process of its own (its peak RSS is its own); at full size also at half the subscribers,
    for the memory-flatness figure."""
    sink = sinks.open_sink(log)
    runs: list[dict[str, Any]] = []
    try:
        for n in (sizes.e2e_subscribers // 2, sizes.e2e_subscribers):
            log(f"e2e: {n:,} subscribers to the {sink.name} on port {sink.port}")
            runs.append(_bench_json("e2e.py", "--subscribers", str(n), "--port", str(sink.port)))
    finally:
        received = sink.stop()
    half, full = runs
    full["sink"], full["sink_received"], full["half"] = sink.name, received, half
    rss_growth = full["peak_rss_mb"] / half["peak_rss_mb"] - 1 if half["peak_rss_mb"] else 0.0
    send_share = full["send_rate"] / full["bare_rate"] if full["bare_rate"] else 0.0
    n = full["subscribers"]
    result = StageResult("e2e")
    result.figures = [
        Figure(
            f"{n:,} subscribers: plan + render + send",
            full["total_seconds"],
            "s",
            "<= 60 s",
            full["total_seconds"] <= 60,
        ),
        Figure(
            "  plan (rank + store)",
            full["plan_seconds"],
            "s",
            "<= 10 s",
            full["plan_seconds"] <= 10,
        ),
        Figure("  render + build + send", full["send_seconds"], "s"),
        Figure("  digests/s end to end", full["digests_per_second"], "digests/s"),
        Figure("  peak RSS", full["peak_rss_mb"], "MB", "<= 400 MB", full["peak_rss_mb"] <= 400),
        Figure(
            f"  peak RSS vs {n // 2:,} subscribers",
            rss_growth * 100,
            "%",
            "<= 10 %",
            rss_growth <= 0.10,
        ),
        Figure(
            "  send stage / bare aiosmtplib client (4 connections, same bytes and sink)",
            send_share * 100,
            "%",
            ">= 90 %",
            send_share >= 0.9,
        ),
        Figure("  bare aiosmtplib client, 4 connections", full["bare_rate"], "msgs/s"),
        # CPU a message, less at the mercy of a busy machine than wall time
        Figure("  CPU a digest: render workers", _per_digest(full, "send_cpu_workers_s"), "us"),
        Figure("  CPU a digest: sending process", _per_digest(full, "send_cpu_main_s"), "us"),
    ]
    result.details = full
    return result


def _per_digest(run: dict[str, Any], cpu_seconds: str) -> float:
    """Microseconds of CPU (a figure of an e2e run, in seconds) per digest sent."""
    return run[cpu_seconds] / run["sent"] * 1e6 if run["sent"] else 0.0


def _bench_json(script: str, *args: str) -> dict[str, Any]:
    """Run bench/SCRIPT in its own process; the JSON object it prints last."""
    command = [sys.executable, str(HERE / script), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed: {done.stderr.strip()[-800:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def stage_history(sizes: Sizes, profile: bool) -> StageResult:
    """Planning the same subscribers with a 10,000-paper and with a long history."""
    runs = []
    for history in (10_000, sizes.history_papers):
        log(f"history: planning {sizes.history_subscribers:,} subscribers, {history:,} old papers")
        runs.append(
            _bench_json(
                "history.py",
                "--history",
                str(history),
                "--subscribers",
                str(sizes.history_subscribers),
            )
        )
    short, long = runs
    ratio = long["plan_seconds"] / short["plan_seconds"] if short["plan_seconds"] else 0.0
    result = StageResult("history")
    result.figures = [
        Figure(f"plan, {short['history']:,} old papers", short["plan_seconds"], "s"),
        Figure(f"plan, {long['history']:,} old papers", long["plan_seconds"], "s"),
        Figure("  long / short history", ratio * 100, "%", "<= 120 %", ratio <= 1.2),
    ]
    result.details = {"short": short, "long": long}
    return result


def stage_scaleout(sizes: Sizes, profile: bool) -> StageResult:
    """One and two sender processes sharing queued digests on PostgreSQL."""
    log(f"scaleout: {sizes.scaleout_digests:,} digests on PostgreSQL, one then two senders")
    run = _bench_json("scaleout.py", "--digests", str(sizes.scaleout_digests))
    one, two = run["one"], run["two"]
    once = all(
        r["statuses"] == {"sent": run["digests"]} and r["sink_received"] == run["digests"]
        for r in (one, two)
    )
    result = StageResult("scaleout")
    cores = two["cpu"]["cores"]
    result.figures = []
    for label, round_ in (("one sender", one), ("two senders", two)):
        cpu = round_["cpu"]
        # with every core busy the rate cannot pass cores / CPU a message, however it is shared
        ceiling = cores * 1e6 / cpu["us_all"] if cpu["us_all"] else 0.0
        result.figures += [
            Figure(label, round_["rate"], "msgs/s"),
            Figure(f"  cores busy (of {cores})", cpu["cores_busy"], ""),
            Figure("  CPU a message: sender processes", cpu["us_senders"], "us"),
            Figure("  CPU a message: sink", cpu["us_sink"], "us"),
            Figure("  CPU a message: PostgreSQL, kernel, rest", cpu["us_rest"], "us"),
            Figure(f"  {cores} cores / CPU a message", ceiling, "msgs/s"),
        ]
    result.figures += [
        Figure("  two / one", run["speedup"] * 100, "%", "~200 % (2 cores)", run["speedup"] >= 1.8),
        Figure("  every digest sent once, none twice", float(once), "", "1", once),
    ]
    result.details = run
    return result


RUNNERS: dict[str, Callable[[Sizes, bool], StageResult]] = {
    "ingest": stage_ingest,
    "rank": stage_rank,
    "render": stage_render,
    "send": stage_send,
    "e2e": stage_e2e,
    "history": stage_history,
    "scaleout": stage_scaleout,
}


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(results: list[StageResult]) -> str:
    """The compact report: stage, figure, value, target, verdict."""
    rows = [("stage", "figure", "value", "target", "")]
    for r in results:
        if r.error:
            rows.append((r.stage, "ERROR", "-", "-", r.error.strip().splitlines()[-1][:60]))
        for f in r.figures:
            verdict = "" if f.ok is None else ("ok" if f.ok else "MISSED")
            rows.append((r.stage, f.name, f"{_fmt(f.value)} {f.unit}", f.target, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for number, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.rjust(w) if i == 2 else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def loop_seconds(additions: int) -> float:
    """Seconds for a pure-Python loop of `additions` additions: how fast this machine runs
    just now (a shared machine's speed drifts; compare figures taken at a similar speed)."""
    started = time.perf_counter()
    total = 0
    for i in range(additions):
        total += i
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Run the chosen stages, print the table, write bench/out/results.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--stage", choices=STAGES, action="append", help="run only this stage")
    parser.add_argument("--profile", action="store_true", help="cProfile each timed region")
    parser.add_argument("--out", type=Path, default=OUT / "results.json", help="JSON results")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    chosen = args.stage or list(STAGES)
    additions = 1_000_000 if args.quick else 10_000_000
    speed_before = loop_seconds(additions)
    started = time.perf_counter()
    results: list[StageResult] = []
    for name in STAGES:
        if name not in chosen:
            continue
        load = os.getloadavg()[0]
        log(f"stage {name} ... (load average {load:.2f})")
        t0 = time.perf_counter()
        try:
            result = RUNNERS[name](sizes, args.profile)
        except Exception:
            result = StageResult(name, error=traceback.format_exc())
        result.seconds = time.perf_counter() - t0
        result.details["load_average_before"] = round(load, 2)
        if result.error:
            print(f"stage {name} failed:\n{result.error}", file=sys.stderr)
        log(f"stage {name} done in {result.seconds:.1f} s")
        results.append(result)
    total = time.perf_counter() - started
    speed_after = loop_seconds(additions)
    print()
    print(f"papers digest benchmark ({'quick' if args.quick else 'full'}), {total:.0f} s")
    print(table(results))
    busy = [
        f"{r.stage} {r.details['load_average_before']:.1f}"
        for r in results
        if r.details.get("load_average_before", 0) > 0.7
    ]
    if busy:
        print(
            f"note: the machine was busy when these stages started (1-min load): {', '.join(busy)}"
        )
    print(
        f"machine speed: {additions:,} additions in a Python loop took {speed_before:.2f} s "
        f"before the stages, {speed_after:.2f} s after"
    )
    report = {
        "quick": args.quick,
        "sizes": asdict(sizes),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "total_seconds": round(total, 1),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loop_additions": additions,
            "loop_seconds_before": round(speed_before, 3),
            "loop_seconds_after": round(speed_after, 3),
        },
        "stages": {r.stage: asdict(r) for r in results},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nresults: {args.out}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
