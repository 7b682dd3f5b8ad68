"""SQLModel tables: the whole data model, no I/O."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Column,
    Dialect,
    Index,
    LargeBinary,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from digest.vocabulary import DeliveryStatus as DeliveryStatus  # re-exported: the tables' types
from digest.vocabulary import FetchStatus as FetchStatus
from digest.vocabulary import Frequency as Frequency
from digest.vocabulary import SourceKind as SourceKind
from digest.vocabulary import SubscriberStatus as SubscriberStatus


class EnumText(TypeDecorator[StrEnum]):
    """A StrEnum column stored as its plain value in a VARCHAR, read back as the enum; writing
    a value outside the vocabulary fails at once."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else str(self.enum(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


PUBLIC_ID_BYTES = 16
MAX_INTEGER = 2**31 - 1  # the largest whole number an INTEGER column keeps in every backend


def new_public_id() -> str:
    """A random, URL-safe subscriber identifier for links (22 characters)."""
    return secrets.token_urlsafe(PUBLIC_ID_BYTES)


class PaperFields(SQLModel):
    """What a listing can say about a paper: the one list of a paper's fields, shared by the
    stored paper and a parsed record (sources.base.PaperRecord)."""

    title: str
    abstract: str = ""
    arxiv_id: str | None = Field(default=None, index=True, max_length=32)
    authors: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    author_count: int | None = None
    organization: str | None = None
    published: date | None = None
    listing_date: date | None = None
    upvotes: int | None = None
    comments: int | None = None
    url: str | None = None
    thumbnail: str | None = None
    github_repo: str | None = None
    project_page: str | None = None
    categories: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    ai_summary: str | None = None  # Hugging Face's one-line summary


class Paper(PaperFields, table=True):
    """One real paper, however many listings showed it."""

    id: str = Field(primary_key=True, max_length=64)  # arxiv:<id> or title:<hash>
    title_norm: str = Field(index=True)
    first_seen_at: datetime = Field(index=True)
    updated_at: datetime


class PaperVector(SQLModel, table=True):
    """A paper's sentence embedding under one model (the optional semantic layer)."""

    __tablename__ = "paper_vector"

    paper_id: str = Field(foreign_key="paper.id", primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=64)
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # float32, unit length


class Sighting(SQLModel, table=True):
    """One observation of a paper on one listing page."""

    id: int | None = Field(default=None, primary_key=True)
    paper_id: str = Field(foreign_key="paper.id", index=True, max_length=64)
    source: str
    listing_date: date | None = None
    upvotes: int | None = None
    position: int | None = None
    seen_at: datetime


class SourceState(SQLModel, table=True):
    """What the service remembers about one source URL between fetches."""

    __tablename__ = "source_state"

    url: str = Field(primary_key=True)
    etag: str | None = None
    last_modified: str | None = None
    last_fetch_at: datetime | None = None
    last_status: FetchStatus | None = Field(default=None, sa_type=EnumText(FetchStatus))
    consecutive_failures: int = 0
    last_error: str | None = None
    papers_new: int = 0
    papers_known: int = 0


class SubscriberSettings(SQLModel):
    """What a subscriber chooses, declared once: the table below, the web form, a CSV row and
    the CLI all go through it (subscriptions.preferences.CheckedSettings validates it)."""

    keywords: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    send_at: str = "08:00"  # HH:MM, local time
    max_papers: int = 10
    frequency: Frequency = Field(default=Frequency.DAILY, sa_type=EnumText(Frequency))
    weekly_day: int = 0  # 0 = Monday, for frequency "weekly"
    trending: float = 0.1  # 0..1: how much popularity lifts relevant papers
    trending_box: bool = False  # show an "also trending today" box of up to 3 papers
    grouped: bool = True  # papers under the interest that brought them, or one flat list


class Subscriber(SubscriberSettings, table=True):
    """Someone who receives digests, with their interest profile and schedule."""

    # planning pages through the due (status, next send time, id): an index seek per page
    __table_args__ = (Index("ix_subscriber_due", "status", "next_send_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    # what links name: random, never reused (row ids are), kept by export and import
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    email: str = Field(unique=True, index=True, max_length=320)  # stored lower-case
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    exclude: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: SubscriberStatus = Field(
        default=SubscriberStatus.ACTIVE, sa_type=EnumText(SubscriberStatus)
    )
    token_version: int = 1
    confirmation_sent_at: datetime | None = None
    confirmations_sent: int = 0  # confirmation mails in the day since the first one
    confirmed_at: datetime | None = None
    paused_until: datetime | None = None  # a pause that ends by itself (planning resumes it)
    hard_bounces: int = 0  # in a row: each within bounces.BOUNCE_MEMORY of the one before
    last_bounce_at: datetime | None = None
    # when the subscription moved to this address (None: it has always had it); what comes
    # back from digests sent before names the old address, not this one
    address_since: datetime | None = None
    next_send_at: datetime | None = None  # UTC; None = not planned
    created_at: datetime
    updated_at: datetime


class Delivery(SQLModel, table=True):
    """The outbox: one digest for one subscriber and one edition (their local date)."""

    __table_args__ = (
        UniqueConstraint("subscriber_id", "edition", name="uq_delivery_subscriber_edition"),
        # a claim reads the next deliveries of a status in id order from this index alone
        Index("ix_delivery_claim", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # looked up through uq_delivery_subscriber_edition, which leads with it
    subscriber_id: int = Field(foreign_key="subscriber.id")
    edition: str = Field(max_length=10)  # YYYY-MM-DD in the subscriber's time zone
    status: DeliveryStatus = Field(default=DeliveryStatus.QUEUED, sa_type=EnumText(DeliveryStatus))
    message_id: str | None = None
    attempts: int = 0
    smtp_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    created_at: datetime
    sent_at: datetime | None = None


class DeliveryItem(SQLModel, table=True):
    """One paper chosen for one delivery, with why it was chosen."""

    __tablename__ = "delivery_item"

    delivery_id: int = Field(foreign_key="delivery.id", primary_key=True)
    paper_id: str = Field(foreign_key="paper.id", primary_key=True, max_length=64)
    rank: int
    score: float
    matched: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    similar_to: str | None = Field(default=None, max_length=64)  # a liked paper it resembles
    section: str = Field(default="main", max_length=16)  # main | trending (the box)
    trending: bool = False  # among the most popular papers of its day when planned
    # keywords matched only through papers like it or its meaning, not its own words
    related: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class Lease(SQLModel, table=True):
    """A named lock held by one process until it expires (e.g. the planner)."""

    name: str = Field(primary_key=True, max_length=32)
    owner: str
    expires_at: datetime


class Vote(SQLModel, table=True):
    """A reader's "more like this" (+1) or "less like this" (-1) on one paper; the latest wins."""

    subscriber_id: int = Field(foreign_key="subscriber.id", primary_key=True)
    paper_id: str = Field(foreign_key="paper.id", primary_key=True, max_length=64)
    value: int  # +1 or -1
    created_at: datetime
    source: str = Field(default="email", max_length=16)  # email | web | cli | seed


class Suppression(SQLModel, table=True):
    """An address nothing is sent to any more: it complained, bounced for good or asked."""

    email: str = Field(primary_key=True, max_length=320)
    reason: str = Field(max_length=16)  # complaint | bounce | manual | declined
    detail: str = ""
    created_at: datetime


class RankingState(SQLModel, table=True):
    """A blob the ranker keeps between runs (feature statistics) and what it has counted."""

    __tablename__ = "ranking_state"

    name: str = Field(primary_key=True, max_length=32)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    watermark: datetime | None = None  # newest first-seen time counted in
    updated_at: datetime
