"""A real SMTP server (aiosmtpd on 127.0.0.1) that misbehaves the way a test scripts it.

    server = FaultServer()            # a free port; FaultServer(port=...) to reuse one
    server.start()
    server.script.reject = {"x@example.org"}          # 550 at RCPT
    server.script.rcpt_reply = "554 5.7.1 Relay access denied"  # to every RCPT
    server.script.temp_every = 3                       # 451 for every 3rd DATA
    server.script.temp_first = {"y@example.org": 2}   # 451 for y's first 2 DATAs
    server.script.drop_first = {"z@example.org": 1}   # close the connection inside DATA
    server.script.hang_greeting = True                 # accept, then never say a word
    server.script.hang_data = True                     # answer everything but DATA
    server.script.pipelining = False                   # do not offer PIPELINING (RFC 2920)
    server.stop(); ...; server.start()                 # down, then back on the same port

`server.accepted` lists (recipient, Message-ID) of every message it accepted with 250.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from conftest import free_port

HOST = "127.0.0.1"


@dataclass
class Script:
    """What the server does wrong; a test changes it at any time."""

    reject: set[str] = field(default_factory=set)  # 550 at RCPT for these recipients
    mail_reply: str = ""  # this reply to every MAIL FROM instead of 250 (a server refusing us)
    rcpt_reply: str = ""  # this reply to every RCPT TO instead of 250
    temp_every: int = 0  # 451 instead of accepting every n-th DATA (0: never)
    temp_first: dict[str, int] = field(default_factory=dict)  # 451 for the first n DATAs
    drop_first: dict[str, int] = field(default_factory=dict)  # drop inside the first n DATAs
    drop_every: int = 0  # drop the connection inside every n-th DATA (0: never)
    hang_greeting: bool = False  # accept the TCP connection, then never answer
    hang_data: bool = False  # answer until DATA, then never again
    pipelining: bool = True  # offer PIPELINING in the EHLO reply, as mainstream servers do


@dataclass
class Log:
    """What the server saw; shared between its thread and the test."""

    accepted: list[tuple[str, str]] = field(default_factory=list)  # (recipient, Message-ID)
    data_seen: Counter[str] = field(default_factory=Counter)  # DATA attempts per recipient
    data_total: int = 0
    connections: int = 0
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultHandler:
    """The aiosmtpd handler: refuses, delays, drops or accepts as the script says."""

    def __init__(self, script: Script, log: Log) -> None:
        self.script = script
        self.log = log

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        # aiosmtpd reads one command line at a time, so it serves pipelined commands in order
        return responses[:1] + ["250-PIPELINING"] * self.script.pipelining + responses[1:]

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.script.mail_reply:
            return self.script.mail_reply
        envelope.mail_from, envelope.mail_options = address, options
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.script.reject:
            return "550 5.1.1 no such user here"
        if self.script.rcpt_reply:
            return self.script.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        s = self.script
        with self.log.lock:
            self.log.data_total += 1
            n = self.log.data_total
            tries = {r: self.log.data_seen[r] for r in envelope.rcpt_tos}
            self.log.data_seen.update(envelope.rcpt_tos)
        if s.hang_data:
            await asyncio.Event().wait()  # until the server is stopped
        if (s.drop_every and n % s.drop_every == 0) or any(
            tries[r] < s.drop_first.get(r, 0) for r in envelope.rcpt_tos
        ):
            server.transport.close()  # the client has sent the message and gets no reply
            return "451 4.3.0 connection dropped"  # written nowhere: the transport is closed
        if (s.temp_every and n % s.temp_every == 0) or any(
            tries[r] < s.temp_first.get(r, 0) for r in envelope.rcpt_tos
        ):
            return "451 4.3.0 try again later"
        message = message_from_bytes(envelope.content, policy=email_policy.default)
        with self.log.lock:
            for rcpt in envelope.rcpt_tos:
                self.log.accepted.append((rcpt, str(message["Message-ID"])))
        return "250 OK queued"


class FaultSMTP(SMTP):
    """aiosmtpd's server, counting connections and able to hang before the greeting."""

    def __init__(self, handler: FaultHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.fault = handler

    async def _handle_client(self) -> None:
        with self.fault.log.lock:
            self.fault.log.connections += 1
        if self.fault.script.hang_greeting:
            await asyncio.Event().wait()  # until the server is stopped
        await super()._handle_client()


class FaultController(Controller):
    def factory(self) -> FaultSMTP:
        return FaultSMTP(self.handler, **self.SMTP_kwargs)


class FaultServer:
    """A scripted SMTP server on 127.0.0.1 that can be stopped and started on the same port."""

    def __init__(
        self,
        port: int | None = None,
        *,
        login: tuple[str, str] | None = None,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.port = port or free_port()
        self.script = Script()
        self.log = Log()
        self.login = login
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.controller: FaultController | None = None

    def start(self) -> FaultServer:
        kwargs: dict[str, Any] = {"hostname": HOST, "port": self.port, "ready_timeout": 5.0}
        if self.login is not None:
            # require AUTH; over plain TCP too unless STARTTLS is offered
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=self.starttls is not None,
            )
        if self.starttls is not None:
            kwargs.update(tls_context=self.starttls, require_starttls=True)
        if self.implicit_tls is not None:
            kwargs.update(ssl_context=self.implicit_tls)
        hang, self.script.hang_greeting = self.script.hang_greeting, False  # start() says hello
        try:
            self.controller = FaultController(FaultHandler(self.script, self.log), **kwargs)
            self.controller.start()
        finally:
            self.script.hang_greeting = hang
        with self.log.lock:
            self.log.connections -= 1  # the controller's own readiness probe
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.login is not None
            and (auth_data.login.decode(), auth_data.password.decode()) == self.login
        )
        if ok:
            with self.log.lock:
                self.log.logins.append(auth_data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)  # aiosmtpd then replies 535

    @property
    def accepted(self) -> list[tuple[str, str]]:
        with self.log.lock:
            return list(self.log.accepted)

    def count(self, recipient: str) -> int:
        """How many messages this recipient was accepted for."""
        return sum(1 for rcpt, _ in self.accepted if rcpt == recipient)

    def per_recipient(self) -> Counter[str]:
        return Counter(rcpt for rcpt, _ in self.accepted)
