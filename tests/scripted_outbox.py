"""A scripted Transport (every message answered alike, outcomes awaited as SMTP does) and a
real SQLite store with digests queued, for the tests of what the outbox records."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.errors import (
    TransportError,
)
from digest.ingest import store_records
from digest.mail import OnOutcome, Outcome, Outgoing
from digest.models import Delivery
from digest.outbox import Outbox, SendPolicy, send_due
from digest.pipeline import Policy, plan
from digest.render import Renderer
from digest.sources.base import PaperRecord
from digest.store import Store
from digest.subscriptions.links import Links
from digest.subscriptions.preferences import new_subscriber

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


POLICY = SendPolicy(
    max_attempts=3, backoff_seconds=60, backoff_max_seconds=600, give_up_after=timedelta(days=2)
)


class ScriptedTransport:
    """Answers every message with the same error (None: accepted); records what it saw. Like
    the SMTP transport, it starts a message only once the last one's outcome is recorded."""

    def __init__(
        self,
        error: TransportError | None = None,
        first: Callable[[], None] | None = None,
        linger: float = 0.0,
    ) -> None:
        self.error = error
        self.first = first  # called before the first message is sent
        self.linger = linger  # seconds between the last outcome and returning
        self.seen: list[int] = []
        self.raw: list[bytes] = []  # the bytes of each message seen

    def send(
        self,
        batch: Sequence[Outgoing],
        should_stop: Callable[[], bool] | None = None,
        on_outcome: OnOutcome | None = None,
    ) -> list[Outcome]:
        if self.first is not None and not self.seen:
            self.first()
        out = []
        for item in batch:
            if should_stop is not None and should_stop():
                out.append(Outcome(item.delivery_id, attempted=False))
                continue
            self.seen.append(item.delivery_id)
            self.raw.append(item.raw)
            out.append(Outcome(item.delivery_id, self.error))
            receipt = on_outcome(out[-1]) if on_outcome is not None else None
            if receipt is not None:
                with contextlib.suppress(Exception):  # not recorded: should_stop() says so
                    receipt.result(timeout=5)
        time.sleep(self.linger)
        return out


def planned_store(path: Path, names: list[str]) -> Store:
    """A store where each name@example.org is active with one queued digest."""
    store = Store(f"sqlite:///{path / 'digest.sqlite'}")
    for name in names:
        store.subscribers.add(
            new_subscriber(
                email=f"{name}@example.org",
                keywords="diffusion",
                send_at="00:00",
                now=NOW - timedelta(days=1),
            )
        )
    record = PaperRecord(title="A diffusion paper", abstract="A diffusion model. " * 5)
    store_records(store, [record], "t", NOW - timedelta(hours=1))
    assert plan(store, NOW, Policy(min_score=0.0)).planned == len(names)
    return store


def send(store: Store, transport: ScriptedTransport, now: datetime, **kw: object) -> None:
    outbox = Outbox(transport, Renderer(), Links(b"k" * 32, "https://d.example"), "d@x.org", POLICY)
    send_due(store, outbox, now=now, **kw)  # type: ignore[arg-type]


def only(store: Store) -> Delivery:
    return store.deliveries.listed()[0]
