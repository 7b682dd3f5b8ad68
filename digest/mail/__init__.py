"""Mail out: messages as bytes (message.py, mime.py), the transports (Maildir here, the SMTP
pool in smtp.py, DKIM signing in dkim.py) and the list addresses of a digest (addresses.py)."""

from digest.mail.message import (
    MaildirTransport,
    OnOutcome,
    Outcome,
    Outgoing,
    Transport,
    build_message,
    outgoing,
    sender_domain,
)

__all__ = [
    "MaildirTransport",
    "OnOutcome",
    "Outcome",
    "Outgoing",
    "Transport",
    "build_message",
    "outgoing",
    "sender_domain",
]
