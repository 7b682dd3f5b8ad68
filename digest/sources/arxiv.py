"""Parse arXiv listings: RSS 2.0 and Atom feeds from rss.arxiv.org and the query API's Atom.

Replacements (`replace`, `replace-cross`) are old papers. They stay in the Listing with their
announce_type set, and `ingest.identity.is_replacement` keeps ingest from creating papers
of them.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser  # type: ignore[import-untyped]

from digest.errors import ParseError
from digest.sources.base import (
    Listing,
    PaperRecord,
    collapse_whitespace,
    find_arxiv_id,
    paper_record,
    strip_version,
)

ARXIV_ABS_URL = "https://arxiv.org/abs/{}"
MAX_PROBLEMS = 20

# "arXiv:2605.05242v1 Announce Type: new \nAbstract: ..." (every part optional).
_PREAMBLE = re.compile(
    r"^\s*(?:arXiv:\s*(?P<id>\S+)\s+)?(?:Announce\s+Type:\s*(?P<type>[\w-]+)\s*)?(?:Abstract:\s*)?",
    re.IGNORECASE,
)
# Old feeds ended titles with "(arXiv:2605.05242v1 [cs.LG] UPDATED)".
_TITLE_SUFFIX = re.compile(r"\s*\(arXiv:\S+\s*\[[^\]]*\](?:\s*[A-Z]+)?\)\s*$")
_HTML_TAG = re.compile(r"</?(?:p|a|br|i|b|em|strong|sub|sup|div|span)\b[^>]*>", re.IGNORECASE)
# a block tag separates words; an inline one sits inside them ("<em>works</em>.", "x<sup>2</sup>")
_BLOCK_TAG = re.compile(r"</?(?:p|br|div)\b[^>]*>", re.IGNORECASE)
_AND = re.compile(r"^and\s+|\s+and\s+|\s+and$")
_SAX_POSITION = re.compile(r"^<[^>]*>:(\d+):(\d+):\s*")
_BENIGN_BOZO = ("CharacterEncodingOverride", "NonXMLContentType")

# LaTeX text-mode accents as they appear in arXiv author lists and titles: Tom\'as, Pi\v{z}urica.
_ACCENTS = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
    "r": "\u030a",
}
_SYMBOL_ACCENT = re.compile(
    r"\{\\([`'^\"~=.])\s*(\\i|[A-Za-z])\}|\\([`'^\"~=.])\s*(?:\{(\\i|[A-Za-z])\}|(\\i|[A-Za-z]))"
)
_LETTER_ACCENT = re.compile(
    r"\{\\([uvHckr])(?:\{(\\i|[A-Za-z])\}|\s+([A-Za-z]))\}"
    r"|\\([uvHckr])(?:\{(\\i|[A-Za-z])\}|\s+([A-Za-z]))"
)
_LETTERS = {"ss": "ß", "o": "ø", "O": "Ø", "l": "ł", "L": "Ł", "ae": "æ", "AE": "Æ", "aa": "å"}
_LETTER = re.compile(r"\{\\(ss|o|O|l|L|ae|AE|aa)\}|\\(ss|o|O|l|L|ae|AE|aa)(?![A-Za-z])")


_NUMERIC_REFERENCE = re.compile(rb"&#([xX][0-9a-fA-F]{1,16}|[0-9]{1,20});")


def _no_impossible_character(match: re.Match[bytes]) -> bytes:
    """A character reference to a surrogate or past U+10FFFF, as U+FFFD: feedparser's loose
    parser (used on a feed that is not well-formed) raises UnicodeEncodeError on one."""
    digits = match[1]
    value = int(digits[1:], 16) if digits[:1] in (b"x", b"X") else int(digits)
    return b"&#xFFFD;" if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF else match[0]


def parse_arxiv_feed(body: str | bytes, source: str) -> Listing:
    """Parse an arXiv RSS 2.0 or Atom feed, or a query API answer, into a Listing."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    data = _NUMERIC_REFERENCE.sub(_no_impossible_character, data)
    # A stream, never a str or bytes: feedparser would fetch a URL or open a file path.
    try:
        parsed = feedparser.parse(
            io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False
        )
    except (ValueError, LookupError) as exc:  # feedparser's own failures on damaged bytes
        raise ParseError(
            f"{source}: not a feed that can be read ({type(exc).__name__} in the feed parser); "
            "check that the download was complete and is an arXiv feed"
        ) from None
    version: str = parsed.get("version") or ""
    # Plain dicts: FeedParserDict's key aliases (updated -> published) would blur the dates.
    entries: list[dict[str, Any]] = [dict(e) for e in parsed.get("entries") or []]
    problem = _bozo_problem(parsed)
    if not version:
        detail = f" (XML parser: {problem})" if problem else ""
        raise ParseError(
            f"{source}: not an RSS or Atom feed{detail}; "
            "check that the URL is an arXiv feed (rss.arxiv.org) or API query (export.arxiv.org)"
        )
    if problem and not entries:
        raise ParseError(
            f"{source}: the feed is not well-formed XML ({problem}); "
            "check that the download was complete and is an arXiv feed"
        )
    feed: dict[str, Any] = dict(parsed.get("feed") or {})
    feed_title = collapse_whitespace(str(feed.get("title") or ""))
    if feed_title.lower().startswith("feed error for query"):
        raise ParseError(f"{source}: arXiv answered '{feed_title}'; check the category names")
    is_rss = version.startswith("rss")
    records: list[PaperRecord] = []
    problems = (
        [f"feed is not well-formed XML ({problem}); kept what could be read"] if problem else []
    )
    bad = 0
    for position, entry in enumerate(entries):
        _raise_api_error(entry, source)
        try:
            records.append(arxiv_entry_to_record(entry, position, is_rss=is_rss))
        except ParseError as exc:
            bad += 1
            if bad <= MAX_PROBLEMS:
                problems.append(f"entry {position}: {exc}")
    if entries and not records:
        reason = problems[-1] if bad else "no usable entries"
        raise ParseError(
            f"{source}: none of the {len(entries)} entries is an arXiv paper ({reason}); "
            "check that this is an arXiv feed"
        )
    if bad > MAX_PROBLEMS:
        problems.append(f"... and {bad - MAX_PROBLEMS} more bad entries")
    # RSS channels carry the announcement date; an Atom feed's <updated> is its build time.
    feed_date = _date(feed.get("published")) or _date(feed.get("updated"))
    if not is_rss:
        feed_date = _latest_date(records) or feed_date
    return Listing(
        source=source,
        records=records,
        bad_records=bad,
        listing_date=feed_date,
        problems=problems,
    )


