"""One SMTP connection's message exchange, written for the service's own traffic.

aiosmtplib opens the connection (TCP or TLS, greeting, EHLO, STARTTLS, AUTH); a `Session` then
takes the connection over (asyncio's `set_protocol`) and speaks the rest itself, because two
things aiosmtplib does cost more than sending does here:

- it awaits every reply before the next command: four round trips per message, where a server
  that offers PIPELINING (RFC 2920, every mainstream MTA) takes MAIL, RCPT and DATA in one
  write, leaving two;
- it rewrites each message with two regular expressions (line endings, dot-stuffing), about
  half a millisecond for a 30 KB digest, although the service's messages are already in form;
  `wire_form` checks that (with numpy) and rewrites only a message that is not.

Errors are aiosmtplib's exception classes, so a refusal reads the same whoever raised it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from concurrent.futures import Future
from typing import NamedTuple

import aiosmtplib
import numpy as np

from digest.mail.mime import envelope_address, needs_smtputf8

CR, LF, DOT = ord("\r"), ord("\n"), ord(".")
LONE_LINE_END = re.compile(rb"\r\n|\r|\n")  # every line ending, to be made CRLF
LEADING_DOT = re.compile(rb"(?m)^\.")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # CR and LF would end the command line early
UNSAFE = re.compile(r"[\s<>]")  # would end the address and start a parameter
OK = 250
READY_FOR_DATA = 354
ACCEPTED = (OK, 251, READY_FOR_DATA)  # 251: will forward
CLOSING = 421  # the server is shutting the connection
LONGEST_REPLY = 32_768  # bytes of one reply kept before the server is taken for broken


class Reply(NamedTuple):
    """A server reply: its code and text (continuation lines joined with newlines)."""

    code: int
    message: str


def wire_form(raw: bytes) -> bytes:
    """The message as DATA sends it: CRLF line ends, leading dots doubled, ending CRLF.CRLF."""
    if not _in_form(raw):  # both rewrites leave alone what is already in form
        raw = LONE_LINE_END.sub(b"\r\n", raw)
        if not raw.endswith(b"\r\n"):
            raw += b"\r\n"
        raw = LEADING_DOT.sub(b"..", raw)
    return raw + b".\r\n"


def _in_form(raw: bytes) -> bool:
    """Whether the message needs no rewriting: every CR and LF paired as CRLF, no line
    starting with a dot, a CRLF at the end. With numpy, a third of the time of searching
    the bytes for CRLF and LF-dot (~20 us instead of ~65 us for a 30 KB digest, in the
    sending process, which is the busiest)."""
    octets = np.frombuffer(raw, np.uint8)
    line_feeds = np.flatnonzero(octets == LF)
    returns = np.flatnonzero(octets == CR)
    if len(line_feeds) != len(returns) or not np.array_equal(returns + 1, line_feeds):
        return False
    starts = line_feeds[:-1] + 1  # the first octet of every line but the first
    return raw.endswith(b"\r\n") and raw[:1] != b"." and not (octets[starts] == DOT).any()


def command_address(address: str, encoding: str) -> bytes:
    """`<addr@example.org>` from a mailbox such as `Name <addr@example.org>`; ValueError for
    anything that could smuggle a parameter or a command onto the command line."""
    bare = envelope_address(address)
    if CONTROL.search(address) or UNSAFE.search(bare):
        raise ValueError(f"not an address that can go on an SMTP command line: {address!r}")
    return b"<" + bare.encode(encoding) + b">"


class Session(asyncio.Protocol):
    """A connected, greeted (and logged in) SMTP connection: one message at a time, with the
    replies of pipelined commands matched to them in order."""

    def __init__(self, extensions: dict[str, str]) -> None:
        self.extensions = extensions
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Reply]] = deque()  # one per command sent, in order
        self.buffer = bytearray()
        self.lines: list[bytes] = []  # the continuation lines of the reply being read

    @classmethod
    def take_over(cls, client: aiosmtplib.SMTP) -> Session:
        """The session that speaks on the connection aiosmtplib opened, greeted and logged in."""
        transport = client.transport
        if transport is None or transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        session = cls(dict(client.esmtp_extensions))
        session.connection_made(transport)
        transport.set_protocol(session)
        return session

    @property
    def is_connected(self) -> bool:
        """Whether the connection is still open."""
        return self.transport is not None and not self.transport.is_closing()

    def supports(self, extension: str) -> bool:
        """Whether the server offered this ESMTP extension."""
        return extension.lower() in self.extensions

    def close(self) -> None:
        """Drop the connection; every reply still awaited fails."""
        if self.transport is not None:
            self.transport.close()
        self.connection_lost(None)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\n")) >= 0:
            line = bytes(self.buffer[: end + 1])
            del self.buffer[: end + 1]
            self.lines.append(line)
            if line[3:4] != b"-":  # the last line of a reply
                self._settle(self.lines)
                self.lines = []
        if len(self.buffer) > LONGEST_REPLY or len(self.lines) > 100:
            self._fail(aiosmtplib.SMTPResponseException(-1, "Response too long"))

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"))
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        error = aiosmtplib.SMTPServerDisconnected("Connection lost")
        error.__cause__ = exc
        self._fail(error)

    def _settle(self, lines: list[bytes]) -> None:
        digits = lines[0][:3]
        if len(digits) != 3 or not digits.isdigit():  # int() would also take " 25", "+25", "2_5"
            text = lines[0].decode("utf-8", "replace").strip()
            self._fail(aiosmtplib.SMTPResponseException(-1, f"Malformed SMTP reply: {text}"))
            return
        code = int(digits)
        message = "\n".join(line[4:].strip().decode("utf-8", "surrogateescape") for line in lines)
        if self.waiting:  # else unsolicited: nobody asked, so nobody is told
            waiter = self.waiting.popleft()
            if not waiter.done():  # one that timed out waiting has no use for its reply
                waiter.set_result(Reply(code, message))
        if code == CLOSING:
            self.close()

    def _fail(self, error: Exception) -> None:
        if self.transport is not None:
            self.transport.close()
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
                waiter.exception()  # retrieved: a pipelined reply may never be awaited

    # commands

    def _write(self, data: bytes, replies: int) -> list[asyncio.Future[Reply]]:
        """Send one or more commands (or a message); the futures of their replies."""
        if not self.is_connected or self.transport is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(replies)]
        self.waiting.extend(futures)
        self.transport.write(data)
        return futures

    async def command(self, line: bytes) -> Reply:
        """One command such as NOOP, RSET or QUIT, and its reply."""
        [reply] = self._write(line + b"\r\n", 1)
        return await reply

    async def send(
        self, sender: str, recipient: str, raw: bytes, before_data: Future[None] | None = None
    ) -> None:
        """MAIL, RCPT and DATA (in one write when the server pipelines), then the message once
        `before_data` is done; raises aiosmtplib's exceptions on a refusal, after RSET."""
        utf8 = needs_smtputf8(sender, recipient)
        if utf8 and not self.supports("smtputf8"):
            raise aiosmtplib.SMTPNotSupported("SMTPUTF8 is not supported by this server")
        encoding = "utf-8" if utf8 else "ascii"
        options = b" SIZE=%d" % len(raw) if self.supports("size") else b""
        options += b" SMTPUTF8" if utf8 else b""
        mail = b"MAIL FROM:" + command_address(sender, encoding) + options + b"\r\n"
        rcpt = b"RCPT TO:" + command_address(recipient, encoding) + b"\r\n"
        if self.supports("pipelining"):
            replies = self._write(mail + rcpt + b"DATA\r\n", 3)
        else:
            replies = []
            for command in (mail, rcpt, b"DATA\r\n"):
                [reply] = self._write(command, 1)
                replies.append(reply)
                if (await reply).code not in ACCEPTED:
                    break
        await self._envelope(sender, recipient, replies)
        if before_data is not None and before_data.done():
            before_data.result()  # raises what failed it; wrap_future would cost a loop wake-up
        elif before_data is not None:
            await asyncio.wrap_future(before_data)
        [done] = self._write(wire_form(raw), 1)
        final = await done
        if final.code != OK:
            raise aiosmtplib.SMTPDataError(final.code, final.message)

    async def _envelope(
        self, sender: str, recipient: str, futures: list[asyncio.Future[Reply]]
    ) -> None:
        """Check the replies to MAIL, RCPT and DATA; after a refusal, reset the envelope."""
        replies: list[Reply] = []
        for future in futures:
            try:
                replies.append(await future)
            except aiosmtplib.SMTPServerDisconnected:
                if all(reply.code in ACCEPTED for reply in replies):
                    raise
                break  # the server refused, then hung up (421): the refusal says why
        mail, *rest = replies
        rcpt = rest[0] if rest else None
        data = rest[1] if len(rest) > 1 else None
        error: aiosmtplib.SMTPResponseException | None = None
        if mail.code != OK:
            error = aiosmtplib.SMTPSenderRefused(mail.code, mail.message, sender)
        elif rcpt is not None and rcpt.code not in ACCEPTED:
            error = aiosmtplib.SMTPRecipientRefused(rcpt.code, rcpt.message, recipient)
        elif data is not None and data.code != READY_FOR_DATA:
            error = aiosmtplib.SMTPDataError(data.code, data.message)
        if error is None:
            return
        if data is not None and data.code == READY_FOR_DATA:
            self.close()  # DATA taken despite a refusal: only dropping the line ends it
        elif self.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException):
                await self.command(b"RSET")
        raise error
