"""The addresses a list mail carries besides From: a per-message bounce address (VERP) and a
per-subscriber mailto: unsubscribe address, both signed so that mail to them is attributable.

    bounces+<delivery id>-<mac>@domain        envelope sender (Return-Path) of a digest
    bounces+s<subscriber>-<version>-<mac>@domain   of a mail about a subscription (notice)
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


def notice_bounce_address(key: bytes, domain: str, public_id: str, version: int) -> str:
    """The envelope sender of a mail about one subscription sent to its own address (a
    confirmation, a reminder of its settings): bounces to it name the subscription, as it
    was at that token version (a move changes it)."""
    return _tagged("bounces", key, f"s{_public_to_base32(public_id)}-{version}", domain)


def read_notice_bounce(key: bytes, address: str) -> tuple[str, int] | None:
    """(public id, token version) a notice's bounce address names, or None."""
    value = _read("bounces", key, address)
    if value is None or not value.startswith("s"):
        return None
    encoded, _, version = value[1:].rpartition("-")
    public_id = _base32_to_public(encoded)
    return None if public_id is None or not version.isdigit() else (public_id, int(version))


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