def arxiv_entry_to_record(entry: Mapping[str, Any], position: int, *, is_rss: bool) -> PaperRecord:
    """Turn one feedparser entry into a PaperRecord; raise ParseError saying why if unusable."""
    raw_summary = _strip_html(str(entry.get("summary") or ""))
    preamble = _PREAMBLE.match(raw_summary)
    arxiv_id = _entry_id(entry, preamble.group("id") if preamble else None)
    if arxiv_id is None:
        raise ParseError("no arXiv id in the guid/id, link or description")
    title = _TITLE_SUFFIX.sub("", latex_accents(collapse_whitespace(str(entry.get("title") or ""))))
    if not title:
        raise ParseError(f"{arxiv_id}: title missing")
    announce = collapse_whitespace(str(entry.get("arxiv_announce_type") or "")).lower()
    if not announce and preamble and preamble.group("type"):
        announce = preamble.group("type").lower()
    abstract = raw_summary[preamble.end() :] if preamble else raw_summary
    authors = _authors(entry)
    published = _date(entry.get("published"))
    updated = _date(entry.get("updated"))
    return paper_record(
        title=title,
        abstract=latex_accents(collapse_whitespace(abstract)),
        arxiv_id=arxiv_id,
        authors=authors,
        author_count=len(authors) if authors else None,
        published=published or updated,
        listing_date=(published or updated) if is_rss else (updated or published),
        url=ARXIV_ABS_URL.format(arxiv_id),
        categories=_categories(entry),
        announce_type=announce or None,
        position=position,
    )


