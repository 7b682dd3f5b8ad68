"""The outbox: claim ready deliveries, compose them from their stored items, send, record each
outcome (sent, retry with backoff, failed; hard bounces count against the subscriber)."""

from __future__ import annotations

import functools
import os
import queue
import socket
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from digest.composer import Composed, Composer, Composing
from digest.errors import (
    PermanentDeliveryError,
    RecipientRefusedError,
    SenderRefusedError,
    StoreError,
    TransportError,
)
from digest.mail import Outcome, Outgoing, Transport
from digest.models import DeliveryStatus
from digest.render import Renderer
from digest.store import Store
from digest.store.engine import as_utc
from digest.store.outcomes import SendResult
from digest.subscriptions.links import Links

if TYPE_CHECKING:  # cryptography loads only where a key is configured
    from digest.mail.dkim import DkimSigner

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
    render_processes: int = 0  # worker processes composing ahead of sending (0: inline)
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
    first_error: str = ""  # why the first delivery that failed or waits to retry did


@dataclass(frozen=True)
class Outbox:
    """What sending needs besides the store: how to build each message and where it goes."""

    transport: Transport
    renderer: Renderer
    links: Links
    sender: str  # the From address
    policy: SendPolicy = field(default_factory=SendPolicy)
    signer: DkimSigner | None = None  # DKIM-signs each message as it is composed


def send_due(
    store: Store,
    outbox: Outbox,
    *,
    now: datetime,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int], None] | None = None,
) -> SendReport:
    """Send every ready delivery, batch by batch, recording each outcome; when `should_stop`
    turns true, deliveries claimed but not yet sent go back to the queue.

    While one batch is sent, the next ones are claimed and composed (in worker processes
    when the policy allows them and there is more than one batch of work)."""
    policy = outbox.policy
    report = SendReport()
    making = Composing(outbox.renderer, outbox.links, outbox.sender, outbox.signer)
    composer = Composer(store, making, now, policy.render_processes)
    ahead: deque[tuple[list[int], Future[Composed]]] = deque()
    with composer:
        while True:
            while len(ahead) < composer.depth and not should_stop():
                ids = store.deliveries.claim(now, policy.batch, policy.owner, policy.claim_timeout)
                if not ids:
                    break
                ahead.append((ids, composer.submit(ids, more_to_come=len(ids) == policy.batch)))
            if not ahead:
                break
            ids, future = ahead.popleft()
            if should_stop():
                results = [SendResult(i, DeliveryStatus.QUEUED) for i in ids]
                store.deliveries.record_outcomes(results, now, policy.bounce_limit)
            else:
                outgoing, results = composer.result(ids, future)
                # those that could not be built are recorded before anything is sent
                store.deliveries.record_outcomes(results, now, policy.bounce_limit)
                attempts = store.deliveries.attempts([o.delivery_id for o in outgoing])
                result_of = functools.partial(_result_of, attempts, policy, now)
                results += _send_recording(store, outbox, outgoing, should_stop, result_of, now)
            for result in results:
                counter = _counter(result.status)
                setattr(report, counter, getattr(report, counter) + 1)
                if result.error and not report.first_error:
                    report.first_error = result.error
            if progress is not None:
                progress(len(results))
    return report


def _send_recording(
    store: Store,
    outbox: Outbox,
    outgoing: list[Outgoing],
    should_stop: Callable[[], bool],
    result_of: Callable[[Outcome], SendResult],
    now: datetime,
) -> list[SendResult]:
    """Send a batch, recording each outcome as soon as the transport reports it: a crash then
    repeats at most the messages in flight, never everything accepted since the batch began.

    On SQLite a commit costs tens of microseconds, less than handing the outcome to another
    thread and back, so it is recorded right where the transport reports it; on a database
    server a commit is a round trip, and a helper thread records in small group commits while
    the transport goes on."""
    recorded: dict[int, SendResult] = {}
    with store.deliveries.recorder(now, outbox.policy.bounce_limit) as write:

        def record(group: list[Outcome]) -> None:
            fresh = [result_of(o) for o in group if o.delivery_id not in recorded]
            write(fresh)
            recorded.update((r.delivery_id, r) for r in fresh)

        send = _record_inline if records_inline(store) else _record_beside
        outcomes = send(outbox.transport, outgoing, should_stop, record)
        record(outcomes)  # what a transport did not report as it went (record skips the rest)
    return [recorded[item.delivery_id] for item in outgoing]


