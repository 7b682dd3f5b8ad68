"""End to end: subscribers planned, rendered and sent through the real pipeline to a sink.

Run in its own process (`python bench/e2e.py --subscribers N --port P`), so that its peak RSS
is its own; prints one JSON object: seconds per phase, digests/s, peak RSS, and the rate of a
bare aiosmtplib client with as many connections sending the same bytes to the same sink.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import pickle
import random
import resource
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sinks
import synth
from cpu import busy_between, machine_ticks, process_seconds
from memory import peak_rss_mb

from digest.config import worker_cores
from digest.ingest import store_records
from digest.mail.smtp import SmtpSettings, SmtpTransport
from digest.models import Subscriber, SubscriberStatus
from digest.outbox import Outbox, SendPolicy, send_due
from digest.pipeline import Policy, plan
from digest.render import Renderer
from digest.sources.base import PaperRecord
from digest.store import Store
from digest.subscriptions.links import Links

NOW = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)
SENDER = "papers digest <digest@papers-digest.example>"
HOST = sinks.HOST
CONNECTIONS = int(os.environ.get("E2E_CONNECTIONS", "4"))
RENDER_PROCESSES = int(os.environ.get("E2E_RENDER", worker_cores()))  # the service default
PLAN_PROCESSES = int(os.environ.get("E2E_PLAN", worker_cores()))  # the service default
BARE_SAMPLE = 5_000  # messages the bare client sends, taken from what the pipeline built


class Recording:
    """A transport that copies the first messages it is given to a file, for the bare client
    (on disk, not in memory: the service's peak RSS must not count the bench's sample)."""

    def __init__(self, inner: SmtpTransport, keep: int) -> None:
        self.inner, self.keep, self.count = inner, keep, 0
        self.spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by kept())

    def send(self, batch: Any, should_stop: Any = None, on_outcome: Any = None) -> Any:
        for item in batch[: max(0, self.keep - self.count)]:
            pickle.dump((item.sender, item.recipient, item.raw), self.spool)
            self.count += 1
        return self.inner.send(batch, should_stop, on_outcome)

    def close(self) -> None:
        self.inner.close()

    def kept(self) -> list[tuple[str, str, bytes]]:
        """The copied messages as (sender, recipient, bytes), read back once."""
        self.spool.seek(0)
        items = [pickle.load(self.spool) for _ in range(self.count)]
        self.spool.close()
        return items


def seed(store: Store, subscribers: int, papers: int) -> None:
    """Today's papers and `subscribers` active people with synthetic profiles."""
    rng = random.Random(7)
    records = [
        PaperRecord(title=p.title, abstract=p.abstract, listing_date=date(2025, 6, 1))
        for p in (synth.make_paper(rng, i) for i in range(papers))
    ]
    store_records(store, records, "bench", NOW - timedelta(hours=6))
    people = (
        Subscriber(
            email=f"reader{i}@example.org",
            keywords=keywords,
            exclude=exclude,
            timezone="UTC",
            send_at="05:00",
            max_papers=10,
            status=SubscriberStatus.ACTIVE,
            created_at=NOW - timedelta(days=1),
            updated_at=NOW - timedelta(days=1),
        )
        for i, (keywords, exclude) in enumerate(synth.profiles(rng, subscribers))
    )
    store.subscribers.import_many(people)


def seed_file(url: str, subscribers: int, papers: int) -> None:
    """Create the database at `url` and seed it (run in a child process)."""
    store = Store(url)
    seed(store, subscribers, papers)
    store.close()


async def bare_pool(port: int, items: list[tuple[str, str, bytes]], connections: int) -> None:
    """A bare aiosmtplib client: `connections` connections sending `items` from one queue."""
    import aiosmtplib

    queue = list(reversed(items))

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname=HOST, port=port, timeout=30)
        await client.connect()
        while queue:
            sender, recipient, raw = queue.pop()
            await client.sendmail(sender, [recipient], raw)
        await client.quit()

    await asyncio.gather(*(worker() for _ in range(connections)))


