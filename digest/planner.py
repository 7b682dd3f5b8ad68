"""Planning one page of due subscribers: the candidate papers and their corpus, the papers
each subscriber gets, and the deliveries stored; the same in this process or in a planning
worker (digest.plan_workers)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from digest.config import DEFAULT_MIN_SCORE
from digest.models import DeliveryStatus, Paper, SubscriberStatus
from digest.planning import (
    Plan,
    Someone,
    choose,
    due,
    local_edition,
    next_send_at,
    window_groups,
    window_start,
)
from digest.ranking import Corpus, FeatureStats, Voted, hot_papers
from digest.ranking.semantic import Embedder, SemanticIndex, paper_text, paper_vectors
from digest.ranking.topics import SAMPLE as TOPIC_SAMPLE
from digest.ranking.topics import Topics
from digest.store import Store
from digest.store.contents import ItemRow
from digest.store.deliveries import NewDelivery
from digest.store.state import FEATURES, TOPICS
from digest.store.subscribers import SubscriberRow

T = TypeVar("T")


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
    processes: int = 0  # planning worker processes when there is more than one page (0: here)


@dataclass
class Tally:
    """How many subscribers planning found due, and how many digests it queued and skipped."""

    due: int = 0
    planned: int = 0
    skipped: int = 0

    def add(self, other: Tally) -> None:
        """Count another page's figures in."""
        self.due += other.due
        self.planned += other.planned
        self.skipped += other.skipped


def build_corpus(
    papers: Sequence[Paper],
    stats: FeatureStats | None = None,
    popularity: Mapping[str, float] | None = None,
    semantic: SemanticIndex | None = None,
    topics: Topics | None = None,
) -> Corpus:
    """The ranking corpus of these papers, weighted by the history's stats, with the semantic
    extra's vectors or else the history's topics."""
    corpus = Corpus(
        [p.id for p in papers],
        [p.title for p in papers],
        [p.abstract for p in papers],
        [p.first_seen_at.timestamp() for p in papers],
        popularity=None if popularity is None else [popularity.get(p.id, 0.0) for p in papers],
        stats=stats,
        semantic=semantic,
    )
    if semantic is None and topics is not None:
        corpus.semantic = topics.index(corpus)
    return corpus


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


def topic_space(store: Store, stats: FeatureStats, now: datetime) -> Topics | None:
    """The stored topics of the history, learned again from its newest papers when there are
    none yet or the history has grown since (None while it is too small to learn them)."""
    topics = _stored(store, TOPICS, Topics.from_bytes)
    if topics is None or topics.stale(stats):
        texts, newest = store.papers.texts(limit=TOPIC_SAMPLE)
        learned = Topics.learn(texts, stats)
        if learned is not None:
            store.state.save_ranking_state(TOPICS, learned.to_bytes(), newest, now)
            topics = learned
    return topics


RECENT_DAYS = 7  # what the signup preview and a new subscriber's keyword notes look at


def recent_corpus(
    store: Store, now: datetime, embedder: Embedder | None, days: int = RECENT_DAYS
) -> tuple[list[Paper], Corpus]:
    """The papers first seen in the last `days` days and their corpus, weighted as planning
    weighed them last (its stored statistics and topics, read only)."""
    papers = store.papers.newest(since=now - timedelta(days=days))
    semantic = semantic_index(store, papers, embedder)
    stats, topics = stored_space(store)
    return papers, build_corpus(papers, stats, semantic=semantic, topics=topics)


def stored_stats(store: Store) -> FeatureStats | None:
    """The word statistics planning stored last, read only (None: none yet)."""
    return _stored(store, FEATURES, FeatureStats.from_bytes)


def stored_space(store: Store) -> tuple[FeatureStats | None, Topics | None]:
    """The word statistics and topics planning stored last, read only (None: none yet)."""
    return stored_stats(store), _stored(store, TOPICS, Topics.from_bytes)


def _stored(store: Store, name: str, parse: Callable[[bytes], T | None]) -> T | None:
    saved = store.state.ranking_state(name)
    return parse(saved[0]) if saved is not None else None


@dataclass(frozen=True)
class _Window:
    since: datetime
    papers: list[Paper]
    corpus: Corpus


