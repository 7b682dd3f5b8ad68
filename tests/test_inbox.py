"""`digest inbox`: DSN bounces, ARF complaints and mailto: unsubscribes read from a Maildir or
IMAP, each acted on once; suppressed addresses stay suppressed."""

from __future__ import annotations

import imaplib
import mailbox
import socket
import time

import pytest
from conftest import Project
from returned_mail import KEY, NOW, PEOPLE, arf, dsn, plain, returned_mail

from digest.config import load_settings
from digest.mail.addresses import bounce_address, unsubscribe_address


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

    def __init__(self, host: str, port: int, timeout: float | None = None) -> None:
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


@pytest.mark.parametrize(("kind", "tls"), [("imap", "false"), ("pop3", "false"), ("pop3", "true")])
def test_a_mail_server_that_never_answers_is_given_up_on(
    project: Project, monkeypatch: pytest.MonkeyPatch, kind: str, tls: str
) -> None:
    """A port where nothing speaks (a firewall dropping packets, another service): one line
    after the timeout, not a `digest inbox` (or an inbox job of serve) that waits forever."""
    monkeypatch.setattr("digest.inbox.mailboxes.TIMEOUT", 0.3)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connects, never greets
        port = silent.getsockname()[1]
        for name, value in {
            "KIND": kind,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "TLS": tls,
        }.items():
            monkeypatch.setenv(f"DIGEST_INBOX_{name}", value)
        started = time.monotonic()
        result = project.cli("inbox")
    assert time.monotonic() - started < 10
    assert result.code == 1 and "Traceback" not in result.err
    assert f"no answer from {kind.upper()} 127.0.0.1:{port} within 0.3 s" in result.err
