"""The benchmark still runs: its cheap stages, at quick sizes, end without a crash (its
figures are judged by `make bench`, never here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_quick_bench_stages_run(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    stages = ["ingest", "rank", "render", "send", "forms"]
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--out", str(out)]
        + [arg for stage in stages for arg in ("--stage", stage)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert sorted(report["stages"]) == sorted(stages)
    for name, stage in report["stages"].items():
        assert stage["error"] is None, f"{name}: {stage['error']}"
        assert stage["figures"], name
    machine = report["machine"]  # how fast the machine ran, to compare figures across runs
    assert machine["loop_seconds_before"] > 0 and machine["loop_seconds_after"] > 0
    assert "machine speed: 1,000,000 additions" in done.stdout
