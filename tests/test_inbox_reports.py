"""`digest inbox` on the reports real mail servers send and the ones an attacker makes up: broken
or hostile headers, guessed Message-IDs, moved addresses, full mailboxes, bounce limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import Project
from returned_mail import (
    KEY,
    NOW,
    arf,
    dsn,
    exim_bounce,
    original,
    plain,
    report,
    returned_mail,
)

from digest.config import load_settings
from digest.mail.addresses import bounce_address, unsubscribe_address


def one_digest_sent(project: Project, email: str) -> tuple[int, bytes]:
    """Send `email` one digest; its delivery id and the key its bounce address is signed with."""
    project.ok("subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00")
    project.ok("run", "--now", NOW)
    [(delivery,)] = project.query("select id from delivery")
    return delivery, load_settings(None).token_key()


def test_a_bounce_with_broken_headers_is_still_read() -> None:
    """Headers the email library's strict parser chokes on (an unterminated quote with a
    byte that is not UTF-8, a broken encoded word, an empty group): the report is still
    read from the raw headers."""
    from digest.inbox import Bounce, classify

    raw = dsn(bounce_address(KEY, "mail.example.org", 42), "5.1.1").replace(
        b"Subject: Undelivered\r\n",
        b'Subject: =?utf-8?q?=ff?=\r\nCc: "unterminated\x82 <a@b\r\nBcc: group:;\r\n',
    )
    assert classify(raw, KEY) == Bounce(42, None, True, "5.1.1")


def test_a_return_address_with_a_non_ascii_signature_names_nobody() -> None:
    """`bounces+42-ä…@`: not ours (comparing its signature raised TypeError)."""
    from digest.inbox import Unknown, classify

    raw = plain("bounces+42-\u00e4\u00e4\u00e4\u00e4\u00e4@mail.example.org")
    assert isinstance(classify(raw, KEY), Unknown)


def test_a_bounce_keeps_only_the_status_code_a_report_may_hold() -> None:
    """The status becomes a suppression's reason: a comment or a NUL after it is dropped."""
    from digest.inbox import Bounce, classify

    raw = dsn(bounce_address(KEY, "mail.example.org", 7), "5.1.1 (user unknown)\x00\x1b[2J")
    assert classify(raw, KEY) == Bounce(7, None, True, "5.1.1")
    junk = dsn(bounce_address(KEY, "mail.example.org", 8), "\x1b]0;owned", action="failed\x07")
    assert classify(junk, KEY) == Bounce(8, None, False, "failed")


def test_a_returned_message_id_no_delivery_of_ours_could_have_is_not_looked_up() -> None:
    """A NUL in it would stop PostgreSQL, and the pass over the inbox on it every time."""
    from digest.inbox import Bounce, classify

    def bounce_of(message_id: str) -> bytes:
        return report("delivery-status", original(message_id))

    assert classify(bounce_of("<digest-1-2026-11-22@x>"), KEY) == Bounce(
        None, "<digest-1-2026-11-22@x>", True, "5.1.1"
    )
    for junk in ("<a\x00b@x>", "<\u00e9@x>", "<" + "a" * 300 + "@x>"):
        assert classify(bounce_of(junk), KEY) == Bounce(None, None, True, "5.1.1")


def test_a_made_up_report_around_a_guessed_message_id_names_nobody(project: Project) -> None:
    """Anyone can mail the inbox (every digest's Return-Path names its domain), and our
    Message-IDs are guessable (subscriber id and day): a complaint or bounce naming a digest
    by its Message-ID alone, or with the List-Unsubscribe of another reader, must suppress
    nobody. With the digest's own signed List-Unsubscribe (as real reports return it), it
    counts."""
    from digest.inbox import InboxReport, apply, classify
    from digest.wiring import Services

    for email in ("victim@example.org", "attacker@example.org"):
        project.ok("subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00")
    project.ok("run", "--now", NOW)
    rows = project.query(
        "select s.email, d.message_id, s.public_id from delivery d"
        " join subscriber s on s.id = d.subscriber_id"
    )
    ids = {email: (mid, public) for email, mid, public in rows}
    key = load_settings(None).token_key()
    own = unsubscribe_address(key, "localhost", ids["attacker@example.org"][1])
    guessed = ids["victim@example.org"][0]  # <digest-<id>-<edition>@...>: anyone can write it
    forged = [
        arf(guessed),
        arf(guessed, own),
        report("delivery-status", original(guessed)),
        report("delivery-status", original(guessed, own)),
    ]
    services = Services(load_settings(None))
    done = InboxReport()
    try:
        for raw in forged:
            apply(services.store, classify(raw, key), datetime.now(UTC), 1, done)
        assert (done.complaints, done.bounces, done.unmatched) == (1, 0, 3)  # 1: the attacker
        assert project.query("select email from suppression") == [("attacker@example.org",)]
        victim = unsubscribe_address(key, "localhost", ids["victim@example.org"][1])
        genuine = report("delivery-status", original(guessed, victim))
        apply(services.store, classify(genuine, key), datetime.now(UTC), 1, done)
    finally:
        services.close()
    assert done.bounces == 1
    assert dict(project.query("select email, status from subscriber")) == {
        "victim@example.org": "bounced",
        "attacker@example.org": "unsubscribed",
    }


