"""`digest serve`: APScheduler wiring only (when to fetch, dispatch, read the returned mail and
prune) beside the web app.

One periodic dispatch tick plans whoever is due (an indexed next-send time) and works the
outbox; idempotency comes from the outbox's unique (subscriber, edition), not from the
scheduler, so a restart neither bursts nor skips. SIGTERM/SIGINT stop claiming, let the
current batch finish or go back to the queue, and exit.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TypeVar

import uvicorn
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import OperationalError

from digest.app import Digest
from digest.errors import DigestError
from digest.outbox import SendReport
from digest.safe_text import without_password
from digest.sources.base import SourceConfig
from digest.store.engine import database_error
from digest.vocabulary import counted
from digest.web.listen import address, listening_socket
from digest.wiring import Services

log = logging.getLogger("digest.scheduler")
T = TypeVar("T")
MISFIRE_GRACE_SECONDS = 15 * 60
DEFAULT_FETCH_MINUTES = 60
KEEP_AFTER = timedelta(minutes=10)  # the first daily clean-up, after start


class Runner:
    """The jobs the scheduler calls, sharing one stop flag."""

    def __init__(self, services: Services, clock: Callable[[], datetime] | None = None) -> None:
        self.services = services
        self.digest = Digest(services)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stop = threading.Event()

    def _unless_stopping(self, failed: str, job: Callable[[datetime], T]) -> T | None:
        """`job(now)`, unless stopping; None (and one error line) when it fails."""
        if self.stop.is_set():
            return None
        try:
            return job(self.clock())
        except DigestError as exc:
            log.error("%s failed: %s", failed, exc)
            return None
        except OperationalError as exc:  # locked too long, or the server gone: next time
            log.error("%s failed: %s", failed, database_error(exc))
            return None

    def dispatch(self) -> None:
        """Plan whoever is due and send what is ready, unless stopping."""
        report = self._unless_stopping(
            "dispatch", lambda now: self.digest.dispatch(now, self.stop.is_set)
        )
        if report is None:
            return
        planned = f"{report.due} due, {report.planned} planned, {report.skipped} skipped; "
        _log_sent("dispatch", report.send, planned if report.due else "")

    def send_ready(self) -> bool:
        """Send what is ready (planned by another process), unless stopping; whether there
        was anything."""
        sent = self._unless_stopping(
            "sending", lambda now: self.digest.send_ready(now, self.stop.is_set)
        )
        return sent is not None and _log_sent("send", sent)

    def keep(self) -> None:
        """Delete what is older than `keep_days` (once a day), unless stopping."""
        done = self._unless_stopping("removing old digests and papers", self.digest.keep)
        if done is not None and any(done):
            days = counted(self.services.settings.keep_days, "day")
            log.info("removed what is older than %s: digests %d, papers %d", days, *done)

    def read_inbox(self) -> None:
        """Act on the returned mail (bounces, complaints, unsubscribes), unless stopping."""
        report = self._unless_stopping("reading returned mail", self.digest.read_inbox)
        if report is not None and report.understood:
            log.info("returned mail: %s", report)

    def fetch(self, source: SourceConfig) -> None:
        """Ingest one source, unless stopping."""
        reports = self._unless_stopping(
            f"fetching {source.name}", lambda now: self.digest.fetch(now, [source])
        )
        for r in reports or []:
            shown = without_password(r.url)
            if r.unchanged:
                log.debug("fetch %s: unchanged", shown)
            elif r.stopped:
                log.info("fetch %s: stopped, to be fetched again at the next start", shown)
            elif r.ok:
                log.info("fetch %s: %d new, %d known, %d bad", shown, r.new, r.known, r.bad)
            else:
                log.error("fetch %s failed: %s", shown, r.error)


def _log_sent(what: str, sent: SendReport, before: str = "") -> bool:
    """One line for a pass that did something (and its first error); whether it did."""
    busy = bool(before or sent.sent or sent.retry or sent.failed or sent.released)
    if busy:
        log.info(
            "%s: %s%d sent, %d retry, %d failed, %d released",
            what,
            before,
            sent.sent,
            sent.retry,
            sent.failed,
            sent.released,
        )
    if sent.first_error:
        log.warning("first error of the %s: %s", what, sent.first_error)
    return busy


def _still_running(record: logging.LogRecord) -> bool:
    """Drop APScheduler's warning that a tick was skipped because the last one still runs:
    a long send run does that every tick, and the running tick picks up the work anyway."""
    return "maximum number of running instances reached" not in record.getMessage()


def build_scheduler(runner: Runner, tick_seconds: float) -> BackgroundScheduler:
    """One dispatch tick and one fetch job per source; coalesced, with a grace of minutes."""
    # APScheduler says "Running job" and "executed successfully" at every tick: 2,880 lines a
    # day that say nothing; our own jobs log one line when they did something
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.scheduler").addFilter(_still_running)
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )
    now = datetime.now(UTC)
    for source in runner.services.settings.sources:
        minutes = source.interval_minutes or DEFAULT_FETCH_MINUTES
        scheduler.add_job(
            runner.fetch,
            IntervalTrigger(minutes=minutes),
            args=[source],
            id=f"fetch:{source.name}",
            next_run_time=now,
        )
    scheduler.add_job(
        runner.dispatch, IntervalTrigger(seconds=tick_seconds), id="dispatch", next_run_time=now
    )
    settings = runner.services.settings
    if settings.inbox_kind != "none":  # complaints acted on within minutes, not at the next cron
        scheduler.add_job(
            runner.read_inbox,
            IntervalTrigger(minutes=settings.inbox_minutes),
            id="inbox",
            next_run_time=now,
        )
    if settings.keep_days:  # after the first fetch and dispatch, then daily
        scheduler.add_job(
            runner.keep, IntervalTrigger(days=1), id="keep", next_run_time=now + KEEP_AFTER
        )
    return scheduler


class _Server(uvicorn.Server):
    """uvicorn that also tells the jobs to stop the moment a signal arrives."""

    def __init__(self, config: uvicorn.Config, stop: threading.Event) -> None:
        super().__init__(config)
        self.stop = stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stop.set()
        super().handle_exit(sig, frame)


def serve(
    services: Services, host: str, port: int, *, tick_seconds: float = 60.0, web: bool = True
) -> None:
    """Run the scheduler (and the web app) until SIGTERM or SIGINT; leave nothing `sending`."""
    sock = listening_socket(host, port) if web else None  # before anything is fetched or sent
    runner = Runner(services)
    _stop_on_signals(runner.stop)
    scheduler = build_scheduler(runner, tick_seconds)
    scheduler.start()
    sources = counted(len(services.settings.sources), "source")
    log.info("scheduler started: dispatch every %gs, %s", tick_seconds, sources)
    try:
        if sock is not None:
            log.info("web app on http://%s", address(host, port))
            config = uvicorn.Config(
                services.web_app(runner.clock),
                host=host,
                port=port,
                log_level="info",
                log_config=None,  # its lines in the service's format, with their time
                lifespan="off",
            )
            _Server(config, runner.stop).run(sockets=[sock])
        else:
            runner.stop.wait()
    finally:
        runner.stop.set()
        services.interrupt_fetches()  # a fetch waiting out a backoff would hold the stop up
        scheduler.shutdown(wait=True)  # the running batch finishes or goes back to the queue
        services.close()
        log.info("stopped")


def work(services: Services, idle_seconds: float = 5.0) -> None:
    """`digest worker`: send what another process plans, until SIGTERM or SIGINT: every
    ready delivery, then a wait of `idle_seconds` when none was; nothing left `sending`."""
    runner = Runner(services)
    _stop_on_signals(runner.stop)
    log.info("worker started: sending what is planned (looking every %gs when idle)", idle_seconds)
    try:
        while not runner.stop.is_set():
            if not runner.send_ready():
                runner.stop.wait(idle_seconds)
    finally:
        services.close()
        log.info("stopped")


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop`: claiming ends, the batch in hand finishes or goes back."""

    def on_signal(sig: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
