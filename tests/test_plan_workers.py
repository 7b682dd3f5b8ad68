"""Planning in worker processes: the same digests as planning in one process, every due
subscriber planned once, and pages of a dead worker planned by the parent."""

from __future__ import annotations

import os
import shutil
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digest.ingest import store_records
from digest.pipeline import Policy, plan
from digest.plan_workers import PlanWorkers
from digest.planning import next_send_at
from digest.sources.base import PaperRecord
from digest.store import Store
from digest.subscriptions.preferences import new_subscriber
from digest.workers import ONE_THREAD, Workers, worker_pool

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TOPICS = ["diffusion models", "kv cache", "galaxy clusters", "speech recognition", "bm25"]


def seeded(path: Path, subscribers: int, scheduled: bool = True) -> Path:
    """A database file with papers on a few topics and `subscribers` people, due when
    `scheduled` (else their send times are still to be computed)."""
    store = Store(f"sqlite:///{path}")
    records = [
        PaperRecord(title=f"{topic.title()} study {n}", abstract=f"We study {topic}. " * (n + 2))
        for n in range(3)
        for topic in TOPICS
    ]
    store_records(store, records, "t", NOW - timedelta(hours=2))
    for n in range(subscribers):
        keywords = ", ".join(TOPICS[k % len(TOPICS)] for k in range(n, n + 1 + n % 3))
        store.subscribers.add(
            new_subscriber(
                email=f"reader{n}@example.org",
                keywords=keywords,
                send_at="00:00",
                max_papers=2 + n % 4,
                now=NOW - timedelta(days=1),
            )
        )
    if scheduled:
        timed(store)
    store.close()
    return path


def timed(store: Store) -> None:
    """Every subscriber's next send time computed and stored ahead of planning (new
    subscribers: no digest yet)."""
    people = store.subscribers.listed()
    store.subscribers.set_next_send({s.id: next_send_at(s, NOW, None) for s in people if s.id})


def digests(store: Store) -> dict[tuple[int, str], tuple[str, list[tuple[str, float, list[str]]]]]:
    """Every delivery by (subscriber, edition): its status and its items in rank order."""
    out = {}
    for delivery in store.deliveries.listed():
        assert delivery.id is not None
        items = [
            (paper.id, item.score, item.matched)
            for paper, item in store.deliveries.contents([delivery.id])[delivery.id].items
        ]
        out[(delivery.subscriber_id, delivery.edition)] = (str(delivery.status), items)
    return out


def test_planning_in_workers_gives_the_digests_planning_here_gives(tmp_path: Path) -> None:
    """Send times computed and digests planned in pages of 4 (every subscriber has the same
    send time, so pages split ties by id), in two workers and in this process: the same
    deliveries, items, scores and figures."""
    source = seeded(tmp_path / "seed.sqlite", 23, scheduled=False)
    results = []
    for processes in (2, 0):
        copy = tmp_path / f"plan{processes}.sqlite"
        shutil.copy(source, copy)
        store = Store(f"sqlite:///{copy}")
        report = plan(store, NOW, Policy(min_score=0.05, batch=4, processes=processes))
        results.append(((report.due, report.planned, report.skipped), digests(store)))
        store.close()
    (in_workers, planned_there), (here, planned_here) = results
    assert in_workers == here and in_workers[0] == 23
    assert len(planned_there) == 23 and planned_there == planned_here
    assert any(items for _, items in planned_here.values())
    again = Store(f"sqlite:///{tmp_path / 'plan2.sqlite'}")
    assert again.subscribers.unscheduled() == [] and again.subscribers.due(NOW, 100) == []


