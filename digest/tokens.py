"""Signed, purpose-bound tokens for the links in emails (confirm, unsubscribe, preferences).

A token names one subscriber, one purpose, the subscriber's token version (bumping it revokes
every older link) and when it was issued (so a purpose can expire). HMAC-SHA256 signs it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from digest.errors import ExpiredLinkError, LinkError


@dataclass(frozen=True)
class Token:
    """What a valid token says."""

    purpose: str
    subscriber_id: int
    version: int
    issued: int  # Unix seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:20])


def make_token(key: bytes, purpose: str, subscriber_id: int, version: int, issued: int = 0) -> str:
    """A URL-safe token for one subscriber, purpose and token version."""
    payload = _b64(f"{purpose}:{subscriber_id}:{version}:{issued}".encode("ascii"))
    return f"{payload}.{_mac(key, payload)}"


def read_token(
    key: bytes, purpose: str, token: str, *, now: float | None = None, max_age: float | None = None
) -> Token:
    """The token's content if it is genuine, for `purpose` and not expired; else ValidationError."""
    payload, _, mac = token.partition(".")
    if not payload or len(token) > 200 or not hmac.compare_digest(mac, _mac(key, payload)):
        raise LinkError("this link is not valid: copy the whole link from the email")
    try:
        kind, ident, version, issued = _unb64(payload).decode("ascii").split(":")
        parsed = Token(kind, int(ident), int(version), int(issued))
    except (ValueError, UnicodeDecodeError):
        raise LinkError("this link is damaged: copy the whole link from the email") from None
    if parsed.purpose != purpose:
        raise LinkError(f"this link is not a {purpose} link")
    if max_age is not None and now is not None and now - parsed.issued > max_age:
        raise ExpiredLinkError("this link has expired: sign up again to get a new one")
    return parsed


@dataclass(frozen=True)
class VoteToken:
    """What a valid vote link says: who votes how on which paper, and when it was issued."""

    subscriber_id: int
    version: int
    issued: int
    paper_id: str
    value: int  # +1 or -1


def make_vote_token(
    key: bytes, subscriber_id: int, version: int, issued: int, paper_id: str, value: int
) -> str:
    """A URL-safe token for one subscriber's vote on one paper."""
    paper = _b64(paper_id.encode("utf-8"))
    payload = _b64(f"vote:{subscriber_id}:{version}:{issued}:{value}:{paper}".encode("ascii"))
    return f"{payload}.{_mac(key, payload)}"


def read_vote_token(key: bytes, token: str, *, now: float, max_age: float) -> VoteToken:
    """The content of a genuine, unexpired vote token; else LinkError / ExpiredLinkError."""
    payload, _, mac = token.partition(".")
    if (
        not payload
        or len(token) > 400
        or not token.isascii()
        or not hmac.compare_digest(mac, _mac(key, payload))
    ):
        raise LinkError("this link is not valid: copy the whole link from the email")
    try:
        kind, ident, version, issued, value, paper = _unb64(payload).decode("ascii").split(":")
        parsed = VoteToken(
            int(ident), int(version), int(issued), _unb64(paper).decode("utf-8"), int(value)
        )
    except (ValueError, UnicodeDecodeError):
        raise LinkError("this link is damaged: copy the whole link from the email") from None
    if kind != "vote" or parsed.value not in (1, -1):
        raise LinkError("this link is not a vote link")
    if now - parsed.issued > max_age:
        raise ExpiredLinkError("this link has expired: use the links in a more recent digest")
    return parsed
