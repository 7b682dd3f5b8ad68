"""Saved text renderings of Daily Papers listing pages (layouts A, B and C)."""

from __future__ import annotations

import re
from datetime import date

from digest.errors import ParseError
from digest.sources.base import Listing, PaperRecord, collapse_whitespace, count
from digest.sources.detect import looks_like_json

BYLINE = "byAK and the research community"  # the page's header ends with it
HEADER_LINES = frozenset(
    {"new", "Get trending papers in your email inbox!", "Subscribe", "Daily Papers", BYLINE}
)


def _letters(line: str) -> str:
    """A line without its spaces, in lower case: how header lines are recognised."""
    return "".join(line.split()).lower()


_BYLINE = _letters(BYLINE)
_HEADERS = frozenset(map(_letters, HEADER_LINES))
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_PAGE_DATE = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) (?P<day>\d{1,2})$")
_META_DATE = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) (?P<day>\d{1,2})(?:, (?P<year>\d{4}))?(?: (?P<votes>\d+))?$"
)
_AUTHORS = re.compile(r"^•\s*(?P<n>\d+) authors?$")
TITLE_LINE_MAX = 400  # characters: a longer line of a text listing is prose, never a title
MIN_ABSTRACT = 40
MIN_ABSTRACT_WORDS = 12
# how Markdown, code, tables and markup lines start: never a paper's title or abstract
_NOT_PROSE = re.compile(r"^(?:#|```|~~~|\||>|[-*+] |\d+\. |<|\{|\[|=|//|\$ )")


def parse_text(text: str, source: str, today: date) -> Listing:
    """Parse one saved listing; `today` fixes the year of dates printed without one.

    A file that is mostly not papers (Markdown, code, JSON, HTML) is refused as a whole:
    stored, its lines would become papers that outrank real ones."""
    if "\x00" in text:
        raise ParseError(f"{source}: binary data, not a text listing (remove the file)")
    if not text.strip():
        raise ParseError(
            f"{source}: the file is empty: save the listing into it again, or remove it"
        )
    start = text.lstrip()[:64]
    if start.startswith("<") or looks_like_json(start.encode("utf-8", "replace")):
        what = "HTML or XML" if start.startswith("<") else "JSON"
        raise ParseError(
            f"{source}: this is {what}, not a saved text listing: "
            "fetch it with --kind auto (or the kind it is: hf-api, hf-page, arxiv-rss, arxiv-atom)"
        )
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # the page's byline, however the page was turned into text ("by AK", "BYAK", ...)
    byline = [i for i, line in enumerate(lines[:15]) if _letters(line) == _BYLINE]
    if byline:
        listing = _parse_blocks(lines[byline[0] + 1 :], source, today)
    else:
        listing = _parse_alternating(lines, source, today.year)
    if not listing.records:
        raise ParseError(
            f"{source}: no papers found: not a saved Daily Papers listing "
            "(expected title and abstract lines; see SOURCES.md, layouts A-C)"
        )
    if listing.bad_records > len(listing.records):
        examples = "; ".join(listing.problems[:2])
        raise ParseError(
            f"{source}: mostly not papers ({listing.bad_records} of "
            f"{listing.bad_records + len(listing.records)} entries are not a title and abstract, "
            f"e.g. {examples}): not a saved Daily Papers listing, nothing stored"
        )
    return listing


def _parse_alternating(lines: list[str], source: str, page_year: int) -> Listing:
    """Layout A: after one junk line, title and abstract lines alternate, no blank lines (a
    first line followed by an abstract is a title: the junk line is missing)."""
    inner = "\n".join(lines).strip().split("\n")
    blank = sum(1 for line in inner if not line.strip())
    if blank > len(inner) // 10:  # prose, Markdown or notes: paragraphs, not layout A
        raise ParseError(
            f"{source}: not a saved Daily Papers listing: {blank} blank lines in "
            f"{len(inner)} (layout A alternates title and abstract lines without blank lines, "
            "layouts B and C start with the page's header; see SOURCES.md)"
        )
    body = [line.strip() for line in lines if line.strip()]
    if not (len(body) > 1 and len(body[0]) <= TITLE_LINE_MAX < len(body[1])):
        body = body[1:]  # the junk line
    listing = Listing(source=source, records=[])
    _pair(listing, [[line] for line in body], page_year)
    return listing


def _parse_blocks(lines: list[str], source: str, today: date) -> Listing:
    """Layouts B and C: blank-line separated blocks, an optional `·` metadata block."""
    blocks = _split_blocks(lines)
    listing = Listing(source=source, records=[])
    while blocks and _letters(blocks[0][0]) in _HEADERS:
        blocks.pop(0)
    page_year = today.year
    page = _PAGE_DATE.match(blocks[0][0]) if blocks and len(blocks[0]) == 1 else None
    if page and page["mon"] in _MONTHS:
        listing.listing_date = _resolve(int(page["day"]), page["mon"], None, today)
        if listing.listing_date is not None:
            page_year = listing.listing_date.year
        blocks.pop(0)  # the page's date line, even a day no calendar has ("Feb 30")
    _pair(listing, blocks, page_year)
    return listing


