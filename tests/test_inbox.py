"""`digest inbox`: DSN bounces, ARF complaints and mailto: unsubscribes read from a Maildir."""

from __future__ import annotations

import imaplib
import mailbox
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import Project

from digest.config import load_settings
from digest.mail.addresses import bounce_address, unsubscribe_address

NOW = "2026-11-22T12:00:00+00:00"
PEOPLE = ("bounces@example.org", "complains@example.org", "leaves@example.org", "stays@example.org")


def dsn(to: str, status: str, action: str = "failed") -> bytes:
    return (
        f"From: MAILER-DAEMON@mx.example.net\r\nTo: {to}\r\nSubject: Undelivered\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; someone@example.org\r\nAction: {action}\r\n"
        f"Status: {status}\r\n\r\n--b--\r\n"
    ).encode()


def report(kind: str, original: str, to: str = "abuse-reports@example.org") -> bytes:
    """A multipart/report of `kind` returning the headers `original` (CRLF lines)."""
    part = (
        "Feedback-Type: abuse\r\nUser-Agent: test/1.0\r\nVersion: 1\r\n"
        if kind == "feedback-report"
        else "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; someone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    )
    name = "message/feedback-report" if kind == "feedback-report" else "message/delivery-status"
    return (
        f"From: abuse@mail.example.net\r\nTo: {to}\r\nSubject: report\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type={kind}; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThis is a report.\r\n"
        f"--b\r\nContent-Type: {name}\r\n\r\n{part}\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\n{original}\r\n"
        "--b--\r\n"
    ).encode()


def original(message_id: str, listed: str = "", sent_from: str = "") -> str:
    """The headers of a digest as a report returns them: its Message-ID and, when given, its
    List-Unsubscribe (`listed`: the mailto: address) and Return-Path (`sent_from`)."""
    unsubscribe = f"List-Unsubscribe: <mailto:{listed}>\r\n" if listed else ""
    returned = f"Return-Path: <{sent_from}>\r\n" if sent_from else ""
    return (
        f"{returned}From: digest@localhost\r\nMessage-ID: {message_id}\r\n{unsubscribe}"
        "Subject: Papers\r\n"
    )


def arf(message_id: str, listed: str = "") -> bytes:
    """A feedback report (someone marked a digest as spam) returning the digest's headers."""
    return report("feedback-report", original(message_id, listed))


def plain(to: str) -> bytes:
    return f"From: a@b.example\r\nTo: {to}\r\nSubject: hello\r\n\r\nJust saying hi.\r\n".encode()


def returned_mail(project: Project, monkeypatch: pytest.MonkeyPatch) -> mailbox.Maildir:
    """The Maildir that `digest inbox` of `project` reads returned mail from."""
    path = project.root / "var" / "returned"
    monkeypatch.setenv("DIGEST_INBOX_KIND", "maildir")
    monkeypatch.setenv("DIGEST_INBOX_PATH", str(path))
    return mailbox.Maildir(str(path), create=True)


@pytest.fixture
def returned(project: Project, monkeypatch: pytest.MonkeyPatch) -> mailbox.Maildir:
    """A project that sent four digests, and a Maildir of what came back."""
    monkeypatch.setenv("DIGEST_BOUNCE_LIMIT", "1")
    for email in PEOPLE:
        project.ok("subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00")
    project.ok("run", "--now", NOW)
    rows = dict(
        project.query(
            "select s.email, d.id || ' ' || d.message_id || ' ' || s.public_id from delivery d"
            " join subscriber s on s.id = d.subscriber_id"
        )
    )
    key, domain = load_settings(None).token_key(), "localhost"
    ids = {email: row.split(" ") for email, row in rows.items()}

    def listed(email: str) -> str:
        return unsubscribe_address(key, domain, ids[email][2])

    box = returned_mail(project, monkeypatch)
    box.add(dsn(bounce_address(key, domain, int(ids["bounces@example.org"][0])), "5.1.1"))
    box.add(dsn(bounce_address(key, domain, int(ids["stays@example.org"][0])), "4.2.2", "delayed"))
    box.add(dsn(f"bounces+{ids['stays@example.org'][0]}-0000000000@localhost", "5.1.1"))
    box.add(arf(ids["complains@example.org"][1], listed("complains@example.org")))
    box.add(plain(unsubscribe_address(key, domain, ids["leaves@example.org"][2])))
    box.add(plain("digest@localhost"))
    return box


def test_inbox_acts_on_bounces_complaints_and_unsubscribes_once(
    project: Project, returned: mailbox.Maildir
) -> None:
    out = project.ok("inbox", "--now", NOW).out
    assert out.strip() == (
        "1 bounce, 1 complaint, 1 unsubscribe; 1 naming nobody of ours, 1 not understood"
    )
    statuses = dict(project.query("select email, status from subscriber"))
    assert statuses == {
        "bounces@example.org": "bounced",
        "complains@example.org": "unsubscribed",
        "leaves@example.org": "unsubscribed",
        "stays@example.org": "active",  # a delay (4.x) and a forged bounce address change nothing
    }
    suppressed = dict(project.query("select email, reason from suppression"))
    assert suppressed == {"bounces@example.org": "bounce", "complains@example.org": "complaint"}
    assert len(returned) == 1  # the message nobody understood stays
    again = project.ok("inbox", "--now", NOW).out
    assert again.startswith("0 bounces, 0 complaints, 0 unsubscribes")


def test_suppressed_addresses_cannot_be_added_again_until_removed(
    project: Project, returned: mailbox.Maildir
) -> None:
    project.ok("inbox", "--now", NOW)
    refused = project.cli("subscribers", "add", "complains@example.org", "--keywords", "x")
    assert refused.code == 1 and "suppression list (complaint" in refused.err
    assert "complains@example.org  complaint" in project.ok("suppression", "list").out
    project.ok("suppression", "remove", "complains@example.org")
    assert project.cli("suppression", "remove", "complains@example.org").code == 1


def test_sending_skips_a_suppressed_address_even_when_its_subscriber_is_active(
    project: Project,
) -> None:
    for email in ("kept@example.org", "blocked@example.org"):
        project.ok("subscribers", "add", email, "--keywords", "kv cache", "--send-at", "00:00")
    project.ok("suppression", "add", "blocked@example.org")
    project.ok("run", "--now", NOW)
    assert [m["To"] for m in project.mails()] == ["kept@example.org"]
    rows = project.query(
        "select s.email, d.status from delivery d join subscriber s on s.id = d.subscriber_id"
        " order by s.email"
    )
    assert rows == [("blocked@example.org", "cancelled"), ("kept@example.org", "sent")]


KEY = b"k" * 32


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


def test_no_returned_message_stops_the_inbox() -> None:
    """Three thousand damaged variants of a bounce, a complaint and a plain message (bytes
    changed, cut, lines of junk headers added): each is classified, none raises; a run that
    raised would stop at that message in every later run too."""
    import random

    from digest.inbox import classify

    address = bounce_address(KEY, "mail.example.org", 42)
    seeds = [dsn(address, "5.1.1"), arf("<digest-1-2026-11-22@x>"), plain(address)]
    junk = [
        b'To: "unterminated <a@b\n',
        b"To: =?utf-8?b?\n",
        b'Content-Type: multipart/report; report-type="\n',
        b"Delivered-To: bounces+42-\xc3\xa4\xc3\xa4@x\n",
        b"To: a@b, , ,,,@,<>, group:;\n",
        b"Message-ID: <\n",
    ]
    rng = random.Random(7)
    for _ in range(3000):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(raw) + 1)
            step = rng.randrange(3)
            if step == 0 and raw:
                raw[min(where, len(raw) - 1)] = rng.randrange(256)
            elif step == 1:
                raw = raw[:where]
            else:
                line = raw.find(b"\n", where) + 1
                raw[line:line] = rng.choice(junk)
        classify(bytes(raw), KEY)


