"""What every benchmark stage shares: the sizes, the figures a stage reports, and progress."""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import sinks

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
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
    20_000, 50, 100_000, 1_000, 5_000, 2_000, 3, 100_000, 1_000_000, 10_000, 100_000, 20_000
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
