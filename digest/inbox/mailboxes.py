"""The mailboxes returned mail is read from (a Maildir, IMAP, POP3): every message with a
function that removes it, so that what was acted on is never read twice."""

from __future__ import annotations

import contextlib
import functools
import imaplib
import mailbox
import poplib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from digest.errors import ConfigError, TransportError


@dataclass(frozen=True)
class InboxSettings:
    """Where returned mail arrives."""

    kind: str  # maildir | imap | pop3
    path: Path | None = None
    host: str = ""
    port: int = 0
    username: str = ""
    password: str = ""
    tls: bool = True


Removal = Callable[[], object]


def messages(s: InboxSettings) -> Iterator[tuple[bytes, Removal]]:
    """Every message of the inbox, with a function that removes it from the mailbox."""
    if s.kind == "maildir":
        if s.path is None:
            raise ConfigError("DIGEST_INBOX_PATH is not set: name the Maildir to read")
        yield from _maildir(s.path)
    elif s.kind in ("imap", "pop3") and not s.host.strip():
        raise ConfigError(
            f"DIGEST_INBOX_HOST is not set: name the {s.kind.upper()} server to read returned "
            "mail from"
        )
    elif s.kind == "imap":
        yield from _imap(s)
    elif s.kind == "pop3":
        yield from _pop3(s)
    else:
        raise ConfigError("set DIGEST_INBOX_KIND to maildir, imap or pop3 to read returned mail")


def _maildir(path: Path) -> Iterator[tuple[bytes, Removal]]:
    if not (path / "new").is_dir():
        raise ConfigError(f"{path} is not a Maildir (no new/ folder): check DIGEST_INBOX_PATH")
    box = mailbox.Maildir(str(path), create=False)
    for key in list(box.keys()):
        yield box.get_bytes(key), functools.partial(box.remove, key)


# seconds a mail server may stay silent: one that never answers (a firewall dropping
# packets, the port of something else) would hold `digest inbox` and serve's inbox job forever
TIMEOUT = 60.0
IMAP_ERRORS = (OSError, imaplib.IMAP4.error)
POP3_ERRORS = (OSError, poplib.error_proto)
BROKEN_OFF = "the connection broke off; what was read is done, the rest waits for the next run"


def _imap(s: InboxSettings) -> Iterator[tuple[bytes, Removal]]:
    try:
        port = s.port or (993 if s.tls else 143)
        client = (imaplib.IMAP4_SSL if s.tls else imaplib.IMAP4)(s.host, port, timeout=TIMEOUT)
        client.login(s.username, s.password)
        client.select("INBOX")
        # marked deleted by a run that broke off before expunging: acted on already
        _, found = client.search(None, "UNDELETED")
    except IMAP_ERRORS as exc:
        raise _unread("IMAP", s.host, port, exc) from None
    try:
        for number in (found[0] or b"").decode("ascii", "replace").split():
            _, data = client.fetch(number, "(RFC822)")
            part = data[0]
            if isinstance(part, tuple):
                mark = functools.partial(client.store, number, "+FLAGS", "\\Deleted")
                yield part[1], _guarded(mark, IMAP_ERRORS, f"IMAP {s.host}")
        client.expunge()
    except IMAP_ERRORS as exc:
        raise TransportError(f"IMAP {s.host}: {exc}: {BROKEN_OFF}") from None
    finally:
        with contextlib.suppress(*IMAP_ERRORS):
            client.logout()


def _unread(kind: str, host: str, port: int, exc: Exception) -> TransportError:
    """Why the mail server could not be read, and what to check."""
    if isinstance(exc, TimeoutError):
        return TransportError(
            f"no answer from {kind} {host}:{port} within {TIMEOUT:g} s: check that "
            f"DIGEST_INBOX_HOST and DIGEST_INBOX_PORT name a {kind} server (and DIGEST_INBOX_TLS)"
        )
    return TransportError(f"cannot read {kind} {host}: {exc} (check DIGEST_INBOX_*)")


def _guarded(remove: Removal, errors: tuple[type[Exception], ...], where: str) -> Removal:
    """`remove`, its mail server's failure a TransportError."""

    def guarded() -> object:
        try:
            return remove()
        except errors as exc:
            raise TransportError(f"{where}: {exc}: {BROKEN_OFF}") from None

    return guarded


def _pop3(s: InboxSettings) -> Iterator[tuple[bytes, Removal]]:
    try:
        port = s.port or (995 if s.tls else 110)
        client = (poplib.POP3_SSL if s.tls else poplib.POP3)(s.host, port, timeout=TIMEOUT)
        client.user(s.username)
        client.pass_(s.password)
        count = len(client.list()[1])
    except POP3_ERRORS as exc:
        raise _unread("POP3", s.host, port, exc) from None
    try:
        for number in range(1, count + 1):
            remove = _guarded(functools.partial(client.dele, number), POP3_ERRORS, f"POP3 {s.host}")
            yield b"\r\n".join(client.retr(number)[1]), remove
        client.quit()  # POP3 deletes at QUIT
    except POP3_ERRORS as exc:
        raise TransportError(f"POP3 {s.host}: {exc}: {BROKEN_OFF}") from None