class FakeImap:
    """An IMAP server's INBOX as imaplib's client sees it (no IMAP server runs here): flags
    are kept at once, messages go at EXPUNGE, and the connection can break at a FETCH."""

    box: dict[str, tuple[bytes, set[str]]] = {}
    break_at: str | None = None
    error, abort = imaplib.IMAP4.error, imaplib.IMAP4.abort  # imaplib's own, as the real class

    def __init__(self, host: str, port: int) -> None:
        self.host = host

    def login(self, user: str, password: str) -> None: ...

    def select(self, mailbox: str) -> None: ...

    def search(self, charset: None, criterion: str) -> tuple[str, list[bytes]]:
        found = [n for n, (_, flags) in self.box.items() if criterion != "UNDELETED" or not flags]
        return "OK", [" ".join(found).encode()]

    def fetch(self, number: str, parts: str) -> tuple[str, list[object]]:
        if number == FakeImap.break_at:
            raise self.abort("socket error: EOF")
        return "OK", [(b"1 (RFC822 {n})", self.box[number][0]), b")"]

    def store(self, number: str, how: str, flag: str) -> None:
        self.box[number][1].add(flag)

    def expunge(self) -> None:
        for number in [n for n, (_, flags) in self.box.items() if flags]:
            del self.box[number]

    def logout(self) -> None:
        if FakeImap.break_at is not None:
            raise OSError("the connection is gone")