Record = Callable[[list[Outcome]], None]
_RECORDED: Future[None] = Future()  # the receipt of an outcome recorded on the spot
_RECORDED.set_result(None)


def _unrecorded() -> Future[None]:
    """The receipt of an outcome that will not be recorded: its connection sends no more."""
    receipt: Future[None] = Future()
    receipt.set_exception(StoreError("not recorded: the outbox could not be written"))
    return receipt


def records_inline(store: Store) -> bool:
    """Whether outcomes are recorded where the transport reports them (SQLite: a local file)."""
    return store.engine.dialect.name == "sqlite"


def _record_inline(
    transport: Transport, outgoing: list[Outgoing], should_stop: Callable[[], bool], record: Record
) -> list[Outcome]:
    """Send, recording each outcome on the transport's own thread; after a failed recording
    no message is started, and the failure is raised once the transport is done."""
    failures: list[BaseException] = []

    def heard(outcome: Outcome) -> Future[None]:
        if not failures:
            try:
                record([outcome])
                return _RECORDED
            except BaseException as exc:
                failures.append(exc)
        return _unrecorded()

    outcomes = transport.send(outgoing, lambda: bool(failures) or should_stop(), heard)
    if failures:
        raise failures[0]
    return outcomes


def _record_beside(
    transport: Transport, outgoing: list[Outgoing], should_stop: Callable[[], bool], record: Record
) -> list[Outcome]:
    """Send on a helper thread while this one records the outcomes in small group commits."""
    answered: queue.SimpleQueue[tuple[Outcome, Future[None]] | None] = queue.SimpleQueue()
    failed = threading.Event()  # recording failed: the transport must stop

    def heard(outcome: Outcome) -> Future[None]:
        if failed.is_set():
            return _unrecorded()
        receipt: Future[None] = Future()
        answered.put((outcome, receipt))
        return receipt

    def stop() -> bool:
        return failed.is_set() or should_stop()

    with ThreadPoolExecutor(1, thread_name_prefix="send") as pool:
        sending = pool.submit(transport.send, outgoing, stop, heard)
        # the end of the batch wakes the loop at once (a bare timeout cost 50 ms a batch);
        # it comes after every outcome the transport reported
        sending.add_done_callback(lambda _: answered.put(None))
        while (first := answered.get()) is not None:
            group = [first]
            while not answered.empty() and len(group) < RECORD_GROUP:
                if (more := answered.get_nowait()) is None:
                    answered.put(None)  # the end: seen again once this group is recorded
                    break
                group.append(more)
            try:
                record([outcome for outcome, _ in group])
            except BaseException as exc:
                failed.set()  # no sender may wait for a recording that never comes
                while not answered.empty():
                    if (waiting := answered.get_nowait()) is not None:
                        group.append(waiting)
                for _, receipt in group:
                    receipt.set_exception(exc)
                raise
            for _, receipt in group:
                receipt.set_result(None)
        return sending.result()


def _result_of(
    attempts_of: dict[int, tuple[int, datetime]],
    policy: SendPolicy,
    now: datetime,
    outcome: Outcome,
) -> SendResult:
    attempted, created_at = attempts_of[outcome.delivery_id]
    age = now - as_utc(created_at)
    attempts = attempted + 1
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
    at all (no reply code), or refuses our mail for our setup, only after `give_up_after`,
    so an outage or a broken setting of hours loses nothing.
    Only a refused recipient counts as a hard bounce.
    """
    if not attempted:
        return SendResult(delivery_id, DeliveryStatus.QUEUED)
    if error is None:
        return SendResult(delivery_id, DeliveryStatus.SENT)
    if isinstance(error, PermanentDeliveryError):
        bounce = isinstance(error, RecipientRefusedError)
        return SendResult(delivery_id, DeliveryStatus.FAILED, str(error), error.code, bounce=bounce)
    # a refusal about us (relay, login, From) waits for the operator as an outage does
    counted = error.code is not None and not isinstance(error, SenderRefusedError)
    answered_too_often = counted and attempts >= policy.max_attempts
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
