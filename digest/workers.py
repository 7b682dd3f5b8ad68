"""Worker processes of a run (render workers, planning workers): started with `spawn` (the
parent holds threads and database connections that must not be forked), deaf to Ctrl-C and
SIGTERM (the parent decides when to stop), and gone as soon as their parent is."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self, TypeVar

from digest.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")


class Workers:
    """A pool of worker processes that a subclass starts when there is enough work, and
    closes on exit; after the pool broke, the work goes on in this process."""

    processes: int
    pool: ProcessPoolExecutor | None = None
    stopped: str  # what the log says when the workers die

    def hand_over(self, task: Callable[..., T], *args: Any) -> Future[T] | None:
        """`task(*args)` given to the workers; None when there are none (or they died)."""
        if self.pool is None:
            return None
        if lost_a_worker(self.pool):
            # the pool may not know yet; a submit now could start a replacement while the
            # pool's own clean-up walks its workers, and Python 3.11 then loses the pool's
            # manager thread ("dictionary changed size during iteration")
            self.give_up()
            return None
        try:
            return self.pool.submit(task, *args)
        except (BrokenProcessPool, OSError):
            # OSError: a worker just died and the pool, not yet marked broken, cannot start
            # its replacement ("handle is closed"): the same death, seen a moment earlier
            self.give_up()
            return None

    def outcome(self, future: Future[T], here: Callable[[], T]) -> T:
        """A handed-over task's result; if the workers died, `here()` does it instead."""
        try:
            return future.result()
        except BrokenProcessPool:
            self.give_up()
            return here()

    def give_up(self) -> None:
        """The workers died: say so once, and do the rest of the work in this process."""
        if self.pool is not None:
            log.warning(self.stopped)
        self.close()
        self.processes = 0

    def close(self) -> None:
        """Stop the workers, if any were started."""
        if self.pool is not None:
            stop_pool(self.pool)
            self.pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# BLAS libraries read these when a process loads them; a spawned worker inherits this
# process's environment
ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def worker_pool(
    processes: int, initializer: Callable[..., object], *initargs: Any
) -> ProcessPoolExecutor:
    """A pool of `processes` spawned workers, each set up by `initializer(*initargs)`.

    Each worker is one core's worth of work, so its matrix products run on one thread
    (unless the environment says otherwise): a BLAS thread per core in every worker competes
    with the other workers for the same cores and spins while it waits."""
    for name in ONE_THREAD:
        os.environ.setdefault(name, "1")
    return ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
        initargs=initargs,
    )


def _workers_of(pool: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    return list((getattr(pool, "_processes", None) or {}).values())


def lost_a_worker(pool: ProcessPoolExecutor) -> bool:
    """Whether the pool is broken or one of its workers has ended (workers only end when the
    pool shuts down, unless something killed them)."""
    return bool(getattr(pool, "_broken", False)) or any(
        worker.exitcode is not None for worker in _workers_of(pool)
    )


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Shut a pool down, waiting for its workers; if one died, first end those still alive
    (Python 3.11 would otherwise wait forever for a worker blocked on the task queue)."""
    if getattr(pool, "_broken", False):
        for process in _workers_of(pool):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def start_worker() -> None:
    """What every worker does first: ignore stop signals, and end when the parent ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()


def has_file_database(store: Store) -> bool:
    """Whether another process can open this store's database (not an in-memory one)."""
    return store.engine.url.database not in (None, "", ":memory:")


def database_url(store: Store) -> str:
    """The store's database URL with its password, for a worker to connect with."""
    return store.engine.url.render_as_string(hide_password=False)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Bulk work with the cyclic garbage collector paused, collecting after: a page of
    planning makes hundreds of thousands of short-lived objects, and the collections their
    allocations trigger cost a quarter of its time (100,000 subscribers: 21 s -> 15 s in one
    process); few of them are cycles, and they are collected when the page is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _exit_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)  # the parent died (even by SIGKILL): nobody will ask for more
