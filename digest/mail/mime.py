"""A fast writer for the one kind of email the service sends: multipart/alternative, text and
HTML in UTF-8, each part sent as it is (7bit) when it is ASCII with short lines, else in
quoted-printable. The HTML part writes non-ASCII characters as character references, so it
is nearly always 7bit: no encoding to pay for, and no "=3D" in every attribute.

The standard library's email package builds and serialises such a message in about 8 ms;
this writes the same bytes in well under one, which matters at 100,000 digests a run.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Sequence
from email.header import Header
from email.utils import formataddr, parseaddr
from functools import lru_cache

import idna

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


class AddressError(ValueError):
    """An address that cannot be written into a message (its domain is not a valid IDN)."""


def idna_ascii(domain: str) -> str:
    """The ASCII (IDNA, UTS 46 mapped) form of an internationalised domain; idna.IDNAError
    when it has none. The one rule for mail and for the settings that check domains."""
    return idna.encode(domain, uts46=True).decode("ascii")


def ascii_domain(address: str) -> str:
    """The address with an internationalised domain in its ASCII (IDNA) form."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{idna_ascii(domain)}"
    except idna.IDNAError as exc:
        raise AddressError(f"cannot write the domain of {address!r}: {exc}") from None


# user@host with nothing around it (no display name, quotes, comments or spaces)
PLAIN_ADDRESS = re.compile(r"[^\s<>\"(),:;\[\]\\]+@[^\s<>\"(),:;\[\]\\@]+")


@lru_cache(maxsize=64)  # the From address is the same in every message
def address_value(value: str) -> str:
    """An address header (`Name <a@b>`): the display name RFC 2047-encoded when not ASCII,
    the domain in IDNA form; a non-ASCII local part stays UTF-8 (RFC 6532, needs SMTPUTF8)."""
    cleaned = clean(value)
    name, address = _mailbox(cleaned)
    if not address:
        return cleaned
    address = ascii_domain(address)
    if not name:
        return address
    if address.isascii():
        return formataddr((name, address), charset="utf-8")
    return f"{header_value(name)} <{address}>"


@lru_cache(maxsize=4096)
def envelope_address(value: str) -> str:
    """The bare address of `Name <a@b>`, for SMTP MAIL FROM / RCPT TO (domain in IDNA)."""
    cleaned = clean(value)
    return ascii_domain(_mailbox(cleaned)[1] or cleaned)


def _mailbox(value: str) -> tuple[str, str]:
    """(display name, address) of a header value; a bare user@host needs no parsing."""
    return ("", value) if PLAIN_ADDRESS.fullmatch(value) else parseaddr(value)


def needs_smtputf8(*addresses: str) -> bool:
    """Whether an envelope with these addresses can only go through an SMTPUTF8 server."""
    return not all(address.isascii() for address in addresses)


LONGEST_LINE = 998  # octets, RFC 5322; CR and NUL may not stand alone in a 7bit body