def test_new_subscribers_are_timed_and_planned_in_one_pass_as_in_two(tmp_path: Path) -> None:
    """New subscribers in several zones, at several times, daily and weekly: planning them
    straight away (their send times computed on the way) gives the deliveries and next send
    times that computing every send time first, then planning, gives."""
    source = seeded(tmp_path / "seed.sqlite", 0)
    store = Store(f"sqlite:///{source}")
    zones = ["UTC", "Asia/Tokyo", "America/Los_Angeles", "Europe/Berlin"]
    for n in range(24):
        store.subscribers.add(
            new_subscriber(
                email=f"r{n}@example.org",
                keywords=TOPICS[n % len(TOPICS)],
                timezone=zones[n % 4],
                send_at=["00:00", "06:30", "13:00", "23:45"][n // 4 % 4],
                frequency="weekly" if n % 5 == 0 else "daily",
                weekly_day=n % 7,
                now=NOW - timedelta(days=1),
            )
        )
    store.close()
    results = []
    for first in (False, True):
        copy = tmp_path / f"two{first}.sqlite"
        shutil.copy(source, copy)
        store = Store(f"sqlite:///{copy}")
        if first:
            timed(store)
        report = plan(store, NOW, Policy(min_score=0.05, batch=5, processes=0))
        times = {s.id: s.next_send_at for s in store.subscribers.listed()}
        results.append((report.due, digests(store), times))
        store.close()
    (due, planned, times), two_passes = results
    assert (due, planned, times) == two_passes
    assert 0 < len(planned) < 24  # some are due now, some later
    assert all(when is not None and when > NOW for when in times.values())


def test_the_pages_go_to_the_workers_and_each_subscriber_is_planned_once(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{seeded(tmp_path / 'd.sqlite', 12)}")
    policy = Policy(min_score=0.05, batch=4, processes=2)
    ids = sorted(sid for _, sid in store.subscribers.due(NOW, 100))
    with PlanWorkers(store, NOW, policy) as workers:
        for start in range(0, len(ids), 4):
            workers.submit(ids[start : start + 4], more_to_come=True)
        assert workers.pool is not None  # it planned in the workers
        tally = workers.finish()
        # a page planned again (as after a lost reply) finds everyone planned: nothing twice
        again = workers.here(ids[:4])
    assert (tally.due, again.due, again.planned) == (12, 0, 0)
    assert sorted(sid for sid, _ in digests(store)) == ids
    assert store.subscribers.due(NOW, 100) == []


@pytest.mark.skipif(os.name != "posix", reason="kills a worker with SIGKILL")
def test_pages_of_killed_workers_are_planned_here(tmp_path: Path) -> None:
    """SIGKILL every planning worker after the first page: the rest of the pages (and any page
    the dead workers held) are planned in this process; nobody is lost or planned twice."""
    store = Store(f"sqlite:///{seeded(tmp_path / 'd.sqlite', 16)}")
    policy = Policy(min_score=0.05, batch=4, processes=2)
    ids = sorted(sid for _, sid in store.subscribers.due(NOW, 100))
    with PlanWorkers(store, NOW, policy) as workers:
        workers.submit(ids[:4], more_to_come=True)
        assert workers.pool is not None
        deadline = time.monotonic() + 60
        while not workers.pool._processes:  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.01)
        killed = list(workers.pool._processes.values())  # type: ignore[attr-defined]
        for worker in killed:
            os.kill(worker.pid, signal.SIGKILL)
        for worker in killed:
            worker.join(30)  # dead for certain; the pool itself may not know yet
        for start in range(4, len(ids), 4):
            workers.submit(ids[start : start + 4], more_to_come=True)
        tally = workers.finish()
        assert workers.pool is None and workers.processes == 0  # gave up on the workers
    assert tally.due >= 12  # at least the pages after the kill were planned here
    assert sorted(sid for sid, _ in digests(store)) == ids
    assert store.subscribers.due(NOW, 100) == []


class SomeWorkers(Workers):
    """Workers with no work of their own: a pool is given to them by the test."""

    stopped = "the test workers stopped"


def test_a_pool_that_cannot_start_a_worker_is_given_up_like_a_broken_one() -> None:
    """Right after a worker is killed, submitting can fail to spawn its replacement with
    OSError ("handle is closed") before the pool says it is broken: the task is then done
    here, as for a broken pool, instead of failing the run."""
    from concurrent.futures import ProcessPoolExecutor

    class Closed(ProcessPoolExecutor):
        def submit(self, *args: object, **kwargs: object) -> Any:
            raise OSError("handle is closed")

    workers = SomeWorkers()
    workers.processes, workers.pool = 2, Closed(max_workers=1)
    assert workers.hand_over(print, "never") is None
    assert workers.pool is None and workers.processes == 0


@pytest.mark.skipif(os.name != "posix", reason="kills a worker with SIGKILL")
def test_a_pool_that_lost_a_worker_gets_no_more_work_even_before_it_knows() -> None:
    """A worker found dead before the next task is handed over: nothing more is submitted to
    its pool (a submit then could spawn a replacement while the pool cleans up, which loses
    the pool's manager thread on Python 3.11); the work is done here."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    class Counting(ProcessPoolExecutor):
        submitted = 0

        def submit(self, *args: Any, **kwargs: Any) -> Any:
            Counting.submitted += 1
            return super().submit(*args, **kwargs)

    workers = SomeWorkers()
    pool = Counting(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    workers.processes, workers.pool = 1, pool
    first = workers.hand_over(os.getpid)
    assert first is not None
    pid = first.result(timeout=60)
    [worker] = list(pool._processes.values())  # type: ignore[attr-defined]
    assert worker.pid == pid
    os.kill(pid, signal.SIGKILL)
    worker.join(30)
    assert workers.hand_over(os.getpid) is None
    assert Counting.submitted == 1 and workers.pool is None and workers.processes == 0


def _blas_threads() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in ONE_THREAD}


def test_workers_do_their_matrix_products_on_one_thread_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two planning workers on two cores, each with a BLAS thread per core, compete for the
    cores: a worker's BLAS gets one thread; a setting given in the environment is kept."""
    for name in ONE_THREAD:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    pool = worker_pool(1, os.getpid)
    try:
        seen = pool.submit(_blas_threads).result(timeout=60)
    finally:
        pool.shutdown()
    assert seen == {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "3"}
