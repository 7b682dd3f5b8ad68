"""Email building and the two transports: a local Maildir and SMTP through aiosmtplib."""

from __future__ import annotations

import asyncio
import mailbox
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib

from digest.errors import PermanentDeliveryError, TemporaryDeliveryError, TransportError


@dataclass(frozen=True)
class Outgoing:
    """One email to send and the delivery it belongs to."""

    delivery_id: int
    message: EmailMessage


@dataclass(frozen=True)
class Outcome:
    """What happened to one outgoing email: sent, or an error with its SMTP code."""

    delivery_id: int
    error: TransportError | None = None
    attempted: bool = True  # False: not tried because the sender is stopping

    @property
    def sent(self) -> bool:
        """True when the transport accepted the message."""
        return self.attempted and self.error is None


class Transport(Protocol):
    """Hands messages over for delivery; one outcome per message, in order."""

    def send(
        self, batch: Sequence[Outgoing], should_stop: Callable[[], bool] | None = None
    ) -> list[Outcome]:
        """Send a batch, one outcome per message; once `should_stop()` is true, messages not
        yet started come back with attempted=False."""
        ...


def _clean(value: str) -> str:
    """One header line: CR, LF and other control characters become spaces."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
    unsubscribe_url: str | None = None,
    unsubscribe_mailto: str | None = None,
) -> EmailMessage:
    """A multipart/alternative email (text, then html); with list headers when it is a digest."""
    message = EmailMessage()
    message["From"] = _clean(sender)
    message["To"] = _clean(to)
    message["Subject"] = _clean(subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = _clean(message_id)
    if unsubscribe_url:
        targets = [f"<{_clean(unsubscribe_url)}>"]
        if unsubscribe_mailto:
            targets.append(f"<{_clean(unsubscribe_mailto)}>")
        message["List-Unsubscribe"] = ", ".join(targets)
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def sender_domain(sender: str) -> str:
    """The domain of the From address ("localhost" when it has none)."""
    address = parseaddr(sender)[1]
    return address.rsplit("@", 1)[1].lower() if "@" in address else "localhost"


def mailto_for(sender: str, purpose: str) -> str:
    """A mailto: URL at the sender's domain, e.g. for List-Unsubscribe."""
    return f"mailto:unsubscribe@{sender_domain(sender)}?subject={purpose}"


class MaildirTransport:
    """Writes each message into a Maildir that any mail client can open."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.box = mailbox.Maildir(str(path), create=True)
        except OSError as exc:
            raise TransportError(
                f"cannot open Maildir {path}: {exc.strerror or exc} (check DIGEST_MAILDIR)"
            ) from None
        self.path = path

    def send(
        self, batch: Sequence[Outgoing], should_stop: Callable[[], bool] | None = None
    ) -> list[Outcome]:
        """Store each message in new/; a full disk is a temporary failure."""
        outcomes = []
        for item in batch:
            if should_stop is not None and should_stop():
                outcomes.append(Outcome(item.delivery_id, attempted=False))
                continue
            try:
                self.box.add(item.message)
                outcomes.append(Outcome(item.delivery_id))
            except OSError as exc:
                error = TemporaryDeliveryError(f"cannot write to {self.path}: {exc}")
                outcomes.append(Outcome(item.delivery_id, error))
        return outcomes

    def count(self) -> int:
        """How many messages the Maildir holds."""
        return len(self.box)


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the SMTP server."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0


class SmtpTransport:
    """Sends a batch over one reused SMTP connection (aiosmtplib)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def send(
        self, batch: Sequence[Outgoing], should_stop: Callable[[], bool] | None = None
    ) -> list[Outcome]:
        """Send every message of the batch; connection problems fail the rest temporarily."""
        return asyncio.run(self._send(batch))

    async def _send(self, batch: Sequence[Outgoing]) -> list[Outcome]:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host, port=s.port, timeout=s.timeout, start_tls=s.starttls
        )
        outcomes: list[Outcome] = []
        try:
            await client.connect()
            if s.username and s.password:
                await client.login(s.username, s.password)
            for item in batch:
                outcomes.append(await self._send_one(client, item))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            error = classify(exc, f"SMTP {s.host}:{s.port}")
            done = {o.delivery_id for o in outcomes}
            outcomes += [Outcome(i.delivery_id, error) for i in batch if i.delivery_id not in done]
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    client.close()
        return outcomes

    async def _send_one(self, client: aiosmtplib.SMTP, item: Outgoing) -> Outcome:
        try:
            await client.send_message(item.message)
            return Outcome(item.delivery_id)
        except (
            aiosmtplib.SMTPRecipientsRefused,
            aiosmtplib.SMTPResponseException,
            aiosmtplib.SMTPSenderRefused,
        ) as exc:
            return Outcome(item.delivery_id, classify(exc, "SMTP server"))


def classify(exc: BaseException, where: str) -> TransportError:
    """4xx, disconnects and timeouts are temporary; 5xx replies are permanent."""
    code: int | None = getattr(exc, "code", None)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        code = exc.recipients[0].code
    message = f"{where}: {exc.__class__.__name__}: {' '.join(str(exc).split())}"
    if code is not None and 500 <= code < 600:
        return PermanentDeliveryError(message, code)
    return TemporaryDeliveryError(message, code)
