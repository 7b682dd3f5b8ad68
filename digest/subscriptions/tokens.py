"""Signed, purpose-bound tokens for the links in emails (confirm, unsubscribe, preferences).

A token names one subscriber, one purpose, the subscriber's token version (bumping it revokes
every older link) and when it was issued (so a purpose can expire). HMAC-SHA256 signs it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from digest.errors import ExpiredLinkError, LinkError

PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")


@dataclass(frozen=True)
class Token:
    """What a valid token says."""

    purpose: str
    subscriber: str  # the subscriber's public id
    version: int
    issued: int  # Unix seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:20])


def _genuine(key: bytes, token: str, payload: str, mac: str, longest: int) -> bool:
    """Whether a token is plain ASCII, not too long and signed by `key`."""
    if not payload or len(token) > longest or not token.isascii():
        return False  # non-ASCII would break the MAC comparison: a forged token, not a crash
    return hmac.compare_digest(mac, _mac(key, payload))


def _public_id(text: str) -> str:
    if not PUBLIC_ID.fullmatch(text):
        raise ValueError("not a public id")
    return text


def make_token(key: bytes, purpose: str, subscriber: str, version: int, issued: int = 0) -> str:
    """A URL-safe token for one subscriber (public id), purpose and token version."""
    payload = _b64(f"{purpose}:{subscriber}:{version}:{issued}".encode("ascii"))
    return f"{payload}.{_mac(key, payload)}"


def read_token(
    key: bytes, purpose: str, token: str, *, now: float | None = None, max_age: float | None = None
) -> Token:
    """The token's content if it is genuine, for `purpose` and not expired; else ValidationError."""
    payload, _, mac = token.partition(".")
    if not _genuine(key, token, payload, mac, 200):
        raise LinkError("this link is not valid: copy the whole link from the email")
    try:
        kind, ident, version, issued = _unb64(payload).decode("ascii").split(":")
        parsed = Token(kind, _public_id(ident), int(version), int(issued))
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

    subscriber: str  # the subscriber's public id
    version: int
    issued: int
    paper_id: str
    value: int  # +1 or -1


def make_vote_token(
    key: bytes, subscriber: str, version: int, issued: int, paper_id: str, value: int
) -> str:
    """A URL-safe token for one subscriber's vote on one paper."""
    paper = _b64(paper_id.encode("utf-8"))
    payload = _b64(f"vote:{subscriber}:{version}:{issued}:{value}:{paper}".encode("ascii"))
    return f"{payload}.{_mac(key, payload)}"


def read_vote_token(key: bytes, token: str, *, now: float, max_age: float) -> VoteToken:
    """The content of a genuine, unexpired vote token; else LinkError / ExpiredLinkError."""
    payload, _, mac = token.partition(".")
    if not _genuine(key, token, payload, mac, 400):
        raise LinkError("this link is not valid: copy the whole link from the email")
    try:
        kind, ident, version, issued, value, paper = _unb64(payload).decode("ascii").split(":")
        parsed = VoteToken(
            _public_id(ident), int(version), int(issued), _unb64(paper).decode("utf-8"), int(value)
        )
    except (ValueError, UnicodeDecodeError):
        raise LinkError("this link is damaged: copy the whole link from the email") from None
    if kind != "vote" or parsed.value not in (1, -1):
        raise LinkError("this link is not a vote link")
    if now - parsed.issued > max_age:
        raise ExpiredLinkError("this link has expired: use the links in a more recent digest")
    return parsed
