"""Turning claimed deliveries into messages: in this process, or in worker processes that
compose the next batches while this one sends (the second core does the rendering).

A worker opens its own connection to the database and reads the deliveries it is given;
what comes back is bytes ready to send and the deliveries that could not be built.
"""

from __future__ import annotations

from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from digest.compose import compose
from digest.errors import DigestError
from digest.mail import Outgoing
from digest.models import DeliveryStatus
from digest.render import Renderer
from digest.store import Store
from digest.store.contents import PaperRow
from digest.store.outcomes import SendResult
from digest.subscriptions.links import Links
from digest.workers import (
    Workers,
    database_url,
    gc_paused,
    has_file_database,
    start_worker,
    worker_pool,
)

if TYPE_CHECKING:  # cryptography loads only where a key is configured
    from digest.mail.dkim import DkimSigner

Composed = tuple[list[Outgoing], list[SendResult]]  # messages built, deliveries that failed


PAPERS_KEPT = 20_000  # paper rows a composing process keeps between batches, at most


@dataclass(frozen=True)
class Composing:
    """How a message is made: templates, signed links, the From address, the DKIM signer.
    Picklable: a worker process gets its own copy (the renderer rebuilt from its templates,
    the signer from its key)."""

    renderer: Renderer
    links: Links
    sender: str
    signer: DkimSigner | None = None


def compose_batch(
    store: Store,
    ids: list[int],
    making: Composing,
    now: datetime,
    papers: dict[str, PaperRow] | None = None,
) -> Composed:
    """The messages of these deliveries, in order, DKIM-signed when there is a signer; one
    that cannot be built fails alone. `papers` keeps the paper rows read for one send pass:
    every batch names the same day's papers, and a pass shows each paper as it was when
    first read."""
    if papers is not None and len(papers) > PAPERS_KEPT:
        papers.clear()
    built, failed = [], []
    signer = making.signer
    with gc_paused():  # thousands of short-lived objects a batch, next to no cycles
        contents = store.deliveries.contents(ids, papers)
        for delivery_id in ids:
            try:
                message = compose(
                    contents[delivery_id], making.renderer, making.links, making.sender, now
                )
                if signer is not None:
                    message = signer.signed(message)
                built.append(message)
            except (DigestError, ValueError) as exc:  # ValueError: an address it cannot encode
                error = f"cannot build this message: {exc}"
                failed.append(SendResult(delivery_id, DeliveryStatus.FAILED, error=error))
    return built, failed


# what a worker process composes with, set once by its initializer (never in the parent)
_worker: tuple[Store, Composing, dict[str, PaperRow]] | None = None


def _start_worker(url: str, making: Composing) -> None:
    global _worker
    start_worker()
    _worker = (Store(url, auto_migrate=False), making, {})


def _compose_in_worker(ids: list[int], now: datetime) -> Composed:
    assert _worker is not None, "_start_worker runs first in every worker"
    store, making, papers = _worker
    return compose_batch(store, ids, making, now, papers)


class Composer(Workers):
    """Composes batches, inline until there is more than one batch of work and worker
    processes are allowed; then in `processes` workers, `depth` batches ahead of sending."""

    stopped = "the render workers stopped; composing in the sending process"

    def __init__(self, store: Store, making: Composing, now: datetime, processes: int = 0) -> None:
        self.store = store
        self.making = making
        self.now = now
        self.papers: dict[str, PaperRow] = {}  # the rows read by this pass's inline batches
        self.processes = processes if has_file_database(store) else 0

    @property
    def depth(self) -> int:
        """How many batches may be claimed and composing before the oldest is sent: one per
        worker and the one being sent (more only holds finished messages in memory)."""
        return self.processes + 1 if self.pool is not None else 1

    def submit(self, ids: list[int], more_to_come: bool) -> Future[Composed]:
        """Start composing a batch; the first batch that promises more starts the workers."""
        if self.pool is None and more_to_come and self.processes > 0:
            self.pool = self._start_pool()
        handed = self.hand_over(_compose_in_worker, ids, self.now)
        if handed is not None:
            return handed
        done: Future[Composed] = Future()
        done.set_result(self.inline(ids))
        return done

    def inline(self, ids: list[int]) -> Composed:
        """Compose a batch in this process."""
        return compose_batch(self.store, ids, self.making, self.now, self.papers)

    def result(self, ids: list[int], future: Future[Composed]) -> Composed:
        """A submitted batch's messages; if the workers died, composed here instead."""
        return self.outcome(future, lambda: self.inline(ids))

    def _start_pool(self) -> ProcessPoolExecutor:
        return worker_pool(self.processes, _start_worker, database_url(self.store), self.making)
