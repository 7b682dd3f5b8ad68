"""The SMTP session's message exchange: pipelined when the server offers it, one command per
reply when not, and refusals that leave the connection in a known state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

import aiosmtplib
import pytest
from smtp_batches import address, batch, by_kind, settings
from smtp_faults import FaultServer

from digest.mail.smtp import SmtpTransport
from digest.mail.smtp_session import Session

RAW = b"Subject: hi\r\n\r\nhello\r\n"


class Wire(asyncio.Transport):
    """The client's side of a connection, recording each write (the test plays the server)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def session_on_wire(*extensions: str) -> tuple[Session, Wire]:
    wire = Wire()
    session = Session({name: "" for name in extensions})
    session.connection_made(wire)
    return session, wire


def play(script: Callable[[Session, Wire], Coroutine[Any, Any, None]], *extensions: str) -> Wire:
    """Run a conversation on a fresh session; the wire it wrote on."""
    session, wire = session_on_wire(*extensions)
    asyncio.run(script(session, wire))
    return wire


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_with_pipelining_mail_rcpt_and_data_go_in_one_write_then_the_message() -> None:
    async def script(session: Session, wire: Wire) -> None:
        sending = asyncio.create_task(session.send("D <d@example.org>", "a@example.org", RAW))
        await settle()
        assert wire.writes == [
            b"MAIL FROM:<d@example.org> SIZE=22\r\nRCPT TO:<a@example.org>\r\nDATA\r\n"
        ]
        session.data_received(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n")
        await settle()
        assert wire.writes[1] == RAW + b".\r\n"
        session.data_received(b"250 2.0.0 queued\r\n")
        await sending

    play(script, "pipelining", "size")


def test_without_pipelining_each_command_waits_for_its_reply() -> None:
    async def script(session: Session, wire: Wire) -> None:
        sending = asyncio.create_task(session.send("d@example.org", "a@example.org", RAW))
        for reply, written in [
            (b"250 Ok\r\n", [b"MAIL FROM:<d@example.org>\r\n"]),
            (b"250 Ok\r\n", [b"RCPT TO:<a@example.org>\r\n"]),
            (b"354 go\r\n", [b"DATA\r\n"]),
            (b"250 queued\r\n", [RAW + b".\r\n"]),
        ]:
            await settle()
            assert wire.writes[-1:] == written
            session.data_received(reply)
        await sending

    play(script)


def test_a_refused_recipient_resets_the_envelope_and_keeps_the_connection() -> None:
    async def script(session: Session, wire: Wire) -> None:
        sending = asyncio.create_task(session.send("d@example.org", "x@example.org", RAW))
        await settle()
        # a multi-line refusal, then DATA refused for want of a recipient
        session.data_received(b"250 Ok\r\n550-5.1.1 no such\r\n550 user here\r\n503 no rcpt\r\n")
        await settle()
        assert wire.writes[-1] == b"RSET\r\n"
        session.data_received(b"250 reset\r\n")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await sending
        assert refused.value.code == 550 and refused.value.message == "5.1.1 no such\nuser here"
        assert session.is_connected

    play(script, "pipelining")


def test_data_accepted_despite_a_refusal_drops_the_connection_instead_of_sending() -> None:
    async def script(session: Session, wire: Wire) -> None:
        sending = asyncio.create_task(session.send("d@example.org", "x@example.org", RAW))
        await settle()
        session.data_received(b"250 Ok\r\n550 no such user\r\n354 go ahead\r\n")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused):
            await sending
        assert wire.closed and not session.is_connected
        assert all(RAW not in written for written in wire.writes)

    play(script, "pipelining")


def test_421_says_why_and_closes_the_connection() -> None:
    async def script(session: Session, wire: Wire) -> None:
        sending = asyncio.create_task(session.send("d@example.org", "a@example.org", RAW))
        await settle()
        session.data_received(b"421 4.3.2 shutting down\r\n")
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await sending
        assert refused.value.code == 421
        assert wire.closed and not session.is_connected

    play(script, "pipelining")


def test_the_message_waits_for_the_previous_outcome_to_be_recorded() -> None:
    async def script(session: Session, wire: Wire) -> None:
        recorded: Future[None] = Future()
        sending = asyncio.create_task(
            session.send("d@example.org", "a@example.org", RAW, before_data=recorded)
        )
        await settle()
        session.data_received(b"250 Ok\r\n250 Ok\r\n354 go\r\n")
        await settle()
        assert len(wire.writes) == 1  # the envelope only
        recorded.set_result(None)
        await asyncio.sleep(0.05)  # the receipt comes back from another thread's future
        assert wire.writes[-1] == RAW + b".\r\n"
        session.data_received(b"250 queued\r\n")
        await sending

    play(script, "pipelining")


def test_a_lost_connection_fails_the_replies_still_awaited() -> None:
    async def script(session: Session, wire: Wire) -> None:
        sending = asyncio.create_task(session.send("d@example.org", "a@example.org", RAW))
        await settle()
        session.connection_lost(ConnectionResetError())
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await sending

    play(script, "pipelining")


def test_a_reply_that_comes_after_its_wait_timed_out_is_dropped_quietly() -> None:
    """A reply whose waiter gave up (its timeout cancelled it) is dropped; the next reply
    still reaches the next waiter (setting the cancelled one raised inside data_received)."""

    async def script(session: Session, wire: Wire) -> None:
        loop = asyncio.get_running_loop()
        gave_up, next_one = loop.create_future(), loop.create_future()
        session.waiting.extend([gave_up, next_one])
        gave_up.cancel()
        session.data_received(b"250 late\r\n250 2.0.0 ok\r\n")
        assert next_one.result().code == 250 and not wire.closed

    play(script, "pipelining")


@pytest.mark.parametrize("reply", [b"2_5 ok\r\n", b"+25 ok\r\n", b" 25 ok\r\n", b"25\r\n"])
def test_a_reply_without_a_three_digit_code_is_malformed(reply: bytes) -> None:
    """Only three ASCII digits make a reply code: "2_5" (which int() reads as 25) fails the
    waiting command as a malformed reply and drops the connection."""

    async def script(session: Session, wire: Wire) -> None:
        waiter = asyncio.get_running_loop().create_future()
        session.waiting.append(waiter)
        session.data_received(reply)
        with pytest.raises(aiosmtplib.SMTPResponseException, match="Malformed SMTP reply"):
            waiter.result()
        assert wire.closed

    play(script, "pipelining")


def test_an_address_that_would_smuggle_a_command_is_refused_before_anything_is_written() -> None:
    async def script(session: Session, wire: Wire) -> None:
        for smuggler in ["a@example.org\r\nRCPT TO:<b@x.org>", '"a> NOTIFY=NEVER"@example.org']:
            with pytest.raises(ValueError, match="SMTP command line"):
                await session.send("d@example.org", smuggler, RAW)
        assert wire.writes == []

    play(script, "pipelining")


def test_a_server_without_pipelining_gets_the_same_outcomes(server: FaultServer) -> None:
    server.script.pipelining = False
    server.script.reject = {address(2)}
    server.script.temp_every = 4

    outcomes = SmtpTransport(settings(server.port, connections=2)).send(batch(9))

    sent, temporary, permanent = by_kind(outcomes)
    assert [o.delivery_id for o in permanent] == [2]
    assert len(temporary) == 2 and all(o.error and o.error.code == 451 for o in temporary)
    assert sorted(server.per_recipient()) == sorted(address(i) for i in sent)
    assert len(sent) == 6 and server.log.connections == 2
