"""A fast writer for the one kind of email the service sends: multipart/alternative, text and
HTML in quoted-printable UTF-8.

The standard library's email package builds and serialises such a message in about 8 ms;
this writes the same bytes in well under one, which matters at 100,000 digests a run.
"""

from __future__ import annotations

import binascii
import hashlib
from email.header import Header
from email.utils import formataddr, parseaddr
from functools import lru_cache

CRLF = b"\r\n"


def clean(value: str) -> str:
    """One header line: CR, LF and other control characters become spaces."""
    if value.isprintable():
        return " ".join(value.split())
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def header_value(value: str) -> str:
    """A header value, RFC 2047-encoded (and folded) when it is not plain ASCII."""
    value = clean(value)
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


@lru_cache(maxsize=4096)
def address_value(value: str) -> str:
    """An address header (`Name <a@b>`), its display name encoded when not ASCII."""
    name, address = parseaddr(clean(value))
    if not name:
        return address or clean(value)
    return formataddr((name, address), charset="utf-8")


@lru_cache(maxsize=4096)
def envelope_address(value: str) -> str:
    """The bare address of `Name <a@b>`, for SMTP MAIL FROM / RCPT TO."""
    return parseaddr(clean(value))[1] or clean(value)


def _quoted_printable(text: str) -> bytes:
    body = text.replace("\r\n", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(body, quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", CRLF)


def multipart_alternative(headers: list[tuple[str, str]], text: str, html: str) -> bytes:
    """The whole message: `headers` (values already safe), then the text and HTML parts."""
    boundary = (
        "=_"
        + hashlib.sha1("".join(v for _, v in headers).encode("utf-8", "replace")).hexdigest()[:28]
    )
    lines = [f"{name}: {value}" for name, value in headers]
    lines += [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
    ]
    head = "\r\n".join(lines).encode("ascii") + CRLF
    middle = CRLF.join(
        [
            b"",
            f"--{boundary}".encode(),
            b'Content-Type: text/html; charset="utf-8"',
            b"Content-Transfer-Encoding: quoted-printable",
            b"",
            b"",
        ]
    )
    tail = CRLF + f"--{boundary}--".encode() + CRLF
    return head + _quoted_printable(text) + middle + _quoted_printable(html) + tail
