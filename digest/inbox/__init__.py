"""Mail that comes back: DSN bounces (RFC 3464), ARF complaints (RFC 5965) and mailto:
unsubscribe requests, read from a Maildir, IMAP or POP3 mailbox and acted on.

`events.classify` is pure: bytes in, one event out; `acting.apply` records an event;
`mailboxes.messages` reads a mailbox; `read_inbox` is one pass over it.
"""

from digest.inbox.acting import InboxReport, apply, read_inbox
from digest.inbox.events import (
    Bounce,
    Complaint,
    Event,
    Unknown,
    Unsubscribe,
    classify,
    read_event,
)
from digest.inbox.mailboxes import InboxSettings, messages

__all__ = [
    "Bounce",
    "Complaint",
    "Event",
    "InboxReport",
    "InboxSettings",
    "Unknown",
    "Unsubscribe",
    "apply",
    "classify",
    "messages",
    "read_event",
    "read_inbox",
]
