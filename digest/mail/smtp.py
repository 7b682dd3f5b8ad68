"""SMTP delivery: a pool of connections working through one batch together.

Each connection is opened by aiosmtplib and then spoken on by a `Session` (smtp_session.py:
MAIL, RCPT and DATA in one write when the server offers PIPELINING). A connection carries one
message at a time, so concurrency means several connections: each worker owns one and takes
messages from the batch's shared queue until it is empty.
Connections outlive a batch: they live on the transport's own event loop thread, go back to an
idle pool after each send() and are reused by the next one (checked with NOOP after a pause,
closed after IDLE_LIMIT seconds unused), so a send run connects once, not once per batch.
Every message gets exactly one Outcome: sent, a TemporaryDeliveryError (4xx, disconnect,
timeout, no connection), a PermanentDeliveryError (a 5xx reply to MAIL, RCPT or DATA), or
attempted=False when `should_stop()` turned true before the message was started.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiosmtplib

from digest.errors import (
    ConfigError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    TransportError,
)
from digest.mail import OnOutcome, Outcome, Outgoing
from digest.mail.smtp_replies import classify, connect_error
from digest.mail.smtp_session import OK, Session

IDLE_CHECK = 5.0  # seconds idle after which a pooled connection is checked with NOOP first
IDLE_LIMIT = 60.0  # seconds idle after which a pooled connection is closed
RECONNECT_PAUSE = 0.2  # seconds a worker waits before reconnecting after losing its connection
GIVE_UP_AFTER = 2  # connections lost in a row before a worker stops using the server
T = TypeVar("T")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the SMTP server, and how hard to push it."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False  # upgrade a plain connection with STARTTLS (port 587)
    tls: bool = False  # implicit TLS from the first byte (port 465)
    timeout: float = 30.0  # seconds for connecting and for each command's reply
    connections: int = 4  # clients sending at the same time
    rate: float = 0.0  # messages per second over all connections; 0 = no limit
    cert_bundle: str | None = None  # CA certificates to trust instead of the system's

    def __post_init__(self) -> None:
        if self.tls and self.starttls:
            raise ConfigError(
                "SMTP implicit TLS and STARTTLS exclude each other: set DIGEST_SMTP_TLS "
                "(port 465) or DIGEST_SMTP_STARTTLS (port 587), not both"
            )
        if self.connections < 1 or self.rate < 0 or self.timeout <= 0:
            raise ConfigError(
                "SMTP connections must be >= 1, rate >= 0 and timeout > 0: "
                "check DIGEST_SMTP_CONNECTIONS, DIGEST_SMTP_RATE and DIGEST_SMTP_TIMEOUT"
            )

    @property
    def where(self) -> str:
        """host:port, for error messages."""
        return f"SMTP {self.host}:{self.port}"


class SmtpTransport:
    """Sends a batch over a pool of SMTP connections, at most `rate` per second."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.bucket = TokenBucket(settings.rate)
        self.idle: list[tuple[Session, float]] = []  # touched on the loop thread only
        self._loop: _LoopThread | None = None
        self._lock = threading.Lock()

    def send(
        self,
        batch: Sequence[Outgoing],
        should_stop: Callable[[], bool] | None = None,
        on_outcome: OnOutcome | None = None,
    ) -> list[Outcome]:
        """Send every message of the batch; one outcome per message, in the batch's order."""
        if not batch:
            return []
        stop = should_stop or (lambda: False)
        run = _Run(self.settings, batch, stop, self.bucket, self.idle, on_outcome)
        return self._thread().run(run.run())

    def close(self) -> None:
        """Say goodbye on every pooled connection and stop the loop thread."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.run(_quit_all(self.idle, self.settings.timeout))
            loop.stop()

    def _thread(self) -> _LoopThread:
        with self._lock:
            if self._loop is None:
                self._loop = _LoopThread()
                self._loop.run(_start_reaper(self.idle, self.settings.timeout))
            return self._loop


class _LoopThread:
    """A private event loop on a daemon thread, so connections outlive one send() call and
    send() works the same from plain code and from inside another event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="smtp", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        """Cancel what still runs on the loop, then stop the loop and its thread."""

        async def cancel_rest() -> None:
            mine = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not mine]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


async def _start_reaper(idle: list[tuple[Session, float]], timeout: float) -> None:
    """Start closing pooled connections left unused for IDLE_LIMIT seconds, in the background."""

    async def reap() -> None:
        while True:
            await asyncio.sleep(IDLE_LIMIT / 2)
            now = time.monotonic()
            stale = [entry for entry in idle if now - entry[1] > IDLE_LIMIT]
            for entry in stale:
                idle.remove(entry)
            await _quit_all(stale, timeout)

    asyncio.get_running_loop().create_task(reap(), name="smtp-idle-reaper")  # stop() cancels it


async def _quit_all(idle: list[tuple[Session, float]], timeout: float) -> None:
    sessions = [session for session, _ in idle]
    idle.clear()
    await asyncio.gather(*(quit_politely(session, timeout) for session in sessions))


async def quit_politely(session: Session, timeout: float) -> None:
    """Say goodbye, without waiting long for a server that is gone."""
    try:
        if session.is_connected:
            async with asyncio.timeout(min(timeout, 5.0)):
                await session.command(b"QUIT")
    except Exception:  # the server is gone or slow: just drop the connection
        pass
    finally:
        session.close()


