"""The stages over one store: fetch (ingest listings), plan (rank and queue digests), dispatch
(plan, then send through one Outbox), and a preview of one digest. digest.app runs them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from digest.compose import digest_view, paper_view, vote_links
from digest.config import DEFAULT_MIN_SCORE
from digest.ingest import SourceReport, ingest_source
from digest.models import DeliveryStatus, Paper, Subscriber
from digest.outbox import Outbox, SendReport, process_name, send_due
from digest.planning import (
    Plan,
    Someone,
    choose,
    due,
    local_edition,
    next_send_at,
    window_start,
)
from digest.ranking import Corpus, FeatureStats, Match, Voted, hot_papers
from digest.ranking.semantic import Embedder, SemanticIndex, paper_text, paper_vectors
from digest.render import PaperView, RenderedDigest, Renderer
from digest.sources.base import SourceConfig
from digest.sources.http import Fetcher
from digest.store import Store
from digest.store.deliveries import ItemRow, NewDelivery
from digest.store.state import FEATURES
from digest.store.subscribers import SubscriberRow
from digest.subscriptions.links import Links


@dataclass(frozen=True)
class Policy:
    """How papers are chosen for a digest, and how planning runs."""

    min_score: float = DEFAULT_MIN_SCORE
    first_window_days: int = 7
    send_empty: bool = False
    message_domain: str = "papers-digest.invalid"
    batch: int = 5000
    lease: timedelta = timedelta(minutes=5)
    semantic: Embedder | None = None  # the semantic extra's model, when installed and on


@dataclass
class DispatchReport:
    """What one dispatch planned and sent."""

    due: int = 0
    planned: int = 0
    skipped: int = 0
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


def build_corpus(
    papers: Sequence[Paper],
    stats: FeatureStats | None = None,
    popularity: Mapping[str, float] | None = None,
    semantic: SemanticIndex | None = None,
) -> Corpus:
    """The ranking corpus of these papers, weighted by the history's stats."""
    return Corpus(
        [p.id for p in papers],
        [p.title for p in papers],
        [p.abstract for p in papers],
        [p.first_seen_at.timestamp() for p in papers],
        popularity=None if popularity is None else [popularity.get(p.id, 0.0) for p in papers],
        stats=stats,
        semantic=semantic,
    )


def semantic_index(
    store: Store, papers: Sequence[Paper], embedder: Embedder | None
) -> SemanticIndex | None:
    """The semantic layer over these papers: stored vectors, the missing ones encoded and
    stored (None without an embedder)."""
    if embedder is None:
        return None
    ids = [p.id for p in papers]
    vectors = paper_vectors(
        embedder,
        ids,
        {p.id: paper_text(p.title, p.abstract) for p in papers},
        store.vectors.of(ids, embedder.name),
        lambda fresh: store.vectors.save(embedder.name, fresh),
    )
    return SemanticIndex(embedder, vectors)


def plan(store: Store, now: datetime, policy: Policy, owner: str | None = None) -> DispatchReport:
    """Create the delivery (queued, or skipped when nothing qualifies) of every due subscriber.

    Only the holder of the planner lease plans, so two processes never plan at once.
    """
    owner = owner or process_name()
    report = DispatchReport()
    if not store.deliveries.acquire_lease("planner", owner, now, policy.lease):
        report.locked = True
        return report
    try:
        _schedule(store, now)
        candidates = Candidates(policy.semantic)
        while subscribers := store.subscribers.due(now, policy.batch):
            _plan_batch(store, subscribers, now, policy, report, candidates)
    finally:
        store.deliveries.release_lease("planner", owner)
    return report


def _schedule(store: Store, now: datetime) -> None:
    """Compute the next send time of subscribers who are new or whose schedule changed."""
    while pending := store.subscribers.unscheduled():
        last = store.deliveries.last_editions([s.id for s in pending if s.id is not None])
        store.subscribers.set_next_send(
            {s.id: next_send_at(s, now, last.get(s.id)) for s in pending if s.id is not None}
        )


STATS_SAMPLE = 20_000  # newest papers the feature statistics are first learned from


def feature_stats(store: Store, now: datetime) -> FeatureStats:
    """The stored feature statistics (IDF, acronyms), first learned from the newest
    STATS_SAMPLE papers, then brought up to date with every paper first seen since."""
    saved = store.state.ranking_state(FEATURES)
    stats = FeatureStats.from_bytes(saved[0]) if saved is not None else None
    if stats is None or saved is None or saved[1] is None:
        stats = FeatureStats()
        texts, newest = store.papers.texts(limit=STATS_SAMPLE)
    else:
        texts, newest = store.papers.texts(after=saved[1])
        if not texts:
            return stats
    stats.add(texts)
    store.state.save_ranking_state(FEATURES, stats.to_bytes(), newest, now)
    return stats


