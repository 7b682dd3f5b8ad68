"""Planning pages of subscribers: in this process, or in worker processes that each rank and
store whole pages while this one reads the next page of ids (both cores plan).

A worker opens its own connection to the database, reads the candidate papers once and
plans every page it is given; what comes back is only the page's tally. Pages are disjoint
and each is stored in one transaction, so workers never plan the same subscriber twice, and
a page whose worker died is planned here again (what it stored is skipped as planned).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from datetime import datetime

from digest.planner import (
    Candidates,
    Policy,
    Tally,
    feature_stats,
    plan_page,
    topic_space,
)
from digest.store import Store
from digest.workers import (
    Workers,
    database_url,
    gc_paused,
    has_file_database,
    start_worker,
    worker_pool,
)

# what a worker plans with, set once by its initializer (never in the parent)
_worker: tuple[Store, Candidates] | None = None


def _start_worker(url: str) -> None:
    global _worker
    start_worker()
    _worker = (Store(url, auto_migrate=False), Candidates())


def run_page(
    store: Store, page: list[int], now: datetime, policy: Policy, candidates: Candidates
) -> Tally:
    """Plan one page of subscribers (ids)."""
    with gc_paused():
        return plan_page(store, page, now, policy, candidates)


def _run_in_worker(page: list[int], now: datetime, policy: Policy) -> Tally:
    assert _worker is not None, "_start_worker runs first in every worker"
    store, candidates = _worker
    return run_page(store, page, now, policy, candidates)


class PlanWorkers(Workers):
    """Plans pages here until a full page promises more and the policy allows processes;
    then in `policy.processes` workers, at most two pages waiting per worker."""

    stopped = "the planning workers stopped; planning in this process"

    def __init__(self, store: Store, now: datetime, policy: Policy) -> None:
        self.store, self.now, self.policy = store, now, policy
        # the semantic model is not loaded again in every worker: with it, planning stays here
        allowed = has_file_database(store) and policy.semantic is None
        self.processes = policy.processes if allowed else 0
        self.candidates = Candidates(policy.semantic)
        self.pending: deque[tuple[list[int], Future[Tally]]] = deque()
        self.tally = Tally()

    def submit(self, page: list[int], more_to_come: bool) -> None:
        """Plan a page, here or in a worker (the first page that promises more starts them)."""
        if self.pool is None and more_to_come and self.processes > 0:
            # brought up to date once here, so that workers only read the stored statistics
            topic_space(self.store, feature_stats(self.store, self.now), self.now)
            self.pool = worker_pool(self.processes, _start_worker, database_url(self.store))
        future = self.hand_over(_run_in_worker, page, self.now, self.policy)
        if future is None:
            self.tally.add(self.here(page))
            return
        self.pending.append((page, future))
        while len(self.pending) > 2 * self.processes:
            self._collect()

    def here(self, page: list[int]) -> Tally:
        """Plan a page in this process."""
        return run_page(self.store, page, self.now, self.policy, self.candidates)

    def finish(self) -> Tally:
        """Wait for every page submitted; the figures of all of them."""
        while self.pending:
            self._collect()
        return self.tally

    def _collect(self) -> None:
        page, future = self.pending.popleft()
        self.tally.add(self.outcome(future, lambda: self.here(page)))
