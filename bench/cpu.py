"""CPU time from /proc: of one running process, and of the whole machine (Linux)."""

from __future__ import annotations

import os


def machine_ticks() -> tuple[int, int]:
    """(busy, all) CPU ticks of the whole machine since boot, every core summed."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq + steal, sum(fields)


def process_seconds(pid: int) -> float:
    """CPU seconds (user + system) a running process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        after_name = stat.read().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


def busy_between(before: tuple[int, int], after: tuple[int, int]) -> tuple[float, float]:
    """(cores busy on average, CPU seconds used by everything) between two machine_ticks()."""
    busy, total = after[0] - before[0], after[1] - before[1]
    tick = os.sysconf("SC_CLK_TCK")
    wall = total / tick / (os.cpu_count() or 1)  # the wall time the ticks cover
    return (busy / tick / wall if wall else 0.0), busy / tick
