"""The service's vocabularies, declared once as StrEnums: statuses, frequencies, listing
formats. Plain Python, so that the CLI can offer them as choices without loading the ORM;
digest.models stores them."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Literal


class SubscriberStatus(StrEnum):
    """Where a subscriber is in their life cycle."""

    PENDING = "pending"  # signed up, not confirmed
    ACTIVE = "active"
    PAUSED = "paused"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # too many hard bounces


class DeliveryStatus(StrEnum):
    """Where one digest is in the outbox."""

    QUEUED = "queued"
    SENDING = "sending"  # claimed by a sender
    SENT = "sent"
    RETRY = "retry"  # a temporary failure: tried again at next_attempt_at
    FAILED = "failed"
    SKIPPED = "skipped"  # nothing relevant that day
    CANCELLED = "cancelled"  # the subscriber stopped before it went out


class SourceKind(StrEnum):
    """A listing format (sources/); AUTO sniffs the body to choose one."""

    AUTO = "auto"
    HF_API = "hf-api"
    HF_PAGE = "hf-page"
    ARXIV_RSS = "arxiv-rss"
    ARXIV_ATOM = "arxiv-atom"
    TEXT = "text"


class FetchStatus(StrEnum):
    """How the last fetch of a source went."""

    OK = "ok"
    UNCHANGED = "unchanged"  # the server said 304 Not Modified
    FAILED = "failed"


class Frequency(StrEnum):
    """How often a subscriber gets a digest."""

    DAILY = "daily"
    WEEKDAYS = "weekdays"
    WEEKLY = "weekly"


# the columns of a subscribers CSV file (export writes them in this order; import reads them)
CSV_COLUMNS = (
    "email",
    "keywords",
    "exclude",
    "timezone",
    "send_at",
    "max_papers",
    "frequency",
    "weekly_day",
    "status",
    "trending",
    "trending_box",
    "grouped",
    "public_id",
    "token_version",
    "paused_until",  # the subscriber's own day a pause ends by itself (empty: until resumed)
)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

SCHEMA_HEAD = "0013"  # the newest migration (a test checks it is Alembic's head)

# the semantic extra: "auto" uses it when installed, "on" insists on it, "off" never loads it
SemanticSetting = Literal["auto", "on", "off"]


# the longest window a digest looks back over (a weekly digest's week, and a week more for a
# service that was down); planning reads that many days of digests to send no paper twice
LONGEST_WINDOW_DAYS = 14


# RFC 3463 enhanced status codes of permanent failures that refuse the message or its sender,
# not the address: 5.6.x content, 5.7.x security or policy (spam filters, blocklists, DMARC),
# a full mailbox (5.2.2: it counts once it lasts, bounces.py), a message too big (5.2.3,
# 5.3.4). Such a refusal of a digest says nothing against its reader, and must not count as a
# hard bounce: a blocklist listing our server for a few days would otherwise suppress every
# reader behind it. Some servers give
# 5.7.x to a recipient they refuse as such; their words say so.
_NOT_THE_ADDRESS = re.compile(r"\s*5\.(?:[67]\.\d{1,3}|2\.[23]|3\.4)(?!\d)")
THE_RECIPIENT = re.compile(
    r"recipient address rejected|to this recipient|user unknown|no such user", re.IGNORECASE
)


def faults_address(reply: str) -> bool:
    """Whether a permanent failure, by the status code its reply or report starts with (and
    its words), is the address's (no such mailbox or domain, ...), not the message's."""
    return _NOT_THE_ADDRESS.match(reply) is None or THE_RECIPIENT.search(reply) is not None


def long_day(day: date) -> str:
    """A day as people write it: Monday 7 December 2026."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """`1 digest`, `2 digests`: a count with its noun in the right number."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"
