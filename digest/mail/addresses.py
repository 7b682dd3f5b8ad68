"""The addresses a list mail carries besides From: a per-message bounce address (VERP) and a
per-subscriber mailto: unsubscribe address, both signed so that mail to them is attributable.

    bounces+<delivery id>-<mac>@domain        envelope sender (Return-Path) of a digest
    unsubscribe+<subscriber>-<mac>@domain     List-Unsubscribe mailto: target

Local parts are lower case only (some servers fold case): the subscriber's public id is
written in base32. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

MAC_CHARS = 10


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, f"list-address:{text}".encode(), hashlib.sha256).hexdigest()[:MAC_CHARS]


def _tagged(kind: str, key: bytes, value: str, domain: str) -> str:
    return f"{kind}+{value}-{_mac(key, f'{kind}:{value}')}@{domain}"


def _read(kind: str, key: bytes, address: str) -> str | None:
    """The signed value of a `kind+value-mac@domain` address, or None."""
    local = address.strip().strip("<>").rpartition("@")[0].lower()
    prefix = f"{kind}+"
    if not local.startswith(prefix):
        return None
    value, _, mac = local[len(prefix) :].rpartition("-")
    if not value or not mac.isascii() or not hmac.compare_digest(mac, _mac(key, f"{kind}:{value}")):
        return None
    return value


def bounce_address(key: bytes, domain: str, delivery_id: int) -> str:
    """The envelope sender of one delivery: bounces to it name the delivery."""
    return _tagged("bounces", key, str(delivery_id), domain)


def read_bounce_address(key: bytes, address: str) -> int | None:
    """The delivery a bounce address names, or None when it is not a genuine one."""
    value = _read("bounces", key, address)
    return int(value) if value is not None and value.isdigit() else None


def _public_to_base32(public_id: str) -> str:
    return base64.b32encode(public_id.encode("ascii")).decode("ascii").rstrip("=").lower()


def _base32_to_public(text: str) -> str | None:
    try:
        return base64.b32decode(text.upper() + "=" * (-len(text) % 8)).decode("ascii")
    except (binascii.Error, ValueError):
        return None


def unsubscribe_address(key: bytes, domain: str, public_id: str) -> str:
    """The mailto: unsubscribe address of one subscriber."""
    return _tagged("unsubscribe", key, _public_to_base32(public_id), domain)


def read_unsubscribe_address(key: bytes, address: str) -> str | None:
    """The public id an unsubscribe address names, or None when it is not a genuine one."""
    value = _read("unsubscribe", key, address)
    return None if value is None else _base32_to_public(value)
