"""Each outcome recorded before the next message goes, a failed recording stops the sending, and
render workers that fail or die lose no digest; through `send_due` with a scripted Transport."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from scripted_outbox import NOW, ScriptedTransport, planned_store, send

from digest.mail import OnOutcome, Outcome, Outgoing
from digest.outbox import Outbox, SendPolicy, send_due
from digest.render import Renderer
from digest.store import Store
from digest.subscriptions.links import Links


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Two active subscribers, each with one queued digest."""
    return planned_store(tmp_path, ["one", "two"])


@pytest.fixture(params=[True, False], ids=["inline", "beside"])
def recording(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both ways outcomes are recorded: on the transport's thread (SQLite) and on a helper
    thread in group commits (a database server), whatever the test's database."""
    import digest.outbox as outbox_module

    inline: bool = request.param
    monkeypatch.setattr(outbox_module, "records_inline", lambda _store: inline)
    return inline


def test_each_outcome_is_recorded_before_the_next_message_is_sent(
    store: Store, recording: bool
) -> None:
    """What a SIGKILL can repeat is only what is in flight: when the transport starts its
    second message, the first one's outcome is already committed."""
    states_at_second_send: list[list[str]] = []

    class Watching(ScriptedTransport):
        def send(
            self,
            batch: Sequence[Outgoing],
            should_stop: Callable[[], bool] | None = None,
            on_outcome: OnOutcome | None = None,
        ) -> list[Outcome]:
            first = Outcome(batch[0].delivery_id)
            assert on_outcome is not None
            on_outcome(first)
            deadline = time.monotonic() + 5
            while not any(d.status == "sent" for d in store.deliveries.listed()):
                assert time.monotonic() < deadline, "the first outcome was never recorded"
                time.sleep(0.01)
            states_at_second_send.append(sorted(d.status for d in store.deliveries.listed()))
            second = Outcome(batch[1].delivery_id)
            on_outcome(second)
            return [first, second]

    send(store, Watching(), NOW)
    assert states_at_second_send == [["sending", "sent"]]
    assert sorted(d.status for d in store.deliveries.listed()) == ["sent", "sent"]


def test_the_end_of_a_batch_wakes_the_recording_loop_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop recording outcomes learns that the transport is done from the transport, not
    from a wait running out (a 50 ms poll cost a batch that much idle time)."""
    import queue
    from types import SimpleNamespace

    import digest.outbox as outbox_module

    monkeypatch.setattr(outbox_module, "records_inline", lambda _store: False)  # the helper's

    ran_out: list[float | None] = []

    class Counting(queue.SimpleQueue):  # type: ignore[type-arg]
        def get(self, block: bool = True, timeout: float | None = None) -> object:
            try:
                return super().get(block, timeout)
            except queue.Empty:
                ran_out.append(timeout)
                raise

    namespace = SimpleNamespace(SimpleQueue=Counting, Empty=queue.Empty)
    monkeypatch.setattr(outbox_module, "queue", namespace)

    send(store, ScriptedTransport(linger=0.3), NOW)  # closing up after its last outcome
    assert sorted(d.status for d in store.deliveries.listed()) == ["sent", "sent"]
    assert ran_out == []


def test_a_failed_recording_stops_sending_and_reaches_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recording: bool
) -> None:
    """When an outcome cannot be recorded, the transport starts no other message and the
    error is raised; what was recorded stays, the rest stays claimed (the claim times out)."""
    store = planned_store(tmp_path, ["a", "b", "c"])
    real = store.deliveries.recorder
    writes = 0

    @contextmanager
    def failing_second(now: datetime, limit: int) -> Iterator[Callable[[Sequence[object]], None]]:
        with real(now, limit) as write:

            def flaky(results: Sequence[object]) -> None:
                nonlocal writes
                writes += 1
                if writes == 2:
                    raise OSError("disk full")
                write(results)  # type: ignore[arg-type]

            yield flaky

    monkeypatch.setattr(store.deliveries, "recorder", failing_second)
    transport = ScriptedTransport()
    with pytest.raises(OSError, match="disk full"):
        send(store, transport, NOW)
    assert len(transport.seen) == 2
    assert sorted(d.status for d in store.deliveries.listed()) == ["sending", "sending", "sent"]


def test_a_message_that_cannot_be_built_fails_alone_in_a_render_worker(tmp_path: Path) -> None:
    """Composed in a worker process, a digest whose address the encoder refuses fails with a
    clear error; the rest of its batch, and the next batches, go out."""
    from digest.composer import Composer, Composing

    store = planned_store(tmp_path, [f"reader{n}" for n in range(5)])
    with store.engine.begin() as conn:  # an IDN label longer than 63 characters: unencodable
        conn.exec_driver_sql(
            "UPDATE subscriber SET email = ? WHERE email = 'reader1@example.org'",
            ("reader1@" + "ä" * 70 + ".org",),
        )
    links = Links(b"k" * 32, "https://d.example")
    ids = [d.id for d in store.deliveries.listed() if d.id is not None]
    making = Composing(Renderer(), links, "d@x.org")
    with Composer(store, making, NOW, processes=1) as composer:
        built, failed = composer.result(ids, composer.submit(ids, more_to_come=True))
        assert composer.pool is not None  # it ran in the worker
    assert [f.delivery_id for f in failed] == [ids[1]]
    assert "cannot build this message" in (failed[0].error or "")
    assert [b.delivery_id for b in built] == [ids[0], *ids[2:]]

    transport = ScriptedTransport()
    policy = SendPolicy(batch=2, render_processes=1)
    outbox = Outbox(transport, Renderer(), links, "d@x.org", policy)
    report = send_due(store, outbox, now=NOW)
    assert (report.sent, report.failed) == (4, 1)
    statuses = {d.id: d.status for d in store.deliveries.listed()}
    assert statuses.pop(ids[1]) == "failed" and set(statuses.values()) == {"sent"}
    assert sorted(transport.seen) == [ids[0], *ids[2:]]


@pytest.mark.skipif(os.name != "posix", reason="kills the render workers with SIGKILL")
def test_killed_render_workers_leave_the_composing_to_the_sending_process(
    tmp_path: Path,
) -> None:
    """The render workers die (SIGKILL, as from the OOM killer) while the first batch is
    sent: the batches they held and every later one are composed in the sending process;
    every digest goes out once."""
    store = planned_store(tmp_path, [f"reader{n}" for n in range(9)])

    def kill_the_workers() -> None:
        workers = multiprocessing.active_children()
        assert workers, "the first batch was not composed in render workers"
        for worker in workers:
            os.kill(worker.pid or 0, signal.SIGKILL)
        for worker in workers:
            worker.join(30)

    transport = ScriptedTransport(first=kill_the_workers)
    links = Links(b"k" * 32, "https://d.example")
    outbox = Outbox(
        transport, Renderer(), links, "d@x.org", SendPolicy(batch=2, render_processes=2)
    )
    report = send_due(store, outbox, now=NOW)
    ids = sorted(d.id for d in store.deliveries.listed() if d.id is not None)
    assert report.sent == 9 and sorted(transport.seen) == ids
    assert {d.status for d in store.deliveries.listed()} == {"sent"}