def split_authors(text: str) -> list[str]:
    """Split an arXiv author string ("A, B and C", dc:creator style) into single names."""
    names: list[str] = []
    for part in _split_outside_brackets(_strip_html(text)):
        for name in _AND.split(part.strip()):
            name = latex_accents(collapse_whitespace(name))
            if name and name.lower() not in ("et al.", "et al", "and"):
                names.append(name)
    return names


def latex_accents(text: str) -> str:
    """Turn LaTeX text accents (Tom\\'as, Pi\\v{z}urica, {\\o}) into Unicode; leave math alone."""
    if "\\" not in text:
        return text

    def accent(match: re.Match[str]) -> str:
        mark, base = (g for g in match.groups() if g)
        letter = "i" if base == "\\i" else base
        return unicodedata.normalize("NFC", letter + _ACCENTS[mark])

    text = _SYMBOL_ACCENT.sub(accent, text)
    text = _LETTER_ACCENT.sub(accent, text)
    return _LETTER.sub(lambda m: _LETTERS[m.group(1) or m.group(2)], text)


def _split_outside_brackets(text: str) -> list[str]:
    """Split at commas and semicolons that are not inside (affiliations) or {LaTeX groups}."""
    parts: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char in "({":
            depth += 1
        elif char in ")}":
            depth = max(0, depth - 1)
        elif char in ",;" and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _raise_api_error(entry: Mapping[str, Any], source: str) -> None:
    """The query API reports a bad query as a single entry whose id is under /api/errors."""
    if "/api/errors" in str(entry.get("id") or ""):
        message = collapse_whitespace(str(entry.get("summary") or entry.get("title") or ""))
        raise ParseError(
            f"{source}: the arXiv API answered with an error: {message}; check the query"
        )


def _bozo_problem(parsed: Mapping[str, Any]) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    if exc is None or type(exc).__name__ in _BENIGN_BOZO:
        return None
    text = _SAX_POSITION.sub(r"line \1, column \2: ", collapse_whitespace(str(exc)))
    return text or type(exc).__name__


def _entry_id(entry: Mapping[str, Any], from_summary: str | None) -> str | None:
    for candidate in (entry.get("id"), entry.get("link"), from_summary):
        if isinstance(candidate, str) and candidate.strip():
            found = find_arxiv_id(candidate)
            if found:
                return strip_version(found)
    return None


def _authors(entry: Mapping[str, Any]) -> list[str]:
    raw: list[str] = []
    for author in entry.get("authors") or []:
        if isinstance(author, Mapping) and isinstance(author.get("name"), str):
            raw.append(author["name"])
    if not raw and isinstance(entry.get("author"), str):
        raw.append(entry["author"])
    names: list[str] = []
    for text in raw:
        for name in split_authors(text):
            if name not in names:
                names.append(name)
    return names


def _categories(entry: Mapping[str, Any]) -> list[str]:
    terms: list[str] = []
    primary = entry.get("arxiv_primary_category")
    if isinstance(primary, Mapping) and isinstance(primary.get("term"), str):
        terms.append(primary["term"])
    for tag in entry.get("tags") or []:
        if isinstance(tag, Mapping) and isinstance(tag.get("term"), str):
            terms.append(tag["term"])
    unique: list[str] = []
    for term in map(collapse_whitespace, terms):
        if term and term not in unique:
            unique.append(term)
    return unique


def _date(value: object) -> dt.date | None:
    """The calendar date of an RFC 822 or ISO 8601 stamp, in the stamp's own time zone."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError):
        return None


def _latest_date(records: list[PaperRecord]) -> dt.date | None:
    dates = [r.listing_date for r in records if r.listing_date is not None]
    return max(dates) if dates else None


def _strip_html(text: str) -> str:
    """Drop the few HTML tags older arXiv feeds wrapped around text; keep LaTeX and symbols."""
    if not _HTML_TAG.search(text):
        return text
    stripped = _HTML_TAG.sub("", _BLOCK_TAG.sub(" ", text))
    return stripped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
