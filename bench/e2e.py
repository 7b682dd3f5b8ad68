"""End to end: subscribers planned, rendered and sent through the real pipeline to a sink."""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import synth

from digest.ingest import store_records
from digest.mail.smtp import SmtpSettings, SmtpTransport
from digest.models import Subscriber
from digest.outbox import Outbox, SendPolicy, send_due
from digest.pipeline import Policy, plan
from digest.render import Renderer
from digest.sources.base import PaperRecord
from digest.store import Store
from digest.subscriptions.links import Links

NOW = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)
SENDER = "papers digest <digest@papers-digest.example>"


def run(subscribers: int, papers: int, host: str, port: int) -> dict[str, Any]:
    """Plan, render and send one edition for `subscribers` people; seconds per phase."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="digest-e2e-") as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'e2e.db'}")
        records = [
            PaperRecord(title=p.title, abstract=p.abstract, listing_date=date(2025, 6, 1))
            for p in (synth.make_paper(rng, i) for i in range(papers))
        ]
        store_records(store, records, "bench", NOW - timedelta(hours=6))
        people = [
            Subscriber(
                email=f"reader{i}@example.org",
                keywords=keywords,
                exclude=exclude,
                timezone="UTC",
                send_at="05:00",
                max_papers=10,
                status="active",
                created_at=NOW - timedelta(days=1),
                updated_at=NOW - timedelta(days=1),
            )
            for i, (keywords, exclude) in enumerate(synth.profiles(rng, subscribers))
        ]
        store.subscribers.import_many(people)
        t0 = time.perf_counter()
        planned = plan(store, NOW, Policy(min_score=0.05))
        t1 = time.perf_counter()
        transport = SmtpTransport(SmtpSettings(host=host, port=port, connections=4))
        outbox = Outbox(
            transport,
            Renderer(),
            Links(b"bench-key", "https://d.example"),
            SENDER,
            SendPolicy(batch=500),
        )
        sent = send_due(store, outbox, now=NOW)
        t2 = time.perf_counter()
        counts = store.deliveries.counts()
        store.close()
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
        "statuses": counts,
    }
