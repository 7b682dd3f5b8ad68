"""Characters no text the service stores or shows should hold, declared once: C0 and C1
controls (ESC, BEL, NUL, ...), the bidirectional controls that reorder what follows them
("Trojan Source": a title with U+202E reads backwards from there on), and lone surrogates
(what Python makes of bytes that are not UTF-8, or of a JSON "\\ud800": no database, email or
terminal takes them). Tabs and newlines are not among them."""

from __future__ import annotations

import re

BIDI_CONTROLS = frozenset(
    map(chr, (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)))
)
CONTROLS = frozenset(map(chr, (*range(0, 9), *range(11, 32), 127, *range(128, 160))))
_UNSAFE = re.compile(
    "[" + "".join(sorted(map(re.escape, CONTROLS | BIDI_CONTROLS))) + "\ud800-\udfff]"
)


_ASCII_CONTROLS = bytes(sorted(ord(c) for c in CONTROLS if c.isascii()))


def has_unsafe(text: str) -> bool:
    """True when `text` holds a control, bidirectional control or lone surrogate."""
    # fast passes in C first (every listing's text comes through here): ASCII text holds
    # only ASCII controls; isprintable() is false for all of them (and for tabs, newlines and
    # zero-width spaces), so the regular expression settles only what it leaves
    if text.isascii():
        raw = text.encode("ascii")
        return len(raw.translate(None, _ASCII_CONTROLS)) != len(raw)
    return not text.isprintable() and _UNSAFE.search(text) is not None


def without_unsafe(text: str, replacement: str = " ") -> str:
    """`text` with every control, bidirectional control and lone surrogate replaced (`text`
    itself, the same object, when it holds none)."""
    return _UNSAFE.sub(replacement, text) if has_unsafe(text) else text


# characters that show nothing but split a word for a program: a soft hyphen (hyphenation
# hints of a web page or a PDF: "quanti\u00adzation"), a zero-width space, a word joiner,
# a byte order mark inside text. Removed from listings and keywords, so that both spell
# a word as it is read.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u2060\ufeff"))


def without_invisible(text: str) -> str:
    """`text` without soft hyphens, zero-width spaces, word joiners and BOMs."""
    return text if text.isascii() else text.translate(_INVISIBLE)


def json_escaped(text: str) -> str:
    """JSON text with each such character written as a \\u escape (it reads back the same)."""
    return _UNSAFE.sub(lambda found: f"\\u{ord(found[0]):04x}", text)


def without_password(url: str) -> str:
    """The URL with the password of its user info replaced by asterisks, as it may be shown
    (a listing's or a database's address, in output, logs and errors)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo or "/" in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:********@{host}"
