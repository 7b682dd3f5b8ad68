"""What one returned message is, read from its bytes alone: a DSN bounce (RFC 3464) or a
plain-text one marked by X-Failed-Recipients, an ARF complaint (RFC 5965), a mailto:
unsubscribe request, or something for a person to read. Anyone can mail the inbox, so an
event names a delivery or a subscriber only by what we signed (the bounce address, the
List-Unsubscribe)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses
from typing import TypeVar

from digest.errors import LinkError
from digest.mail.addresses import (
    read_bounce_address,
    read_notice_bounce,
    read_unsubscribe_address,
)
from digest.safe_text import has_unsafe
from digest.subscriptions.tokens import read_token
from digest.vocabulary import THE_RECIPIENT, faults_address


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
MAX_BOUNCE_TEXT = 8_000  # bytes of a plain-text bounce read for its status
_TEXT_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_RETURNED_COPY = re.compile(
    r"^.*(?:copy of the message|this line is a copy|original message)", re.I | re.M
)


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
        if message.get("X-Failed-Recipients") is not None:
            return _plain_bounce(message, recipients, keys[:1])
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


def _plain_bounce(message: Message, recipients: list[str], keys: Sequence[bytes]) -> Event:
    """A bounce some servers (older Exim, some hosting providers) send as plain text: only
    a bounce carries X-Failed-Recipients (a vacation reply to the same return address never
    does), and it reports a permanent failure. Its status is the first RFC 3463 code of its
    text before the returned copy; a text that gives none is left for a person, unless its
    words say the recipient is unknown."""
    text = _plain_text(message)
    status = _TEXT_STATUS.search(text)
    if status is None and THE_RECIPIENT.search(text) is None:
        return Unknown("a plain-text bounce that gives no status code")
    code = status[1] if status else "5.0.0"
    if not code.startswith("5"):
        return Unknown(f"a plain-text bounce with status {code}")
    delivery_id = _first_signed(read_bounce_address, keys, recipients)
    notice = _first_signed(read_notice_bounce, keys, recipients)
    return Bounce(delivery_id, None, True, code, None, notice)


def _plain_text(message: Message) -> str:
    """The first text/plain part of a message, up to where a returned copy starts."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True)
            if isinstance(body, bytes):
                text = body[:MAX_BOUNCE_TEXT].decode("utf-8", "replace")
                return _RETURNED_COPY.split(text, maxsplit=1)[0]
    return ""


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
