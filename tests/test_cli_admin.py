"""`digest deliveries` and `digest stats`: the operator's view of the outbox and the service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import Inbox, Project, free_port

NOW = "2026-11-22T12:00:00+00:00"


DELIVERY_KEYS = {
    "id",
    "subscriber_id",
    "email",
    "edition",
    "status",
    "attempts",
    "smtp_code",
    "last_error",
    "created_at",
    "sent_at",
    "next_attempt_at",
    "message_id",
}


class PickyInbox(Inbox):
    """Accepts mail, except: refuses `hard@` for good (550) and `soft@` for now (451)."""

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.startswith("hard@"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("soft@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def picky_smtp(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[PickyInbox]:
    """The project sends over SMTP to a real server that refuses some recipients."""
    inbox = PickyInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("DIGEST_TRANSPORT", "smtp")
    monkeypatch.setenv("DIGEST_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DIGEST_SMTP_PORT", str(port))
    try:
        yield inbox
    finally:
        controller.stop()


def add(project: Project, email: str, keywords: str = "kv cache, quantization") -> None:
    project.ok("subscribers", "add", email, "--keywords", keywords, "--send-at", "06:00")


def test_empty_service(project: Project) -> None:
    assert "no deliveries" in project.ok("deliveries").out
    assert json.loads(project.ok("deliveries", "--json").out) == []
    data = json.loads(project.ok("stats", "--json").out)
    assert data["subscribers"]["total"] == 0 and data["deliveries"]["total"] == 0
    assert data["papers"] == 0
    assert data["last_fetch"] == {"at": None, "sources": 0, "failed": 0}
    assert data["last_dispatch"] is None
    out = project.ok("stats").out
    assert "last fetch:  never" in out and "last dispatch: never" in out


def test_deliveries_after_a_maildir_run(project: Project) -> None:
    add(project, "alice@example.org")
    add(project, "nobody@example.org", keywords="zzyzx quuxology")
    project.ok("run", "--now", NOW)

    rows = json.loads(project.ok("deliveries", "--json").out)
    assert [r["email"] for r in rows] == ["nobody@example.org", "alice@example.org"]  # newest first
    assert all(set(r) == DELIVERY_KEYS for r in rows)
    skipped, sent = rows
    assert (sent["status"], sent["attempts"], sent["edition"]) == ("sent", 1, "2026-11-22")
    assert sent["sent_at"] == NOW and sent["created_at"] == NOW and sent["last_error"] is None
    assert (skipped["status"], skipped["attempts"], skipped["sent_at"]) == ("skipped", 0, None)
    assert sent["id"] > 0 and sent["message_id"]

    lines = project.ok("deliveries").out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{skipped['id']}  nobody@example.org  2026-11-22  skipped")
    assert lines[1].startswith(f"{sent['id']}  alice@example.org  2026-11-22  sent")
    assert "attempts: 1  smtp: -  sent 2026-11-22 12:00:00 UTC" in lines[1]

    [only] = json.loads(project.ok("deliveries", "--status", "SENT", "--json").out)
    assert only["email"] == "alice@example.org"
    [newest] = json.loads(project.ok("deliveries", "--limit", "1", "--json").out)
    assert newest["id"] == skipped["id"]
    assert "no deliveries with status failed" in project.ok("deliveries", "--status", "failed").out
    # one subscriber's digests: "why did alice get nothing?"
    [hers] = json.loads(project.ok("deliveries", "--email", "Alice@Example.org", "--json").out)
    assert hers["id"] == sent["id"]
    none = project.ok("deliveries", "--email", "alice@example.org", "--status", "failed").out
    assert none == "no deliveries with status failed to alice@example.org\n"  # no run hint
    unknown = project.cli("deliveries", "--email", "bob@example.org")
    assert unknown.code == 1 and "no subscriber 'bob@example.org'" in unknown.err


def test_deliveries_show_smtp_failures_and_retries(
    project: Project, picky_smtp: PickyInbox
) -> None:
    add(project, "ok@example.org")
    add(project, "hard@example.org")
    add(project, "soft@example.org")
    result = project.cli("run", "--now", NOW)
    assert result.code == 1  # a failure and a retry
    assert len(picky_smtp.to("ok@example.org")) == 1

    by_email = {r["email"]: r for r in json.loads(project.ok("deliveries", "--json").out)}
    assert {e: r["status"] for e, r in by_email.items()} == {
        "ok@example.org": "sent",
        "hard@example.org": "failed",
        "soft@example.org": "retry",
    }
    hard, soft = by_email["hard@example.org"], by_email["soft@example.org"]
    assert (hard["smtp_code"], hard["attempts"], hard["next_attempt_at"]) == (550, 1, None)
    assert "no such mailbox" in hard["last_error"]
    assert (soft["smtp_code"], soft["attempts"]) == (451, 1)
    assert soft["next_attempt_at"] is not None and soft["next_attempt_at"] > NOW

    [line] = project.ok("deliveries", "--status", "retry").out.splitlines()
    assert "soft@example.org" in line and "smtp: 451" in line
    retry_at = datetime.fromisoformat(soft["next_attempt_at"])
    assert f"next attempt {retry_at:%Y-%m-%d %H:%M:%S} UTC" in line and "error: " in line
    [line] = project.ok("deliveries", "--status", "failed").out.splitlines()
    assert "hard@example.org" in line and "smtp: 550" in line and "no such mailbox" in line

    stats = json.loads(project.ok("stats", "--json").out)
    assert stats["deliveries"]["total"] == 3
    assert {k: v for k, v in stats["deliveries"]["by_status"].items() if v} == {
        "sent": 1,
        "failed": 1,
        "retry": 1,
    }


def test_prune_removes_finished_digests_of_long_ago_and_keeps_the_rest(
    project: Project, picky_smtp: PickyInbox
) -> None:
    """The outbox grows by a row a paper a reader a day; prune bounds it without touching a
    digest still to be sent, nor the weeks planning reads back to send nothing twice."""
    add(project, "ok@example.org", keywords="speculative decoding, diffusion models")
    add(project, "hard@example.org")
    add(project, "soft@example.org")
    assert project.cli("run", "--now", NOW).code == 1  # sent, failed and retry
    by_status = {r["status"]: r["id"] for r in json.loads(project.ok("deliveries", "--json").out)}
    items = "select delivery_id, count(*) from delivery_item group by delivery_id order by 1"
    assert [d for d, _ in project.query(items)] == sorted(by_status.values())

    # within the weeks planning reads back: refused, nothing removed
    early = project.cli("deliveries", "prune", "--before", "2026-11-23", "--now", "2026-12-01")
    assert early.code == 1 and len(early.err.splitlines()) == 1
    assert "too recent" in early.err and "the digests from 2026-11-16 on" in early.err
    bad = project.cli("deliveries", "prune", "--before", "23/11/2026")
    assert bad.code == 1 and "use a day such as" in bad.err
    for which in ((), ("--before", "2026-11-01", "--older-than", "30")):
        unclear = project.cli("deliveries", "prune", *which)
        assert unclear.code == 1 and "give --before DAY or --older-than DAYS" in unclear.err
    recent = project.cli("deliveries", "prune", "--older-than", "7", "--now", "2026-12-22")
    assert recent.code == 1 and "2026-12-15 is too recent" in recent.err
    assert len(json.loads(project.ok("deliveries", "--json").out)) == 3

    named = "select count(distinct paper_id) from delivery_item"
    [(all_named,)] = project.query(named)
    assert (
        f"{all_named} kept"
        in project.ok("papers", "prune", "--before", "2026-11-23", "--now", "2026-12-22").out
    )
    done = project.ok("deliveries", "prune", "--before", "2026-11-23", "--now", "2026-12-22")
    assert "2 digests planned before 2026-11-23 removed" in done.out
    [left] = json.loads(project.ok("deliveries", "--json").out)
    assert (left["id"], left["status"]) == (by_status["retry"], "retry")  # still to be sent
    assert [d for d, _ in project.query(items)] == [by_status["retry"]]
    # the papers only the removed digests named can go now; the waiting digest keeps its own
    [(still_named,)] = project.query(named)
    assert 0 < still_named < all_named
    after = project.ok("papers", "prune", "--before", "2026-11-23", "--now", "2026-12-22").out
    assert f"{all_named - still_named} papers" in after and f"{still_named} kept" in after
    # as a cron line says it: the same cut, counted back from now
    again = project.ok("deliveries", "prune", "--older-than", "29", "--now", "2026-12-22")
    assert "0 digests planned before 2026-11-23 removed" in again.out


def test_stats_counts_real_state(project: Project) -> None:
    fetched = project.ok("fetch", "--now", "2026-11-22T11:00:00+00:00").out
    papers = project.query("select count(*) from paper")[0][0]
    listings = project.query("select count(*) from source_state")[0][0]
    assert papers > 0 and listings == 5 and f"{papers} new papers" in fetched
    add(project, "alice@example.org")
    add(project, "bob@example.org", keywords="diffusion models")
    project.ok("subscribers", "pause", "bob@example.org")
    project.ok("send", "--now", NOW)
    for email in ("gone@example.org", "asked@example.org", "asked-too@example.org"):
        project.ok("suppression", "add", email)
    project.query("update suppression set reason = 'bounce' where email = 'gone@example.org'")
    # a listing that cannot be read counts as a failed source
    (project.root / "seeds" / "zz_broken.txt").write_bytes(b"\xff\xfe\x00 not a listing")
    project.cli("fetch", "--now", "2026-11-22T12:30:00+00:00")
    failed = project.query("select count(*) from source_state where last_status = 'failed'")[0][0]
    assert failed == 1

    project.query("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
    data = json.loads(project.ok("stats", "--json").out)
    assert set(data) == {
        "subscribers",
        "deliveries",
        "papers",
        "last_fetch",
        "last_dispatch",
        "first_dispatch",
        "database",
        "suppressed",
        "last_30_days",
    }
    assert data["suppressed"] == {"total": 3, "by_reason": {"bounce": 1, "manual": 2}}
    # what the file holds: its pages, none free until rows are deleted
    assert data["database"] == {"bytes": project.db.stat().st_size, "free_bytes": 0}
    assert data["subscribers"]["total"] == 2
    assert data["subscribers"]["by_status"]["active"] == 1
    assert data["subscribers"]["by_status"]["paused"] == 1
    assert data["subscribers"]["by_status"]["unsubscribed"] == 0
    assert data["deliveries"]["total"] == 1 and data["deliveries"]["by_status"]["sent"] == 1
    assert set(data["deliveries"]["by_status"]) >= {
        "queued",
        "sending",
        "sent",
        "retry",
        "failed",
        "skipped",
    }
    assert data["papers"] == papers
    assert data["last_fetch"] == {
        "at": "2026-11-22T12:30:00+00:00",
        "sources": project.query("select count(*) from source_state")[0][0],
        "failed": failed,
    }
    assert data["last_dispatch"] == data["first_dispatch"] == NOW
    assert "oldest digest: 2026-11-22 12:00:00 UTC" in project.ok("stats").out

    # the fast path (sqlite3 alone) and the store's queries give the same numbers
    from digest.store import Store
    from digest.store.glance import Glance, sqlite_glance
    from digest.vocabulary import SCHEMA_HEAD

    now = datetime.now(UTC)  # when the suppressions were added: in the last 30 days
    quick = sqlite_glance(project.db, SCHEMA_HEAD, now)
    store = Store(f"sqlite:///{project.db}")
    assert quick is not None and quick == Glance.of_store(store, now)
    assert quick.recent.bounced == 1
    assert Glance.of_store(store, datetime.fromisoformat(NOW)).recent.sent == 1
    store.close()
    assert sqlite_glance(project.db, "0001", now) is None  # another schema: it is migrated
    assert sqlite_glance(project.root / "missing.sqlite", SCHEMA_HEAD, now) is None

    out = project.ok("stats").out
    assert "subscribers: 2 (1 active, 1 paused)" in out
    assert "deliveries:  1 (1 sent)" in out
    assert f"papers:      {papers}" in out
    assert "suppressed:  3 addresses (1 bounce, 2 manual)" in out
    assert "last dispatch: 2026-11-22 12:00:00 UTC" in out
    assert f"database:    {data['database']['bytes'] / 1e6:.1f} MB\n" in out
    # pruning frees pages that new rows reuse: stats says how much of the file they are
    project.ok("deliveries", "prune", "--older-than", "20", "--now", "2027-01-30T00:00:00")
    project.ok("papers", "prune", "--older-than", "20", "--now", "2027-01-30T00:00:00")
    free = json.loads(project.ok("stats", "--json").out)["database"]["free_bytes"]
    assert free > 0 and f"MB ({free / 1e6:.1f} MB of it free" in project.ok("stats").out


def test_stats_on_a_current_sqlite_file_loads_no_orm(project: Project) -> None:
    """`digest stats` is what cron and people run most: it answers from sqlite3 alone."""
    import subprocess
    import sys

    project.ok("fetch", "--now", NOW)
    code = (
        "import sys; from digest.cli.main import main; sys.argv = ['digest', 'stats']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('loaded:', [m for m in ('sqlalchemy', 'sqlmodel') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project.root, capture_output=True, text=True, check=True
    )
    assert "papers:" in done.stdout and "loaded: []" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("status", ["bogus", "delivered", ""])
def test_unknown_status_is_one_clear_line(project: Project, status: str) -> None:
    result = project.cli("deliveries", "--status", status)
    assert result.code == 2  # a usage error, as click reports a bad choice
    [line] = result.err.strip().splitlines()
    assert line.startswith(f"error: Invalid value for '--status': {status!r} is not one of")
    assert f"{status!r} is not one of 'queued', 'sending', 'sent', 'retry', 'failed'" in line
    assert result.out == ""


def test_limit_must_be_positive(project: Project) -> None:
    result = project.cli("deliveries", "--limit", "0")
    assert result.code == 2 and "--limit" in result.err


def test_a_count_too_large_for_the_database_means_all_there_are(project: Project) -> None:
    """`--limit 99999999999999999999` failed with a traceback deep in SQLite; it now lists
    everything, as `--top` of `digest rank` does."""
    project.ok("fetch", "--now", "2026-11-22T12:00:00Z")
    huge = "9" * 20
    everything = json.loads(project.ok("papers", "--limit", "1000", "--json").out)
    assert json.loads(project.ok("papers", "--limit", huge, "--json").out) == everything
    assert project.ok("deliveries", "--limit", huge).code == 0
    ranked = json.loads(project.ok("rank", "--keywords", "kv cache", "--top", huge, "--json").out)
    assert ranked and len(ranked) <= len(everything)


def test_help_texts(project: Project) -> None:
    for command in ("deliveries", "stats"):
        out = project.ok(command, "--help").out
        assert "--json" in out and "Print JSON." in out
    out = " ".join(project.ok("deliveries", "--help").out.split())
    assert "newest first" in out and "queued|sending|sent|retry|failed|skipped" in out
    assert "prune" in out
    out = " ".join(project.ok("deliveries", "prune", "--help").out.split())
    assert "--before" in out and "never removed" in out


def test_stats_gives_the_last_30_days_complaint_and_bounce_rates(project: Project) -> None:
    """Mailbox providers judge a sender by the share of its mail reported as spam (Gmail and
    Yahoo: under 0.1 %, filtered from 0.3 %) and by its bounces: stats gives both over the
    last 30 days, with the digests that failed, and says what to look at when one is high."""
    project.ok("fetch", "--now", "2026-11-22T05:00:00+00:00")
    for n in range(4):
        add(project, f"r{n}@example.org")
    project.ok("send", "--now", NOW)
    # one of the four came back refused: failed, and not counted as sent
    project.query("update delivery set status = 'failed' where id = (select min(id) from delivery)")
    for email, reason, day in (
        ("r0@example.org", "complaint", "2026-12-01"),
        ("r1@example.org", "bounce", "2026-12-02"),
        ("old@example.org", "complaint", "2026-10-01"),  # before the 30 days
        ("later@example.org", "complaint", "2027-01-01"),  # after --now
    ):
        project.query(
            f"insert into suppression (email, reason, detail, created_at) "
            f"values ('{email}', '{reason}', '', '{day} 00:00:00.000000')"
        )
    now = "2026-12-10T00:00:00+00:00"
    recent = json.loads(project.ok("stats", "--json", "--now", now).out)["last_30_days"]
    assert recent == {
        "sent": 3,
        "failed": 1,
        "complaints": 1,
        "bounced": 1,
        "complaint_rate": 1 / 3,
        "bounce_rate": 1 / 3,
    }
    out = project.ok("stats", "--now", now).out
    assert (
        "last 30 days: 3 digests sent, 1 failed; 1 complaint (33.33%), 1 address bounced (33.33%)"
        in out
    )
    assert "Gmail and Yahoo filter senders above 0.3 %" in out and "stale addresses" in out
    assert "digest deliveries --status failed" in out
    from digest.store import Store
    from digest.store.glance import Glance, Recent

    store = Store(f"sqlite:///{project.db}")
    assert Glance.of_store(store, datetime.fromisoformat(now)).recent == Recent(3, 1, 1, 1)
    store.close()
    later = project.ok("stats", "--now", "2027-02-01T00:00:00+00:00").out
    assert "last 30 days" not in later  # nothing sent in them
