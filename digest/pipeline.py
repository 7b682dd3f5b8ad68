"""The stages over one store: fetch (ingest listings), plan (rank and queue digests), dispatch
(plan, then send through one Outbox), and a preview of one digest. digest.app runs them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from digest.compose import digest_view, paper_view
from digest.ingest import SourceReport, ingest_source
from digest.models import Subscriber
from digest.outbox import Outbox, SendReport, process_name, send_due
from digest.plan_workers import PlanWorkers
from digest.planner import (
    Candidates,
    Policy,
    Tally,
    build_corpus,
    choose_for,
    feature_stats,
    recent_corpus,
    semantic_index,
    stored_space,
    stored_stats,
    topic_space,
)
from digest.planning import local_edition
from digest.ranking import Match
from digest.render import Renderer
from digest.sources.base import SourceConfig
from digest.sources.http import Fetcher
from digest.store import Store
from digest.subscriptions.links import Links
from digest.views import PaperView, RenderedDigest

__all__ = [  # planning's Policy and corpus helpers are served from here too
    "DispatchReport",
    "Policy",
    "build_corpus",
    "dispatch",
    "feature_stats",
    "fetch",
    "plan",
    "preview",
    "recent_corpus",
    "semantic_index",
    "stored_space",
    "stored_stats",
    "topic_space",
]


@dataclass
class DispatchReport(Tally):
    """What one dispatch planned and sent."""

    locked: bool = False  # another process holds the planner lease
    send: SendReport = field(default_factory=SendReport)


def fetch(
    store: Store,
    sources: Sequence[SourceConfig],
    now: datetime,
    fetcher: Fetcher | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[SourceReport]:
    """Ingest every source; one report per listing read (`progress` hears of each source)."""
    reports: list[SourceReport] = []
    for source in sources:
        reports.extend(ingest_source(store, source, now, fetcher))
        if progress is not None:
            progress(1)
    return reports


def plan(store: Store, now: datetime, policy: Policy, owner: str | None = None) -> DispatchReport:
    """Create the delivery (queued, or skipped when nothing qualifies) of every due subscriber.

    Only the holder of the planner lease plans, so two processes never plan at once.
    Subscribers without a send time yet (new, or their schedule changed) come first, by id;
    then due subscribers, a page at a time, longest waiting first. With `policy.processes`
    and more than one page, worker processes plan the pages while this one reads the next.
    """
    owner = owner or process_name()
    report = DispatchReport()
    if not store.leases.acquire("planner", owner, now, policy.lease):
        report.locked = True
        return report
    try:
        store.subscribers.resume_paused(now)  # a holiday's pause over: due from today
        with PlanWorkers(store, now, policy) as workers:
            # their send times are computed on the way, and written once
            fresh = 0
            while unscheduled := store.subscribers.unscheduled(policy.batch, fresh):
                workers.submit(unscheduled, more_to_come=len(unscheduled) == policy.batch)
                fresh = unscheduled[-1]
            after: tuple[datetime, int] | None = None
            while page := store.subscribers.due(now, policy.batch, after):
                ids = [sid for _, sid in page]
                workers.submit(ids, more_to_come=len(page) == policy.batch)
                after = page[-1]
            report.add(workers.finish())
        if report.planned or report.skipped:
            store.deliveries.refresh_statistics()
    finally:
        store.leases.release("planner", owner)
    return report


def dispatch(
    store: Store,
    outbox: Outbox,
    *,
    now: datetime,
    policy: Policy,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int], None] | None = None,
) -> DispatchReport:
    """Plan every due digest, then send every delivery that is ready."""
    report = plan(store, now, policy, outbox.policy.owner)
    report.send = send_due(store, outbox, now=now, should_stop=should_stop, progress=progress)
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
    edition = local_edition(subscriber, now)
    candidates = Candidates(policy.semantic)
    [chosen], papers = choose_for(store, [(subscriber, edition)], now, policy, candidates)
    hot = candidates.hot()
    by_id = {p.id: p for p in papers}
    titles = {
        pid: p.title
        for pid, p in store.papers.by_ids(
            [m.similar_to for m in chosen.items if m.similar_to]
        ).items()
    }
    issued = int(now.timestamp())

    def view(match: Match) -> PaperView:
        links_of = links.vote_urls(subscriber, match.paper_id, issued)
        return paper_view(
            by_id[match.paper_id],
            match.matched,
            links_of,
            titles.get(match.similar_to or ""),
            match.paper_id in hot,
            match.related,
        )

    main = [view(m) for m in chosen.items]
    box = [view(m) for m in chosen.also_trending]
    return renderer.render(digest_view(subscriber, edition, main, links, box)), chosen.items
