"""Parse Hugging Face Daily Papers listings: the JSON API and the HTML pages.

Both forms carry the same items (see SOURCES.md); one function turns an item into a
`PaperRecord`. Everything here is pure: the caller fetches, these functions only read text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Mapping
from html.parser import HTMLParser
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from digest.errors import FetchError, ParseError, ValidationError
from digest.safe_text import without_password
from digest.sources.base import (
    Listing,
    PaperRecord,
    collapse_whitespace,
    count,
    find_arxiv_id,
    paper_record,
    strip_version,
)
from digest.sources.http import Fetcher

HF_PAPER_URL = "https://huggingface.co/papers/{}"
HF_DATA_TARGET = "DailyPapers"
MAX_PROBLEMS = 20
DEFAULT_LIMIT = 50  # items per API page when the URL does not say
MAX_PAGES = 20  # pages read after the first, at most

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WEEK = re.compile(r"\d{4}-W(0[1-9]|[1-4]\d|5[0-3])")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def parse_hf_api(body: str | bytes, source: str) -> Listing:
    """Parse a Daily Papers API answer (a JSON array of items) into a Listing."""
    data = _load_json(_decode(body, source), source, "Daily Papers API answer")
    if isinstance(data, dict) and "error" in data:
        raise ParseError(
            f"{source}: the Daily Papers API answered with an error: "
            f"{collapse_whitespace(str(data['error']))}; check the date/week/month parameters"
        )
    if not isinstance(data, list):
        raise ParseError(
            f"{source}: expected a JSON array of papers, got a JSON {_json_type(data)}; "
            "check that the URL is the Daily Papers API (/api/daily_papers)"
        )
    return hf_items_to_listing(data, source)


def parse_hf_page(body: str | bytes, source: str) -> Listing:
    """Parse a Daily Papers HTML page by reading the JSON embedded in its DailyPapers element."""
    props_text = _find_data_props(_decode(body, source), source)
    props = _load_json(props_text, source, f'data-props of the "{HF_DATA_TARGET}" element')
    if not isinstance(props, dict):
        raise ParseError(
            f"{source}: data-props of the {HF_DATA_TARGET} element is a JSON "
            f"{_json_type(props)}, not an object; the page layout may have changed"
        )
    items = props.get("dailyPapers")
    if not isinstance(items, list):
        raise ParseError(
            f"{source}: data-props of the {HF_DATA_TARGET} element has no 'dailyPapers' list; "
            "the page layout may have changed, try the JSON API instead"
        )
    listing = hf_items_to_listing(items, source)
    page_date = _iso_date(props.get("date"))
    if page_date is not None and props.get("paperPeriod", "daily") == "daily":
        for record in listing.records:  # the page of one day lists that day's papers
            record.listing_date = record.listing_date or page_date
        listing.listing_date = listing.listing_date or page_date
    return listing


def hf_items_to_listing(items: list[object], source: str) -> Listing:
    """Turn a list of Daily Papers items into a Listing, counting the items that are unusable."""
    records: list[PaperRecord] = []
    problems: list[str] = []
    for position, item in enumerate(items):
        try:
            records.append(hf_item_to_record(item, position))
        except ParseError as exc:
            problems.append(f"item {position}: {exc}")
    if items and not records:
        raise ParseError(
            f"{source}: none of the {len(items)} items is a Daily Papers item "
            f"({problems[0]}); check that this is a Daily Papers listing"
        )
    bad = len(problems)
    if bad > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"... and {bad - MAX_PROBLEMS} more bad items"]
    dates = Counter(r.listing_date for r in records if r.listing_date is not None)
    listing_date = max(dates, key=lambda d: (dates[d], d)) if dates else None
    return Listing(
        source=source,
        records=records,
        bad_records=bad,
        listing_date=listing_date,
        problems=problems,
    )


def hf_item_to_record(item: object, position: int) -> PaperRecord:
    """Turn one Daily Papers item into a PaperRecord; raise ParseError saying why if unusable."""
    if not isinstance(item, dict):
        raise ParseError(f"expected an object, got a JSON {_json_type(item)}")
    paper = item.get("paper")
    if paper is None and "id" in item and "title" in item:
        paper = item  # a bare paper, as /api/papers lists them: its own fields, no wrapper
    if not isinstance(paper, dict):
        raise ParseError("'paper' object missing")
    paper_id = _text(paper.get("id"))
    if paper_id is None:
        raise ParseError("'paper.id' missing")
    title = _text(paper.get("title")) or _text(item.get("title"))
    if title is None:
        raise ParseError(f"paper {paper_id}: title missing")
    found = find_arxiv_id(paper_id)
    arxiv_id = found if found is not None and found == strip_version(paper_id) else None
    authors_raw = paper.get("authors")
    authors = _visible_authors(authors_raw)
    return paper_record(
        title=title,
        abstract=_text(paper.get("summary")) or _text(item.get("summary")) or "",
        arxiv_id=arxiv_id,
        authors=authors,
        author_count=len(authors) if isinstance(authors_raw, list) else None,
        organization=_organization(item.get("organization"))
        or _organization(paper.get("organization")),
        published=_iso_date(paper.get("publishedAt")) or _iso_date(item.get("publishedAt")),
        # when it was on the Daily Papers page; items from before 2025 only have publishedAt
        listing_date=_iso_date(paper.get("submittedOnDailyAt"))
        or _iso_date(item.get("publishedAt")),
        upvotes=count(paper.get("upvotes")),
        comments=count(item.get("numComments")),
        url=HF_PAPER_URL.format(paper_id),
        thumbnail=_text(item.get("thumbnail")) or _text(item.get("mediaUrl")),  # older items
        github_repo=_text(paper.get("githubRepo")),
        project_page=_text(paper.get("projectPage")),
        ai_summary=_text(paper.get("ai_summary")),
        position=position,
    )


def hf_api_url(
    base: str,
    *,
    date: dt.date | str | None = None,
    week: str | None = None,
    month: str | None = None,
    page: int = 0,
    limit: int = 50,
) -> str:
    """Build a Daily Papers API URL for one page of a day, ISO week (YYYY-Www) or month."""
    chosen = [(k, v) for k, v in (("date", date), ("week", week), ("month", month)) if v]
    if len(chosen) > 1:
        names = " and ".join(k for k, _ in chosen)
        raise ValidationError(f"give only one of date, week and month (got {names})")
    if page < 0:
        raise ValidationError(f"page must be 0 or more (got {page})")
    if limit < 1:
        raise ValidationError(f"limit must be 1 or more (got {limit})")
    params: list[tuple[str, str]] = []
    if chosen:
        key, value = chosen[0]
        params.append((key, _period_value(key, value)))
    params += [("p", str(page)), ("limit", str(limit))]
    parts = urlsplit(base)
    ours = {k for k, _ in params}
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ours]
    return urlunsplit(parts._replace(query=urlencode(kept + params)))


def hf_is_last_page(listing: Listing, limit: int) -> bool:
    """True when a page holds fewer items than asked for, so no further page exists."""
    return len(listing.records) + listing.bad_records < limit


def hf_following_pages(first: Listing, url: str, fetcher: Fetcher) -> Listing:
    """The whole listing of an API URL: its first page and the following ones, read until
    a short page, or a page with no paper not seen already (at most MAX_PAGES)."""
    query = parse_qs(urlsplit(url).query)
    try:
        limit = int(query.get("limit", [str(DEFAULT_LIMIT)])[0])
        page = int(query.get("p", ["0"])[0])
    except ValueError:
        raise FetchError(
            f"{without_password(url)}: `limit` and `p` must be whole numbers"
        ) from None
    listing = current = first
    seen = {_record_key(r) for r in first.records}
    for _ in range(MAX_PAGES):
        if hf_is_last_page(current, limit):
            break
        page += 1
        next_url = hf_api_url(url, page=page, limit=limit)
        current = parse_hf_api(fetcher.get(next_url).body, next_url)
        keys = {_record_key(r) for r in current.records}
        if keys <= seen:  # a server that ignores `p` sends the same page again: stop there
            break
        seen |= keys
        listing = Listing(
            source=listing.source,
            records=listing.records + current.records,
            bad_records=listing.bad_records + current.bad_records,
            listing_date=listing.listing_date,
            problems=listing.problems + current.problems,
        )
    return listing


def _record_key(record: PaperRecord) -> str:
    return record.arxiv_id or record.title


def _period_value(key: str, value: dt.date | str) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    text = value.strip()
    pattern = {"date": _DATE, "week": _WEEK, "month": _MONTH}[key]
    example = {"date": "2026-05-08", "week": "2026-W19", "month": "2026-05"}[key]
    valid = pattern.fullmatch(text) is not None
    if valid and key == "date":
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            valid = False
    if not valid:
        raise ValidationError(f"{key} {value!r} is not valid; write it like {example}")
    return text


class _DataPropsFinder(HTMLParser):
    """Stops at the first element whose data-target is DailyPapers and keeps its data-props."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found = False
        self.props: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("data-target") == HF_DATA_TARGET:
            self.found = True
            self.props = values.get("data-props")
            raise _Found


