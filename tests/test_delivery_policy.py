"""What the outbox records for each kind of send outcome: retry, give up, bounce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.errors import (
    PermanentDeliveryError,
    RecipientRefusedError,
    TemporaryDeliveryError,
)
from digest.outbox import SendPolicy, _result

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
POLICY = SendPolicy(
    max_attempts=3, backoff_seconds=60, backoff_max_seconds=600, give_up_after=timedelta(days=2)
)


def test_backoff_doubles_is_capped_and_never_zero() -> None:
    waits = [(POLICY.retry_at(n, NOW) - NOW).total_seconds() for n in range(1, 7)]
    assert waits == [60, 120, 240, 480, 600, 600]
    assert SendPolicy(backoff_seconds=0).retry_at(1, NOW) > NOW  # not again in this pass


def test_a_4xx_answer_retries_then_gives_up_after_max_attempts() -> None:
    busy = TemporaryDeliveryError("451 try later", 451)
    second = _result(1, True, busy, 2, timedelta(minutes=5), POLICY, NOW)
    assert (second.status, second.code, second.retry_at) == (
        "retry",
        451,
        NOW + timedelta(minutes=2),
    )
    third = _result(1, True, busy, 3, timedelta(minutes=10), POLICY, NOW)
    assert third.status == "failed" and "gave up after 3 attempts" in (third.error or "")
    assert not third.bounce


def test_an_unreachable_server_is_waited_for_until_give_up_after() -> None:
    down = TemporaryDeliveryError("cannot connect", None)
    hours_later = _result(1, True, down, 30, timedelta(hours=20), POLICY, NOW)
    assert hours_later.status == "retry"
    days_later = _result(1, True, down, 40, timedelta(days=2, minutes=1), POLICY, NOW)
    assert days_later.status == "failed"


def test_only_a_refused_recipient_is_a_hard_bounce() -> None:
    refused = _result(
        1, True, RecipientRefusedError("550 no such user", 550), 1, timedelta(0), POLICY, NOW
    )
    assert (refused.status, refused.code, refused.bounce) == ("failed", 550, True)
    relay = _result(
        1, True, PermanentDeliveryError("554 relay denied", 554), 1, timedelta(0), POLICY, NOW
    )
    assert (relay.status, relay.code, relay.bounce) == ("failed", 554, False)


def test_unattempted_messages_go_back_to_the_queue_and_sent_ones_are_sent() -> None:
    assert _result(1, False, None, 1, timedelta(0), POLICY, NOW).status == "queued"
    assert _result(1, True, None, 1, timedelta(0), POLICY, NOW).status == "sent"