def complaint_about(headers: str) -> bytes:
    """A feedback report returning a digest's headers (as feedback loops send them)."""
    return report("feedback-report", headers)


def test_a_complaint_about_a_digest_no_longer_held_stops_its_subscriber(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feedback loops can report a digest after `deliveries prune` removed it: its Message-ID
    then names nothing, and the signed List-Unsubscribe it carries (the mailto: address or
    the one-click link) names the subscriber. A List-Unsubscribe not signed by us names nobody."""
    people = ("mailto@example.org", "link@example.org", "forged@example.org")
    for email in people:
        project.ok("subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00")
    project.ok("run", "--now", NOW)
    sent = {m["To"]: m for m in project.mails()}
    assert set(sent) == set(people)
    project.ok("deliveries", "prune", "--older-than", "20", "--now", "2027-01-30T00:00:00")
    assert project.query("select count(*) from delivery") == [(0,)]

    def headers(email: str, targets: str) -> str:
        digest = sent[email]
        return (
            f"From: {digest['From']}\r\nTo: {email}\r\nMessage-ID: {digest['Message-ID']}\r\n"
            + (f"List-Unsubscribe: {targets}\r\nSubject: {digest['Subject']}\r\n")
        )

    both = str(sent["mailto@example.org"]["List-Unsubscribe"])
    link, mailto = (t.strip() for t in both.split(","))
    assert link.startswith("<https://") and mailto.startswith("<mailto:unsubscribe+")
    one_click = str(sent["link@example.org"]["List-Unsubscribe"]).split(",")[0]
    forged = mailto.replace("unsubscribe+", "unsubscribe+a")  # another id under the same mac
    box = returned_mail(project, monkeypatch)
    box.add(complaint_about(headers("mailto@example.org", mailto)))
    box.add(complaint_about(headers("link@example.org", one_click)))
    box.add(complaint_about(headers("forged@example.org", f"<https://x.example/a>, {forged}")))
    out = project.ok("inbox", "--now", "2027-01-30T00:00:00").out
    assert out.strip().startswith("0 bounces, 2 complaints, 0 unsubscribes; 1 naming nobody")
    statuses = dict(project.query("select email, status from subscriber"))
    assert statuses == {
        "mailto@example.org": "unsubscribed",
        "link@example.org": "unsubscribed",
        "forged@example.org": "active",
    }
    suppressed = dict(project.query("select email, reason from suppression"))
    assert suppressed == {"mailto@example.org": "complaint", "link@example.org": "complaint"}


def test_what_comes_back_from_the_address_a_subscription_moved_from_stops_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers move their digest away from an address that is about to close: the digests
    sent there before bounce days later, and a complaint may follow. Those reports name the
    old address, not the new one: the subscription stays active and the new address is not
    suppressed. What comes back from the new address counts."""
    monkeypatch.setenv("DIGEST_BOUNCE_LIMIT", "1")
    project.ok(
        "subscribers", "add", "old@example.org", "--keywords", "kv cache", "--send-at", "00:00"
    )
    project.ok("run", "--now", NOW)
    [(before, message_id, public_id)] = project.query(
        "select d.id, d.message_id, s.public_id from delivery d join subscriber s"
        " on s.id = d.subscriber_id"
    )
    project.ok("subscribers", "edit", "old@example.org", "--email", "new@example.org")
    key = load_settings(None).token_key()
    listed = unsubscribe_address(key, "localhost", public_id)
    box = returned_mail(project, monkeypatch)
    box.add(dsn(bounce_address(key, "localhost", before), "5.1.1"))
    box.add(report("delivery-status", original(message_id, listed)))
    box.add(arf(message_id, listed))
    box.add(
        report(
            "feedback-report",
            original(message_id, listed),
            bounce_address(key, "localhost", before),
        )
    )
    out = project.ok("inbox", "--now", NOW).out
    assert out.strip().startswith("0 bounces, 0 complaints, 0 unsubscribes; 4 naming nobody")
    assert project.query("select email, status, hard_bounces from subscriber") == [
        ("new@example.org", "active", 0)
    ]
    assert project.query("select count(*) from suppression") == [(0,)]

    later = (datetime.now(UTC) + timedelta(days=2)).replace(hour=12, minute=0).isoformat()
    project.ok("run", "--now", later)
    [(after,)] = project.query(f"select id from delivery where id != {before}")
    box.add(dsn(bounce_address(key, "localhost", after), "5.1.1"))
    out = project.ok("inbox", "--now", later).out
    assert out.strip().startswith("1 bounce, 0 complaints")
    assert project.query("select email, status from subscriber") == [("new@example.org", "bounced")]
    assert project.query("select email, reason from suppression") == [("new@example.org", "bounce")]


def test_a_report_refusing_the_digest_for_what_it_is_keeps_its_reader(
    project: Project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A DSN saying a server refused the digest for its content or a policy (5.7.x: a spam
    filter, DMARC), or that the mailbox is full (5.2.2), faults the message, not the
    address: the reader is kept, and the operator is told to look at the sending domain.
    No such mailbox (5.1.1) counts."""
    monkeypatch.setenv("DIGEST_BOUNCE_LIMIT", "1")
    people = ("spam-filtered@example.org", "full@example.org", "gone@example.org")
    for email in people:
        project.ok("subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00")
    project.ok("run", "--now", NOW)
    ids = dict(
        project.query(
            "select s.email, d.id from delivery d join subscriber s on s.id = d.subscriber_id"
        )
    )
    key = load_settings(None).token_key()
    box = returned_mail(project, monkeypatch)
    for email, status in zip(people, ("5.7.1", "5.2.2", "5.1.1"), strict=True):
        box.add(dsn(bounce_address(key, "localhost", ids[email]), status))
    out = project.ok("inbox", "--now", NOW).out
    assert out.strip().startswith("1 bounce, 0 complaints")
    assert "1 digest refused for their content or a policy" in out and "DMARC" in out
    assert "1 digest to a full mailbox (0 of their readers stopped" in out
    assert "spam-filtered@example.org was refused (status 5.7.1)" in caplog.text
    assert dict(project.query("select email, status from subscriber")) == {
        "spam-filtered@example.org": "active",
        "full@example.org": "active",
        "gone@example.org": "bounced",
    }
    assert len(box) == 0  # understood, each of them


def test_bounce_reports_count_toward_the_limit_only_in_a_row(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader two bounces from the limit whose last bounce is forty days old starts the
    count again: the address took a month of digests since. Within a month, it counts."""
    delivery, key = one_digest_sent(project, "a@example.org")
    box = returned_mail(project, monkeypatch)
    now = datetime.fromisoformat(NOW)
    for days_ago, after in ((40, ("active", 1)), (10, ("bounced", 3))):
        last = (now - timedelta(days=days_ago)).replace(tzinfo=None)
        project.query(f"update subscriber set hard_bounces = 2, last_bounce_at = '{last}'")
        box.add(dsn(bounce_address(key, "localhost", delivery), "5.1.1"))
        assert project.ok("inbox", "--now", NOW).out.startswith("1 bounce,")
        assert project.query("select status, hard_bounces from subscriber") == [after]
    assert project.query("select reason from suppression") == [("bounce",)]


def test_a_bounced_confirmation_removes_its_signup_and_a_bounced_reminder_counts(
    project: Project, smtp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mails about a subscription to its own address (a confirmation, a reminder of its
    settings, a deletion link) go out with a signed bounce address naming it, not the From
    address (nobody reads that for bounces). A confirmation that bounces removes its signup:
    a mistyped address takes no mail; one marked as spam suppresses the address too. A
    bounce of such a mail to a subscriber counts as a digest's does; one from before a move
    (an older token version) names nobody."""
    from digest.mail.addresses import notice_bounce_address, read_notice_bounce

    inbox, port = smtp_server
    monkeypatch.setenv("DIGEST_TRANSPORT", "smtp")
    monkeypatch.setenv("DIGEST_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DIGEST_SMTP_PORT", str(port))
    monkeypatch.setenv("DIGEST_BOUNCE_LIMIT", "1")
    project.ok("subscribers", "add", "tpyo@example.org", "--keywords", "kv cache", "--confirm")
    project.ok("subscribers", "add", "spam@example.org", "--keywords", "kv cache", "--confirm")
    project.ok("subscribers", "add", "reader@example.org", "--keywords", "kv cache")
    project.ok("subscribers", "add", "moved@example.org", "--keywords", "kv cache")
    key = load_settings(None).token_key()
    [(mail_from, to, _), _] = inbox.messages
    ids = dict(project.query("select email, public_id from subscriber"))
    assert to == ["tpyo@example.org"] and read_notice_bounce(key, mail_from) == (
        ids["tpyo@example.org"],
        1,
    )
    project.ok("subscribers", "edit", "moved@example.org", "--email", "new@example.org")
    box = returned_mail(project, monkeypatch)
    box.add(dsn(mail_from, "5.1.1"))
    domain = mail_from.rpartition("@")[2]
    box.add(dsn(notice_bounce_address(key, domain, ids["reader@example.org"], 1), "5.1.1"))
    box.add(dsn(notice_bounce_address(key, domain, ids["moved@example.org"], 1), "5.1.1"))
    box.add(dsn(notice_bounce_address(key, domain, ids["reader@example.org"], 9), "5.1.1"))
    # a confirmation marked as spam, reported to its bounce address: never mailed again
    spam = notice_bounce_address(key, domain, ids["spam@example.org"], 1)
    box.add(report("feedback-report", original("<confirm-x@papers-digest>"), spam))
    out = project.ok("inbox", "--now", NOW).out.strip()
    assert out.startswith("1 bounce, 1 complaint, 0 unsubscribes; 2 naming nobody of ours")
    assert out.endswith("1 signup removed (their confirmation bounced)")
    assert dict(project.query("select email, status from subscriber")) == {
        "reader@example.org": "bounced",
        "new@example.org": "active",
    }
    assert dict(project.query("select email, reason from suppression")) == {
        "reader@example.org": "bounce",
        "spam@example.org": "complaint",
    }


def test_a_feedback_loop_report_names_the_mail_by_the_originals_return_path(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feedback loop sends its reports to its own address, not to the bounce address the
    mail came from, and a confirmation carries no List-Unsubscribe: the signed bounce address
    in the returned original's Return-Path names it. A confirmation marked as spam removes
    its signup and suppresses the address; a digest's report without its List-Unsubscribe
    stops its reader; a Return-Path we did not sign names nobody."""
    from digest.mail.addresses import notice_bounce_address

    monkeypatch.setenv("DIGEST_BOUNCE_LIMIT", "1")
    project.ok("subscribers", "add", "typed@example.org", "--keywords", "kv cache", "--confirm")
    project.ok("subscribers", "add", "reader@example.org", "--keywords", "kv cache")
    project.ok("subscribers", "add", "other@example.org", "--keywords", "kv cache")
    project.ok("run", "--now", NOW)
    ids = dict(project.query("select email, public_id from subscriber"))
    [(delivery, message_id)] = project.query(
        "select d.id, d.message_id from delivery d join subscriber s on s.id = d.subscriber_id"
        " where s.email = 'reader@example.org'"
    )
    key = load_settings(None).token_key()
    confirmation = notice_bounce_address(key, "localhost", ids["typed@example.org"], 1)
    forged = notice_bounce_address(b"k" * 32, "localhost", ids["other@example.org"], 1)
    box = returned_mail(project, monkeypatch)
    box.add(report("feedback-report", original("<c@x>", sent_from=confirmation)))
    box.add(
        report(
            "feedback-report",
            original(message_id, sent_from=bounce_address(key, "localhost", delivery)),
        )
    )
    box.add(report("feedback-report", original("<o@x>", sent_from=forged)))
    out = project.ok("inbox", "--now", NOW).out
    assert out.startswith("0 bounces, 2 complaints, 0 unsubscribes; 1 naming nobody")
    assert dict(project.query("select email, status from subscriber")) == {
        "reader@example.org": "unsubscribed",
        "other@example.org": "active",
    }
    assert dict(project.query("select email, reason from suppression")) == {
        "typed@example.org": "complaint",
        "reader@example.org": "complaint",
    }


def test_reports_of_a_full_mailbox_stop_its_reader_once_it_lasts_two_weeks(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report that a digest was refused marks it failed (it went nowhere); reports of a
    full mailbox say nothing against the reader at first, but a mailbox whose digests have
    come back full for two weeks, none delivered since, is abandoned: the reader is stopped
    and the address suppressed."""
    for email in ("holiday@example.org", "abandoned@example.org"):
        project.ok("subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00")
    project.ok("run", "--now", NOW)
    ids = dict(
        project.query(
            "select s.email, d.id from delivery d join subscriber s on s.id = d.subscriber_id"
        )
    )
    people = dict(project.query("select email, id from subscriber"))
    for email, days in (("holiday@example.org", 10), ("abandoned@example.org", 14)):
        earlier = (datetime.fromisoformat(NOW) - timedelta(days=days)).date()
        project.query(
            "insert into delivery (subscriber_id, edition, status, message_id, attempts, "
            f"created_at, last_error) values ({people[email]}, '{earlier}', 'failed', "
            f"'<old-{days}@x>', 1, '{earlier} 00:00:00.000000', 'returned: status 5.2.2')"
        )
    key = load_settings(None).token_key()
    box = returned_mail(project, monkeypatch)
    for delivery in ids.values():
        box.add(dsn(bounce_address(key, "localhost", delivery), "5.2.2"))
    out = project.ok("inbox", "--now", NOW).out
    assert "2 digests to a full mailbox (1 of their readers stopped" in out
    assert "DKIM" not in out  # not a refusal of what we send
    assert dict(project.query("select email, status from subscriber")) == {
        "holiday@example.org": "active",
        "abandoned@example.org": "bounced",
    }
    assert project.query("select email, reason from suppression") == [
        ("abandoned@example.org", "bounce")
    ]
    returned = project.query(
        f"select status, last_error from delivery where id in ({', '.join(map(str, ids.values()))})"
    )
    assert set(returned) == {("failed", "returned: status 5.2.2")}


def test_a_plain_text_bounce_with_x_failed_recipients_is_read() -> None:
    """Older Exim and some hosting providers bounce in plain text: X-Failed-Recipients marks
    it (a vacation reply to the same address has none). The status is the first code of the
    text before the returned copy; without one, words saying the user is unknown count as
    a failure of the address, and anything else stays for a person."""
    from digest.inbox import Bounce, Unknown, classify

    to = bounce_address(KEY, "mail.example.org", 42)
    gone = exim_bounce(to, "550 5.1.1 <someone@example.org>: Recipient address rejected")
    assert classify(gone, KEY) == Bounce(42, None, True, "5.1.1")
    spam = classify(exim_bounce(to, "550 5.7.1 Message rejected as spam"), KEY)
    assert spam == Bounce(42, None, True, "5.7.1") and not spam.faults_address
    unknown = classify(exim_bounce(to, "550 No such user here"), KEY)
    assert unknown == Bounce(42, None, True, "5.0.0") and unknown.faults_address
    # no code and no words about the recipient: the copy's "5.2.2" is not read for one
    listed = classify(exim_bounce(to, "550 Your server is on our blocklist"), KEY)
    assert listed == Unknown("a plain-text bounce that gives no status code")
    delayed = classify(exim_bounce(to, "451 4.4.1 Connection timed out"), KEY)
    assert delayed == Unknown("a plain-text bounce with status 4.4.1")
    vacation = plain(to).replace(
        b"Subject: hello", b"Auto-Submitted: auto-replied\r\nSubject: Away"
    )
    assert isinstance(classify(vacation, KEY), Unknown)


def test_digest_inbox_counts_a_plain_text_bounce_against_its_reader(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_BOUNCE_LIMIT", "1")
    delivery_id, key = one_digest_sent(project, "gone@example.org")
    box = returned_mail(project, monkeypatch)
    box.add(exim_bounce(bounce_address(key, "localhost", delivery_id), "550 5.1.1 User unknown"))
    out = project.ok("inbox", "--now", NOW).out
    assert out.strip().startswith("1 bounce, 0 complaints")
    assert project.query("select status from subscriber") == [("bounced",)]
    assert len(box) == 0
