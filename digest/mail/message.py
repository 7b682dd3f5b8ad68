"""Email as bytes (build_message), the Transport protocol and the local Maildir transport."""

from __future__ import annotations

import mailbox
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from digest.errors import TemporaryDeliveryError, TransportError
from digest.mail.mime import (
    address_value,
    ascii_domain,
    clean,
    envelope_address,
    header_value,
    multipart_alternative,
)


@dataclass(frozen=True)
class Outgoing:
    """One email to send, as bytes with its envelope, and the delivery it belongs to."""

    delivery_id: int
    raw: bytes
    sender: str  # envelope MAIL FROM: a bare address
    recipient: str  # envelope RCPT TO


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


# Told of each outcome; may return a future that is done once the outcome is recorded.
OnOutcome = Callable[[Outcome], "Future[None] | None"]


class Transport(Protocol):
    """Hands messages over for delivery; one outcome per message (the batch's order)."""

    def send(
        self,
        batch: Sequence[Outgoing],
        should_stop: Callable[[], bool] | None = None,
        on_outcome: OnOutcome | None = None,
    ) -> list[Outcome]:
        """Send a batch, one outcome per message; once `should_stop()` is true, messages not
        yet started come back with attempted=False. `on_outcome` hears of each message the
        moment its fate is known; when it returns a future, the connection (or writer) that
        sent the message waits for it before sending its next, so that a crash can repeat at
        most one message per connection."""
        ...

    def close(self) -> None:
        """Release what the transport keeps between batches (pooled connections)."""
        ...


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
    text_pieces: Sequence[str] = (),
) -> bytes:
    """A multipart/alternative email (text, then html); with list headers when it is a digest
    (`text_pieces`: the text in the pieces it was joined from, when known; it encodes faster).

    Every header value is cleaned of CR, LF and control characters (no header injection).
    """
    headers = [
        ("From", address_value(sender)),
        ("To", address_value.__wrapped__(to)),  # one per message: not worth caching
        ("Subject", header_value(subject)),
        ("Date", _date_value(date)),
        ("Message-ID", clean(message_id)),
    ]
    if unsubscribe_url:
        targets = [f"<{clean(unsubscribe_url)}>"]
        if unsubscribe_mailto:
            targets.append(f"<{clean(unsubscribe_mailto)}>")
        headers.append(("List-Unsubscribe", ", ".join(targets)))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        domain = sender_domain(sender)
        headers.append(("List-Id", f"papers digest <digest.{domain}>"))
        # Gmail's feedback loop: Postmaster Tools counts spam reports per identifier (the last
        # field names the sender; the header must be DKIM-signed, dkim.SIGNED_HEADERS)
        headers.append(("Feedback-ID", f"digest:{domain}"))
    headers.append(("Auto-Submitted", "auto-generated"))
    return multipart_alternative(headers, text, html, text_pieces)


@lru_cache(maxsize=16)
def _date_value(date: datetime) -> str:
    # a send pass dates every message alike
    return format_datetime(date)


def outgoing(delivery_id: int, raw: bytes, sender: str, to: str) -> Outgoing:
    """An Outgoing with the envelope taken from the From and To addresses."""
    return Outgoing(delivery_id, raw, envelope_address(sender), envelope_address(to))


@lru_cache(maxsize=64)
def sender_domain(sender: str) -> str:
    """The domain of the From address in its ASCII (IDNA) form, as Message-IDs, List-Id,
    the bounce and unsubscribe addresses and DKIM's d= need it ("localhost" when it has
    none). The settings refuse a From domain with no such form."""
    address = parseaddr(sender)[1]
    return ascii_domain(address).rsplit("@", 1)[1].lower() if "@" in address else "localhost"


class MaildirTransport:
    """Writes each message into a Maildir that any mail client can open.

    A digest carries its reader's signed links, so a Maildir made here is its owner's alone
    (0700), and each message takes the mode of its folder without execute bits (0600 there),
    as Dovecot does: a Maildir the operator shares with a group (0750) shares its mail."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir(mode=0o700, exist_ok=True)
            for folder in ("tmp", "new", "cur"):  # also in an existing, empty directory
                (path / folder).mkdir(mode=0o700, exist_ok=True)
            self.box = mailbox.Maildir(str(path), create=False)
            self.mode = (path / "new").stat().st_mode & 0o666
        except OSError as exc:
            raise TransportError(
                f"cannot open Maildir {path}: {exc.strerror or exc} (check DIGEST_MAILDIR)"
            ) from None
        self.path = path

    def send(
        self,
        batch: Sequence[Outgoing],
        should_stop: Callable[[], bool] | None = None,
        on_outcome: OnOutcome | None = None,
    ) -> list[Outcome]:
        """Store each message in new/; a full disk is a temporary failure."""
        outcomes = []
        for item in batch:
            if should_stop is not None and should_stop():
                outcome = Outcome(item.delivery_id, attempted=False)
            else:
                try:
                    key = self.box.add(item.raw.replace(b"\r\n", b"\n"))  # Maildir files use LF
                    os.chmod(self.path / "new" / key, self.mode)
                    outcome = Outcome(item.delivery_id)
                except OSError as exc:
                    error = TemporaryDeliveryError(f"cannot write to {self.path}: {exc}")
                    outcome = Outcome(item.delivery_id, error)
            outcomes.append(outcome)
            receipt = on_outcome(outcome) if on_outcome is not None else None
            if receipt is not None:
                receipt.result()
        return outcomes

    def close(self) -> None:
        """Nothing to release: every message is a file written at once."""

    def count(self) -> int:
        """How many messages the Maildir holds."""
        return len(self.box)
