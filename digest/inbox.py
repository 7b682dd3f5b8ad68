"""Mail that comes back: DSN bounces (RFC 3464), ARF complaints (RFC 5965) and mailto:
unsubscribe requests, read from a Maildir, IMAP or POP3 mailbox and acted on.

`classify` is pure: bytes in, one event out. `apply` records the event: a permanent bounce
counts against the subscriber (suppressed once they are `bounced`) when it faults the address,
not the message (a spam filter's or a policy's refusal is logged for the operator), a
complaint unsubscribes and suppresses at once, an unsubscribe request unsubscribes. Anyone can
mail the inbox, so a report names a subscriber only by what we signed (the bounce address,
the List-Unsubscribe). Every message understood is removed from the mailbox, so that a second
run never counts it twice; the rest stay for a person to read.
"""

from __future__ import annotations

import contextlib
import functools
import imaplib
import logging
import mailbox
import poplib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses
from pathlib import Path
from typing import TypeVar

from digest.bounces import FULL_FOR, mailbox_full
from digest.errors import ConfigError, LinkError, TransportError
from digest.mail.addresses import (
    read_bounce_address,
    read_notice_bounce,
    read_unsubscribe_address,
)
from digest.models import Subscriber, SubscriberStatus
from digest.safe_text import has_unsafe
from digest.store import Store
from digest.subscriptions.lifecycle import leave
from digest.subscriptions.tokens import read_token
from digest.vocabulary import counted, faults_address


@dataclass(frozen=True)
class Bounce:
    """A delivery status notification: the delivery it names and whether it is final."""

    delivery_id: int | None  # from the signed bounce address it came to (VERP)
    message_id: str | None  # of the returned original
    permanent: bool
    status: str
    public_id: str | None = None  # whom the original's signed List-Unsubscribe names
    # a mail about a subscription (a confirmation, a reminder): the signed bounce address it
    # came to names the subscription (public id) and its token version then
    notice: tuple[str, int] | None = None

    @property
    def faults_address(self) -> bool:
        """Whether the failure is the address's (no such mailbox, domain, ...), which counts
        against the reader: not a refusal of the message (vocabulary.faults_address)."""
        return self.permanent and faults_address(self.status)


@dataclass(frozen=True)
class Complaint:
    """A feedback report: someone marked a digest as spam."""

    delivery_id: int | None  # the signed bounce address it came to, or the original's
    public_id: str | None = None  # whom the returned digest's signed List-Unsubscribe names
    message_id: str | None = None  # of the returned digest
    notice: tuple[str, int] | None = None  # as Bounce.notice: a report on a confirmation, ...


@dataclass(frozen=True)
class Unsubscribe:
    """Mail to a subscriber's List-Unsubscribe mailto: address."""

    public_id: str


@dataclass(frozen=True)
class Unknown:
    """Anything else (left for a person to read), and why it was not understood."""

    reason: str


Event = Bounce | Complaint | Unsubscribe | Unknown
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To")
log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_MESSAGE_ID = 250
_DSN_ACTION = re.compile(r"[a-z]{1,20}")  # RFC 3464: failed, delayed, delivered, ...
_DSN_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")  # RFC 3463: class.subject.detail
_LIST_TARGET = re.compile(r"<([^<>\s]{1,2000})>")  # RFC 2369: URLs in angle brackets


def classify(raw: bytes, key: bytes, retired: Sequence[bytes] = ()) -> Event:
    """What one message in the inbox is; `retired`: keys of earlier rotations, whose
    unsubscribe addresses and links in mail already sent still name their subscriber. Not
    their bounce addresses: those name a delivery by its id, which anyone can guess, so a
    leaked key would let whoever holds it bounce every reader."""
    keys = (key, *retired)
    message = message_from_bytes(raw, policy=policy.compat32)
    recipients = [a for _, a in getaddresses(_all(message, RECIPIENT_HEADERS)) if a]
    public_id = _first_signed(read_unsubscribe_address, keys, recipients)
    if public_id is not None:
        return Unsubscribe(public_id)
    if message.get_content_type() != "multipart/report":
        return Unknown("not a delivery report or a feedback report")
    report = message.get_param("report-type", "")
    original = _original_headers(message)
    # the signed bounce address the report came to, else the one the returned original was
    # sent from: a feedback loop reports to its own address, with the original's Return-Path
    returned_from = [] if original is None else _all(original, ("Return-Path",))
    addresses = recipients + [a for _, a in getaddresses(returned_from) if a]
    delivery_id = _first_signed(read_bounce_address, keys[:1], addresses)
    notice = _first_signed(read_notice_bounce, keys[:1], addresses)
    listed = None if original is None else _listed_subscriber(original, keys)
    original_id = None if original is None else _message_id(str(original.get("Message-ID", "")))
    if isinstance(report, str) and report.lower() == "feedback-report":
        return Complaint(delivery_id, listed, original_id, notice)
    if isinstance(report, str) and report.lower() == "delivery-status":
        action, status = _delivery_status(message)
        permanent = action == "failed" and status.startswith("5")
        return Bounce(delivery_id, original_id, permanent, status or action, listed, notice)
    return Unknown(f"a report of type {report!r}")


