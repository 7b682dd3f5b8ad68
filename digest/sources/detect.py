"""Tell which listing format a downloaded body is, by sniffing its first bytes.

Sniffing only chooses a parser; the parsers themselves still check every detail.
"""

from __future__ import annotations

import json
import re

from digest.errors import ParseError
from digest.models import SourceKind

HF_API, HF_PAGE = SourceKind.HF_API, SourceKind.HF_PAGE
ARXIV_RSS, ARXIV_ATOM, TEXT = SourceKind.ARXIV_RSS, SourceKind.ARXIV_ATOM, SourceKind.TEXT
KINDS = tuple(kind for kind in SourceKind if kind != SourceKind.AUTO)

_HEAD_BYTES = 4096
_BOMS = (b"\xef\xbb\xbf",)
_DAILY_PAPERS = re.compile(rb"""data-target\s*=\s*["']?DailyPapers["'\s>/]""")
_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_DECLARATION = re.compile(r"<\?.*?(?:\?>|$)", re.DOTALL)
_DOCTYPE = re.compile(r"<!DOCTYPE\s+([A-Za-z][\w:.-]*)", re.IGNORECASE)
_ROOT = re.compile(r"<([A-Za-z][\w:.-]*)(?=[\s/>])")
# arXiv's web pages (/list/cs.LG/new, /abs/...): people paste them for the feed they show
_ARXIV_PAGE = re.compile(rb"""id\s*=\s*["']?dlpage\b|<dl\s+id\s*=\s*["']?articles\b""")
_ARXIV_LIST = re.compile(rb"/list/([a-z-]{2,12}(?:\.[A-Za-z-]{2,8})?)/(?:new|recent|pastweek)\b")
_HTML_ROOTS = frozenset({"html", "head", "body", "div", "meta", "title", "script", "link", "main"})


def detect_kind(body: bytes, content_type: str | None = None) -> SourceKind:
    """Return "hf-api", "hf-page", "arxiv-rss", "arxiv-atom" or "text" for a listing body."""
    data = body
    for bom in _BOMS:
        data = data.removeprefix(bom)
    data = data.lstrip()
    mime = (content_type or "").split(";")[0].strip().lower()
    if not data:
        raise ParseError("the body is empty; check the URL, the HTTP status or the file")
    if data[:1] in (b"[", b"{") or mime.endswith("json"):
        kind = _json_kind(data, mime)
        if kind is not None:
            return kind
    if data[:1] == b"<":
        return _markup_kind(data, mime)
    if mime == "text/html":
        return _html_kind(data)
    if "xml" in mime:
        raise ParseError(
            f"the body is served as {mime} but is not XML (it starts with {_preview(data)}); "
            "check the URL"
        )
    return TEXT


def _json_kind(data: bytes, mime: str) -> SourceKind | None:
    """hf-api for a JSON array; ParseError for other JSON; None when it is not JSON at all."""
    try:
        value: object = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or JSON no listing sends
        if mime.endswith("json") or looks_like_json(data):
            raise ParseError(
                f"the body is not valid JSON (it starts with {_preview(data)}); "
                "check that the download was complete"
            ) from None
        return None
    if isinstance(value, list):
        return HF_API
    if isinstance(value, dict) and "error" in value:
        raise ParseError(
            f"the body is a JSON error answer: {' '.join(str(value['error']).split())[:200]}; "
            "check the URL and its query parameters"
        )
    kind = "object" if isinstance(value, dict) else type(value).__name__
    raise ParseError(
        f"the body is a JSON {kind}, not a Daily Papers array; "
        "check that the URL is the Daily Papers API (/api/daily_papers)"
    )


def looks_like_json(data: bytes) -> bool:
    """`[{`, `[]`, `["`, `{"` or `{}` at the start: JSON, however broken, not a text listing."""
    return re.match(rb"""[\[{]\s*[\[{"\]}]""", data[:64]) is not None


def _markup_kind(data: bytes, mime: str) -> SourceKind:
    head = data[:_HEAD_BYTES].decode("utf-8", errors="replace")
    declared_xml = head.startswith("<?xml")
    doctype = _DOCTYPE.search(head)
    if doctype and doctype.group(1).lower() == "html":
        return _html_kind(data)
    stripped = _DECLARATION.sub("", _COMMENT.sub("", head))
    stripped = re.sub(r"<!DOCTYPE[^>]*>", "", stripped, flags=re.IGNORECASE).lstrip()
    root = _ROOT.match(stripped)
    name = root.group(1) if root else ""
    local = name.rsplit(":", 1)[-1].lower()
    if local == "rss" or name == "rdf:RDF":
        return ARXIV_RSS
    if local == "feed":
        return ARXIV_ATOM
    if local in _HTML_ROOTS or mime in ("text/html", "application/xhtml+xml"):
        return _html_kind(data)
    if declared_xml or "xml" in mime:
        what = f"root element <{name}>" if name else "no root element"
        raise ParseError(
            f"the body is XML with {what}, not an RSS or Atom feed; "
            "check that the URL is an arXiv feed (rss.arxiv.org) or API query"
        )
    return TEXT


def _html_kind(data: bytes) -> SourceKind:
    if _DAILY_PAPERS.search(data):
        return HF_PAGE
    if _ARXIV_PAGE.search(data):
        listed = _ARXIV_LIST.search(data)
        category = listed.group(1).decode() if listed else "cs.LG"
        raise ParseError(
            "the body is a page of arxiv.org's web site, not a feed; for a category's new "
            f"papers use its feed, https://rss.arxiv.org/rss/{category}"
        )
    raise ParseError(
        'the body is an HTML page without a data-target="DailyPapers" element; '
        "check that it is a Daily Papers page (/papers...) and not an error or login page"
    )


def _preview(data: bytes) -> str:
    return repr(data[:20].decode("utf-8", errors="replace"))
