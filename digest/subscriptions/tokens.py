"""Signed, purpose-bound tokens for the links in emails (confirm, unsubscribe, preferences,
archive, feed, votes, a move to another address).

A token is `v3.<body>.<mac>`: the body in URL-safe base64 and a 128-bit keyed BLAKE2b MAC
of it, under a key derived for its purpose only (a preferences token can never pass as a
vote). Links of earlier emails are still read: `v2.` (the same with HMAC-SHA256, twice the
cost) and the itsdangerous format before it.

A token names one subscriber (by public id), the subscriber's token version (bumping it
revokes older links) and when it was issued; a move token also names the new address, a
vote token the paper. A vote token's two links ("more" and "less like this") share the
token and differ in their last path segment: both go to the same reader, so signing the
direction would protect nothing, and a digest signs ten tokens fewer. (A `v2.` vote token
of earlier emails names the direction itself.)
Expiry is checked against the `now` the caller passes (never against the clock of the
machine), and is checked whenever a purpose expires.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from digest.errors import ExpiredLinkError, LinkError

PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")
LONGEST = 512  # characters: anything longer is not one of ours (a move names an address)


@dataclass(frozen=True)
class Token:
    """What a valid token says."""

    purpose: str
    subscriber: str  # the subscriber's public id
    version: int
    issued: int  # Unix seconds


@dataclass(frozen=True)
class VoteToken:
    """What a valid vote link says: who votes how on which paper, and when it was issued."""

    subscriber: str  # the subscriber's public id
    version: int
    issued: int
    paper_id: str
    value: int  # +1 or -1


@dataclass(frozen=True)
class MoveToken:
    """What a valid move link says: which subscription goes to which address, since when."""

    subscriber: str  # the subscriber's public id
    version: int
    issued: int
    email: str
    back: bool = False  # an undo link: it takes a moved subscription back to where it was


@functools.lru_cache(maxsize=64)  # deriving the key is half the cost of a token
def _serializer(key: bytes, purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(
        key, salt=f"papers-digest {purpose}", signer_kwargs={"digest_method": hashlib.sha256}
    )


def _load(key: bytes, purpose: str, token: str) -> list[Any]:
    """The signed payload of a token for `purpose` (either format), or LinkError."""
    if not token or len(token) > LONGEST or not token.isascii():
        raise LinkError("this link is not valid: copy the whole link from the email")
    if token.startswith(FORMATS):
        return _verified(key, purpose, token).split(".", 3)
    try:
        _unb64(token.rsplit(".", 1)[-1])  # itsdangerous, too, reads any spelling of a MAC
        payload = _serializer(key, purpose).loads(token)
    except (BadSignature, ValueError, binascii.Error):
        raise LinkError(
            f"this link is not a valid {purpose} link: copy the whole link from the email"
        ) from None
    if not isinstance(payload, list):
        raise LinkError("this link is damaged: copy the whole link from the email")
    return payload


def _expired(issued: int, now: float, max_age: float) -> bool:
    return now - issued > max_age


def make_token(key: bytes, purpose: str, subscriber: str, version: int, issued: int = 0) -> str:
    """A URL-safe token for one subscriber (public id), purpose and token version."""
    return _signed(key, purpose, f"{subscriber}.{version}.{issued}")


def read_token(
    key: bytes, purpose: str, token: str, *, now: float, max_age: float | None = None
) -> Token:
    """The token's content if it is genuine, for `purpose` and not expired; else LinkError."""
    payload = _load(key, purpose, token)
    try:
        subscriber, version, issued = payload
        parsed = Token(purpose, _public_id(subscriber), int(version), int(issued))
    except (ValueError, TypeError):
        raise LinkError("this link is damaged: copy the whole link from the email") from None
    if max_age is not None and _expired(parsed.issued, now, max_age):
        raise ExpiredLinkError("this link has expired: sign up again to get a new one")
    return parsed


FORMAT = "v3."  # what is written; FORMATS: what is read
FORMATS = (FORMAT, "v2.")
MAC_BYTES = 16


@functools.lru_cache(maxsize=64)
def _purpose_key(key: bytes, purpose: str) -> bytes:
    return hashlib.sha256(f"papers-digest {purpose}\0".encode() + key).digest()


@functools.lru_cache(maxsize=64)
def _mac_state(key: bytes, purpose: str) -> hmac.HMAC:
    # the keyed state is set up once and copied per token: a third of an HMAC's cost, and
    # a digest has two dozen tokens
    return hmac.new(_purpose_key(key, purpose), digestmod="sha256")


