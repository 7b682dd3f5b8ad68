"""Who is due at `now`, and which papers each due subscriber gets; pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from digest.models import Frequency, Subscriber, SubscriberStatus
from digest.ranking import Corpus, Match, Profile, Voted, rank, trending_box
from digest.store.subscribers import SubscriberRow
from digest.vocabulary import LONGEST_WINDOW_DAYS

Someone = Subscriber | SubscriberRow  # a stored subscriber, or the row planning reads


@dataclass(frozen=True)
class Plan:
    """One digest to create: a subscriber, their edition and the papers chosen for it."""

    subscriber: Someone
    edition: str
    items: list[Match]
    also_trending: list[Match] = field(default_factory=list)


def local_edition(subscriber: Someone, now: datetime) -> str:
    """The subscriber's local date at `now`, as YYYY-MM-DD: the key of one digest."""
    return _local_date(subscriber.timezone, now).isoformat()


@lru_cache(maxsize=1024)  # planning asks for the same few zones and moments again and again
def _local_date(zone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


def day_starts(timezone: str, day: date) -> datetime:
    """When a local day begins in a time zone, in UTC."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def sends_on(subscriber: Someone, weekday: int) -> bool:
    """Whether the subscriber's frequency includes this local weekday (0 = Monday)."""
    return _sends_on(subscriber.frequency, subscriber.weekly_day, weekday)


def _sends_on(frequency: Frequency, weekly_day: int, weekday: int) -> bool:
    if frequency == Frequency.WEEKDAYS:
        return weekday < 5
    if frequency == Frequency.WEEKLY:
        return weekday == weekly_day
    return True


class Scheduled(Protocol):
    """What a subscriber's next send time depends on (a stored subscriber, or its row)."""

    @property
    def timezone(self) -> str: ...
    @property
    def send_at(self) -> str: ...
    @property
    def frequency(self) -> Frequency: ...
    @property
    def weekly_day(self) -> int: ...


def next_send_at(subscriber: Scheduled, now: datetime, last_edition: str | None) -> datetime:
    """When the subscriber is next due (UTC): their send time on the first local day from today
    that their frequency includes and that comes after their last edition.

    A moment in the past means "due now": the send time today has passed and today has no
    digest yet. Editions are local dates, so a DST change or a new time zone can never give
    two digests for one local day.
    """
    s = subscriber
    return _next_send(s.timezone, s.send_at, s.frequency, s.weekly_day, now, last_edition)


@lru_cache(maxsize=4096)  # subscribers share a few zones, send times and frequencies
def _next_send(
    timezone: str,
    send_at: str,
    frequency: Frequency,
    weekly_day: int,
    now: datetime,
    last_edition: str | None,
) -> datetime:
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date()
    hours, minutes = send_at.split(":")
    at = time(int(hours), int(minutes))
    for _ in range(16):
        if (last_edition is None or day.isoformat() > last_edition) and _sends_on(
            frequency, weekly_day, day.weekday()
        ):
            return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        day += timedelta(days=1)
    raise AssertionError("a frequency always sends within a week")  # pragma: no cover


def due(
    subscribers: Sequence[Someone], now: datetime, planned: set[tuple[int, str]]
) -> list[tuple[Someone, str]]:
    """Active subscribers whose next send time has come, with the edition (today's local date)
    each is due for; one that already has that edition is left out."""
    out = []
    for subscriber in subscribers:
        if subscriber.status != SubscriberStatus.ACTIVE or subscriber.id is None:
            continue
        if subscriber.next_send_at is None or subscriber.next_send_at > now:
            continue
        edition = local_edition(subscriber, now)
        if (subscriber.id, edition) not in planned:
            out.append((subscriber, edition))
    return out


LONGEST_WINDOW = timedelta(days=LONGEST_WINDOW_DAYS)


def window_start(
    subscriber: Someone, now: datetime, last_sent: Mapping[int, datetime], first_window_days: int
) -> datetime:
    """Papers first seen after this moment are new to the subscriber: since their last digest
    (a first one looks back `first_window_days`), never further back than a first digest or
    the longest regular window (one back from a months-long pause gets the recent papers,
    and does not make the run rank months of them)."""
    assert subscriber.id is not None
    first = timedelta(days=first_window_days)
    since = last_sent.get(subscriber.id, now - first)
    return max(since, now - max(first, LONGEST_WINDOW))


def days_back(now: datetime, days: int) -> datetime:
    """The start (UTC) of the day `days` days before `now`."""
    return datetime.combine((now - timedelta(days=days)).date(), time(), tzinfo=UTC)


def kept_digests_from(first_window_days: int, now: datetime) -> datetime:
    """The start (UTC) of the oldest day whose digests planning may still read: those of the
    longest window, and a day more (an edition is a local date, up to a day from UTC's).
    Finished digests before it may be deleted without a paper ever being sent twice."""
    return days_back(now, max(LONGEST_WINDOW_DAYS, first_window_days) + 1)


def window_groups(starts: Sequence[datetime], now: datetime) -> dict[int, list[int]]:
    """Window length in whole days -> the subscribers (indexes into `starts`) whose window
    is about that long. Each group is ranked on its own, among the papers of its windows: a
    daily reader's digest does not depend on a new subscriber's first one looking back a
    week (which would rank them among a week of papers, and count a week's exact matches)."""
    groups: dict[int, list[int]] = {}
    for i, start in enumerate(starts):
        groups.setdefault(max(1, round((now - start) / timedelta(days=1))), []).append(i)
    return groups


def profile_of(subscriber: Someone, votes: Sequence[tuple[str, int]] = ()) -> Profile:
    """The ranking profile of a subscriber: keywords, exclusions, votes (latest first)."""
    return Profile(
        subscriber.keywords,
        subscriber.exclude,
        liked=[pid for pid, value in votes if value > 0],
        disliked=[pid for pid, value in votes if value < 0],
        trending=subscriber.trending,
    )


def choose(
    corpus: Corpus,
    due_now: Sequence[tuple[Someone, str]],
    *,
    starts: Sequence[datetime],
    received: Mapping[int, set[str]],
    min_score: float,
    votes: Mapping[int, Sequence[tuple[str, int]]] | None = None,
    voted: Voted | None = None,
) -> list[Plan]:
    """The best papers first seen after each due subscriber's window start (`starts`, from
    window_start), ranked in one vectorised pass, and for those who asked for it, up to
    three more of the day's most popular papers."""
    subscribers = [subscriber for subscriber, _ in due_now]
    votes = votes or {}
    not_before = [start.timestamp() for start in starts]
    seen = [received.get(s.id or 0, set()) for s in subscribers]
    matches = rank(
        corpus,
        [profile_of(s, votes.get(s.id or 0, ())) for s in subscribers],
        [s.max_papers for s in subscribers],
        min_score=min_score,
        not_before=not_before,
        seen=seen,
        voted=voted,
    )
    plans = []
    for i, ((subscriber, edition), items) in enumerate(zip(due_now, matches, strict=True)):
        box = (
            trending_box(
                corpus, {m.paper_id for m in items}, not_before[i], seen[i], subscriber.exclude
            )
            if subscriber.trending_box and items
            else []
        )
        plans.append(Plan(subscriber, edition, items, box))
    return plans