def _first_signed(
    read: Callable[[bytes, str], T | None], keys: Sequence[bytes], addresses: list[str]
) -> T | None:
    """What the first of `addresses` that `read` accepts (signed with one of `keys`) names."""
    found = (read(key, address) for address in addresses for key in keys)
    return next((named for named in found if named is not None), None)


def read_event(raw: bytes, key: bytes, retired: Sequence[bytes] = ()) -> Event:
    """`classify`, or Unknown for a message it fails on (a bug, logged with its traceback):
    that message stays in the inbox for a person, and the pass goes on to the others."""
    try:
        return classify(raw, key, retired)
    except Exception as exc:
        log.exception("reading a returned message failed on a bug")
        return Unknown(f"unreadable ({type(exc).__name__}): please report it with the log")


def _all(message: Message, names: tuple[str, ...]) -> list[str]:
    return [str(v) for name in names for v in (message.get_all(name) or [])]


def _delivery_status(message: Message) -> tuple[str, str]:
    """(Action, Status) of the first recipient of a message/delivery-status part."""
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        fields: dict[str, str] = {}
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else [part]
        for block in blocks:
            text = block.as_string() if isinstance(block, Message) else str(block)
            for line in text.splitlines():
                name, sep, value = line.partition(":")
                if sep and name.strip().lower() in ("action", "status"):
                    fields.setdefault(name.strip().lower(), value.strip().lower())
        # stored as a suppression's reason: only what the fields may hold, nothing a sender
        # added ("5.1.1 (user unknown)" -> "5.1.1"; a NUL would stop PostgreSQL storing it)
        action = _DSN_ACTION.match(fields.get("action", ""))
        status = _DSN_STATUS.match(fields.get("status", ""))
        return action[0] if action else "", status[0] if status else ""
    return "", ""


