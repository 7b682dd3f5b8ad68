"""One run of the service: fetch(), dispatch(now), run(now), and a preview of one digest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from digest.config import SourceConfig
from digest.delivery import SendReport, digest_view, paper_view, send_due
from digest.ingest import SourceReport, ingest_source
from digest.links import Links
from digest.mail import Transport
from digest.models import Paper, Subscriber
from digest.planning import choose, due, local_edition, window_start
from digest.ranking import Corpus, Match, paper_text
from digest.render import RenderedDigest, Renderer
from digest.sources.http import Fetcher
from digest.store import Store


@dataclass(frozen=True)
class Policy:
    """How papers are chosen for a digest."""

    min_score: float = 0.05
    first_window_days: int = 7


@dataclass
class DispatchReport:
    """What one dispatch planned and sent."""

    due: int = 0
    planned: int = 0
    skipped: int = 0
    send: SendReport = field(default_factory=SendReport)


def fetch(
    store: Store, sources: Sequence[SourceConfig], now: datetime, fetcher: Fetcher | None = None
) -> list[SourceReport]:
    """Ingest every source; one report per listing read."""
    reports: list[SourceReport] = []
    for source in sources:
        reports.extend(ingest_source(store, source, now, fetcher))
    return reports


def build_corpus(papers: Sequence[Paper]) -> Corpus:
    """The ranking corpus of these papers."""
    return Corpus(
        [p.id for p in papers],
        [paper_text(p.title, p.abstract) for p in papers],
        [p.first_seen_at.timestamp() for p in papers],
    )


def plan(store: Store, now: datetime, policy: Policy) -> DispatchReport:
    """Create the delivery (queued, or skipped when nothing qualifies) of every due subscriber."""
    subscribers = store.subscribers(status="active")
    ids = [s.id for s in subscribers if s.id is not None]
    due_now = due(subscribers, now, store.planned_editions(ids))
    report = DispatchReport(due=len(due_now))
    if not due_now:
        return report
    due_ids = [s.id for s, _ in due_now if s.id is not None]
    last_sent = store.last_sent(due_ids)
    since = min(window_start(s, now, last_sent, policy.first_window_days) for s, _ in due_now)
    plans = choose(
        build_corpus(store.papers(since=since)),
        due_now,
        now,
        last_sent=last_sent,
        received=store.received_papers(due_ids),
        min_score=policy.min_score,
        first_window_days=policy.first_window_days,
    )
    for p in plans:
        assert p.subscriber.id is not None
        items = [(m.paper_id, m.score, m.matched) for m in p.items]
        delivery = store.plan_delivery(p.subscriber.id, p.edition, items, now)
        if delivery is None:
            continue  # another planner created this edition first
        if delivery.status == "skipped":
            report.skipped += 1
        else:
            report.planned += 1
    return report


def dispatch(
    store: Store,
    now: datetime,
    policy: Policy,
    transport: Transport,
    renderer: Renderer,
    links: Links,
    sender: str,
) -> DispatchReport:
    """Plan every due digest, then send every delivery that is ready."""
    report = plan(store, now, policy)
    report.send = send_due(store, transport, renderer, links, sender, now)
    return report


def preview(
    store: Store,
    subscriber: Subscriber,
    now: datetime,
    policy: Policy,
    renderer: Renderer,
    links: Links,
) -> tuple[RenderedDigest, list[Match]]:
    """Render the digest this subscriber would get next, without storing or sending it."""
    assert subscriber.id is not None
    last_sent = store.last_sent([subscriber.id])
    since = window_start(subscriber, now, last_sent, policy.first_window_days)
    papers = store.papers(since=since - timedelta(seconds=1))
    edition = local_edition(subscriber, now)
    [chosen] = choose(
        build_corpus(papers),
        [(subscriber, edition)],
        now,
        last_sent=last_sent,
        received=store.received_papers([subscriber.id]),
        min_score=policy.min_score,
        first_window_days=policy.first_window_days,
    )
    by_id = {p.id: p for p in papers}
    views = [paper_view(by_id[m.paper_id], m.matched) for m in chosen.items]
    return renderer.render(digest_view(subscriber, edition, views, links)), chosen.items
