"""`digest serve` and `digest send` as real processes: SIGTERM mid-dispatch, SIGKILL mid-send."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_KEY, Project, free_port, smtp_sink

pytestmark = pytest.mark.slow
SMTP_CONNECTIONS = 4
DIGEST = str(Path(sys.executable).parent / "digest")
NOW = "2026-11-22T12:00:00+00:00"


class SlowSink:
    """An SMTP server that takes a little while per message and logs every recipient."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received: list[tuple[str, str]] = []  # (recipient, Message-ID)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(self.delay)
        message_id = ""
        for line in envelope.content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode()
        for rcpt in envelope.rcpt_tos:
            self.received.append((rcpt, message_id))
        return "250 OK"


@pytest.fixture
def sink() -> Iterator[tuple[SlowSink, int]]:
    handler = SlowSink(delay=0.01)
    with smtp_sink(handler) as port:
        yield handler, port


def environment(project: Project, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update(
        DIGEST_SECRET_KEY=TEST_KEY,
        DIGEST_TRANSPORT="smtp",
        DIGEST_SMTP_HOST="127.0.0.1",
        DIGEST_SMTP_PORT=str(port),
        DIGEST_SMTP_TIMEOUT="5",
        DIGEST_SEND_BATCH="50",
        DIGEST_SMTP_CONNECTIONS=str(SMTP_CONNECTIONS),
        DIGEST_RENDER_PROCESSES="1",  # compose in a worker process even on one core
        DIGEST_SEMANTIC="off",  # as conftest sets it: no model to load where the extra is installed
    )
    env.update(extra)
    return env


def add_many(project: Project, count: int, now: str = NOW) -> list[str]:
    emails = [f"reader{i:04d}@example.org" for i in range(count)]
    rows = ["email,keywords,send_at"] + [f"{e},diffusion models,00:00" for e in emails]
    (project.root / "people.csv").write_text("\n".join(rows) + "\n")
    project.ok("subscribers", "import", str(project.root / "people.csv"))
    project.ok("fetch", "--now", now)
    return emails


def workers_in(root: Path) -> list[int]:
    """Render worker processes (multiprocessing spawn children) running in this directory."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (
                b"spawn_main" in (proc / "cmdline").read_bytes()
                and (proc / "cwd").resolve() == root
            ):
                found.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return found


def statuses(project: Project) -> dict[str, int]:
    return dict(project.query("select status, count(*) from delivery group by status"))


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_serve_stops_cleanly_on_sigterm_mid_dispatch(
    project: Project, sink: tuple[SlowSink, int]
) -> None:
    handler, port = sink
    # serve runs on the real clock: the papers must be new by it, not by the fixed NOW
    emails = add_many(project, 400, datetime.now(UTC).isoformat())
    web_port = free_port()
    process = subprocess.Popen(
        [DIGEST, "serve", "--port", str(web_port), "--tick", "1"],
        cwd=project.root,
        env=environment(project, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: len(handler.received) >= 30, 60, "the first digests")
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        output, _ = process.communicate(timeout=10)
        stopped_after = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert stopped_after < 10
    assert "stopped" in output
    # the web server's lines read as the scheduler's: with their time (operators sort by it)
    started_line = next(line for line in output.splitlines() if "Started server" in line)
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO uvicorn", started_line)
    assert f"INFO digest.scheduler: web app on http://127.0.0.1:{web_port}" in output
    assert "scheduler started: dispatch every 1s, 1 source\n" in output  # the project's seeds
    counts = statuses(project)
    assert counts.get("sending", 0) == 0, counts
    assert 30 <= counts["sent"] < 400, counts
    received = Counter(rcpt for rcpt, _ in handler.received)
    assert set(received.values()) == {1}

    # the rest goes out on the next run, each once
    result = subprocess.run(
        [DIGEST, "send", "--now", NOW],
        cwd=project.root,
        env=environment(project, port),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    received = Counter(rcpt for rcpt, _ in handler.received)
    assert sorted(received) == emails and set(received.values()) == {1}
    assert statuses(project) == {"sent": 400}


def test_sigkill_mid_send_then_restart_loses_nothing(
    project: Project, sink: tuple[SlowSink, int]
) -> None:
    handler, port = sink
    emails = add_many(project, 1000)
    env = environment(project, port, DIGEST_CLAIM_TIMEOUT_SECONDS="30")
    process = subprocess.Popen(
        [DIGEST, "send", "--now", NOW],
        cwd=project.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # mid-batch (batches of 50): some messages are in flight, the rest claimed, unsent
        wait_for(lambda: len(handler.received) >= 225, 120, "225 digests")
        assert workers_in(project.root), "the digests are composed in a worker process"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    # the render workers end with the process that started them, even when it is killed
    wait_for(lambda: not workers_in(project.root), 10, "the render workers to exit")
    in_flight = {
        row[0]
        for row in project.query(
            "select s.email from delivery d join subscriber s on s.id = d.subscriber_id "
            "where d.status = 'sending'"
        )
    }
    # the kill may land between two batches: then nothing is in flight
    assert project.query("select count(*) from delivery") == [(1000,)]

    # a restart before the claims go stale sends everything else, but not the claimed ones
    early = subprocess.run(
        [DIGEST, "send", "--now", NOW],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert early.returncode == 0, early.stderr
    assert statuses(project).get("sending", 0) == len(in_flight)
    # once the claims are stale (30 s later), they are taken over
    later = "2026-11-22T12:01:00+00:00"
    final = subprocess.run(
        [DIGEST, "send", "--now", later],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert final.returncode == 0, final.stderr
    assert statuses(project) == {"sent": 1000}

    received = Counter(rcpt for rcpt, _ in handler.received)
    assert sorted(received) == emails  # nobody lost
    duplicates = {rcpt for rcpt, n in received.items() if n > 1}
    assert all(received[r] == 2 for r in duplicates)
    assert duplicates <= in_flight  # only messages in flight at the kill may arrive twice
    # a connection sends its next message only once its last outcome is recorded
    assert len(duplicates) <= SMTP_CONNECTIONS
    message_ids = Counter(mid for _, mid in handler.received)
    assert len(message_ids) == 1000  # a duplicate carries the same Message-ID
    print(f"SIGKILL: {len(in_flight)} in flight, {len(duplicates)} delivered twice")


def test_two_senders_on_one_database_never_double_send(
    project: Project, sink: tuple[SlowSink, int]
) -> None:
    handler, port = sink
    emails = add_many(project, 300)
    env = environment(project, port, DIGEST_SEND_BATCH="20")
    processes = [
        subprocess.Popen(
            [DIGEST, "send", "--now", NOW],
            cwd=project.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    received = Counter(rcpt for rcpt, _ in handler.received)
    assert sorted(received) == emails and set(received.values()) == {1}
    assert statuses(project) == {"sent": 300}
    assert project.query("select count(*) from delivery") == [(300,)]


def test_a_worker_sends_what_is_planned_until_sigterm(
    project: Project, sink: tuple[SlowSink, int]
) -> None:
    """`digest worker` sends what another process planned (it plans nothing itself: the
    digests of readers not yet planned stay unplanned), keeps looking while idle, and stops
    cleanly on SIGTERM with nothing left `sending`."""
    handler, port = sink
    emails = add_many(project, 40)
    env = environment(project, port, DIGEST_SEND_BATCH="10")
    from digest.pipeline import Policy, plan
    from digest.store import Store

    store = Store(f"sqlite:///{project.db}")
    planned = plan(store, datetime.fromisoformat(NOW), Policy(min_score=0.0)).planned
    store.close()
    assert planned == 40 and statuses(project) == {"queued": 40}
    project.ok("subscribers", "add", "later@example.org", "--keywords", "diffusion models")
    process = subprocess.Popen(
        [DIGEST, "worker", "--idle", "0.2"],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: statuses(project) == {"sent": 40}, 60, "the worker to send all 40")
        time.sleep(0.5)  # idle: it keeps looking, and finds nothing of its own to plan
        assert project.query("select count(*) from delivery") == [(40,)]
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "worker started" in err and err.rstrip().endswith("stopped")
    assert sum(int(n) for n in re.findall(r"send: (\d+) sent", err)) == 40
    assert sorted(rcpt for rcpt, _ in handler.received) == emails
