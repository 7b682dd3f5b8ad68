"""Templates rendered once with slots where a reader's own parts go, then filled per reader.

A digest, a paper within it and the line saying why a reader got that paper read the same for
every reader but for a few values (links, keywords, an address). Rendering the templates with
a slot in place of each such value, once per shape, and joining the reader's values into the
pieces afterwards gives the same text as rendering whole, at a fraction of the cost. A slot is
"\\x01name\\x01": templates never write \\x01, and filled-in values are never read for slots
again, so no value can reach into another's place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from markupsafe import escape

_SLOT = re.compile("(\x01[a-z_0-9]+\x01)")


def slot(name: str) -> str:
    """The stand-in for value `name` in a skeleton (names: lower case, digits, _)."""
    return f"\x01{name}\x01"


class Pieces(NamedTuple):
    """A rendered html and text, each cut into fixed text and slots."""

    html: tuple[str, ...]
    text: tuple[str, ...]


def ascii_html(html: str) -> str:
    """The html with each non-ASCII character as a character reference, which means the same:
    a digest joined from ASCII pieces becomes mail by a copy, not character by character."""
    return html if html.isascii() else html.encode("ascii", "xmlcharrefreplace").decode("ascii")


_HTML_SPECIAL = re.compile("[&<>\"']")  # what escape() rewrites


def html_text(value: str) -> str:
    """`value` as ASCII html text: escaped, non-ASCII as character references. Most values
    (links, keywords, titles) need neither, and are returned as they are."""
    if value.isascii() and _HTML_SPECIAL.search(value) is None:
        return value
    return ascii_html(escape(value))


def cut(html: str, text: str) -> Pieces:
    """The pieces of an html (made ASCII) and a text rendered with slots."""
    return Pieces(tuple(_SLOT.split(ascii_html(html))), tuple(_SLOT.split(text)))


def fill(
    pieces: Pieces,
    values: Mapping[str, str],
    html_only: Mapping[str, str] = {},  # noqa: B006 - read, never changed
    text_only: Mapping[str, str] = {},  # noqa: B006
) -> tuple[str, str]:
    """(html, text) with the slots filled: `values` in both (escaped in the html), and
    `html_only` (already safe html) and `text_only` in one each; keys are slot(name)."""
    text_values = {**values, **text_only} if text_only else values
    return fill_html(pieces.html, values, html_only), "".join(fill_text(pieces.text, text_values))


def fill_html(
    html: Sequence[str],
    values: Mapping[str, str],
    html_only: Mapping[str, str] = {},  # noqa: B006 - read, never changed
) -> str:
    """The html with the slots filled: `values` escaped, `html_only` (safe html) as it is;
    both made ASCII."""
    html_values = {key: html_text(value) for key, value in values.items()}
    html_values.update((key, ascii_html(value)) for key, value in html_only.items())
    return "".join([html_values.get(piece, piece) for piece in html])


def fill_text(
    text: Sequence[str],
    values: Mapping[str, str],
    spliced: Mapping[str, Sequence[str]] = {},  # noqa: B006 - read, never changed
) -> list[str]:
    """The text's pieces with the slots filled: `values` in place, and `spliced` slots by
    several pieces each (kept apart, so that what follows can tell a paper's text, the same
    in every digest, from a reader's own parts)."""
    if not spliced:
        return [values.get(piece, piece) for piece in text]
    out: list[str] = []
    for piece in text:
        several = spliced.get(piece)
        if several is None:
            out.append(values.get(piece, piece))
        else:
            out.extend(several)
    return out
