"""What the outbox records for each kind of send outcome (retry, give up, bounce, release),
driven through `send_due` with a scripted Transport and a real SQLite store."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import claim_plan, query_plan

from digest.errors import (
    PermanentDeliveryError,
    RecipientRefusedError,
    TemporaryDeliveryError,
    TransportError,
)
from digest.ingest import store_records
from digest.mail import OnOutcome, Outcome, Outgoing
from digest.models import Delivery, DeliveryStatus
from digest.outbox import Outbox, SendPolicy, send_due
from digest.pipeline import Policy, plan
from digest.render import Renderer
from digest.sources.base import PaperRecord
from digest.store import Store
from digest.store.contents import PaperRow
from digest.store.engine import as_utc
from digest.store.outcomes import SendResult, write_outcomes
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


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Two active subscribers, each with one queued digest."""
    return planned_store(tmp_path, ["one", "two"])


def send(store: Store, transport: ScriptedTransport, now: datetime, **kw: object) -> None:
    outbox = Outbox(transport, Renderer(), Links(b"k" * 32, "https://d.example"), "d@x.org", POLICY)
    send_due(store, outbox, now=now, **kw)  # type: ignore[arg-type]


def only(store: Store) -> Delivery:
    return store.deliveries.listed()[0]


def test_backoff_doubles_is_capped_and_never_zero() -> None:
    waits = [(POLICY.retry_at(n, NOW) - NOW).total_seconds() for n in range(1, 7)]
    assert waits == [60, 120, 240, 480, 600, 600]
    assert SendPolicy(backoff_seconds=0).retry_at(1, NOW) > NOW  # not again in this pass


def test_a_4xx_answer_retries_then_gives_up_after_max_attempts(store: Store) -> None:
    busy = ScriptedTransport(TemporaryDeliveryError("451 try later", 451))
    send(store, busy, NOW)
    first = only(store)
    assert (first.status, first.smtp_code, first.attempts) == ("retry", 451, 1)
    assert first.next_attempt_at is not None
    send(store, busy, NOW + timedelta(seconds=30))  # not due yet: nothing is tried
    assert only(store).attempts == 1
    send(store, busy, NOW + timedelta(minutes=1))
    assert (only(store).status, only(store).attempts) == ("retry", 2)
    send(store, busy, NOW + timedelta(minutes=3))
    third = only(store)
    assert third.status == "failed" and "gave up after 3 attempts" in (third.last_error or "")


def test_an_unreachable_server_is_waited_for_until_give_up_after(store: Store) -> None:
    down = ScriptedTransport(TemporaryDeliveryError("cannot connect", None))
    moment = NOW
    for _ in range(8):  # far more attempts than max_attempts: no reply code, keep waiting
        send(store, down, moment)
        moment += timedelta(hours=2)
    assert only(store).status == "retry" and only(store).attempts == 8
    send(store, down, NOW + timedelta(days=2, minutes=1))
    assert only(store).status == "failed"


def test_only_a_refused_recipient_is_a_hard_bounce(store: Store) -> None:
    send(store, ScriptedTransport(RecipientRefusedError("550 no such user", 550)), NOW)
    assert {(d.status, d.smtp_code) for d in store.deliveries.listed()} == {("failed", 550)}
    assert {s.hard_bounces for s in store.subscribers.listed()} == {1}


def test_hard_bounces_count_in_a_row_and_suppress_the_address_at_the_limit(
    store: Store,
) -> None:
    """A refused recipient counts toward the limit while each refusal comes within a month
    of the one before: an address that took mail for a month works. At the limit the reader
    is bounced and the address suppressed, as a bounce report does."""
    delivery = next(d for d in store.deliveries.listed() if d.subscriber_id == 1)
    refused = SendResult(
        delivery.id or 0, DeliveryStatus.FAILED, "550 no such user", 550, bounce=True
    )

    def bounce_at(moment: datetime) -> tuple[str, int]:
        with store.engine.begin() as conn:
            write_outcomes(conn, [refused], moment, 3)
        subscriber = next(s for s in store.subscribers.listed() if s.id == 1)
        return subscriber.status, subscriber.hard_bounces

    assert bounce_at(NOW) == ("active", 1)
    assert bounce_at(NOW + timedelta(days=20)) == ("active", 2)
    assert bounce_at(NOW + timedelta(days=60)) == ("active", 1)  # 40 days without one
    assert bounce_at(NOW + timedelta(days=61)) == ("active", 2)
    assert store.suppression.get("one@example.org") is None
    assert bounce_at(NOW + timedelta(days=68)) == ("bounced", 3)
    suppressed = store.suppression.get("one@example.org")
    assert suppressed is not None and suppressed.reason == "bounce"
    assert "550 no such user" in suppressed.detail
    assert {s.email: s.hard_bounces for s in store.subscribers.listed()}["two@example.org"] == 0


