"""Faults of a real SMTP server, through the whole pipeline (`digest send`) and the database.

Each case: 20 subscribers, the bundled seeds, a scripted server; `digest send` is run again
with a later --now until retries are done. Afterwards every active subscriber holds exactly one
digest for the edition, refused recipients hold none and are bounced, and nothing is left
queued, sending or waiting to retry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from conftest import Project
from smtp_faults import FaultServer

START = datetime.fromisoformat("2026-11-22T08:00:00+00:00")  # edition 2026-11-22 in UTC
EDITION = "2026-11-22"
PEOPLE = [f"reader{i:02d}@example.org" for i in range(1, 21)]


@pytest.fixture
def shop(project: Project, server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project sending through `server`, with 20 subscribers and the seeds fetched."""
    for name, value in {
        "DIGEST_TRANSPORT": "smtp",
        "DIGEST_SMTP_HOST": "127.0.0.1",
        "DIGEST_SMTP_PORT": str(server.port),
        "DIGEST_SMTP_TIMEOUT": "1",
        "DIGEST_SMTP_CONNECTIONS": "4",
        "DIGEST_RETRY_BACKOFF_SECONDS": "1",
        "DIGEST_BOUNCE_LIMIT": "1",
        "DIGEST_FROM": "Digest <digest@example.org>",
    }.items():
        monkeypatch.setenv(name, value)
    rows = [f"{email},diffusion models;kv cache;agents,UTC,06:00" for email in PEOPLE]
    (project.root / "people.csv").write_text("email,keywords,timezone,send_at\n" + "\n".join(rows))
    assert "20 imported" in project.ok("subscribers", "import", "people.csv").out
    project.ok("fetch", "--now", START.isoformat())
    return project


def send(project: Project, hours: float) -> str:
    """`digest send` at START + hours; its summary line (exit 1 just means retries or fails)."""
    result = project.cli("send", "--now", (START + timedelta(hours=hours)).isoformat())
    assert result.code in (0, 1), result.err
    return result.out


def send_until_settled(project: Project, rounds: int = 6) -> int:
    """Send hourly until nothing waits to retry; how many rounds it took."""
    for n in range(1, rounds + 1):
        send(project, n)
        if not project.query("select 1 from delivery where status in ('retry', 'queued')"):
            return n
    return rounds


def deliveries(project: Project) -> dict[str, tuple[str, str, str, int | None]]:
    """email -> (edition, status, Message-ID, smtp_code)."""
    rows = project.query(
        "select s.email, d.edition, d.status, d.message_id, d.smtp_code "
        "from delivery d join subscriber s on s.id = d.subscriber_id"
    )
    return {email: (edition, status, mid, code) for email, edition, status, mid, code in rows}


def assert_settled(
    project: Project, server: FaultServer, refused: frozenset[str] = frozenset()
) -> None:
    """One digest per active subscriber, none for refused ones, nothing left in flight."""
    got = deliveries(project)
    assert set(got) == set(PEOPLE)
    assert server.per_recipient() == {email: 1 for email in PEOPLE if email not in refused}
    accepted = dict(server.accepted)
    for email in PEOPLE:
        edition, status, message_id, code = got[email]
        assert edition == EDITION
        if email in refused:
            assert (status, code) == ("failed", 550), email
        else:
            assert status == "sent", (email, status)
            assert accepted[email] == message_id  # the delivery's deterministic Message-ID
    assert project.query(
        "select count(*) from delivery where status in ('queued', 'sending', 'retry')"
    ) == [(0,)]
    statuses = dict(project.query("select email, status from subscriber"))
    assert {e for e, s in statuses.items() if s == "bounced"} == set(refused)


def test_451_for_every_third_message_is_retried_until_all_are_sent(
    shop: Project, server: FaultServer
) -> None:
    server.script.temp_every = 3

    first = send(shop, 0)

    assert "20 digests planned" in first and "14 sent, 6 to retry" in first
    waiting = shop.query("select smtp_code, next_attempt_at from delivery where status = 'retry'")
    assert len(waiting) == 6 and all(code == 451 and when for code, when in waiting)
    rounds = send_until_settled(shop)
    # DATA 1..20 (6 refused), 21..26 (2), 27..28 (1), 29: every 3rd answered 451
    assert rounds == 3 and server.log.data_total == 29
    assert shop.query("select sum(attempts) from delivery") == [(29,)]
    assert_settled(shop, server)


