"""Validating what people and operators type about a subscriber; pure functions."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError as PydanticError
from pydantic import field_validator, model_validator

from digest.errors import ValidationError
from digest.models import Frequency, Subscriber, SubscriberSettings, SubscriberStatus
from digest.ranking import split_keywords
from digest.ranking.text import split_profile, stems
from digest.safe_text import has_unsafe
from digest.vocabulary import WEEKDAYS as WEEKDAYS  # re-exported: forms and CSV read it here

MAX_KEYWORDS = 30
MAX_KEYWORD_CHARS = 80
MAX_PAPERS = 50
FREQUENCIES = tuple(Frequency)
MAX_PAUSE = timedelta(days=366)  # a pause with an end: a holiday, a sabbatical
E = TypeVar("E", bound=StrEnum)
_NAMED_TIMES = {"noon": "12:00", "midday": "12:00", "midnight": "00:00"}
# 08:00, 8:00, 8.30, 8h30, 8h, 0800, 8, and with a 12-hour clock's am / pm (8pm, 8:30 p.m.)
_SEND_AT = re.compile(
    r"^(?:(\d{1,2})(?:[:.h](\d\d)?)?|(\d\d)(\d\d))\s*(?:([ap])\.?\s*m\.?)?$", re.IGNORECASE
)


def normalise_email(text: str) -> str:
    """The address in lower case, or ValidationError saying what is wrong with it. It may be
    typed as mail clients and contact lists copy it: "Ann Lee <ann@example.org>",
    "<ann@example.org>", "mailto:ann@example.org" (the name is dropped)."""
    if any(ch in text for ch in "\r\n\x00"):
        raise ValidationError("invalid email address: it contains a line break")
    typed = text.strip()
    bare = typed[len("mailto:") :] if typed[:7].lower() == "mailto:" else typed
    try:
        result = validate_email(bare, check_deliverability=False, allow_display_name=True)
    except EmailNotValidError as exc:
        raise ValidationError(f"invalid email address {typed!r}: {exc}") from None
    return result.normalized.lower()


def check_timezone(name: str) -> str:
    """The IANA time zone a name means (Europe/Berlin; typed in any case, or as its city
    alone when one zone has it: "berlin", "new york", "São Paulo"), or ValidationError (for
    an offset such as UTC+2, or EST, one that asks for the city)."""
    typed = name.strip()
    plain = unicodedata.normalize("NFKD", typed).encode("ascii", "ignore").decode("ascii")
    if _OFFSET.fullmatch(plain):
        raise ValidationError(f"unknown time zone {name[:60]!r}{_OFFSET_HINT}")
    if (all_year := _ALL_YEAR.get(plain.lower())) is not None:
        offset, cities = all_year
        raise ValidationError(
            f"time zone {name[:60]!r} is {offset} all year, without summer time: name your "
            f"city, e.g. {cities}, and the digest keeps to its clock"
        )
    try:
        ZoneInfo(typed)
        return typed
    except (ZoneInfoNotFoundError, ValueError):
        pass
    zone = _zone_names().get(plain.lower().replace(" ", "_"))
    if zone is not None:
        return zone
    raise ValidationError(
        f"unknown time zone {name[:60]!r}: use an IANA name such as Europe/Berlin, a city "
        "such as Tokyo, or UTC"
    )


# what people type for an offset: UTC+2, GMT-5, UTC +05:30, +01:00 (Etc/GMT-2 is UTC+2, the
# POSIX way round: stored, it would read as the opposite on the preferences page)
_OFFSET = re.compile(
    r"(?:etc/)?(?:utc|gmt)?\s*(?P<sign>[+-])\s*(?P<hours>\d{1,2})(?::?(?P<minutes>\d\d))?",
    re.IGNORECASE,
)


# the zones of tzdata that are a clock of winter under its name, all year: typed by people of
# New York or Denver, they would send an hour late all summer (EST5EDT and the like follow
# summer time, and stay)
_ALL_YEAR = {"est": ("UTC-5", "New York"), "mst": ("UTC-7", "Denver or Phoenix")}
_OFFSET_HINT = (
    ": an offset is not a place (summer time moves it, and the digest with it); name your "
    "city, e.g. Berlin or Europe/Berlin"
)


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """Lower-case name -> the zone's IANA name, for every zone this system knows, and for
    the city that ends a zone's name when the zones ending with it keep one clock."""
    zones = available_timezones()
    names = {zone.lower(): zone for zone in zones}
    cities: dict[str, list[str]] = {}
    for zone in zones:
        if "/" in zone and not zone.startswith(("Etc/", "SystemV/")):
            cities.setdefault(zone.rsplit("/", 1)[1].lower(), []).append(zone)
    for city, named in cities.items():
        if (chosen := _one_clock(named)) is not None:
            names.setdefault(city, chosen)
    return names


# instants at which two names of one zone must agree: both seasons, a decade around now
_SAMPLES = [
    datetime(year, month, 15, 12, tzinfo=UTC) for year in range(2020, 2031) for month in (1, 7)
]