def test_imap_a_run_that_breaks_off_reads_nothing_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection breaks at the second message: one clear TransportError (no traceback
    from imaplib, none from logging out of a dead connection), and the first message, marked
    deleted but never expunged, is not read again by the next run (which counted its bounce
    twice when every message was searched)."""
    from digest.errors import TransportError
    from digest.inbox import InboxSettings, messages

    monkeypatch.setattr(imaplib, "IMAP4", FakeImap)
    FakeImap.box = {"1": (b"first", set()), "2": (b"second", set())}
    FakeImap.break_at = "2"
    settings = InboxSettings(kind="imap", host="imap.example.org", tls=False)
    read = []
    with pytest.raises(TransportError, match="the rest waits for the next run"):
        for raw, remove in messages(settings):
            read.append(raw)
            remove()
    assert read == [b"first"] and FakeImap.box["1"][1] == {"\\Deleted"}
    FakeImap.break_at = None
    again = []
    for raw, remove in messages(settings):
        again.append(raw)
        remove()
    assert again == [b"second"] and FakeImap.box == {}


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


def test_a_message_the_reader_fails_on_is_left_for_a_person(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import digest.inbox.events as events

    def broken(raw: bytes, key: bytes, retired: object = ()) -> events.Event:
        raise LookupError("a bug")

    monkeypatch.setattr(events, "classify", broken)
    event = events.read_event(arf("<digest-1-2026-11-22@x>"), KEY)
    assert event == events.Unknown("unreadable (LookupError): please report it with the log")
    assert "failed on a bug" in caplog.text


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
    project.ok(
        "subscribers", "add", "a@example.org", "--keywords", "kv cache", "--send-at", "00:00"
    )
    project.ok("run", "--now", NOW)
    [(delivery,)] = project.query("select id from delivery")
    key = load_settings(None).token_key()
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


@pytest.mark.parametrize("kind", ["imap", "pop3"])
def test_a_mail_server_inbox_without_a_host_names_the_setting(
    project: Project, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Not a connection refused by whatever listens on this machine: the setting to fill."""
    monkeypatch.setenv("DIGEST_INBOX_KIND", kind)
    result = project.cli("inbox")
    assert result.code == 1
    assert f"DIGEST_INBOX_HOST is not set: name the {kind.upper()} server" in result.err
    assert "Traceback" not in result.err
