"""What the outbox records for each kind of send outcome (retry, give up, bounce, release),
driven through `send_due` with a scripted Transport and a real SQLite store; and what a
claim and a send pass read."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import claim_plan, query_plan
from scripted_outbox import NOW, POLICY, ScriptedTransport, only, planned_store, send

from digest.errors import (
    PermanentDeliveryError,
    RecipientRefusedError,
    TemporaryDeliveryError,
)
from digest.models import DeliveryStatus
from digest.outbox import SendPolicy
from digest.store import Store
from digest.store.contents import PaperRow
from digest.store.engine import as_utc
from digest.store.outcomes import SendResult, write_outcomes


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Two active subscribers, each with one queued digest."""
    return planned_store(tmp_path, ["one", "two"])


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
