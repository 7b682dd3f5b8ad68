"""The SMTP pool against a real, scripted aiosmtpd server on 127.0.0.1: every message once over
several connections, rate limits, refusals and failures, stopping, outcomes recorded in order."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import free_port
from smtp_batches import address, batch, by_kind, settings
from smtp_faults import FaultServer

from digest.errors import (
    TemporaryDeliveryError,
)
from digest.mail import Outcome
from digest.mail.smtp import SmtpTransport


def test_every_message_arrives_exactly_once_over_four_connections(server: FaultServer) -> None:
    outcomes = SmtpTransport(settings(server.port, connections=4)).send(batch(40))

    assert [o.delivery_id for o in outcomes] == list(range(1, 41))
    assert all(o.sent and o.attempted and o.error is None for o in outcomes)
    assert sorted(server.accepted) == sorted(
        (address(i), f"<digest-{i}@example.org>") for i in range(1, 41)
    )
    assert server.log.connections == 4


def test_rate_limit_spaces_messages_over_all_connections(server: FaultServer) -> None:
    transport = SmtpTransport(settings(server.port, connections=4, rate=50))
    messages = batch(25)

    start = time.monotonic()
    outcomes = transport.send(messages[:13]) + transport.send(messages[13:])  # one budget
    elapsed = time.monotonic() - start

    assert all(o.sent for o in outcomes)
    assert len(server.accepted) == 25
    assert elapsed >= 0.45  # 24 gaps of 20 ms after the first message


def test_recipients_refused_with_550_fail_permanently_and_others_go_out(
    server: FaultServer,
) -> None:
    server.script.reject = {address(3), address(8)}

    outcomes = SmtpTransport(settings(server.port, connections=2)).send(batch(10))

    sent, temporary, permanent = by_kind(outcomes)
    assert sorted(o.delivery_id for o in permanent) == [3, 8]
    assert all(o.error is not None and o.error.code == 550 for o in permanent)
    assert "no such user" in str(permanent[0].error)
    assert temporary == []
    assert sorted(sent) == [1, 2, 4, 5, 6, 7, 9, 10]
    assert sorted(server.per_recipient()) == sorted(address(i) for i in sent)
    assert server.log.connections == 2  # a refused recipient does not cost the connection


def test_451_is_temporary_with_its_code(server: FaultServer) -> None:
    server.script.temp_every = 3

    outcomes = SmtpTransport(settings(server.port, connections=3)).send(batch(30))

    sent, temporary, permanent = by_kind(outcomes)
    assert len(temporary) == 10 and permanent == []
    assert all(o.error is not None and o.error.code == 451 for o in temporary)
    assert len(sent) == 20
    assert sorted(server.per_recipient()) == sorted(address(i) for i in sent)
    assert server.log.connections == 3


def test_connection_dropped_inside_data_is_temporary_and_the_rest_still_go_out(
    server: FaultServer,
) -> None:
    server.script.drop_first = {address(4): 1, address(11): 1}

    outcomes = SmtpTransport(settings(server.port, connections=1)).send(batch(16))

    sent, temporary, permanent = by_kind(outcomes)
    assert sorted(o.delivery_id for o in temporary) == [4, 11]
    assert all(o.error is not None and o.error.code is None for o in temporary)
    assert permanent == []
    assert sorted(sent) == [i for i in range(1, 17) if i not in (4, 11)]
    assert server.per_recipient() == {address(i): 1 for i in sent}
    assert server.log.connections == 1 + 2  # each dropped connection was replaced once


def test_server_that_never_greets_fails_everything_temporarily_within_the_timeout(
    server: FaultServer,
) -> None:
    server.script.hang_greeting = True

    outcomes = SmtpTransport(settings(server.port, connections=4)).send(batch(20))

    assert len(outcomes) == 20
    assert all(isinstance(o.error, TemporaryDeliveryError) for o in outcomes)
    assert all(o.error is not None and o.error.code is None for o in outcomes)
    assert "cannot connect" in str(outcomes[0].error)
    assert server.log.connections == 4  # one timed-out connect per worker, not per message
    assert server.accepted == []


def test_server_that_hangs_in_data_fails_everything_temporarily(server: FaultServer) -> None:
    server.script.hang_data = True

    outcomes = SmtpTransport(settings(server.port, connections=4)).send(batch(20))

    assert len(outcomes) == 20
    assert all(isinstance(o.error, TemporaryDeliveryError) for o in outcomes)
    assert server.log.data_total == 8  # 4 workers x 2 attempts; the rest were never tried
    assert server.accepted == []


def test_server_down_fails_everything_temporarily_at_once() -> None:
    port = free_port()  # nothing listens here

    outcomes = SmtpTransport(settings(port, connections=4)).send(batch(30))

    assert len(outcomes) == 30
    for outcome in outcomes:
        assert isinstance(outcome.error, TemporaryDeliveryError)
        assert outcome.error.code is None and outcome.attempted
        assert f"cannot connect to SMTP 127.0.0.1:{port}" in str(outcome.error)


def test_should_stop_finishes_messages_in_flight_and_leaves_the_rest_unattempted(
    server: FaultServer,
) -> None:
    outcomes = SmtpTransport(settings(server.port, connections=2)).send(
        batch(30), should_stop=lambda: len(server.accepted) >= 5
    )

    assert [o.delivery_id for o in outcomes] == list(range(1, 31))
    sent = [o.delivery_id for o in outcomes if o.sent]
    unattempted = [o for o in outcomes if not o.attempted]
    assert 5 <= len(sent) <= 5 + 2  # at most one message in flight per connection
    assert sorted(server.per_recipient()) == sorted(address(i) for i in sent)
    assert len(unattempted) == 30 - len(sent)
    assert all(o.error is None for o in unattempted)


def test_should_stop_before_the_start_sends_nothing_and_connects_nowhere(
    server: FaultServer,
) -> None:
    outcomes = SmtpTransport(settings(server.port)).send(batch(5), should_stop=lambda: True)

    assert [(o.delivery_id, o.attempted, o.error) for o in outcomes] == [
        (i, False, None) for i in range(1, 6)
    ]
    assert server.log.connections == 0


def test_send_from_inside_a_running_event_loop(server: FaultServer) -> None:
    """The web app's async routes call the (synchronous) transport for confirmation mail."""

    async def route() -> list[Outcome]:
        return SmtpTransport(settings(server.port)).send(batch(2))

    outcomes = asyncio.run(route())

    assert all(o.sent for o in outcomes) and len(server.accepted) == 2


