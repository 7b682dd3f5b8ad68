"""The outbox: claim ready deliveries, compose them from their stored items, send, record each
outcome (sent, retry with backoff, failed; hard bounces count against the subscriber)."""

from __future__ import annotations

import functools
import os
import queue
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from digest.compose import compose
from digest.errors import (
    DigestError,
    PermanentDeliveryError,
    RecipientRefusedError,
    TransportError,
)
from digest.mail import Outcome, Outgoing, Transport
from digest.models import DeliveryStatus
from digest.render import Renderer
from digest.store import Store
from digest.store.deliveries import Contents, SendResult
from digest.store.engine import as_utc
from digest.subscriptions.links import Links

RECORD_GROUP = 64  # outcomes recorded in one transaction at most


def process_name() -> str:
    """host:pid, naming this process in claims and leases."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class SendPolicy:
    """How the outbox is worked."""

    batch: int = 200
    max_attempts: int = 6
    give_up_after: timedelta = timedelta(days=2)
    backoff_seconds: float = 60.0
    backoff_max_seconds: float = 3600.0
    bounce_limit: int = 3
    claim_timeout: timedelta = timedelta(minutes=10)
    owner: str = field(default_factory=process_name)

    def retry_at(self, attempts: int, now: datetime) -> datetime:
        """When to try again after `attempts` failed attempts: capped exponential backoff."""
        wait = min(self.backoff_seconds * 2 ** max(attempts - 1, 0), self.backoff_max_seconds)
        return now + timedelta(seconds=max(wait, 1.0))  # never again within the same pass


@dataclass
class SendReport:
    """How many deliveries one send pass moved to each outcome."""

    sent: int = 0
    retry: int = 0
    failed: int = 0
    released: int = 0


@dataclass(frozen=True)
class Outbox:
    """What sending needs besides the store: how to build each message and where it goes."""

    transport: Transport
    renderer: Renderer
    links: Links
    sender: str  # the From address
    policy: SendPolicy = field(default_factory=SendPolicy)


def send_due(
    store: Store,
    outbox: Outbox,
    *,
    now: datetime,
    should_stop: Callable[[], bool] = lambda: False,
) -> SendReport:
    """Send every ready delivery, batch by batch, recording each outcome; when `should_stop`
    turns true, unsent deliveries of the current batch go back to the queue."""
    policy = outbox.policy
    report = SendReport()
    while not should_stop():
        ids = store.deliveries.claim(now, policy.batch, policy.owner, policy.claim_timeout)
        if not ids:
            break
        contents = store.deliveries.contents(ids)
        outgoing, results = [], []
        for delivery_id in ids:
            try:
                outgoing.append(
                    compose(
                        contents[delivery_id], outbox.renderer, outbox.links, outbox.sender, now
                    )
                )
            except (DigestError, ValueError) as exc:  # ValueError: an address it cannot encode
                error = f"cannot build this message: {exc}"
                results.append(SendResult(delivery_id, DeliveryStatus.FAILED, error=error))
        # those that could not be built are recorded before anything is sent
        store.deliveries.record_outcomes(results, now, policy.bounce_limit)
        result_of = functools.partial(_result_of, contents, policy, now)
        results += _send_recording(store, outbox, outgoing, should_stop, result_of, now)
        for result in results:
            setattr(report, _counter(result.status), getattr(report, _counter(result.status)) + 1)
    return report


def _send_recording(
    store: Store,
    outbox: Outbox,
    outgoing: list[Outgoing],
    should_stop: Callable[[], bool],
    result_of: Callable[[Outcome], SendResult],
    now: datetime,
) -> list[SendResult]:
    """Send a batch on a helper thread while this one records each outcome as soon as the
    transport reports it (small group commits): a crash then repeats at most the messages in
    flight, never everything accepted since the batch began."""
    answered: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
    recorded: dict[int, SendResult] = {}

    def record(group: list[Outcome]) -> None:
        fresh = [result_of(o) for o in group if o.delivery_id not in recorded]
        store.deliveries.record_outcomes(fresh, now, outbox.policy.bounce_limit)
        recorded.update((r.delivery_id, r) for r in fresh)

    with ThreadPoolExecutor(1, thread_name_prefix="send") as pool:
        sending = pool.submit(outbox.transport.send, outgoing, should_stop, answered.put)
        while not (sending.done() and answered.empty()):
            try:
                group = [answered.get(timeout=0.05)]
            except queue.Empty:
                continue
            while not answered.empty() and len(group) < RECORD_GROUP:
                group.append(answered.get_nowait())
            record(group)
        outcomes = sending.result()
    record(outcomes)  # what a transport did not report as it went (record skips the rest)
    return [recorded[item.delivery_id] for item in outgoing]


def _result_of(
    contents: dict[int, Contents], policy: SendPolicy, now: datetime, outcome: Outcome
) -> SendResult:
    delivery = contents[outcome.delivery_id].delivery
    age = now - as_utc(delivery.created_at)
    attempts = delivery.attempts + 1
    return _result(
        outcome.delivery_id, outcome.attempted, outcome.error, attempts, age, policy, now
    )


def _counter(status: DeliveryStatus) -> str:
    return "released" if status == DeliveryStatus.QUEUED else status


def _result(
    delivery_id: int,
    attempted: bool,
    error: TransportError | None,
    attempts: int,
    age: timedelta,
    policy: SendPolicy,
    now: datetime,
) -> SendResult:
    """What to record for one message the transport handled (or, when stopping, did not).

    A server that answers 4xx is given up on after `max_attempts`; one that cannot be reached
    at all (no reply code) only after `give_up_after`, so an outage of hours loses nothing.
    Only a refused recipient counts as a hard bounce.
    """
    if not attempted:
        return SendResult(delivery_id, DeliveryStatus.QUEUED)
    if error is None:
        return SendResult(delivery_id, DeliveryStatus.SENT)
    if isinstance(error, PermanentDeliveryError):
        bounce = isinstance(error, RecipientRefusedError)
        return SendResult(delivery_id, DeliveryStatus.FAILED, str(error), error.code, bounce=bounce)
    answered_too_often = error.code is not None and attempts >= policy.max_attempts
    if answered_too_often or age >= policy.give_up_after:
        return SendResult(
            delivery_id,
            DeliveryStatus.FAILED,
            f"gave up after {attempts} attempts: {error}",
            error.code,
        )
    return SendResult(
        delivery_id,
        DeliveryStatus.RETRY,
        str(error),
        error.code,
        retry_at=policy.retry_at(attempts, now),
    )
