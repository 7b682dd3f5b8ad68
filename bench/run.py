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
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from form_stages import stage_forms
from mail_stages import stage_render, stage_send
from pipeline_stages import stage_e2e, stage_history, stage_scaleout
from search_stages import stage_ingest, stage_rank
from stage import FULL, OUT, QUICK, Sizes, StageResult, log

STAGES = ("ingest", "rank", "render", "send", "e2e", "history", "scaleout", "forms")
RUNNERS: dict[str, Callable[[Sizes, bool], StageResult]] = {
    "ingest": stage_ingest,
    "rank": stage_rank,
    "render": stage_render,
    "send": stage_send,
    "e2e": stage_e2e,
    "history": stage_history,
    "scaleout": stage_scaleout,
    "forms": stage_forms,
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
