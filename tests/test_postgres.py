"""The scale-out path on the real PostgreSQL: migrations, ingest, planning, concurrent claims."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import numpy as np
import psycopg
import pytest
from conftest import PG_ADMIN, Project, claim_plan
from service_rows import every_row, used_service

from digest.ingest import store_records
from digest.mail import MaildirTransport
from digest.models import DeliveryStatus
from digest.outbox import Outbox, send_due
from digest.pipeline import Policy, plan
from digest.render import Renderer
from digest.sources.base import PaperRecord
from digest.sources.hf import parse_hf_api
from digest.store import Store
from digest.store import deliveries as deliveries_module
from digest.store.outcomes import SendResult, write_outcomes
from digest.subscriptions.links import Links
from digest.subscriptions.preferences import new_subscriber

ADMIN = PG_ADMIN
pytestmark = pytest.mark.postgres
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema-less database of its own on the local PostgreSQL, dropped afterwards."""
    name = f"digest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_same_code_and_migrations_on_postgres(pg_url: str) -> None:
    store = Store(pg_url)
    result = store_records(
        store,
        [
            PaperRecord(title="Sparse Attention", abstract="a" * 60, authors=["A"]),
            PaperRecord(title="sparse attention!", arxiv_id="2605.00001v2", upvotes=4),
        ],
        "pg",
        NOW,
    )
    assert (result.new, result.known) == (1, 1)
    [paper] = store.papers.newest()
    assert (paper.id, paper.authors, paper.upvotes) == ("arxiv:2605.00001", ["A"], 4)
    assert paper.first_seen_at == NOW
    from digest.store.glance import Glance

    glance = Glance.of_store(store, NOW)  # digest stats on PostgreSQL: its size, no free pages
    assert (glance.papers, glance.free) == (1, None) and glance.size and glance.size > 10**6
    store.close()
    assert Store(pg_url).papers.count() == 1  # migrating again keeps the data


def test_a_nul_in_a_listing_never_stops_postgresql_storing_it(pg_url: str) -> None:
    """PostgreSQL text holds no NUL, which JSON may: the listing is stored, without it."""
    body = '[{"paper": {"id": "2605.00003", "title": "Nul\\u0000 title", "summary": "a\\u0000b"}}]'
    store = Store(pg_url)
    listing = parse_hf_api(body, "hf")
    assert store_records(store, listing.records, "hf", NOW).new == 1
    [paper] = store.papers.newest()
    assert (paper.title, paper.abstract) == ("Nul title", "a b")
    store.close()


def planned_store(pg_url: str, readers: int, keywords: str, policy: Policy) -> Store:
    """A store with one diffusion paper and `readers` subscribers, all planned."""
    store = Store(pg_url)
    store_records(
        store,
        [PaperRecord(title="A diffusion model", abstract="diffusion " * 20)],
        "pg",
        NOW - timedelta(hours=1),
    )
    for i in range(readers):
        store.subscribers.add(
            new_subscriber(
                email=f"r{i}@example.org",
                keywords=keywords,
                send_at="00:00",
                now=NOW - timedelta(days=1),
            )
        )
    assert plan(store, NOW, policy).planned == readers
    return store


def test_concurrent_claims_never_take_one_delivery_twice(pg_url: str) -> None:
    store = planned_store(pg_url, 120, "diffusion", Policy(min_score=0.0))
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        mine = Store(pg_url, auto_migrate=False)
        while ids := mine.deliveries.claim(NOW, 7, f"worker-{n}", timedelta(minutes=10)):
            with lock:
                claimed.extend(ids)
        mine.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 120 and set(Counter(claimed).values()) == {1}
    assert store.deliveries.counts() == {"sending": 120}


def test_a_claim_reads_the_queue_in_id_order_from_an_index_not_the_whole_queue(
    pg_url: str,
) -> None:
    """With a status index alone, every claim read and sorted every queued row: claims grew
    with the queue (22 ms a batch of 200 at 100,000 queued). (status, id) serves the order;
    here most deliveries are sent already, as in an outbox that has run for a while."""
    store = planned_store(pg_url, 1, "diffusion", Policy(min_score=0.0))
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO delivery (subscriber_id, edition, status, attempts, created_at) "
            "SELECT s.id, 'e' || g, CASE WHEN g > 19000 THEN 'queued' ELSE 'sent' END, 0, now() "
            "FROM subscriber s, generate_series(1, 20000) AS g"
        )
        conn.exec_driver_sql("ANALYZE delivery")
    plan_text = claim_plan(store, NOW, "EXPLAIN")
    assert "ix_delivery_claim" in plan_text and "Sort" not in plan_text, plan_text
    store.close()


def test_planning_leaves_the_outbox_statistics_fresh_for_sending(pg_url: str) -> None:
    """Right after a day was planned PostgreSQL had no statistics of the outbox, and read
    every item of it (a parallel sequential scan) for each batch of 200 it sent."""
    store = planned_store(pg_url, 3, "diffusion", Policy(min_score=0.0))
    with store.engine.connect() as conn:
        analyzed = dict(
            conn.exec_driver_sql(
                "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables"
                " WHERE relname IN ('delivery', 'delivery_item')"
            ).all()
        )
    assert analyzed == {"delivery": True, "delivery_item": True}
    store.close()