def _pair(listing: Listing, blocks: list[list[str]], page_year: int) -> None:
    """Read title and abstract blocks, each maybe followed by a `·` metadata block, into
    `listing`; a block out of place costs that record alone, never shifts the rest."""
    blocks = [part for block in blocks for part in _unjoined(block)]
    index = 0
    while index < len(blocks):
        block, text = blocks[index], " ".join(blocks[index])
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        index += 1
        if len(block) == 1 and _PAGE_DATE.match(text):  # a day's heading (a week's page)
            continue
        if _is_meta(block) or following is None or _is_meta(following):
            _bad(listing, f"a block out of place: {text[:60]!r}")
            index += 0 if _is_meta(block) or following is None else 1  # its metadata too
        elif len(text) > TITLE_LINE_MAX or _titled_alone(following, blocks[index + 1 : index + 2]):
            # resynchronise on the next title: one odd block never shifts the rest
            _bad(listing, f"a title without an abstract, or an abstract alone: {text[:60]!r}")
        else:
            record = PaperRecord(title="", listing_date=listing.listing_date)
            index += 1
            if index < len(blocks) and _is_meta(blocks[index]):
                _read_meta(blocks[index], record, page_year, listing.listing_date)
                index += 1
            _add(listing, text, " ".join(following), record)


def _unjoined(block: list[str]) -> list[list[str]]:
    """A block cut where a blank line is missing: a title line over its abstract's line, an
    abstract's line over the next title (an abstract's line is longer than any title; a
    paragraph wrapped into short lines stays whole), or lines over a metadata block."""
    if _is_meta(block):  # one line (authors or organisation) comes before the `·` line
        dot = block.index("·")
        return [*_unjoined(block[: dot - 1]), block[dot - 1 :]] if dot > 1 else [block]
    if len(block) < 2 or max(map(len, block)) <= TITLE_LINE_MAX:
        return [block]
    head = block[:1] if len(block[0]) <= TITLE_LINE_MAX else []
    last = block[-1]
    tail = (
        [last]
        if len(last) <= TITLE_LINE_MAX and not last.endswith(".") and "://" not in last
        else []
    )
    middle = block[len(head) : len(block) - len(tail)]
    return [part for part in (head, middle, tail) if part]


def _titled_alone(following: list[str], after: list[list[str]]) -> bool:
    """Whether a title is followed by the next paper's title rather than its abstract: the
    next block is too short for an abstract, or it reads like a title (short, no full stop
    at its end) and the block after it is too long for one (an abstract missing)."""
    text = " ".join(following)
    if len(text) < MIN_ABSTRACT or _too_few_words(text):
        return True
    if len(text) > TITLE_LINE_MAX or text.endswith(".") or not after:
        return False
    return len(" ".join(after[0])) > TITLE_LINE_MAX


def _too_few_words(text: str) -> bool:
    """Fewer than MIN_ABSTRACT_WORDS words (split no further than that: abstracts are long)."""
    return len(text.split(None, MIN_ABSTRACT_WORDS - 1)) < MIN_ABSTRACT_WORDS


def _split_blocks(lines: list[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _is_meta(block: list[str]) -> bool:
    return "·" in block


def _read_meta(block: list[str], record: PaperRecord, page_year: int, page: date | None) -> None:
    """`• N authors` or an organisation, then `·`, then `Mon D[, YYYY][ votes]`."""
    dot = block.index("·")
    for line in block[:dot]:
        if match := _AUTHORS.match(line):
            record.author_count = count(int(match["n"]))
        else:
            record.organization = collapse_whitespace(line)
    for line in block[dot + 1 :]:
        if match := _META_DATE.match(line):
            year = int(match["year"]) if match["year"] else None
            ref = page or date(page_year, 12, 31)
            record.published = _resolve(int(match["day"]), match["mon"], year, ref)
            if match["votes"]:
                record.upvotes = count(int(match["votes"]))


def _resolve(day: int, month: str, year: int | None, ref: date) -> date | None:
    """A date printed without its year falls in the latest year that is not after `ref` (and
    has that day: Feb 29); None for a day no calendar has ("Feb 30", "Foo 3")."""
    number = _MONTHS.get(month)
    if number is None:
        return None
    if year is not None:
        return _day(year, number, day)
    for earlier in range(9):  # a Feb 29 comes at least once in eight years
        found = _day(ref.year - earlier, number, day)
        if found is not None and found <= ref:
            return found
    return None


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _add(listing: Listing, title: str, abstract: str, record: PaperRecord) -> None:
    title, abstract = collapse_whitespace(title), collapse_whitespace(abstract)
    if (
        not title
        or len(title) > TITLE_LINE_MAX
        or len(abstract) < MIN_ABSTRACT
        or _too_few_words(abstract)
        or _NOT_PROSE.match(title)
        or _NOT_PROSE.match(abstract)
    ):
        _bad(listing, f"not a title and abstract: {title[:60]!r}")
        return
    record.title, record.abstract = title, abstract
    record.position = len(listing.records)
    listing.records.append(record)


def _bad(listing: Listing, problem: str) -> None:
    listing.bad_records += 1
    listing.problems.append(problem)
