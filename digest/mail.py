"""Email building, the Transport protocol and the local Maildir transport.

The SMTP transport is in digest.smtp; `from digest.mail import SmtpTransport` still works."""

from __future__ import annotations

import mailbox
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from digest.errors import TemporaryDeliveryError, TransportError

if TYPE_CHECKING:
    from digest.smtp import SmtpSettings as SmtpSettings
    from digest.smtp import SmtpTransport as SmtpTransport
    from digest.smtp import classify as classify


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
    """Hands messages over for delivery; one outcome per message (the batch's order)."""

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


def __getattr__(name: str) -> object:
    """The SMTP pool lives in digest.smtp (which imports this module); its names stay
    importable from here."""
    if name in _SMTP_NAMES:
        from digest import smtp

        return getattr(smtp, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_SMTP_NAMES = frozenset({"SmtpSettings", "SmtpTransport", "classify"})