@dataclass
class Candidates:
    """The candidate papers of a planning run and their corpus: read once, then reused by
    every batch whose window they cover (ranking drops what is older than each window)."""

    embedder: Embedder | None = None
    since: datetime | None = None
    papers: list[Paper] = field(default_factory=list)
    corpus: Corpus | None = None

    def covering(self, store: Store, since: datetime, now: datetime) -> tuple[list[Paper], Corpus]:
        """The papers first seen after `since` (or a little earlier), with their corpus."""
        if self.corpus is None or self.since is None or since < self.since:
            self.papers = store.papers.newest(since=since)
            popularity = store.papers.popularity([p.id for p in self.papers])
            self.corpus = build_corpus(
                self.papers,
                feature_stats(store, now),
                popularity,
                semantic_index(store, self.papers, self.embedder),
            )
            self.since = since
        return self.papers, self.corpus

    def hot(self) -> set[str]:
        """The papers of the corpus read last that earn the "trending" mark."""
        return hot_papers(self.corpus) if self.corpus is not None else set()


def choose_for(
    store: Store,
    due_now: Sequence[tuple[Someone, str]],
    now: datetime,
    policy: Policy,
    candidates: Candidates | None = None,
) -> tuple[list[Plan], list[Paper]]:
    """The papers each subscriber's next digest would hold, and the candidate papers read."""
    ids = [s.id for s, _ in due_now if s.id is not None]
    last_sent = store.deliveries.last_sent(ids)
    since = min(window_start(s, now, last_sent, policy.first_window_days) for s, _ in due_now)
    papers, corpus = (candidates or Candidates(policy.semantic)).covering(store, since, now)
    votes = store.votes.for_subscribers(ids)
    voted_ids = sorted({pid for rows in votes.values() for pid, _ in rows})
    voted = Voted({pid: (p.title, p.abstract) for pid, p in store.papers.by_ids(voted_ids).items()})
    plans = choose(
        corpus,
        due_now,
        now,
        last_sent=last_sent,
        received=store.deliveries.received_papers(ids),
        min_score=policy.min_score,
        first_window_days=policy.first_window_days,
        votes=votes,
        voted=voted,
    )
    return plans, papers


def _plan_batch(
    store: Store,
    subscribers: list[SubscriberRow],
    now: datetime,
    policy: Policy,
    report: DispatchReport,
    candidates: Candidates,
) -> None:
    ids = [s.id for s in subscribers if s.id is not None]
    due_now = due(subscribers, now, store.deliveries.planned_editions(ids))
    taken = {s.id for s, _ in due_now}
    already = {
        s.id: local_edition(s, now) for s in subscribers if s.id is not None and s.id not in taken
    }
    if already:  # today's edition exists: just move their next send time on
        store.subscribers.set_next_send(
            {
                sid: next_send_at(s, now, already[sid])
                for s in subscribers
                if (sid := s.id) in already
            }
        )
    report.due += len(due_now)
    if not due_now:
        return
    plans, _ = choose_for(store, due_now, now, policy, candidates)
    hot = candidates.hot()
    rows = []
    for p in plans:
        assert p.subscriber.id is not None
        status = DeliveryStatus.QUEUED if p.items or policy.send_empty else DeliveryStatus.SKIPPED
        rows.append(
            NewDelivery(
                subscriber_id=p.subscriber.id,
                edition=p.edition,
                message_id=f"<digest-{p.subscriber.id}-{p.edition}@{policy.message_domain}>",
                items=[ItemRow(*m, trending=m.paper_id in hot) for m in p.items]
                + [
                    ItemRow(m.paper_id, m.score, [], section="trending", trending=True)
                    for m in p.also_trending
                ],
                next_send_at=next_send_at(p.subscriber, now, p.edition),
                status=status,
            )
        )
    store.deliveries.plan(rows, now)
    report.planned += sum(1 for r in rows if r.status == DeliveryStatus.QUEUED)
    report.skipped += sum(1 for r in rows if r.status == DeliveryStatus.SKIPPED)


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
        links_of = vote_links(links, subscriber, match.paper_id, issued)
        return paper_view(
            by_id[match.paper_id],
            match.matched,
            links_of,
            titles.get(match.similar_to or ""),
            match.paper_id in hot,
        )

    main = [view(m) for m in chosen.items]
    box = [view(m) for m in chosen.also_trending]
    return renderer.render(digest_view(subscriber, edition, main, links, box)), chosen.items