def _one_clock(zones: list[str]) -> str | None:
    """The zone to store for a city several zone names share ("Istanbul": Asia/ and
    Europe/, "Buenos Aires": America/ and America/Argentina/), when they are names of one
    clock; None when the clocks differ ("West": Brazil and Australia)."""
    offsets = {tuple(t.astimezone(ZoneInfo(z)).utcoffset() for t in _SAMPLES) for z in zones}
    if len(offsets) != 1:
        return None
    return max(sorted(zones), key=lambda zone: zone.count("/"))  # the full, current name


def check_send_at(text: str) -> str:
    """A local send time as HH:MM (24-hour) from what people type ("8:30", "0800", "8pm",
    "noon"), or ValidationError."""
    if (named := _NAMED_TIMES.get(text.strip().lower())) is not None:
        return named
    match = _SEND_AT.match(text.strip())
    hours = int((match[1] or match[3]) if match else -1)
    minutes = int((match[2] or match[4] or 0) if match else 0)
    if match and match[5]:  # a 12-hour clock: 12am is midnight, 12pm noon
        hours = hours % 12 + (12 if match[5].lower() == "p" else 0) if 1 <= hours <= 12 else -1
    if not 0 <= hours <= 23 or minutes > 59:
        raise ValidationError(f"invalid send time {text[:40]!r}: use HH:MM, e.g. 08:00 or 20:30")
    return f"{hours:02d}:{minutes:02d}"


def resume_day(subscriber: Subscriber) -> date | None:
    """The local day a paused subscription starts again by itself, if it does."""
    ends = subscriber.paused_until
    if subscriber.status != SubscriberStatus.PAUSED or ends is None:
        return None
    return ends.astimezone(ZoneInfo(subscriber.timezone)).date()


def send_time(subscriber: Subscriber) -> time:
    """The subscriber's local send time."""
    hours, minutes = subscriber.send_at.split(":")
    return time(int(hours), int(minutes))


def check_keywords(text: str, *, allow_empty: bool = False, what: str = "keywords") -> list[str]:
    """Comma-separated keywords as a list; empty, too many or too long is a ValidationError."""
    if any(unicodedata.category(ch) == "Cs" for ch in text):  # a byte that is not UTF-8
        raise ValidationError(f"invalid {what}: not UTF-8 text")
    if has_unsafe(text):  # a subject line or terminal would show the keywords reordered
        raise ValidationError(f"invalid {what}: control characters are not allowed")
    keywords = split_keywords(text)
    if not keywords and not allow_empty:
        raise ValidationError(f'{what} are empty: give at least one, e.g. "kv cache, rlhf"')
    if len(keywords) > MAX_KEYWORDS:
        raise ValidationError(f"too many {what}: {len(keywords)}, at most {MAX_KEYWORDS}")
    for keyword in keywords:
        if len(keyword) > MAX_KEYWORD_CHARS:
            raise ValidationError(
                f"{what[:-1]} too long ({len(keyword)} characters, at most {MAX_KEYWORD_CHARS}): "
                f"{keyword[:40]!r}…"
            )
    return keywords


def check_topics(keywords: str, exclude: str) -> tuple[list[str], list[str]]:
    """(keywords, excluded keywords) checked; exclusions typed among the keywords as in a
    search engine ("diffusion, -medical", "llm NOT agents") join the excluded ones."""
    wanted, unwanted = split_profile(keywords)
    if unwanted and not wanted:
        raise ValidationError(
            f"keywords only exclude ({', '.join(unwanted)[:60]}): give at least one to look for"
        )
    excluded = check_keywords(exclude, allow_empty=True, what="excluded keywords")
    checked_keywords = check_keywords(keywords if not unwanted else "; ".join(wanted))
    if unwanted:
        check_keywords("; ".join(unwanted), what="excluded keywords")  # the same limits
    all_excluded = list(dict.fromkeys([*excluded, *unwanted]))
    _no_keyword_excluded(checked_keywords, all_excluded)
    return checked_keywords, all_excluded


def _no_keyword_excluded(keywords: list[str], excluded: list[str]) -> None:
    """ValidationError when a keyword is also excluded, in any spelling ("Galaxies" and
    "galaxy"), or holds an excluded one ("kv cache compression" and "kv cache"): every paper
    that matches it whole would be removed again."""
    unwanted = [(keyword, set(stems(keyword))) for keyword in excluded]
    for keyword in keywords:
        stemmed = set(stems(keyword))
        for name, words in unwanted:
            if not words or not words <= stemmed:
                continue
            if words == stemmed:
                raise ValidationError(
                    f"{keyword[:60]!r} is both a keyword and excluded: no paper it matches "
                    "would be sent; remove it from one of them"
                )
            raise ValidationError(
                f"every paper that matches {keyword[:60]!r} holds {name[:60]!r}, which is "
                "excluded: none would be sent; remove one of them"
            )


def choose(vocabulary: type[E], text: str, what: str) -> E:
    """The member of `vocabulary` that `text` names (any case), or a ValidationError listing
    them all."""
    try:
        return vocabulary(text.strip().lower())
    except ValueError:
        names = ", ".join(vocabulary)
        raise ValidationError(f"unknown {what} {text[:40]!r}: use {names}") from None