def test_550_recipients_fail_at_once_and_bounce(shop: Project, server: FaultServer) -> None:
    refused = frozenset({PEOPLE[2], PEOPLE[9], PEOPLE[17]})
    server.script.reject = set(refused)

    out = send(shop, 0)

    assert "17 sent, 0 to retry, 3 failed" in out
    assert "0 sent, 0 to retry, 0 failed" in send(shop, 1)  # nothing is retried
    assert_settled(shop, server, refused)
    errors = shop.query(
        "select last_error from delivery where status = 'failed' and smtp_code = 550"
    )
    assert len(errors) == 3 and all("no such user" in e for (e,) in errors)


def test_connection_dropped_inside_data_is_retried_without_duplicates(
    shop: Project, server: FaultServer
) -> None:
    server.script.drop_first = {PEOPLE[0]: 1, PEOPLE[7]: 2, PEOPLE[12]: 1, PEOPLE[19]: 1}

    send_until_settled(shop)

    assert server.log.data_seen[PEOPLE[7]] == 3 and server.log.data_seen[PEOPLE[0]] == 2
    assert_settled(shop, server)


def test_hanging_server_times_out_then_everything_goes_out(
    shop: Project, server: FaultServer
) -> None:
    server.script.hang_data = True

    out = send(shop, 0)

    assert "0 sent, 20 to retry" in out
    assert server.accepted == []
    server.script.hang_data = False
    send_until_settled(shop)
    assert_settled(shop, server)


def test_server_down_loses_nothing_and_sends_when_it_is_back(
    shop: Project, server: FaultServer
) -> None:
    server.stop()

    out = send(shop, 0)

    assert "0 sent, 20 to retry" in out
    waiting = shop.query("select status, attempts, next_attempt_at, last_error from delivery")
    assert len(waiting) == 20
    for status, attempts, next_attempt_at, error in waiting:
        assert (status, attempts) == ("retry", 1)
        assert datetime.fromisoformat(next_attempt_at) > START.replace(tzinfo=None)
        assert "cannot connect" in error
    assert "0 sent, 0 to retry" in send(shop, 0)  # not due yet: no new attempt
    assert shop.query("select sum(attempts) from delivery") == [(20,)]

    server.start()  # the same port
    send_until_settled(shop)
    assert_settled(shop, server)


@pytest.mark.parametrize(
    ("where", "reply", "hint"),
    [
        ("rcpt_reply", "554 5.7.1 <{rcpt}>: Relay access denied", "will not relay our mail"),
        (
            "mail_reply",
            "553 5.7.1 <digest@example.org>: Sender address rejected: not owned by user",
            "will not send from DIGEST_FROM",
        ),
        ("rcpt_reply", "550 5.7.57 Client not authenticated to send mail", "wants a login"),
    ],
)
def test_a_server_refusing_our_mail_loses_no_digest_and_bounces_nobody(
    shop: Project, server: FaultServer, where: str, reply: str, hint: str
) -> None:
    """A relay that refuses mail for a reason about us (no login, relaying denied, a From it
    will not send) refuses every recipient with a 5xx: taken as the recipients' refusal, the
    day's digests all failed and every subscriber counted a bounce (bounced at the limit).
    They wait instead, past the attempts a 4xx gets, until the setting is fixed."""
    setattr(server.script, where, reply.format(rcpt="reader01@example.org"))

    first = shop.cli("send", "--now", START.isoformat())
    assert "0 sent, 20 to retry, 0 failed" in first.out
    # what to set is on the operator's terminal, not only in `digest deliveries`
    [told] = [line for line in first.err.splitlines() if line.startswith("first error: ")]
    assert hint in told and told.endswith("(all of them: `digest deliveries`)")
    errors = shop.query("select last_error from delivery")
    assert len(errors) == 20 and all(hint in e for (e,) in errors)
    for hour in range(1, 10):  # more than max_attempts (6) tries, hourly
        send(shop, hour)
    assert shop.query("select status, count(*) from delivery group by status") == [("retry", 20)]
    assert shop.query("select max(attempts) from delivery") == [(10,)]
    assert shop.query("select distinct status from subscriber") == [("active",)]
    assert shop.query("select count(*) from suppression") == [(0,)]

    setattr(server.script, where, "")  # the operator fixed the setting
    send(shop, 10)
    assert_settled(shop, server)