def cpu_between(before: resource.struct_rusage, after: resource.struct_rusage) -> float:
    """User + system seconds used between two getrusage() readings."""
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _sink_seconds(pid: int | None) -> float:
    """CPU seconds the sink has used so far (0 when its process is not known)."""
    return process_seconds(pid) if pid is not None else 0.0


def run(subscribers: int, papers: int, port: int, sink_pid: int | None = None) -> dict[str, Any]:
    """Plan, render and send one edition for `subscribers` people; seconds per phase, and
    where the CPU went while sending (the sink's share when its process id is given)."""
    with tempfile.TemporaryDirectory(prefix="digest-e2e-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'e2e.db'}"
        seeding = multiprocessing.get_context("spawn").Process(
            target=seed_file, args=(url, subscribers, papers)
        )
        seeding.start()  # in a process of its own: writing the test data is not the pipeline
        seeding.join()
        if seeding.exitcode != 0:
            raise RuntimeError(f"seeding the bench database failed (exit {seeding.exitcode})")
        store = Store(url)
        rss_seeded = peak_rss_mb()
        t0 = time.perf_counter()
        planned = plan(store, NOW, Policy(min_score=0.05, processes=PLAN_PROCESSES))
        t1 = time.perf_counter()
        rss_planned = peak_rss_mb()
        smtp = SmtpTransport(SmtpSettings(host=HOST, port=port, connections=CONNECTIONS))
        transport = Recording(smtp, BARE_SAMPLE)
        links = Links(b"bench-key", "https://d.example")
        outbox = Outbox(
            transport,
            Renderer(),
            links,
            SENDER,
            SendPolicy(render_processes=RENDER_PROCESSES),  # batches as the service sends
        )
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)  # seeding, planning workers
        ticks0, sink0 = machine_ticks(), _sink_seconds(sink_pid)
        sent = send_due(store, outbox, now=NOW)
        t2 = time.perf_counter()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the render workers ended
        cores_busy, busy_seconds = busy_between(ticks0, machine_ticks())
        sink_seconds = _sink_seconds(sink_pid) - sink0
        peak_rss = peak_rss_mb()  # before the bare client loads its sample
        transport.close()
        counts = store.deliveries.counts()
        store.close()
    kept = transport.kept()
    b0 = time.perf_counter()
    asyncio.run(bare_pool(port, kept, CONNECTIONS))
    bare_rate = len(kept) / (time.perf_counter() - b0) if kept else 0.0
    send_rate = sent.sent / (t2 - t1) if t2 > t1 else 0.0
    return {
        "subscribers": subscribers,
        "papers": papers,
        "planned": planned.planned,
        "skipped": planned.skipped,
        "sent": sent.sent,
        "failed": sent.failed + sent.retry,
        "plan_seconds": round(t1 - t0, 2),
        "send_seconds": round(t2 - t1, 2),
        "total_seconds": round(t2 - t0, 2),
        "digests_per_second": round(subscribers / (t2 - t0), 1),
        "send_rate": round(send_rate, 1),
        "bare_rate": round(bare_rate, 1),
        "send_cpu_main_s": round(cpu_between(cpu0, cpu1), 1),
        "send_cpu_workers_s": round(cpu_between(children0, children1), 1),
        "send_cpu_sink_s": round(sink_seconds, 1),
        "send_cpu_all_s": round(busy_seconds, 1),  # every process of the machine
        "send_cores_busy": round(cores_busy, 2),
        "bare_messages": len(kept),
        "render_processes": RENDER_PROCESSES,
        "plan_processes": PLAN_PROCESSES,
        "rss_seeded_mb": round(rss_seeded, 1),
        "rss_planned_mb": round(rss_planned, 1),
        "peak_rss_mb": round(peak_rss, 1),
        "statuses": counts,
    }


def main() -> None:
    """Command line: one e2e run, its figures as JSON on stdout."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, required=True)
    parser.add_argument("--papers", type=int, default=1_000)
    parser.add_argument("--port", type=int, required=True, help="the SMTP sink on 127.0.0.1")
    parser.add_argument("--sink-pid", type=int, help="the sink's process, for its CPU time")
    args = parser.parse_args()
    print(json.dumps(run(args.subscribers, args.papers, args.port, args.sink_pid)))


if __name__ == "__main__":
    main()