def check_frequency(frequency: str, weekly_day: str | int = 0) -> tuple[Frequency, int]:
    """(frequency, weekday 0-6) from "daily", "weekdays" or "weekly" and a day name or number."""
    frequency = choose(Frequency, frequency, "frequency")
    day = str(weekly_day).strip().lower()
    if day.isdigit() and int(day) < 7:
        return frequency, int(day)
    for index, name in enumerate(WEEKDAYS):
        if len(day) >= 3 and name.startswith(day):
            return frequency, index
    raise ValidationError(f"unknown weekday {weekly_day!r}: use monday ... sunday")


def check_max_papers(value: int) -> int:
    """Papers per digest, 1 to MAX_PAPERS."""
    if not 1 <= value <= MAX_PAPERS:
        raise ValidationError(f"papers per digest must be 1 to {MAX_PAPERS}, not {value}")
    return value


def check_trending(value: float) -> float:
    """The weight of popularity, 0 to 1."""
    if not 0.0 <= value <= 1.0:
        raise ValidationError(f"the trending weight must be 0 to 1, not {value}")
    return float(value)


class CheckedSettings(SubscriberSettings):
    """SubscriberSettings from what someone typed (keywords as "a, b" text, days by name),
    each field checked once; a bad field raises our ValidationError with its message."""

    @model_validator(mode="before")
    @classmethod
    def _schedule(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("frequency" in data or "weekly_day" in data):
            frequency, day = check_frequency(
                data.get("frequency", Frequency.DAILY), data.get("weekly_day", 0)
            )
            data = {**data, "frequency": frequency, "weekly_day": day}
        return data

    @model_validator(mode="before")
    @classmethod
    def _topics(cls, data: Any) -> Any:
        if isinstance(data, dict) and "keywords" in data:
            keywords, exclude = check_topics(
                _joined(data["keywords"]), _joined(data.get("exclude", ""))
            )
            data = {**data, "keywords": keywords, "exclude": exclude}
        elif isinstance(data, dict) and "exclude" in data:
            exclude = check_keywords(
                _joined(data["exclude"]), allow_empty=True, what="excluded keywords"
            )
            data = {**data, "exclude": exclude}
        return data

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: Any) -> str:
        return check_timezone(str(value))

    @field_validator("send_at", mode="before")
    @classmethod
    def _send_at(cls, value: Any) -> str:
        return check_send_at(str(value))

    @field_validator("max_papers", mode="before")
    @classmethod
    def _max_papers(cls, value: Any) -> int:
        return check_max_papers(int(value))

    @field_validator("trending", mode="before")
    @classmethod
    def _trending(cls, value: Any) -> float:
        return check_trending(float(value))


def _joined(value: Any) -> str:
    return "; ".join(value) if isinstance(value, list | tuple) else str(value)


def checked(data: dict[str, Any]) -> CheckedSettings:
    """Settings from typed values; anything wrong is one ValidationError naming the field."""
    try:
        return CheckedSettings.model_validate(data)
    except PydanticError as exc:  # a value of the wrong type (our checks raise their own)
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "a setting"
        raise ValidationError(f"invalid {field}: {first['msg']}") from None


def checked_changes(changes: dict[str, Any], current: SubscriberSettings) -> dict[str, Any]:
    """The given settings of a partial update, checked against the subscriber's others."""
    # what was stored before a check existed (topics that clash, a time zone such as EST) is
    # checked again only when it changes
    unchanged = {"timezone"} - changes.keys()
    topics = {"keywords", "exclude"}
    if not topics & changes.keys():
        unchanged |= topics
    kept = current.model_dump(exclude=unchanged)
    settings = checked({**kept, **changes})
    # exclusions typed among new keywords ("-medical") change the excluded keywords too
    changed = [*changes, "exclude"] if "keywords" in changes else list(changes)
    return {name: getattr(settings, name) for name in changed}


def new_subscriber(
    *,
    email: str,
    keywords: str,
    now: datetime,
    exclude: str = "",
    timezone: str = "UTC",
    send_at: str = "08:00",
    max_papers: int = 10,
    frequency: str = Frequency.DAILY,
    weekly_day: str | int = 0,
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
    trending: float = 0.1,
    trending_box: bool = False,
    grouped: bool = True,
) -> Subscriber:
    """A validated, not yet stored subscriber: its address first, then its settings, each
    checked once (CheckedSettings)."""
    address = normalise_email(email)
    settings = checked(
        {
            "frequency": frequency,
            "weekly_day": weekly_day,
            "keywords": keywords,
            "exclude": exclude,
            "timezone": timezone,
            "send_at": send_at,
            "max_papers": max_papers,
            "trending": trending,
            "trending_box": trending_box,
            "grouped": grouped,
        }
    )
    return Subscriber(
        email=address,
        status=status,
        created_at=now,
        updated_at=now,
        **settings.model_dump(),
    )