def test_a_blocklisted_server_fails_the_days_digests_and_bounces_no_reader(
    shop: Project, server: FaultServer
) -> None:
    """A receiving server that refuses our mail for what it is (our IP on a blocklist, a
    policy, 5.7.x) refuses every recipient: taken as their refusal, each reader counted a
    hard bounce, and a listing of a few days bounced every reader behind that server for
    good. The digests fail; the readers stay, and the next day's digests go out."""
    server.script.rcpt_reply = (
        "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org"
    )
    for day in range(3):
        assert "0 sent, 0 to retry, 20 failed" in send(shop, 24 * day)
    assert shop.query("select distinct status, hard_bounces from subscriber") == [("active", 0)]
    assert shop.query("select count(*) from suppression") == [(0,)]


US, RECIPIENT, MESSAGE = "SenderRefusedError", "RecipientRefusedError", "PermanentDeliveryError"


@pytest.mark.parametrize(
    ("code", "text", "kind"),
    [
        (554, "5.7.1 <a@example.org>: Relay access denied", US),  # Postfix
        (550, "relay not permitted", US),  # Exim
        (550, "5.7.1 Unable to relay for a@example.org", US),  # Exchange
        (550, "5.7.0 Mail relay denied [203.0.113.9].", US),  # Gmail's SMTP relay
        (530, "5.7.0 Authentication Required", US),
        (554, "Message rejected: Email address is not verified.", US),  # Amazon SES
        (550, "5.7.60 SMTP; Client does not have permissions to send as this sender", US),
        (550, "5.1.1 <a@example.org>: Recipient address rejected: User unknown", RECIPIENT),
        (550, "5.7.1 Recipient address rejected: Access denied", RECIPIENT),
        (550, "5.7.1 You are not authorized to send to this recipient", RECIPIENT),
        (550, "User unknown", RECIPIENT),  # no enhanced code
        # refusals of the message, not the address: failed, and no bounce for the reader
        (552, "5.2.2 <a@example.org>: mailbox full", MESSAGE),
        (550, "5.7.1 Message rejected on behalf of the recipient's policy", MESSAGE),
        (
            554,
            "5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org",
            MESSAGE,
        ),
        (550, "5.7.26 This mail has been blocked because the sender is unauthenticated.", MESSAGE),
        (554, "5.6.0 Message content rejected", MESSAGE),
        (451, "4.7.1 Relay access temporarily unavailable", "TemporaryDeliveryError"),
    ],
)
def test_a_refusal_about_us_is_told_from_one_about_the_recipient(
    code: int, text: str, kind: str
) -> None:
    import aiosmtplib

    from digest.mail.smtp_replies import classify

    error = classify(aiosmtplib.SMTPRecipientRefused(code, text, "a@example.org"), "SMTP x")
    assert type(error).__name__ == kind
    assert error.code == code


def test_a_refusal_reads_as_the_server_gave_it() -> None:
    """It was a Python tuple, with the server's bytes in repr: "SMTPRecipientRefused: (550,
    '5.1.1 no such user', 'a@example.org')"."""
    import aiosmtplib

    from digest.mail.smtp_replies import classify

    cases = {
        aiosmtplib.SMTPRecipientRefused(550, "5.1.1  no such\r\nuser", "a@example.org"): (
            "SMTP x: refused a@example.org: 550 5.1.1 no such user"
        ),
        aiosmtplib.SMTPSenderRefused(553, "5.7.1 not yours", "digest@example.org"): (
            "SMTP x: refused the sender digest@example.org: 553 5.7.1 not yours"
        ),
        aiosmtplib.SMTPDataError(554, "5.6.0 Message content rejected"): (
            "SMTP x: 554 5.6.0 Message content rejected"
        ),
        aiosmtplib.SMTPServerDisconnected("Connection lost"): (
            "SMTP x: SMTPServerDisconnected: Connection lost"
        ),
    }
    for exc, words in cases.items():
        assert str(classify(exc, "SMTP x")) == words
