"""Time zones, DST, frequencies, catch-up and concurrent planners, over simulated days."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Project

from digest.ingest import store_records
from digest.pipeline import Policy, plan
from digest.planning import next_send_at
from digest.sources.base import PaperRecord
from digest.store import Store
from digest.subscriptions.preferences import new_subscriber

START = datetime(2026, 10, 20, 0, 0, tzinfo=UTC)  # EU DST ends Oct 25, US DST ends Nov 1
ZONES = {
    "honolulu@example.org": ("Pacific/Honolulu", "08:00"),  # UTC-10
    "utc@example.org": ("UTC", "08:00"),  # UTC+0
    "kolkata@example.org": ("Asia/Kolkata", "08:00"),  # UTC+5:30
    "kiritimati@example.org": ("Pacific/Kiritimati", "08:00"),  # UTC+14
    "berlin@example.org": ("Europe/Berlin", "02:30"),  # 02:30 happens twice on Oct 25
    "newyork@example.org": ("America/New_York", "01:30"),  # 01:30 happens twice on Nov 1
}
POLICY = Policy(min_score=0.0, first_window_days=3, send_empty=True)


def store_with(tmp_path: Path, people: dict[str, tuple[str, str]], **extra: str) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'digest.sqlite'}")
    for email, (zone, at) in people.items():
        store.subscribers.add(
            new_subscriber(
                email=email,
                keywords="diffusion",
                timezone=zone,
                send_at=at,
                now=START - timedelta(days=1),
                **extra,
            )
        )
    return store


def add_paper(store: Store, now: datetime) -> None:
    title = f"Diffusion paper of {now.isoformat()}"
    store_records(store, [PaperRecord(title=title, abstract="A diffusion model. " * 5)], "t", now)


def simulate(
    store: Store,
    start: datetime,
    hours: int,
    step_minutes: int = 30,
    skip: tuple[datetime, datetime] | None = None,
) -> None:
    now = start
    while now < start + timedelta(hours=hours):
        if now.minute == 0 and now.hour % 6 == 0:
            add_paper(store, now)
        if skip is None or not skip[0] <= now < skip[1]:
            plan(store, now, POLICY)
        now += timedelta(minutes=step_minutes)


def editions(store: Store) -> dict[str, list[str]]:
    people = {s.id: s.email for s in store.subscribers.listed()}
    out: dict[str, list[str]] = {}
    for d in store.deliveries.listed():
        out.setdefault(people[d.subscriber_id], []).append(d.edition)
    return out


def local_days(zone: str, start: datetime, end: datetime, at: str) -> list[str]:
    """Local dates from the one at `start` whose send time comes before `end` (a send time
    already past at `start` is due at once: the subscriber existed before)."""
    hours, minutes = map(int, at.split(":"))
    tz = ZoneInfo(zone)
    day = start.astimezone(tz).date() - timedelta(days=1)
    out = []
    while day <= end.astimezone(tz).date() + timedelta(days=1):
        moment = datetime(day.year, day.month, day.day, hours, minutes, tzinfo=tz)
        if day >= start.astimezone(tz).date() and moment.astimezone(UTC) < end:
            out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def test_ten_days_four_offsets_and_two_dst_changes_one_digest_per_local_day(tmp_path: Path) -> None:
    store = store_with(tmp_path, ZONES)
    simulate(store, START, hours=24 * 10 + 12)
    got = editions(store)
    end = START + timedelta(hours=24 * 10 + 12)
    for email, (zone, at) in ZONES.items():
        days = got[email]
        assert len(days) == len(set(days)), f"{email} got two digests for one day: {days}"
        assert days == sorted(days)
        expected = local_days(zone, START, end, at)
        assert days == expected, (email, days, expected)
        assert len(days) >= 10


def test_dst_fall_back_sends_at_the_first_occurrence_of_an_ambiguous_time() -> None:
    berlin = new_subscriber(
        email="b@example.org", keywords="x", timezone="Europe/Berlin", send_at="02:30", now=START
    )
    day_before = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    when = next_send_at(berlin, day_before, last_edition="2026-10-24")
    assert when == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, not 02:30 CET


def test_dst_spring_forward_sends_once_on_a_day_without_the_send_time(tmp_path: Path) -> None:
    start = datetime(2026, 3, 27, 0, 0, tzinfo=UTC)  # EU DST starts Mar 29: 02:30 never happens
    people = {"berlin@example.org": ("Europe/Berlin", "02:30")}
    store = store_with(tmp_path, people)
    simulate(store, start, hours=24 * 4)
    assert editions(store)["berlin@example.org"] == [
        "2026-03-27",
        "2026-03-28",
        "2026-03-29",
        "2026-03-30",
    ]


def test_after_downtime_one_catch_up_digest_not_one_per_missed_day(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"utc@example.org": ("UTC", "08:00")})
    down = (datetime(2026, 10, 21, 12, tzinfo=UTC), datetime(2026, 10, 24, 12, tzinfo=UTC))
    simulate(store, START, hours=24 * 6, skip=down)
    assert editions(store)["utc@example.org"] == [
        "2026-10-20",
        "2026-10-21",
        "2026-10-24",
        "2026-10-25",
    ]


def test_changing_time_zone_never_gives_two_digests_for_one_local_day(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"mover@example.org": ("Pacific/Kiritimati", "08:00")})
    simulate(store, START, hours=24 * 2)  # 2026-10-20 .. 21 in UTC+14 (local 20..22)
    mover = store.subscribers.get("mover@example.org")
    mover.timezone = "Pacific/Honolulu"  # 24 hours behind: local date goes back a day
    store.subscribers.save(mover)
    simulate(store, START + timedelta(hours=48), hours=24 * 3)
    days = editions(store)["mover@example.org"]
    assert len(days) == len(set(days)) and days == sorted(days)
    as_dates = [date.fromisoformat(d) for d in days]
    assert all((b - a).days == 1 for a, b in zip(as_dates, as_dates[1:], strict=False)), days


def test_weekdays_and_weekly_frequencies(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"weekdays@example.org": ("UTC", "08:00")}, frequency="weekdays")
    store.subscribers.add(
        new_subscriber(
            email="weekly@example.org",
            keywords="diffusion",
            frequency="weekly",
            weekly_day="friday",
            now=START - timedelta(days=1),
        )
    )
    simulate(store, START, hours=24 * 14)  # Tue Oct 20 .. Mon Nov 2
    got = editions(store)
    assert all(date.fromisoformat(d).weekday() < 5 for d in got["weekdays@example.org"])
    assert len(got["weekdays@example.org"]) == 10
    assert got["weekly@example.org"] == ["2026-10-23", "2026-10-30"]


def test_two_planners_at_once_never_double_plan(tmp_path: Path) -> None:
    store = store_with(tmp_path, {f"p{i}@example.org": ("UTC", "08:00") for i in range(50)})
    add_paper(store, START)
    now = START + timedelta(hours=9)
    other = Store(f"sqlite:///{tmp_path / 'digest.sqlite'}")
    reports = []

    def run(s: Store, owner: str) -> None:
        reports.append(plan(s, now, POLICY, owner=owner))

    threads = [
        threading.Thread(target=run, args=(s, f"planner-{i}"))
        for i, s in enumerate((store, other, store, other))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = Counter((d.subscriber_id, d.edition) for d in store.deliveries.listed())
    assert len(counts) == 50 and set(counts.values()) == {1}
    assert sum(r.planned for r in reports) == 50


def test_only_active_subscribers_are_planned(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"on@example.org": ("UTC", "00:00")})
    for status in ("pending", "paused", "unsubscribed", "bounced"):
        store.subscribers.add(
            new_subscriber(
                email=f"{status}@example.org",
                keywords="diffusion",
                send_at="00:00",
                status=status,
                now=START,
            )
        )
    add_paper(store, START)
    plan(store, START + timedelta(hours=1), POLICY)
    assert list(editions(store)) == ["on@example.org"]
    statuses = {s.email: (s.status, s.next_send_at) for s in store.subscribers.listed()}
    assert all(when is None for status, when in statuses.values() if status != "active")


def test_serve_logs_one_line_per_tick_that_did_something(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    """Ticks with nothing to do are silent; APScheduler's own two lines per run are gone."""
    import logging

    from digest.config import load_settings
    from digest.scheduler import Runner, build_scheduler
    from digest.wiring import Services

    services = Services(load_settings())
    runner = Runner(services)
    caplog.set_level(logging.INFO)
    scheduler = build_scheduler(runner, tick_seconds=0.1)
    scheduler.start()
    try:
        time.sleep(1.5)  # the first fetch, then about a dozen idle ticks
    finally:
        scheduler.shutdown(wait=True)
        services.close()
    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert {r.name for r in lines} == {"digest.scheduler"}  # nothing from APScheduler
    # the first fetch says one line per listing it read; the idle ticks say nothing at all
    assert len(lines) == 5 and all(r.getMessage().startswith("fetch seeds/") for r in lines)