def _part(text: str, html: bool, pieces: Sequence[str] = ()) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, body with CRLF line ends): 7bit when ASCII with lines of
    at most 998 octets, else quoted-printable UTF-8 (from `pieces`, which join to `text`,
    when given)."""
    # the test first: looking for a two-character string in a non-ASCII str is slow (~20 us
    # for a digest's HTML), looking for one character is not, and templates write "\n"
    has_cr = "\r" in text
    body = text.replace("\r\n", "\n") if has_cr else text
    if html:  # a character reference means the same as the character in HTML
        plain = body.encode("ascii", "xmlcharrefreplace")
    elif body.isascii():
        plain = body.encode("ascii")
    else:
        plain = b""
    if plain and b"\r" not in plain and b"\0" not in plain and _short_lines(plain):
        return b"7bit", plain.replace(b"\n", CRLF)
    if pieces and not has_cr:  # (with a CR, the whole text: line ends were changed)
        return b"quoted-printable", quoted_printable(pieces)
    return b"quoted-printable", _qp_lines(body)


def _short_lines(data: bytes) -> bool:
    """Whether no line of `data` (LF line ends) is longer than LONGEST_LINE octets: a window
    of that many octets and one more after each line start seen holds a line end, else
    that line is too long (a few look-ups a message, where splitting it made 300 lines)."""
    start = 0
    while len(data) - start > LONGEST_LINE:
        end = data.rfind(b"\n", start, start + LONGEST_LINE + 1)
        if end < 0:
            return False
        start = end + 1
    return True


QP_KEPT = 512  # a text piece this long is encoded once and kept: a paper's text, in the end


def quoted_printable(pieces: Sequence[str]) -> bytes:
    """The text joined from `pieces` (LF line ends) in quoted-printable UTF-8, CRLF line ends.

    Encoding is line by line, so a long piece's whole lines are encoded once and kept:
    a paper's text is the same in every digest that has it (only the lines it shares with a
    reader's parts, its first and last, are encoded each time). The bytes are exactly what
    encoding the joined text gives."""
    out: list[bytes] = []
    run: list[str] = []  # text since the last kept lines, not yet encoded
    for piece in pieces:
        if len(piece) >= QP_KEPT and "\n" in piece:
            head, lines, tail = _qp_piece(piece)
            run.append(head)
            out.append(_qp_lines("".join(run)))
            if lines is not None:
                out.append(lines)
            run = [tail]
        else:
            run.append(piece)
    out.append(_qp_lines("".join(run)))
    return CRLF.join(out)


@lru_cache(maxsize=4096)
def _qp_piece(piece: str) -> tuple[str, bytes | None, str]:
    """A piece with a line end, cut at its first and last: (text before, the whole lines
    between them encoded or None when there is one line end, text after)."""
    head, _, rest = piece.partition("\n")
    lines, newline, tail = rest.rpartition("\n")
    return head, (_qp_lines(lines) if newline else None), tail


def _qp_lines(text: str) -> bytes:
    """Lines (no line end after the last) in quoted-printable UTF-8, CRLF line ends."""
    plain = _plain_qp(text)
    if plain is not None:
        return plain
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\n", CRLF)


QP_WIDTH = 76  # octets of an encoded line, its soft line break included (RFC 2045)


def _plain_qp(text: str) -> bytes | None:
    """What b2a_qp makes of text that only needs its "=" escaped and its long lines broken
    (ASCII, no tab, CR or space before a line end, no line of a lone "."), or None for other
    text. The readers' own lines of a digest (vote links, reasons, titles) are such text;
    b2a_qp looks at every character and costs twice as much."""
    if not text.isascii() or "\t" in text or "\r" in text or " \n" in text or text[-1:] == " ":
        return None
    out = []
    for line in text.split("\n"):
        if "=" in line:
            line = line.replace("=", "=3D")
            if len(line) >= QP_WIDTH:  # where b2a_qp breaks it depends on where the escapes are
                return None
        elif len(line) > QP_WIDTH:  # 75 characters and "=" a line while more than 76 remain
            last = (len(line) - 2) // (QP_WIDTH - 1) * (QP_WIDTH - 1)  # where the rest fits
            cut = range(0, last, QP_WIDTH - 1)
            line = "=\r\n".join([*(line[i : i + QP_WIDTH - 1] for i in cut), line[last:]])
        elif line == ".":
            return None
        out.append(line)
    return "\r\n".join(out).encode("ascii")


def multipart_alternative(
    headers: list[tuple[str, str]], text: str, html: str, text_pieces: Sequence[str] = ()
) -> bytes:
    """The whole message: `headers` (values already safe), then the text and HTML parts
    (`text_pieces`, if given, join to `text`: see quoted_printable)."""
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
    ]
    head = "\r\n".join(lines).encode("utf-8") + CRLF  # UTF-8 only in a non-ASCII address
    text_cte, text_body = _part(text, html=False, pieces=text_pieces)
    html_cte, html_body = _part(html, html=True)
    delimiter = f"--{boundary}".encode()
    return CRLF.join(
        [
            head + b"Content-Transfer-Encoding: " + text_cte,
            b"",
            text_body,
            delimiter,
            b'Content-Type: text/html; charset="utf-8"',
            b"Content-Transfer-Encoding: " + html_cte,
            b"",
            html_body,
            delimiter + b"--",
            b"",
        ]
    )
