"""The DATA phase of SMTP, written without re-scanning messages that are already in form.

aiosmtplib's `SMTP.data()` rewrites every message with two regular expressions (line endings
to CRLF, then dot-stuffing), which costs about half a millisecond for a 30 KB digest: a third
of the sending process's time. The service's own messages already end every line with CRLF
and rarely hold a line starting with ".", so `wire_form` checks that with byte counts and
only rewrites what needs it; `send_data` then speaks DATA through the client's protocol.
"""

from __future__ import annotations

import re

import aiosmtplib

LONE_LINE_END = re.compile(rb"\r\n|\r|\n")  # every line ending, to be made CRLF
LEADING_DOT = re.compile(rb"(?m)^\.")
READY_FOR_DATA = 354
ACCEPTED = 250


def wire_form(raw: bytes) -> bytes:
    """The message as DATA sends it: CRLF line ends, leading dots doubled, ending CRLF.CRLF."""
    crlf = raw.count(b"\r\n")
    if raw.count(b"\r") != crlf or raw.count(b"\n") != crlf:  # a lone CR or LF
        raw = LONE_LINE_END.sub(b"\r\n", raw)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    if raw.startswith(b".") or b"\n." in raw:
        raw = LEADING_DOT.sub(b"..", raw)
    return raw + b".\r\n"


async def send_data(client: aiosmtplib.SMTP, raw: bytes, timeout: float | None) -> None:
    """DATA, the message, and its final reply; SMTPDataError on anything but 354 then 250,
    and the client closed when the connection is lost or times out (as `SMTP.data` does)."""
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    message = wire_form(raw)
    try:
        start = await protocol.execute_command(b"DATA", timeout=timeout)
        if start.code != READY_FOR_DATA:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        # no await between the write and read_response: the reply cannot arrive unawaited
        protocol.write(message)
        reply = await protocol.read_response(timeout=timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()
        raise
    if reply.code != ACCEPTED:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
