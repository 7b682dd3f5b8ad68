"""What an SMTP server's refusal means: temporary or permanent, about the recipient or about
us (a login, relaying, the From address), and what the operator should fix."""

from __future__ import annotations

import re

import aiosmtplib

from digest.errors import (
    PermanentDeliveryError,
    RecipientRefusedError,
    SenderRefusedError,
    TemporaryDeliveryError,
    TransportError,
)
from digest.vocabulary import faults_address

AUTH_REQUIRED = 530


def classify(exc: BaseException, where: str) -> TransportError:
    """4xx, disconnects and timeouts are temporary; 5xx replies are permanent, except those
    about us rather than the recipient (530, relaying denied, a From the server will not
    send): every digest would fail, and a refused recipient would count as a bounce. A
    recipient refused for the message (a blocklist, a policy: 5.7.x) is no bounce either."""
    code: int | None = getattr(exc, "code", None)
    message = f"{where}: {_describe(exc)}"
    hint = _about_us(code, str(getattr(exc, "message", "")))
    if hint is not None:
        return SenderRefusedError(f"{message} ({hint})", code)
    if code is not None and 500 <= code < 600:
        reply = str(getattr(exc, "message", ""))
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused) and faults_address(reply):
            return RecipientRefusedError(message, code)
        return PermanentDeliveryError(message, code)
    return TemporaryDeliveryError(message, code)


def _about_us(code: int | None, reply: str) -> str | None:
    """What to fix when a 5xx reply refuses our mail rather than the recipient, else None."""
    if code is None or not 500 <= code < 600:
        return None
    if code == AUTH_REQUIRED or _NOT_LOGGED_IN.search(reply):
        return "the server wants a login: set DIGEST_SMTP_USERNAME and DIGEST_SMTP_PASSWORD"
    if _NO_RELAY.search(reply):
        return (
            "the server will not relay our mail: set DIGEST_SMTP_USERNAME and "
            "DIGEST_SMTP_PASSWORD, or let this host relay through it"
        )
    if _NOT_AS_SENDER.search(reply):
        return "the server will not send from DIGEST_FROM: use an address this login may send as"
    return None


# reply texts of the usual servers (Postfix, Exim, Sendmail, Exchange, Microsoft 365, Gmail,
# Amazon SES) that refuse a message because of who sends it
_NOT_LOGGED_IN = re.compile(
    r"authentication required|requires authentication|must authenticate|not authenticated|"
    r"\b5\.7\.57\b",
    re.IGNORECASE,
)
_NO_RELAY = re.compile(r"\brelay", re.IGNORECASE)
_NOT_AS_SENDER = re.compile(
    r"sender address rejected|send(ing)? as (this )?(sender|user)|\b5\.7\.60\b|"
    r"email address is not verified",
    re.IGNORECASE,
)


def connect_error(exc: BaseException, where: str) -> TemporaryDeliveryError:
    """Why no connection could be made. Always temporary, whatever the reply code: it says
    nothing about the message or its recipient (a wrong password must not bounce everyone);
    a server that answered and refused us waits for the setting's fix, however many tries."""
    code: int | None = getattr(exc, "code", None)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        hint = "check DIGEST_SMTP_USERNAME and DIGEST_SMTP_PASSWORD"
    elif isinstance(exc, TimeoutError):
        hint = "no answer in time: a stuck server, a firewall or the wrong port"
    else:
        hint = "is the server running? check DIGEST_SMTP_HOST, DIGEST_SMTP_PORT and TLS settings"
    kind = TemporaryDeliveryError if code is None else SenderRefusedError
    return kind(f"cannot connect to {where}: {_describe(exc)} ({hint})", code)


def _describe(exc: BaseException) -> str:
    """The server's reply as it gave it ("refused a@example.org: 550 5.1.1 no such user"),
    not a Python tuple; other errors by their kind and text."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reply = " ".join(str(exc.message).split())
        if exc.code <= 0:  # no reply code: the client's own words ("Malformed SMTP reply")
            return f"{exc.__class__.__name__}: {reply}"
        if recipient := getattr(exc, "recipient", None):
            return f"refused {recipient}: {exc.code} {reply}"
        if sender := getattr(exc, "sender", None):
            return f"refused the sender {sender}: {exc.code} {reply}"
        return f"{exc.code} {reply}"
    text = " ".join(str(exc).split())
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
