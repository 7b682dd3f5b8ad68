"""Signed, purpose-bound tokens for the links in every digest (unsubscribe, preferences)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from digest.errors import ValidationError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:20])


def make_token(key: bytes, purpose: str, subscriber_id: int, version: int) -> str:
    """A URL-safe token naming one subscriber, one purpose and their token version."""
    payload = _b64(f"{purpose}:{subscriber_id}:{version}".encode("ascii"))
    return f"{payload}.{_mac(key, payload)}"


def read_token(key: bytes, purpose: str, token: str) -> tuple[int, int]:
    """(subscriber id, token version) from a token signed for `purpose`; else ValidationError."""
    payload, _, mac = token.partition(".")
    if not payload or not hmac.compare_digest(mac, _mac(key, payload)):
        raise ValidationError("this link is not valid: request a new one from a recent digest")
    try:
        kind, ident, version = _unb64(payload).decode("ascii").split(":")
        parsed = (int(ident), int(version))
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("this link is damaged: copy the whole link from the email") from None
    if kind != purpose:
        raise ValidationError(f"this link is not a {purpose} link")
    return parsed