class TokenBucket:
    """A token bucket of capacity one: messages leave evenly spaced at `rate` per second over
    every connection, across send() calls and threads (0 = no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_token = 0.0  # time.monotonic() at which the next token is available
        self.lock = threading.Lock()

    async def take(self) -> None:
        """Wait for a token; each caller reserves its own slot, so no two share a token."""
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_token)
            self.next_token = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class _Run:
    """One send() call: the batch's queue, the workers and the outcomes they collect."""

    def __init__(
        self,
        settings: SmtpSettings,
        batch: Sequence[Outgoing],
        should_stop: Callable[[], bool],
        bucket: TokenBucket,
        idle: list[tuple[Session, float]],
        on_outcome: OnOutcome | None = None,
    ) -> None:
        self.on_outcome = on_outcome
        self.s = settings
        self.batch = batch
        self.should_stop = should_stop
        self.queue: deque[int] = deque(range(len(batch)))
        self.outcomes: dict[int, Outcome] = {}
        self.bucket = bucket
        self.connect_error: TransportError | None = None
        self.idle = idle  # the transport's pool: taken from, given back to

    async def run(self) -> list[Outcome]:
        workers = min(self.s.connections, len(self.batch))
        await asyncio.gather(*(self.worker() for _ in range(workers)))
        # Left over: stopping, or every worker gave up on the server.
        error = None if self.should_stop() else self.connect_error
        for index in self.queue:
            item = self.batch[index]
            self.settle(
                index,
                Outcome(item.delivery_id, error)
                if error is not None
                else Outcome(item.delivery_id, attempted=False),
            )
        return [self.outcomes[index] for index in range(len(self.batch))]

    def settle(self, index: int, outcome: Outcome) -> Future[None] | None:
        """Keep a message's outcome and tell the caller at once; the caller's receipt, if any."""
        self.outcomes[index] = outcome
        return self.on_outcome(outcome) if self.on_outcome is not None else None

    async def worker(self) -> None:
        """Take messages until the queue is empty, the caller stops us, or the server cannot be
        reached; after a lost connection, pause and reconnect. A worker gives up when it cannot
        connect, or loses its connection GIVE_UP_AFTER times in a row (a server that is stuck
        costs every message a full timeout)."""
        session: Session | None = None
        lost = 0
        receipt: Future[None] | None = None  # the recording of this worker's last outcome
        try:
            while self.queue and not self.should_stop():
                if (
                    session is None
                    and (session := await self.pooled() or await self.connect()) is None
                ):
                    return
                await self.bucket.take()
                if not self.queue or self.should_stop():
                    return
                index = self.queue.popleft()
                outcome, usable = await self.deliver(session, self.batch[index], receipt)
                receipt = self.settle(index, outcome)
                if usable:
                    lost = 0
                    continue
                session.close()
                session = None
                lost += 1
                if lost >= GIVE_UP_AFTER:
                    self.connect_error = TemporaryDeliveryError(
                        f"{self.s.where}: gave up after losing the connection {lost} times in a "
                        f"row, last: {outcome.error}"
                    )
                    return
                await asyncio.sleep(RECONNECT_PAUSE)
        finally:
            if session is not None and session.is_connected:
                self.idle.append((session, time.monotonic()))  # for the next send()
            elif session is not None:
                session.close()

    async def pooled(self) -> Session | None:
        """A connection left by an earlier send(), still alive, or None."""
        while self.idle:
            session, since = self.idle.pop()
            if time.monotonic() - since < IDLE_CHECK and session.is_connected:
                return session
            try:
                async with asyncio.timeout(self.s.timeout):
                    if (await session.command(b"NOOP")).code == OK:
                        return session
            except Exception:  # the server dropped it meanwhile: try the next, or connect
                pass
            session.close()
        return None

    async def connect(self) -> Session | None:
        """A connected (and logged in) session, or None after recording why not."""
        s = self.s
        login = bool(s.username and s.password)
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username if login else None,
            password=s.password if login else None,
            use_tls=s.tls,
            start_tls=s.starttls,
            cert_bundle=s.cert_bundle,
            timeout=s.timeout,
        )
        try:
            # every step (TCP, greeting, EHLO, STARTTLS, AUTH) has its own timeout; this bounds
            # a server that trickles its replies
            async with asyncio.timeout(s.timeout * 3):
                await client.connect()
                if client.is_ehlo_or_helo_needed:  # not said yet without STARTTLS or a login
                    await greet(client)
            return Session.take_over(client)
        except Exception as exc:  # whatever it is, this worker has no connection
            client.close()
            self.connect_error = connect_error(exc, s.where)
            return None

    async def deliver(
        self, session: Session, item: Outgoing, receipt: Future[None] | None
    ) -> tuple[Outcome, bool]:
        """Send one message: its outcome, and whether the connection can be used again.

        The envelope goes first; the message itself only once the previous message of this
        connection is recorded (`receipt`), so that the server never holds two messages of one
        connection that a crash would leave unrecorded."""
        try:
            async with asyncio.timeout(self.s.timeout * 4):  # MAIL, RCPT, DATA, end of data
                await session.send(item.sender, item.recipient, item.raw, receipt)
        except aiosmtplib.SMTPNotSupported:  # raised before MAIL: the connection is still fine
            error = PermanentDeliveryError(
                f"{self.s.where} does not offer SMTPUTF8, which the address "
                f"{item.recipient!r} needs: use a server that does, or change the address"
            )
            return Outcome(item.delivery_id, error), True
        except aiosmtplib.SMTPResponseException as exc:
            # a reply: the envelope was reset, or the connection closed (421)
            return Outcome(item.delivery_id, classify(exc, self.s.where)), session.is_connected
        except Exception as exc:  # disconnect, timeout, or anything unexpected: start afresh
            return Outcome(item.delivery_id, classify(exc, self.s.where)), False
        return Outcome(item.delivery_id), True  # refused only for some recipients: sent too


async def greet(client: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO from a server that only speaks plain SMTP."""
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        await client.helo()