def test_empty_batch_connects_nowhere(server: FaultServer) -> None:
    assert SmtpTransport(settings(server.port)).send([]) == []
    assert server.log.connections == 0


def test_connections_outlive_a_batch_and_close_says_goodbye(server: FaultServer) -> None:
    transport = SmtpTransport(settings(server.port, connections=3))
    for start in range(3):  # three batches of one send run
        items = batch(30)[start * 10 : start * 10 + 10]
        assert all(o.sent for o in transport.send(items))
    assert server.log.connections == 3  # connected once, not once per batch
    transport.close()
    assert len(server.log.accepted) == 30
    assert len(transport.idle) == 0


def test_a_pooled_connection_the_server_dropped_is_replaced_without_losing_a_message(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest.mail import smtp

    transport = SmtpTransport(settings(server.port, connections=2))
    assert all(o.sent for o in transport.send(batch(4)[:2]))
    server.stop()  # the server goes away, and with it the pooled connections
    server.start()
    monkeypatch.setattr(smtp, "IDLE_CHECK", 0.0)  # check pooled connections before reuse
    outcomes = transport.send(batch(4)[2:])
    assert [o.sent for o in outcomes] == [True, True]
    assert {r for r, _ in server.log.accepted} >= {address(3), address(4)}
    transport.close()


def test_a_connection_sends_its_next_message_only_once_its_last_outcome_is_recorded(
    server: FaultServer,
) -> None:
    """The caller's receipt gates DATA: however slow recording is, the server never holds more
    than one unrecorded message per connection (what a SIGKILL could repeat)."""
    import threading
    from concurrent.futures import Future

    lock = threading.Lock()
    unrecorded: set[int] = set()
    worst = 0

    def heard(outcome: Outcome) -> Future[None]:
        nonlocal worst
        receipt: Future[None] = Future()
        with lock:
            unrecorded.add(outcome.delivery_id)
            worst = max(worst, len(unrecorded))

        def recorded() -> None:
            with lock:
                unrecorded.discard(outcome.delivery_id)
            receipt.set_result(None)

        threading.Timer(0.05, recorded).start()  # a slow disk
        return receipt

    outcomes = SmtpTransport(settings(server.port, connections=2)).send(batch(10), on_outcome=heard)
    assert all(o.sent for o in outcomes) and len(server.accepted) == 10
    assert worst <= 2


def test_a_failed_recording_stops_the_connection_before_data(server: FaultServer) -> None:
    """When the outcome of a message cannot be recorded, the connection sends no more data."""
    from concurrent.futures import Future

    def heard(outcome: Outcome) -> Future[None]:
        receipt: Future[None] = Future()
        receipt.set_exception(OSError("disk full"))
        return receipt

    transport = SmtpTransport(settings(server.port, connections=1))
    outcomes = transport.send(batch(3), on_outcome=heard)
    transport.close()
    assert outcomes[0].sent
    assert all(isinstance(o.error, TemporaryDeliveryError) for o in outcomes[1:])
    assert len(server.accepted) == 1
