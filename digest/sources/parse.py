"""Choosing the parser of a listing: by its named kind, or by sniffing the body."""

from __future__ import annotations

from datetime import date

from digest.errors import ParseError
from digest.models import SourceKind
from digest.sources.arxiv import parse_arxiv_feed
from digest.sources.base import Listing
from digest.sources.detect import KINDS, detect_kind
from digest.sources.files import decode
from digest.sources.hf import parse_hf_api, parse_hf_page
from digest.sources.text import parse_text

AUTO = SourceKind.AUTO
_MIME_FAMILIES = {
    "hf-api": ("json",),
    "hf-page": ("html",),
    "arxiv-rss": ("xml", "rss"),
    "arxiv-atom": ("xml", "atom"),
    "text": ("text/plain",),
}
_GENERIC_MIMES = ("", "application/octet-stream", "binary/octet-stream")


def check_content_type(kind: str, content_type: str | None, source: str) -> None:
    """ParseError when the server labels the body as something this kind can never be."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in _GENERIC_MIMES or kind not in _MIME_FAMILIES:
        return
    if not any(family in mime for family in _MIME_FAMILIES[kind]):
        raise ParseError(
            f"{source}: served as {mime}, which a listing of kind {kind} never is; "
            "check the URL or the source's kind"
        )


def parse_body(
    kind: str, body: bytes, source: str, today: date, content_type: str | None = None
) -> Listing:
    """Parse a listing of `kind` ("auto" sniffs the body); `today` dates yearless text listings."""
    if kind == AUTO:
        kind = detect_kind(body, content_type)
    elif kind not in KINDS:
        raise ParseError(f"unknown source kind {kind!r}: use one of auto, {', '.join(KINDS)}")
    else:
        check_content_type(kind, content_type, source)
    if kind == "hf-api":
        return parse_hf_api(body, source)
    if kind == "hf-page":
        return parse_hf_page(body, source)
    if kind in ("arxiv-rss", "arxiv-atom"):
        return parse_arxiv_feed(body, source)
    return parse_text(decode(body, source), source, today)