class _Found(Exception):
    """Raised inside the HTML parser to stop reading once the element is found."""


def _find_data_props(page: str, source: str) -> str:
    finder = _DataPropsFinder()
    try:
        finder.feed(page)
        finder.close()
    except _Found:
        pass
    if not finder.found:
        raise ParseError(
            f'{source}: no element with data-target="{HF_DATA_TARGET}" in the page; '
            "check that it is a Daily Papers page (/papers...) and not an error or login page"
        )
    if not finder.props:
        raise ParseError(
            f"{source}: the {HF_DATA_TARGET} element has no data-props attribute; "
            "the page layout may have changed, try the JSON API instead"
        )
    return finder.props


def _decode(body: str | bytes, source: str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"{source}: the body is not UTF-8 text (bad byte at offset {exc.start}); "
            "check that the download is a Daily Papers listing and was not truncated"
        ) from exc


def _load_json(text: str, source: str, what: str) -> object:
    if not text.strip():
        raise ParseError(f"{source}: the {what} is empty; check the URL and the HTTP status")
    if text.lstrip().startswith("<"):
        raise ParseError(
            f"{source}: the {what} is HTML or XML, not JSON; "
            "check the URL (the API is /api/daily_papers, pages are /papers...)"
        )
    try:
        data: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"{source}: the {what} is not valid JSON ({exc.msg}: line {exc.lineno}, "
            f"column {exc.colno}); check that the download was complete"
        ) from exc
    except (ValueError, RecursionError):  # a number of thousands of digits, or deep nesting
        raise ParseError(
            f"{source}: the {what} is JSON no listing would send (nested too deeply or a "
            "number of thousands of digits)"
        ) from None
    return data


def _json_type(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = collapse_whitespace(value)
    return text or None


def _iso_date(value: object) -> dt.date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.UTC)
    return stamp.date()


def _visible_authors(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    names: list[str] = []
    for author in value:
        if not isinstance(author, Mapping) or author.get("hidden") is True:
            continue
        name = _text(author.get("name"))
        if name is not None:
            names.append(name)
    return names


def _organization(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return None
    return _text(value.get("fullname")) or _text(value.get("name"))
