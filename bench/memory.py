"""Peak memory of the running process, as the benchmarks report it."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

STATUS = Path("/proc/self/status")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    On Linux the high-water mark of this program's own memory (VmHWM): `ru_maxrss` is kept
    across exec, so a process started by a large one (bench/run.py after its render and send
    stages) would report its parent's peak as its own.
    """
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 1024 / 1024
