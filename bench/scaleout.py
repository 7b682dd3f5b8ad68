"""Scale-out on PostgreSQL: the same queued digests sent by one `send` process, then shared by
two, against one sink; each sender composes in its own process (no render workers), so each
uses one core.

    python bench/scaleout.py --digests 100000

Prints one JSON object: messages/s with one and with two senders, their ratio, what the sink
received and how the deliveries ended (each digest sent once, none twice), and where the CPU
went while they sent (Linux /proc): how many of the machine's cores were busy, and CPU time a
message in the senders, the sink and the rest (PostgreSQL, the kernel). When the cores are
all busy, the CPU a message bounds the rate: cores / CPU a message.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import e2e
import psycopg
import sinks
from cpu import busy_between, machine_ticks, process_seconds
from sqlalchemy import text

from digest.mail.smtp import SmtpSettings, SmtpTransport
from digest.outbox import Outbox, SendPolicy, send_due
from digest.pipeline import Policy, plan
from digest.render import Renderer
from digest.store import Store
from digest.subscriptions.links import Links

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
HERE = Path(__file__).resolve().parent


@contextmanager
def database() -> Iterator[str]:
    """A new database on the local PostgreSQL, dropped afterwards."""
    name = f"digest_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def send_all(url: str, port: int, owner: str) -> dict[str, Any]:
    """One sender process: send until the outbox is empty."""
    store = Store(url, auto_migrate=False)
    smtp = SmtpTransport(SmtpSettings(host=sinks.HOST, port=port, connections=e2e.CONNECTIONS))
    policy = SendPolicy(batch=200, render_processes=0, owner=owner)
    outbox = Outbox(smtp, Renderer(), Links(b"bench-key", "https://d.example"), e2e.SENDER, policy)
    started, ticks, cpu = time.time(), machine_ticks(), time.process_time()
    report = send_due(store, outbox, now=e2e.NOW)
    smtp.close()
    ended, ticks_after, cpu_after = time.time(), machine_ticks(), time.process_time()
    store.close()
    return {
        "sent": report.sent,
        "failed": report.failed + report.retry,
        "started": started,  # wall clock: the senders are compared with each other
        "ended": ended,
        "ticks": [ticks, ticks_after],
        "cpu_seconds": cpu_after - cpu,
    }


def cpu_shares(outputs: list[dict[str, Any]], sink_seconds: float, sent: int) -> dict[str, float]:
    """From the first sender starting to the last one done: cores busy, and CPU a message
    (microseconds) in the senders, the sink and everything else."""
    first = min(outputs, key=lambda o: o["started"])["ticks"][0]
    last = max(outputs, key=lambda o: o["ended"])["ticks"][1]
    cores_busy, busy_seconds = busy_between(first, last)
    senders = sum(o["cpu_seconds"] for o in outputs)
    per_message = 1e6 / max(sent, 1)
    return {
        "cores": os.cpu_count() or 1,
        "cores_busy": round(cores_busy, 2),
        "us_senders": round(senders * per_message),
        "us_sink": round(sink_seconds * per_message),
        "us_rest": round(max(busy_seconds - senders - sink_seconds, 0.0) * per_message),
        "us_all": round(busy_seconds * per_message),
    }


def requeue(store: Store) -> None:
    """Put every delivery back in the queue, as if never sent."""
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE delivery SET status = 'queued', attempts = 0, sent_at = NULL, "
                "claimed_by = NULL, claimed_at = NULL WHERE status <> 'skipped'"
            )
        )


def round_of(url: str, store: Store, senders: int) -> dict[str, Any]:
    """Time `senders` processes sharing the queue; what the sink and the outbox say after."""
    requeue(store)
    sink = sinks.open_sink(lambda _: None)
    command = [sys.executable, str(HERE / "scaleout.py"), "--send", url, "--port", str(sink.port)]
    sink_cpu = process_seconds(sink.pid)
    running = [
        subprocess.Popen([*command, "--owner", f"sender-{i}"], stdout=subprocess.PIPE, text=True)
        for i in range(senders)
    ]
    outputs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in running]
    # from the first sender starting to send to the last one done (process start-up apart)
    seconds = max(o["ended"] for o in outputs) - min(o["started"] for o in outputs)
    sink_cpu = process_seconds(sink.pid) - sink_cpu
    received = sink.stop()
    statuses = store.deliveries.counts()
    sent = sum(o["sent"] for o in outputs)
    return {
        "senders": senders,
        "seconds": round(seconds, 2),
        "rate": round(sent / seconds, 1),
        "sent_per_sender": [o["sent"] for o in outputs],
        "sink": sink.name,
        "sink_received": received,
        "statuses": {k: v for k, v in statuses.items() if k != "skipped"},
        "cpu": cpu_shares(outputs, sink_cpu, sent),
    }


def run(digests: int) -> dict[str, Any]:
    """Plan `digests` digests on PostgreSQL, then send them with one and with two senders."""
    with database() as url:
        store = Store(url)
        e2e.seed(store, digests, 1_000)
        t0 = time.perf_counter()
        planned = plan(store, e2e.NOW, Policy(min_score=0.05, processes=e2e.PLAN_PROCESSES)).planned
        plan_seconds = time.perf_counter() - t0
        one = round_of(url, store, 1)
        two = round_of(url, store, 2)
        store.close()
    return {
        "digests": planned,
        "plan_seconds": round(plan_seconds, 2),
        "one": one,
        "two": two,
        "speedup": round(two["rate"] / one["rate"], 2) if one["rate"] else 0.0,
        "sink": one["sink"],
    }


def main() -> None:
    """Command line: the whole comparison, or (--send) one sender process of it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--digests", type=int, default=100_000)
    parser.add_argument("--send", metavar="URL", help="be one sender on this database")
    parser.add_argument("--port", type=int)
    parser.add_argument("--owner", default="sender")
    args = parser.parse_args()
    if args.send:
        print(json.dumps(send_all(args.send, args.port, args.owner)))
    else:
        print(json.dumps(run(args.digests)))


if __name__ == "__main__":
    main()