def test_back_from_a_long_pause_a_digest_holds_the_recent_papers_only(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"utc@example.org": ("UTC", "08:00")})
    simulate(store, START, hours=24)  # digests planned on the first day
    later = START + timedelta(days=60)
    add_paper(store, later - timedelta(days=30))  # came out while the reader was away
    add_paper(store, later - timedelta(days=2))
    plan(store, later + timedelta(hours=9), POLICY)
    [last] = [d.id or 0 for d in store.deliveries.listed() if d.edition == "2026-12-19"]
    titles = [paper.title for paper, _ in store.deliveries.contents([last])[last].items]
    assert titles == [f"Diffusion paper of {(later - timedelta(days=2)).isoformat()}"]


def test_keep_days_removes_old_digests_and_the_papers_nobody_names(
    project: Project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`digest serve` with keep_days bounds the database by itself, once a day."""
    import logging

    from digest.config import load_settings
    from digest.errors import ConfigError
    from digest.scheduler import Runner, build_scheduler
    from digest.wiring import Services

    sent_at = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    project.ok("fetch", "--now", sent_at.isoformat())
    project.ok(
        "subscribers", "add", "k@example.org", "--keywords", "kv cache", "--send-at", "06:00"
    )
    project.ok("send", "--now", sent_at.isoformat())
    [(papers,)] = project.query("select count(*) from paper")
    assert project.query("select count(*) from delivery") == [(1,)]

    off = Services(load_settings())
    assert build_scheduler(Runner(off), 60).get_job("keep") is None  # keep_days = 0: all kept
    off.close()
    with pytest.raises(ConfigError, match="keep_days: .*at least 15"):
        load_settings(keep_days=7)  # planning reads two weeks back
    monkeypatch.setenv("DIGEST_KEEP_DAYS", "30")
    services = Services(load_settings())
    try:
        assert build_scheduler(Runner(services), 60).get_job("keep") is not None
        caplog.set_level(logging.INFO)
        Runner(services, clock=lambda: sent_at + timedelta(days=20)).keep()
        assert project.query("select count(*) from delivery") == [(1,)]
        assert project.query("select count(*) from paper") == [(papers,)]
        Runner(services, clock=lambda: sent_at + timedelta(days=40)).keep()
    finally:
        services.close()
    assert project.query("select count(*) from delivery") == [(0,)]
    assert project.query("select count(*) from delivery_item") == [(0,)]
    assert project.query("select count(*) from paper") == [(0,)]
    [line] = [r.getMessage() for r in caplog.records if r.name == "digest.scheduler"]
    assert line == f"removed what is older than 30 days: digests 1, papers {papers}"


def test_serve_reads_the_returned_mail_when_an_inbox_is_set(
    project: Project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With DIGEST_INBOX_* set, `digest serve` acts on bounces, complaints and mailto:
    unsubscribes every inbox_minutes (5): a deployment without cron acts on them too."""
    import logging

    from returned_mail import returned_mail

    from digest.config import load_settings
    from digest.mail.addresses import unsubscribe_address
    from digest.scheduler import Runner, build_scheduler
    from digest.wiring import Services

    project.ok("subscribers", "add", "leaves@example.org", "--keywords", "kv cache")
    off = Services(load_settings())
    assert build_scheduler(Runner(off), 60).get_job("inbox") is None  # no inbox: no job
    off.close()
    [(public_id,)] = project.query("select public_id from subscriber")
    box = returned_mail(project, monkeypatch)
    key = load_settings().token_key()
    box.add(
        f"From: leaves@example.org\r\nTo: {unsubscribe_address(key, 'localhost', public_id)}\r\n"
        "Subject: unsubscribe\r\n\r\n".encode()
    )
    box.add(b"From: a@b.example\r\nTo: digest@localhost\r\nSubject: hello\r\n\r\nHi.\r\n")
    monkeypatch.setenv("DIGEST_INBOX_MINUTES", "2")
    services = Services(load_settings())
    caplog.set_level(logging.INFO)
    try:
        job = build_scheduler(Runner(services), 60).get_job("inbox")
        assert job is not None and job.trigger.interval == timedelta(minutes=2)
        Runner(services).read_inbox()
        Runner(services).read_inbox()  # only what nobody understood is left: nothing said
    finally:
        services.close()
    assert project.query("select status from subscriber") == [("unsubscribed",)]
    assert len(box) == 1  # the message nobody understood stays
    lines = [r.getMessage() for r in caplog.records if r.name == "digest.scheduler"]
    assert lines == [
        "returned mail: 0 bounces, 0 complaints, 1 unsubscribe; 0 naming nobody of ours, "
        "1 not understood"
    ]