def _mac(key: bytes, purpose: str, data: bytes, form: str = FORMAT) -> bytes:
    """The MAC of `data` for `purpose` in token format `form`."""
    if form == FORMAT:
        return hashlib.blake2b(data, key=_purpose_key(key, purpose), digest_size=MAC_BYTES).digest()
    state = _mac_state(key, purpose).copy()
    state.update(data)
    return state.digest()[:MAC_BYTES]


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    # what urlsafe_b64encode gives, without its Python layers: a digest has a dozen tokens
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """The bytes `text` spells, refusing any other spelling than `_b64`'s: the decoder
    ignores a last character's unused bits, so one MAC had several valid spellings."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise binascii.Error("not the canonical spelling")
    return data


def _signed(key: bytes, purpose: str, body: str) -> str:
    """`v3.<body>.<mac>` for `purpose`."""
    data = body.encode()
    mac = _mac(key, purpose, data)
    return f"{FORMAT}{_b64(data)}.{_b64(mac)}"


def _verified(key: bytes, purpose: str, token: str) -> str:
    """The body of a genuine `v3.` or `v2.` token for `purpose`, or LinkError."""
    form = token[: len(FORMAT)]
    try:
        body_text, mac_text = token[len(form) :].split(".")
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, binascii.Error):
        raise LinkError("this link is damaged: copy the whole link from the email") from None
    expected = _mac(key, purpose, body, form)
    if not hmac.compare_digest(mac, expected):
        raise LinkError(
            f"this link is not a valid {purpose} link: copy the whole link from the email"
        )
    return body.decode("utf-8", "replace")


VOTE = "paper vote"  # the purpose of a vote token; "vote": earlier tokens with the direction


def make_vote_token(key: bytes, subscriber: str, version: int, issued: int, paper_id: str) -> str:
    """A URL-safe token for one subscriber's votes on one paper (the link adds the direction)."""
    return _signed(key, VOTE, f"{subscriber}.{version}.{issued}.{paper_id}")


def _vote_payload(key: bytes, token: str, value: int | None) -> list[Any]:
    """[subscriber, version, issued, paper id, value] of a genuine vote token: a current one
    with the link's `value`, or (value None) one of earlier emails, which names its own."""
    if value is not None:
        return [*_load(key, VOTE, token), value]
    if not token.startswith(FORMATS):
        return _load(key, "vote", token)
    subscriber, version, issued, rest = _load(key, "vote", token)
    return [subscriber, version, issued, rest[1:], 1 if rest[:1] == "+" else -1]


def read_vote_token(
    key: bytes, token: str, *, now: float, max_age: float, value: int | None = None
) -> VoteToken:
    """The content of a genuine, unexpired vote token (`value`: the direction its link
    names; None for a link of earlier emails); else LinkError / ExpiredLinkError."""
    payload = _vote_payload(key, token, value)
    try:
        subscriber, version, issued, paper_id, value = payload
        parsed = VoteToken(_public_id(subscriber), int(version), int(issued), str(paper_id), value)
    except (ValueError, TypeError):
        raise LinkError("this link is damaged: copy the whole link from the email") from None
    if parsed.value not in (1, -1):
        raise LinkError("this link is not a vote link")
    if _expired(parsed.issued, now, max_age):
        raise ExpiredLinkError("this link has expired: use the links in a more recent digest")
    return parsed


MOVE = "address move"  # the purpose of a link that moves a subscription to a new address
MOVE_BACK = "address move back"  # of the link that undoes a move, mailed to the old address


def make_move_token(
    key: bytes, subscriber: str, version: int, issued: int, email: str, *, back: bool = False
) -> str:
    """A URL-safe token that moves one subscription to `email` (sent to that address)."""
    return _signed(key, MOVE_BACK if back else MOVE, f"{subscriber}.{version}.{issued}.{email}")


def read_move_token(
    key: bytes, token: str, *, now: float, max_age: float, back: bool = False
) -> MoveToken:
    """The content of a genuine, unexpired move token (an undo link's when `back`); else
    LinkError / ExpiredLinkError."""
    if not token.startswith(FORMAT):  # no earlier format ever made one
        raise LinkError("this link is not valid: copy the whole link from the email")
    try:
        subscriber, version, issued, email = _load(key, MOVE_BACK if back else MOVE, token)
        parsed = MoveToken(_public_id(subscriber), int(version), int(issued), str(email), back)
    except (ValueError, TypeError):
        raise LinkError("this link is damaged: copy the whole link from the email") from None
    if _expired(parsed.issued, now, max_age):
        raise ExpiredLinkError("this link has expired: ask for a new one on your preferences page")
    return parsed


def _public_id(value: object) -> str:
    if not isinstance(value, str) or not PUBLIC_ID.fullmatch(value):
        raise ValueError("not a public id")
    return value