def test_planned_digests_are_composed_and_sent_with_their_reasons(
    pg_url: str, tmp_path: Path
) -> None:
    store = planned_store(pg_url, 3, "diffusion, quasars", Policy())
    transport = MaildirTransport(tmp_path / "mail")
    outbox = Outbox(transport, Renderer(), Links(b"k" * 32, "https://d.example"), "d@example.org")
    report = send_due(store, outbox, now=NOW)
    assert (report.sent, report.failed) == (3, 0)
    assert store.deliveries.counts() == {"sent": 3}
    for path in (tmp_path / "mail" / "new").iterdir():
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        text = message.get_body(("plain",))
        assert text is not None and "Why you got this: diffusion" in text.get_content()


def test_prune_removes_finished_digests_chunk_by_chunk(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = planned_store(pg_url, 7, "diffusion", Policy(min_score=0.0))
    monkeypatch.setattr(deliveries_module, "PRUNE_CHUNK", 2)  # several transactions
    with store.engine.begin() as conn:
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM delivery ORDER BY id")]
        conn.exec_driver_sql("UPDATE delivery SET status = 'sent' WHERE id = ANY(%s)", (ids[:5],))
    chunks: list[int] = []
    assert store.deliveries.prune(NOW + timedelta(days=1), chunks.append) == 5
    assert chunks == [2, 2, 1]
    assert store.deliveries.counts() == {"queued": 2}
    with store.engine.connect() as conn:
        items = conn.exec_driver_sql("SELECT DISTINCT delivery_id FROM delivery_item")
        assert sorted(row[0] for row in items) == ids[5:]
    assert store.deliveries.prune(NOW - timedelta(days=1)) == 0  # none planned before
    store.close()


def test_paper_vectors_round_trip_and_go_with_their_paper(pg_url: str) -> None:
    store = Store(pg_url)
    store_records(store, [PaperRecord(title="A paper", abstract="words " * 20)], "pg", NOW)
    [paper] = store.papers.newest()
    vector = np.linspace(-1, 1, 384, dtype=np.float32)
    store.vectors.save("m", {paper.id: vector})
    store.vectors.save("m", {paper.id: vector})  # stored already: kept, no error
    np.testing.assert_array_equal(store.vectors.of([paper.id], "m")[paper.id], vector)
    assert store.papers.remove([paper.id]).removed == [paper.id]
    assert store.vectors.of([paper.id], "m") == {}


def test_copy_to_moves_a_sqlite_service_to_postgresql_and_back(
    project: Project, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything arrives as it was (the suppression list, votes, the outbox), and ids the
    new database gives continue after the copied ones."""
    used_service(project)
    sqlite_url = f"sqlite:///{project.db}"
    project.ok("copy-to", pg_url)
    before = every_row(sqlite_url)
    assert every_row(pg_url) == before
    monkeypatch.setenv("DIGEST_DATABASE_URL", pg_url)
    project.ok("subscribers", "add", "ben@example.org", "--keywords", "moe")
    assert [s.id for s in Store(pg_url).subscribers.listed()] == [1, 2]
    back = f"sqlite:///{project.root / 'back.sqlite'}"
    project.ok("copy-to", back)
    assert every_row(back) == every_row(pg_url)


def test_refused_recipients_count_in_a_row_and_suppress_on_postgres(pg_url: str) -> None:
    """The bounce count's row lock and the suppression it adds at the limit, on PostgreSQL."""
    store = planned_store(pg_url, 1, "diffusion", Policy(min_score=0.0))
    [delivery] = store.deliveries.listed()
    refused = SendResult(
        delivery.id or 0, DeliveryStatus.FAILED, "550 5.1.1 gone", 550, bounce=True
    )
    for days in (0, 45, 50, 55):
        with store.engine.begin() as conn:
            write_outcomes(conn, [refused], NOW + timedelta(days=days), 3)
    [reader] = store.subscribers.listed()
    assert (reader.status, reader.hard_bounces) == ("bounced", 3)
    assert reader.last_bounce_at == NOW + timedelta(days=55)
    suppressed = store.suppression.get("r0@example.org")
    assert suppressed is not None and suppressed.reason == "bounce"
    store.close()


def test_a_mailbox_full_for_two_weeks_stops_its_reader_on_postgres(pg_url: str) -> None:
    store = planned_store(pg_url, 1, "diffusion", Policy(min_score=0.0))
    [delivery] = store.deliveries.listed()
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO delivery (subscriber_id, edition, status, message_id, attempts, "
            "created_at, last_error) VALUES (%s, '2026-11-08', 'failed', '<old@x>', 1, "
            "'2026-11-08 00:00:00+00', '552 5.2.2 Mailbox full')",
            (delivery.subscriber_id,),
        )
    full = SendResult(delivery.id or 0, DeliveryStatus.FAILED, "552 5.2.2 Mailbox full", 552)
    with store.engine.begin() as conn:
        write_outcomes(conn, [full], NOW, 3)
    [reader] = store.subscribers.listed()
    assert reader.status == "bounced"
    suppressed = store.suppression.get(reader.email)
    assert suppressed is not None and "full for 14 days" in suppressed.detail
    store.close()


def test_a_postgres_url_as_hosting_services_write_it_opens_the_database(
    project: Project, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """postgres://... (Heroku, Render, Fly give that form, which SQLAlchemy no longer reads)
    is taken as postgresql://, in the settings and by copy-to."""
    hosted = pg_url.replace("postgresql+psycopg://", "postgres://")
    project.ok("copy-to", hosted)
    monkeypatch.setenv("DIGEST_DATABASE_URL", hosted)
    project.ok("subscribers", "add", "ben@example.org", "--keywords", "moe")
    assert [s.email for s in Store(pg_url).subscribers.listed()] == ["ben@example.org"]
