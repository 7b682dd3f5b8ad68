"""Mail that comes back, as the inbox tests build it: DSN bounces, ARF complaints, reports
returning a digest's headers, plain replies, and the Maildir `digest inbox` reads them from."""

from __future__ import annotations

import mailbox

import pytest
from conftest import Project

NOW = "2026-11-22T12:00:00+00:00"
PEOPLE = ("bounces@example.org", "complains@example.org", "leaves@example.org", "stays@example.org")
KEY = b"k" * 32


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


def exim_bounce(to: str, reason: str, failed: str = "someone@example.org") -> bytes:
    """A bounce as older Exim and some hosting providers send it: plain text, the failed
    address in X-Failed-Recipients, the server's words, then a copy of the message."""
    return (
        f"From: Mail Delivery System <Mailer-Daemon@mx.example.net>\r\nTo: {to}\r\n"
        f"X-Failed-Recipients: {failed}\r\nAuto-Submitted: auto-replied\r\n"
        "Subject: Mail delivery failed: returning message to sender\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This message was created automatically by mail delivery software.\r\n\r\n"
        "A message that you sent could not be delivered to one or more of its\r\n"
        "recipients. This is a permanent error. The following address(es) failed:\r\n\r\n"
        f"  {failed}\r\n    host mx.example.org [192.0.2.1]\r\n"
        f"    SMTP error from remote mail server after RCPT TO:<{failed}>:\r\n"
        f"    {reason}\r\n\r\n"
        "------ This is a copy of the message, including all the headers. ------\r\n\r\n"
        "X-Mailer: 5.2.2 (a version, no status)\r\nSubject: Papers digest\r\n"
    ).encode()