def _original_headers(message: Message) -> Message | None:
    """The headers of the returned original (message/rfc822 or text/rfc822-headers)."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                return inner
        if kind == "text/rfc822-headers":
            body = part.get_payload(decode=True)
            return message_from_bytes(body if isinstance(body, bytes) else b"")
    return None


def _listed_subscriber(original: Message, keys: Sequence[bytes]) -> str | None:
    """The public id the original's List-Unsubscribe names, if one of its targets is ours
    (signed: the mailto: address, or the one-click link's token)."""
    for target in _LIST_TARGET.findall(" ".join(_all(original, ("List-Unsubscribe",)))):
        if target.lower().startswith("mailto:"):
            public_id = _first_signed(
                read_unsubscribe_address, keys, [target[7:].partition("?")[0]]
            )
        else:
            public_id = _first_signed(
                _unsubscribe_token, keys, [target.rstrip("/").rpartition("/")[2]]
            )
        if public_id is not None:
            return public_id
    return None


def _unsubscribe_token(key: bytes, token: str) -> str | None:
    try:
        # any age: the one-click link of a digest works until the subscriber leaves
        return read_token(key, "unsubscribe", token, now=0.0).subscriber
    except LinkError:
        return None


def _message_id(value: str) -> str | None:
    """A returned Message-ID as a lookup may use it: ours are short printable ASCII; anything
    else names no delivery of ours, and a NUL in it would stop PostgreSQL (and with it the
    pass over the inbox, on the same message every time)."""
    value = value.strip()
    return (
        value
        if 0 < len(value) <= MAX_MESSAGE_ID and value.isascii() and not has_unsafe(value)
        else None
    )


@dataclass
class InboxReport:
    """What one pass over the inbox did."""

    bounces: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    unknown: int = 0
    unmatched: int = 0  # understood, but naming no subscriber of ours
    dropped: int = 0  # signups whose confirmation bounced: removed
    refused: int = 0  # digests refused for what they are (spam filters, policies), not counted
    delayed: int = 0  # reports of mail still being tried, or of a failure to try again
    full: int = 0  # digests refused for a full mailbox
    abandoned: int = 0  # of their readers, those stopped: full for bounces.FULL_FOR

    @property
    def understood(self) -> int:
        """How many messages were understood (acted on, or naming nobody of ours)."""
        return (
            self.bounces
            + self.dropped
            + self.complaints
            + self.unsubscribes
            + self.unmatched
            + self.refused
            + self.delayed
            + self.full
        )

    def __str__(self) -> str:
        refused = (
            f"; {counted(self.refused, 'digest')} refused for their content or a policy, not "
            "the address (logged: check DKIM, SPF and DMARC)"
            if self.refused
            else ""
        )
        dropped = (
            f"; {counted(self.dropped, 'signup')} removed (their confirmation bounced)"
            if self.dropped
            else ""
        )
        full = (
            f"; {counted(self.full, 'digest')} to a full mailbox ({self.abandoned} of their "
            f"readers stopped: full for {FULL_FOR.days} days)"
            if self.full
            else ""
        )
        return (
            f"{counted(self.bounces, 'bounce')}, {counted(self.complaints, 'complaint')}, "
            f"{counted(self.unsubscribes, 'unsubscribe')}; {self.unmatched} naming nobody of "
            f"ours, {self.unknown} not understood{refused}{full}{dropped}"
        )


def apply(
    store: Store, event: Event, now: datetime, bounce_limit: int, report: InboxReport
) -> None:
    """Act on one event."""
    if isinstance(event, Unknown):
        report.unknown += 1
        return
    if isinstance(event, Bounce) and event.permanent and event.delivery_id is not None:
        store.deliveries.mark_returned(event.delivery_id, event.status)  # whoever it names
    if isinstance(event, Unsubscribe):
        subscriber = store.subscribers.by_public_id(event.public_id)
    else:
        subscriber = _reported(store, event)
    if subscriber is None:
        report.unmatched += 1
        return
    if isinstance(event, Unsubscribe):
        report.unsubscribes += 1
        leave(store, subscriber, now)
    elif isinstance(event, Complaint):
        report.complaints += 1
        store.suppression.add(
            subscriber.email, "complaint", "a feedback report (marked as spam)", now
        )
        if subscriber.status == SubscriberStatus.PENDING:  # a confirmation marked as spam
            store.subscribers.remove(subscriber.email)
        else:
            leave(store, subscriber, now)
    elif not event.permanent:
        report.delayed += 1
    elif not event.faults_address and mailbox_full(event.status):
        report.full += 1
        stoppable = subscriber.status == SubscriberStatus.ACTIVE and subscriber.id is not None
        if stoppable and store.deliveries.stop_if_full_too_long(subscriber.id or 0, now):
            report.abandoned += 1
    elif not event.faults_address:
        report.refused += 1
        log.warning(
            "a digest to %s was refused (status %s) for what it is, not its address: the "
            "reader is kept; if this repeats, check DKIM, SPF and DMARC of the sending domain",
            subscriber.email,
            event.status,
        )
    elif event.notice is not None and subscriber.status == SubscriberStatus.PENDING:
        report.dropped += 1  # a typed address that takes no mail: nothing more to try
        store.subscribers.remove(subscriber.email)
    else:
        report.bounces += 1
        assert subscriber.id is not None  # a stored subscriber: _reported looked it up
        detail = f"status {event.status}"
        store.deliveries.count_bounce(subscriber.id, now, bounce_limit, detail)


def _reported(store: Store, event: Bounce | Complaint) -> Subscriber | None:
    """Whom a report names, by what nobody can forge: the signed bounce address it came to
    or the original was sent from, or the signed List-Unsubscribe of the digest it returns.
    A Message-ID alone names nobody: ours are guessable (subscriber and day), and anyone may
    mail this inbox, so a report made up around one would suppress any reader; a bounce's
    counts only when the List-Unsubscribe names the same subscriber. A report on a digest
    sent to the address a subscription moved from names nobody: the new address did not
    bounce or complain; so does a notice's bounce from before a move (its token version is
    older)."""
    if event.notice is not None:
        public_id, version = event.notice
        subscriber = store.subscribers.by_public_id(public_id)
        return subscriber if subscriber and subscriber.token_version == version else None
    if event.delivery_id is not None:
        found = store.deliveries.recipient_of(event.delivery_id)
        if found is not None:
            return _at_current_address(found)
    if event.public_id is None:
        return None
    found = store.deliveries.recipient_of(message_id=event.message_id)
    if found is not None and found[0].public_id == event.public_id:
        return _at_current_address(found)
    if isinstance(event, Complaint):  # the digest is no longer held: its List-Unsubscribe
        return store.subscribers.by_public_id(event.public_id)
    return None


def _at_current_address(found: tuple[Subscriber, bool]) -> Subscriber | None:
    subscriber, current = found
    return subscriber if current else None


def read_inbox(
    store: Store,
    where: InboxSettings,
    key: bytes,
    now: datetime,
    bounce_limit: int,
    retired: Sequence[bytes] = (),
) -> InboxReport:
    """One pass over the inbox: every message read and acted on; those understood removed
    (`retired`: keys of earlier rotations, as `classify` takes them)."""
    report = InboxReport()
    for raw, remove in messages(where):
        event = read_event(raw, key, retired)
        apply(store, event, now, bounce_limit, report)
        if not isinstance(event, Unknown):
            remove()
    return report


@dataclass(frozen=True)
class InboxSettings:
    """Where returned mail arrives."""

    kind: str  # maildir | imap | pop3
    path: Path | None = None
    host: str = ""
    port: int = 0
    username: str = ""
    password: str = ""
    tls: bool = True


Removal = Callable[[], object]


def messages(s: InboxSettings) -> Iterator[tuple[bytes, Removal]]:
    """Every message of the inbox, with a function that removes it from the mailbox."""
    if s.kind == "maildir":
        if s.path is None:
            raise ConfigError("DIGEST_INBOX_PATH is not set: name the Maildir to read")
        yield from _maildir(s.path)
    elif s.kind == "imap":
        yield from _imap(s)
    elif s.kind == "pop3":
        yield from _pop3(s)
    else:
        raise ConfigError("set DIGEST_INBOX_KIND to maildir, imap or pop3 to read returned mail")


def _maildir(path: Path) -> Iterator[tuple[bytes, Removal]]:
    if not (path / "new").is_dir():
        raise ConfigError(f"{path} is not a Maildir (no new/ folder): check DIGEST_INBOX_PATH")
    box = mailbox.Maildir(str(path), create=False)
    for key in list(box.keys()):
        yield box.get_bytes(key), functools.partial(box.remove, key)


IMAP_ERRORS = (OSError, imaplib.IMAP4.error)
POP3_ERRORS = (OSError, poplib.error_proto)
BROKEN_OFF = "the connection broke off; what was read is done, the rest waits for the next run"


def _imap(s: InboxSettings) -> Iterator[tuple[bytes, Removal]]:
    try:
        port = s.port or (993 if s.tls else 143)
        client = (imaplib.IMAP4_SSL if s.tls else imaplib.IMAP4)(s.host, port)
        client.login(s.username, s.password)
        client.select("INBOX")
        # marked deleted by a run that broke off before expunging: acted on already
        _, found = client.search(None, "UNDELETED")
    except IMAP_ERRORS as exc:
        raise TransportError(f"cannot read IMAP {s.host}: {exc} (check DIGEST_INBOX_*)") from None
    try:
        for number in (found[0] or b"").decode("ascii", "replace").split():
            _, data = client.fetch(number, "(RFC822)")
            part = data[0]
            if isinstance(part, tuple):
                mark = functools.partial(client.store, number, "+FLAGS", "\\Deleted")
                yield part[1], _guarded(mark, IMAP_ERRORS, f"IMAP {s.host}")
        client.expunge()
    except IMAP_ERRORS as exc:
        raise TransportError(f"IMAP {s.host}: {exc}: {BROKEN_OFF}") from None
    finally:
        with contextlib.suppress(*IMAP_ERRORS):
            client.logout()


def _guarded(remove: Removal, errors: tuple[type[Exception], ...], where: str) -> Removal:
    """`remove`, its mail server's failure a TransportError."""

    def guarded() -> object:
        try:
            return remove()
        except errors as exc:
            raise TransportError(f"{where}: {exc}: {BROKEN_OFF}") from None

    return guarded


def _pop3(s: InboxSettings) -> Iterator[tuple[bytes, Removal]]:
    try:
        port = s.port or (995 if s.tls else 110)
        client = (poplib.POP3_SSL if s.tls else poplib.POP3)(s.host, port)
        client.user(s.username)
        client.pass_(s.password)
        count = len(client.list()[1])
    except POP3_ERRORS as exc:
        raise TransportError(f"cannot read POP3 {s.host}: {exc} (check DIGEST_INBOX_*)") from None
    try:
        for number in range(1, count + 1):
            remove = _guarded(functools.partial(client.dele, number), POP3_ERRORS, f"POP3 {s.host}")
            yield b"\r\n".join(client.retr(number)[1]), remove
        client.quit()  # POP3 deletes at QUIT
    except POP3_ERRORS as exc:
        raise TransportError(f"POP3 {s.host}: {exc}: {BROKEN_OFF}") from None