def test_a_permanent_refusal_that_is_not_about_the_recipient_is_no_bounce(store: Store) -> None:
    send(store, ScriptedTransport(PermanentDeliveryError("554 relay denied", 554)), NOW)
    assert {(d.status, d.smtp_code) for d in store.deliveries.listed()} == {("failed", 554)}
    assert {s.hard_bounces for s in store.subscribers.listed()} == {0}


def test_unattempted_messages_go_back_to_the_queue_and_sent_ones_are_sent(store: Store) -> None:
    transport = ScriptedTransport()
    send(store, transport, NOW, should_stop=lambda: len(transport.seen) >= 1)
    assert sorted(d.status for d in store.deliveries.listed()) == ["queued", "sent"]


def test_outcomes_written_through_the_sqlite_driver_read_back_as_the_orm_wrote_them(
    store: Store,
) -> None:
    """On SQLite outcomes skip SQLAlchemy's statement execution: what they store must read
    back as the typed columns it would have written (times in UTC, the status vocabulary)."""
    send(store, ScriptedTransport(TemporaryDeliveryError("451 try later", 451)), NOW)
    retry = only(store)
    assert (retry.status, retry.smtp_code, retry.attempts) == (DeliveryStatus.RETRY, 451, 1)
    assert as_utc(retry.next_attempt_at) == POLICY.retry_at(1, NOW)
    assert retry.sent_at is None and retry.claimed_by is None and "451" in (retry.last_error or "")
    later = NOW + timedelta(minutes=5)
    send(store, ScriptedTransport(), later)
    sent = only(store)
    assert (sent.status, sent.attempts, sent.claimed_at) == (DeliveryStatus.SENT, 2, None)
    assert as_utc(sent.sent_at) == later
    with store.engine.connect() as conn:
        stored = {row[0] for row in conn.exec_driver_sql("select sent_at from delivery")}
    assert stored == {later.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")}


@pytest.fixture(params=[True, False], ids=["inline", "beside"])
def recording(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both ways outcomes are recorded: on the transport's thread (SQLite) and on a helper
    thread in group commits (a database server), whatever the test's database."""
    import digest.outbox as outbox_module

    inline: bool = request.param
    monkeypatch.setattr(outbox_module, "records_inline", lambda _store: inline)
    return inline


def test_each_outcome_is_recorded_before_the_next_message_is_sent(
    store: Store, recording: bool
) -> None:
    """What a SIGKILL can repeat is only what is in flight: when the transport starts its
    second message, the first one's outcome is already committed."""
    states_at_second_send: list[list[str]] = []

    class Watching(ScriptedTransport):
        def send(
            self,
            batch: Sequence[Outgoing],
            should_stop: Callable[[], bool] | None = None,
            on_outcome: OnOutcome | None = None,
        ) -> list[Outcome]:
            first = Outcome(batch[0].delivery_id)
            assert on_outcome is not None
            on_outcome(first)
            deadline = time.monotonic() + 5
            while not any(d.status == "sent" for d in store.deliveries.listed()):
                assert time.monotonic() < deadline, "the first outcome was never recorded"
                time.sleep(0.01)
            states_at_second_send.append(sorted(d.status for d in store.deliveries.listed()))
            second = Outcome(batch[1].delivery_id)
            on_outcome(second)
            return [first, second]

    send(store, Watching(), NOW)
    assert states_at_second_send == [["sending", "sent"]]
    assert sorted(d.status for d in store.deliveries.listed()) == ["sent", "sent"]


def test_the_end_of_a_batch_wakes_the_recording_loop_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop recording outcomes learns that the transport is done from the transport, not
    from a wait running out (a 50 ms poll cost a batch that much idle time)."""
    import queue
    from types import SimpleNamespace

    import digest.outbox as outbox_module

    monkeypatch.setattr(outbox_module, "records_inline", lambda _store: False)  # the helper's

    ran_out: list[float | None] = []

    class Counting(queue.SimpleQueue):  # type: ignore[type-arg]
        def get(self, block: bool = True, timeout: float | None = None) -> object:
            try:
                return super().get(block, timeout)
            except queue.Empty:
                ran_out.append(timeout)
                raise

    namespace = SimpleNamespace(SimpleQueue=Counting, Empty=queue.Empty)
    monkeypatch.setattr(outbox_module, "queue", namespace)

    send(store, ScriptedTransport(linger=0.3), NOW)  # closing up after its last outcome
    assert sorted(d.status for d in store.deliveries.listed()) == ["sent", "sent"]
    assert ran_out == []


def test_a_failed_recording_stops_sending_and_reaches_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: bool
) -> None:
    """When an outcome cannot be recorded, the transport starts no other message and the
    error is raised; what was recorded stays, the rest stays claimed (the claim times out)."""
    store = planned_store(tmp_path, ["a", "b", "c"])
    real = store.deliveries.recorder
    writes = 0

    @contextmanager
    def failing_second(now: datetime, limit: int) -> Iterator[Callable[[Sequence[object]], None]]:
        with real(now, limit) as write:

            def flaky(results: Sequence[object]) -> None:
                nonlocal writes
                writes += 1
                if writes == 2:
                    raise OSError("disk full")
                write(results)  # type: ignore[arg-type]

            yield flaky

    monkeypatch.setattr(store.deliveries, "recorder", failing_second)
    transport = ScriptedTransport()
    with pytest.raises(OSError, match="disk full"):
        send(store, transport, NOW)
    assert len(transport.seen) == 2
    assert sorted(d.status for d in store.deliveries.listed()) == ["sending", "sending", "sent"]


def test_a_message_that_cannot_be_built_fails_alone_in_a_render_worker(tmp_path: Path) -> None:
    """Composed in a worker process, a digest whose address the encoder refuses fails with a
    clear error; the rest of its batch, and the next batches, go out."""
    from digest.composer import Composer, Composing

    store = planned_store(tmp_path, [f"reader{n}" for n in range(5)])
    with store.engine.begin() as conn:  # an IDN label longer than 63 characters: unencodable
        conn.exec_driver_sql(
            "UPDATE subscriber SET email = ? WHERE email = 'reader1@example.org'",
            ("reader1@" + "ä" * 70 + ".org",),
        )
    links = Links(b"k" * 32, "https://d.example")
    ids = [d.id for d in store.deliveries.listed() if d.id is not None]
    making = Composing(Renderer(), links, "d@x.org")
    with Composer(store, making, NOW, processes=1) as composer:
        built, failed = composer.result(ids, composer.submit(ids, more_to_come=True))
        assert composer.pool is not None  # it ran in the worker
    assert [f.delivery_id for f in failed] == [ids[1]]
    assert "cannot build this message" in (failed[0].error or "")
    assert [b.delivery_id for b in built] == [ids[0], *ids[2:]]

    transport = ScriptedTransport()
    policy = SendPolicy(batch=2, render_processes=1)
    outbox = Outbox(transport, Renderer(), links, "d@x.org", policy)
    report = send_due(store, outbox, now=NOW)
    assert (report.sent, report.failed) == (4, 1)
    statuses = {d.id: d.status for d in store.deliveries.listed()}
    assert statuses.pop(ids[1]) == "failed" and set(statuses.values()) == {"sent"}
    assert sorted(transport.seen) == [ids[0], *ids[2:]]


@pytest.mark.skipif(os.name != "posix", reason="kills the render workers with SIGKILL")
def test_killed_render_workers_leave_the_composing_to_the_sending_process(
    tmp_path: Path,
) -> None:
    """The render workers die (SIGKILL, as from the OOM killer) while the first batch is
    sent: the batches they held and every later one are composed in the sending process;
    every digest goes out once."""
    store = planned_store(tmp_path, [f"reader{n}" for n in range(9)])

    def kill_the_workers() -> None:
        workers = multiprocessing.active_children()
        assert workers, "the first batch was not composed in render workers"
        for worker in workers:
            os.kill(worker.pid or 0, signal.SIGKILL)
        for worker in workers:
            worker.join(30)

    transport = ScriptedTransport(first=kill_the_workers)
    links = Links(b"k" * 32, "https://d.example")
    outbox = Outbox(
        transport, Renderer(), links, "d@x.org", SendPolicy(batch=2, render_processes=2)
    )
    report = send_due(store, outbox, now=NOW)
    ids = sorted(d.id for d in store.deliveries.listed() if d.id is not None)
    assert report.sent == 9 and sorted(transport.seen) == ids
    assert {d.status for d in store.deliveries.listed()} == {"sent"}


def test_a_claim_cancels_the_digests_of_stopped_subscribers_and_takes_the_next(
    tmp_path: Path,
) -> None:
    """Stopped subscribers' digests never count against a batch: when every candidate of a
    claim belongs to someone who paused or is suppressed, the claim moves on to the next."""
    import sqlite3

    store = planned_store(tmp_path, ["a", "b", "c", "d", "e"])
    with sqlite3.connect(tmp_path / "digest.sqlite") as conn:  # paused by hand: no cancelling
        conn.execute("update subscriber set status = 'paused' where email = 'a@example.org'")
    store.suppression.add("b@example.org", "complaint", "by hand", NOW)
    claimed = store.deliveries.claim(NOW, 2, "me", timedelta(minutes=10))
    name = {s.id: s.email.split("@")[0] for s in store.subscribers.listed()}
    status = {name[d.subscriber_id]: d.status for d in store.deliveries.listed()}
    assert status == {
        "a": "cancelled",
        "b": "cancelled",
        "c": "sending",
        "d": "sending",
        "e": "queued",
    }
    taken = {d.id: name[d.subscriber_id] for d in store.deliveries.listed()}
    assert [taken[i] for i in claimed] == ["c", "d"]


def test_a_claim_reads_the_queue_in_id_order_from_an_index(tmp_path: Path) -> None:
    """SQLite reads the next queued deliveries from (status, id): no sort of the queue."""
    store = planned_store(tmp_path, ["a", "b", "c"])
    plan_text = claim_plan(store, NOW, "EXPLAIN QUERY PLAN")
    assert "ix_delivery_claim" in plan_text and "B-TREE" not in plan_text, plan_text


def test_papers_received_are_read_per_subscriber_for_the_window_only(tmp_path: Path) -> None:
    """Planning's guard against sending a paper twice reads the page's subscribers' recent
    deliveries as a range of (subscriber, edition), never every live delivery through the
    status index (a read that grew with every day sent); one planned before the window is
    not read."""
    store = planned_store(tmp_path, ["a"])
    [delivery] = store.deliveries.listed()
    sid = delivery.subscriber_id
    [(paper, _)] = store.deliveries.contents([delivery.id or 0])[delivery.id or 0].items
    window = NOW - timedelta(hours=1)
    assert store.deliveries.received_papers([sid], window) == {sid: {paper.id}}
    assert store.deliveries.received_papers([sid], NOW + timedelta(minutes=1)) == {}
    plan_text = query_plan(
        store, lambda: store.deliveries.received_papers([sid], window), "EXPLAIN QUERY PLAN"
    )
    assert "(subscriber_id=? AND edition>?)" in plan_text, plan_text


def test_a_send_pass_reads_each_paper_once(tmp_path: Path) -> None:
    """Every batch names the same day's papers: rows read for one batch serve the next."""
    store = planned_store(tmp_path, ["one", "two"])
    first, second = (d.id or 0 for d in store.deliveries.listed())
    papers: dict[str, PaperRow] = {}
    [(paper, _)] = store.deliveries.contents([first], papers)[first].items
    assert papers == {paper.id: paper}
    [(again, _)] = store.deliveries.contents([second], papers)[second].items
    assert again is paper  # not read again
    [(fresh, _)] = store.deliveries.contents([second])[second].items
    assert fresh == paper and fresh is not paper


def test_outcomes_recorded_through_sqlites_driver_read_as_through_sqlalchemy(
    tmp_path: Path,
) -> None:
    """Sent, retry and failed results (the outbox's group commits) go straight through
    SQLite's driver; released and bouncing ones through SQLAlchemy. The rows are the same."""

    fast, slow = (planned_store(tmp_path / name, ["a", "b", "c"]) for name in ("fast", "slow"))
    results = [
        SendResult(1, DeliveryStatus.SENT),
        SendResult(2, DeliveryStatus.RETRY, "451 later", 451, retry_at=NOW + timedelta(hours=1)),
        SendResult(3, DeliveryStatus.FAILED, "550 no such user", 550, bounce=True),
    ]
    with fast.deliveries.recorder(NOW, 3) as record:
        record(results[:2])  # plain: the driver's own transaction
        record(results[2:])  # a bounce: SQLAlchemy's
    with slow.engine.begin() as conn:
        write_outcomes(conn, results, NOW, 3)

    def rows(store: Store) -> list[tuple[object, ...]]:
        return [
            (d.id, d.status, d.last_error, d.smtp_code, d.attempts, d.sent_at, d.next_attempt_at)
            for d in store.deliveries.listed()
        ]

    assert rows(fast) == rows(slow)
    assert [r[1] for r in rows(fast)] == ["sent", "retry", "failed"]
    bounces = [s.hard_bounces for s in fast.subscribers.listed()]
    assert sorted(bounces) == [0, 0, 1]