@dataclass
class Candidates:
    """The candidate papers of a planning run and their corpora, one per window length
    (planning.window_groups): read once, then reused by every page whose windows of that
    length they cover (ranking drops what is older than each window)."""

    embedder: Embedder | None = None
    windows: dict[int, _Window] = field(default_factory=dict)
    space: tuple[FeatureStats, Topics | None] | None = None  # read with the first window

    def covering(
        self, store: Store, since: datetime, now: datetime, days: int
    ) -> tuple[list[Paper], Corpus]:
        """The papers first seen after `since` (or a little earlier), with their corpus, for
        windows about `days` long."""
        window = self.windows.get(days)
        if window is None or since < window.since:
            papers = store.papers.newest(since=since)
            popularity = store.papers.popularity([p.id for p in papers])
            if self.space is None:
                stats = feature_stats(store, now)
                topics = topic_space(store, stats, now) if self.embedder is None else None
                self.space = (stats, topics)
            stats, topics = self.space
            corpus = build_corpus(
                papers, stats, popularity, semantic_index(store, papers, self.embedder), topics
            )
            window = self.windows[days] = _Window(since, papers, corpus)
        return window.papers, window.corpus

    def hot(self) -> set[str]:
        """The papers of the corpora read that earn the "trending" mark (popularity is a
        paper's own, whatever corpus holds it)."""
        return set().union(*(hot_papers(w.corpus) for w in self.windows.values()))


def choose_for(
    store: Store,
    due_now: Sequence[tuple[Someone, str]],
    now: datetime,
    policy: Policy,
    candidates: Candidates | None = None,
) -> tuple[list[Plan], list[Paper]]:
    """The papers each subscriber's next digest would hold (subscribers with windows of
    different lengths ranked apart, each among the papers of its windows), and the candidate
    papers read."""
    candidates = candidates or Candidates(policy.semantic)
    ids = [s.id for s, _ in due_now if s.id is not None]
    last_sent = store.deliveries.last_sent(ids)
    votes = store.votes.for_subscribers(ids)
    voted_ids = sorted({pid for rows in votes.values() for pid, _ in rows})
    voted = Voted({pid: (p.title, p.abstract) for pid, p in store.papers.by_ids(voted_ids).items()})
    starts = [window_start(s, now, last_sent, policy.first_window_days) for s, _ in due_now]
    plans: dict[int, Plan] = {}
    read: dict[str, Paper] = {}
    for days, group in window_groups(starts, now).items():
        since = min(starts[i] for i in group)
        papers, corpus = candidates.covering(store, since, now, days)
        read.update((p.id, p) for p in papers)
        members = [due_now[i] for i in group]
        chosen = choose(
            corpus,
            members,
            starts=[starts[i] for i in group],
            received=store.deliveries.received_papers([s.id or 0 for s, _ in members], since),
            min_score=policy.min_score,
            votes=votes,
            voted=voted,
        )
        plans.update(zip(group, chosen, strict=True))
    return [plans[i] for i in range(len(due_now))], list(read.values())


def _with_send_times(
    store: Store, subscribers: list[SubscriberRow], now: datetime
) -> list[SubscriberRow]:
    """The subscribers with a next send time: computed for the active ones who have none (new,
    or their schedule changed), and stored for those not due yet, who are left out (one
    write each: planning moves on the send time of those it plans)."""
    pending = [
        s for s in subscribers if s.next_send_at is None and s.status == SubscriberStatus.ACTIVE
    ]
    if not pending:
        return subscribers
    last = store.deliveries.last_editions([s.id for s in pending])
    timed = {s.id: replace(s, next_send_at=next_send_at(s, now, last.get(s.id))) for s in pending}
    later = {sid: when for sid, s in timed.items() if (when := s.next_send_at) and when > now}
    store.subscribers.set_next_send(later)
    return [timed.get(s.id, s) for s in subscribers if s.id not in later]


def plan_page(
    store: Store, page: list[int], now: datetime, policy: Policy, candidates: Candidates
) -> Tally:
    """Store the delivery (queued, or skipped when nothing qualifies) of every subscriber of
    this page (ids) who is due, and move everyone's next send time on."""
    tally = Tally()
    subscribers = _with_send_times(store, store.subscribers.rows(page), now)
    ids = [s.id for s in subscribers if s.id is not None]
    editions = {local_edition(s, now) for s in subscribers}
    due_now = due(subscribers, now, store.deliveries.planned_editions(ids, editions))
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
    tally.due = len(due_now)
    if not due_now:
        return tally
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
                items=[
                    ItemRow(
                        m.paper_id,
                        m.score,
                        m.matched,
                        m.similar_to,
                        trending=m.paper_id in hot,
                        related=m.related,
                    )
                    for m in p.items
                ]
                + [
                    ItemRow(m.paper_id, m.score, [], section="trending", trending=True)
                    for m in p.also_trending
                ],
                next_send_at=next_send_at(p.subscriber, now, p.edition),
                status=status,
            )
        )
    store.deliveries.plan(rows, now)
    tally.planned = sum(1 for r in rows if r.status == DeliveryStatus.QUEUED)
    tally.skipped = sum(1 for r in rows if r.status == DeliveryStatus.SKIPPED)
    return tally
