"""When an address counts as one that takes no mail: hard bounces in a row, and a mailbox
that stays full, through the outbox's sending (a scripted transport, a real SQLite store)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from scripted_outbox import NOW, ScriptedTransport, planned_store, send

from digest.bounces import FULL_FOR, bounces_in_a_row, full_too_long, mailbox_full
from digest.errors import PermanentDeliveryError, TransportError
from digest.ingest import store_records
from digest.pipeline import Policy, plan
from digest.sources.base import PaperRecord
from digest.store import Store


def test_a_full_mailbox_is_read_from_codes_and_words() -> None:
    for reply in (
        "552 5.2.2 Mailbox full",
        "gave up after 6 attempts: 452 4.2.2 The email account is over quota",
        "returned: status 5.2.2",
        "550 Requested action not taken: mailbox is full",
        "552 quota exceeded",
    ):
        assert mailbox_full(reply), reply
    for reply in ("550 5.1.1 user unknown", "554 5.7.1 blocked", "5.2.21", None, ""):
        assert not mailbox_full(reply), reply


def test_a_full_mailbox_counts_once_it_lasts_with_nothing_delivered() -> None:
    full = "552 5.2.2 full"

    def days(*spec: tuple[int, bool]) -> list[tuple[str, bool, str | None]]:
        start = datetime(2026, 12, 20)
        return [
            ((start - timedelta(days=d)).date().isoformat(), ok, None if ok else full)
            for d, ok in spec
        ]

    span = FULL_FOR.days
    assert full_too_long(days(*((d, False) for d in range(span + 1))))
    assert not full_too_long(days(*((d, False) for d in range(span))))  # not yet two weeks
    assert full_too_long(days((0, False), (span, False)))  # weekly: two digests two weeks apart
    assert not full_too_long(days((0, False), (5, True), (span, False)))  # delivered between
    other = [
        ("2026-12-20", False, full),
        ("2026-12-10", False, "554 5.7.1"),
        ("2026-12-01", False, full),
    ]
    assert not full_too_long(other)  # another failure breaks the run
    assert not full_too_long([])


def test_hard_bounces_forget_one_a_month_old() -> None:
    now = datetime(2026, 12, 20)
    assert bounces_in_a_row(2, now - timedelta(days=29), now) == 3
    assert bounces_in_a_row(2, now - timedelta(days=31), now) == 1
    assert bounces_in_a_row(0, None, now) == 1


def daily_digests(tmp_path: Path, answers: list[TransportError | None]) -> list[str]:
    """One reader sent a digest a day, each answered as `answers` says; their status after
    each day."""
    store: Store = planned_store(tmp_path, ["reader"])
    statuses = []
    for day, answer in enumerate(answers):
        now = NOW + timedelta(days=day)
        if day:
            record = PaperRecord(title=f"Diffusion day {day}", abstract="A diffusion model. " * 5)
            store_records(store, [record], "t", now - timedelta(hours=1))
            plan(store, now, Policy(min_score=0.0))
        send(store, ScriptedTransport(answer), now)
        statuses.append(str(store.subscribers.listed()[0].status))
    return statuses


def test_a_mailbox_full_for_two_weeks_stops_its_reader(tmp_path: Path) -> None:
    """A receiving server that keeps answering "mailbox full": the reader is kept through a
    holiday's worth of days, and stopped (bounced, suppressed) once it lasts two weeks."""
    full = PermanentDeliveryError("552 5.2.2 Mailbox full", 552)
    statuses = daily_digests(tmp_path, [full] * 16)
    assert statuses == ["active"] * 14 + ["bounced"] * 2
    store = Store(f"sqlite:///{tmp_path / 'digest.sqlite'}")
    suppressed = store.suppression.get("reader@example.org")
    assert suppressed is not None and suppressed.reason == "bounce"
    assert "full for 14 days" in suppressed.detail


def test_a_digest_delivered_between_full_days_keeps_the_reader(tmp_path: Path) -> None:
    full = PermanentDeliveryError("552 5.2.2 Mailbox full", 552)
    statuses = daily_digests(tmp_path, [full] * 8 + [None] + [full] * 10)
    assert set(statuses) == {"active"}
