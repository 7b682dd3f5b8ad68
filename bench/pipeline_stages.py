"""Benchmark stages 5 to 7: the whole pipeline, planning with a long history, and two senders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import sinks
from stage import HERE, Figure, Sizes, StageResult, log

DIGEST_DAYS = 30  # digests already sent to each subscriber in the long history


def stage_e2e(sizes: Sizes, profile: bool) -> StageResult:
    """Subscribers planned, rendered and sent through the pipeline to the local sink, in a
    process of its own (its peak RSS is its own); at full size also at half the subscribers,
    for the memory-flatness figure."""
    sink = sinks.open_sink(log)
    runs: list[dict[str, Any]] = []
    try:
        for n in (sizes.e2e_subscribers // 2, sizes.e2e_subscribers):
            log(f"e2e: {n:,} subscribers to the {sink.name} on port {sink.port}")
            port, pid = str(sink.port), str(sink.pid)
            runs.append(
                _bench_json("e2e.py", "--subscribers", str(n), "--port", port, "--sink-pid", pid)
            )
    finally:
        received = sink.stop()
    half, full = runs
    full["sink"], full["sink_received"], full["half"] = sink.name, received, half
    rss_growth = full["peak_rss_mb"] / half["peak_rss_mb"] - 1 if half["peak_rss_mb"] else 0.0
    send_share = full["send_rate"] / full["bare_rate"] if full["bare_rate"] else 0.0
    n = full["subscribers"]
    cores = os.cpu_count() or 1
    floor = full["send_cpu_all_s"] / cores
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
        Figure("  CPU a digest: sink", _per_digest(full, "send_cpu_sink_s"), "us"),
        Figure("  CPU a digest: every process", _per_digest(full, "send_cpu_all_s"), "us"),
        Figure(f"  cores busy while sending (of {cores})", full["send_cores_busy"], ""),
        # with every core busy, sending cannot take less than this
        Figure("  send time at that CPU, cores all busy", floor, "s"),
    ]
    result.details = full
    return result


def _per_digest(run: dict[str, Any], cpu_seconds: str) -> float:
    """Microseconds of CPU (a figure of an e2e run, in seconds) per digest sent."""
    return run[cpu_seconds] / run["sent"] * 1e6 if run["sent"] else 0.0


def _bench_json(script: str, *args: str) -> Any:
    """Run bench/SCRIPT in its own process; the JSON value it prints last."""
    command = [sys.executable, str(HERE / script), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def stage_history(sizes: Sizes, profile: bool) -> StageResult:
    """Planning the same subscribers with a 10,000-paper history and with a long one, which
    also holds DIGEST_DAYS days of digests sent to each of them."""
    histories = (10_000, sizes.history_papers)
    log(
        f"history: planning {sizes.history_subscribers:,} subscribers with "
        f"{histories[0]:,} old papers, and with {histories[1]:,} and {DIGEST_DAYS} days of "
        "digests sent, in turn"
    )
    runs: list[dict[str, Any]] = _bench_json(
        "history.py",
        "--history",
        *map(str, histories),
        "--subscribers",
        str(sizes.history_subscribers),
        "--digest-days",
        str(DIGEST_DAYS),
    )
    short, long = runs
    ratio = long["plan_seconds"] / short["plan_seconds"] if short["plan_seconds"] else 0.0
    result = StageResult("history")
    result.figures = [
        Figure(f"plan, {short['history']:,} old papers", short["plan_seconds"], "s"),
        Figure(
            f"plan, {long['history']:,} old papers, {DIGEST_DAYS} days of digests sent",
            long["plan_seconds"],
            "s",
        ),
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
