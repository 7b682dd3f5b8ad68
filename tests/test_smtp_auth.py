"""The SMTP pool's login and encryption against a real aiosmtpd server on 127.0.0.1 (AUTH,
STARTTLS, implicit TLS, untrusted certificates), its settings, and DATA as it goes on the wire."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Inbox
from smtp_batches import NOW, batch, settings
from smtp_faults import FaultServer

from digest.config import Settings
from digest.errors import (
    ConfigError,
    SenderRefusedError,
    TemporaryDeliveryError,
)
from digest.mail import build_message, outgoing
from digest.mail.smtp import SmtpSettings, SmtpTransport
from digest.wiring import Services

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def test_auth_with_the_right_password_sends() -> None:
    server = FaultServer(login=("digest", "s3cret")).start()
    try:
        outcomes = SmtpTransport(
            settings(server.port, username="digest", password="s3cret", connections=2)
        ).send(batch(6))
    finally:
        server.stop()

    assert all(o.sent for o in outcomes)
    assert len(server.accepted) == 6
    assert server.log.logins == ["digest", "digest"]  # one login per connection


def test_auth_with_a_wrong_password_is_temporary_535_and_sends_nothing() -> None:
    """535 is a 5xx, but it says nothing about the recipients: a wrong password must leave the
    deliveries to retry (and the operator to fix it), not bounce every subscriber."""
    server = FaultServer(login=("digest", "s3cret")).start()
    try:
        start = time.monotonic()
        outcomes = SmtpTransport(settings(server.port, username="digest", password="wrong")).send(
            batch(6)
        )
        elapsed = time.monotonic() - start
    finally:
        server.stop()

    assert len(outcomes) == 6 and elapsed < 1.0
    for outcome in outcomes:
        assert isinstance(outcome.error, SenderRefusedError)  # retried until fixed
        assert outcome.error.code == 535
        assert "DIGEST_SMTP_PASSWORD" in str(outcome.error)
    assert server.accepted == [] and server.log.logins == []


def test_no_login_where_the_server_requires_one_is_temporary_530() -> None:
    server = FaultServer(login=("digest", "s3cret")).start()
    try:
        outcomes = SmtpTransport(settings(server.port)).send(batch(3))
    finally:
        server.stop()

    # temporary, and retried until the setting is fixed however many times (SenderRefusedError)
    assert [type(o.error) for o in outcomes] == [SenderRefusedError] * 3
    assert [o.error.code for o in outcomes if o.error] == [530] * 3
    assert server.accepted == []


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 and a server context that uses it."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


def test_starttls_then_auth_over_the_encrypted_connection(
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    cert, context = certificate
    server = FaultServer(login=("digest", "s3cret"), starttls=context).start()
    try:
        good = SmtpTransport(
            settings(
                server.port,
                username="digest",
                password="s3cret",
                starttls=True,
                cert_bundle=str(cert),
            )
        ).send(batch(4))
        plain = SmtpTransport(settings(server.port, username="digest", password="s3cret")).send(
            batch(2)
        )
    finally:
        server.stop()

    assert all(o.sent for o in good)
    assert len(server.accepted) == 4
    # without STARTTLS this server offers no AUTH (auth_require_tls) and refuses MAIL
    assert all(isinstance(o.error, TemporaryDeliveryError) for o in plain)


def test_implicit_tls_and_an_untrusted_certificate(
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    cert, context = certificate
    server = FaultServer(implicit_tls=context).start()
    try:
        trusted = SmtpTransport(settings(server.port, tls=True, cert_bundle=str(cert))).send(
            batch(3)
        )
        untrusted = SmtpTransport(settings(server.port, tls=True)).send(batch(2))
    finally:
        server.stop()

    assert all(o.sent for o in trusted)
    assert len(server.accepted) == 3
    assert all(isinstance(o.error, TemporaryDeliveryError) for o in untrusted)
    assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted[0].error)


def test_settings_reach_the_pool_and_bad_combinations_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = Settings(
        transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_tls=True,
        smtp_connections=3,
        smtp_rate=12.5,
        smtp_timeout=7,
        smtp_username="digest",
        smtp_password="s3cret",
    )
    transport = Services(config).transport

    assert isinstance(transport, SmtpTransport)
    assert transport.settings == SmtpSettings(
        "127.0.0.1", 2525, "digest", "s3cret", False, True, 7.0, 3, 12.5
    )
    assert "s3cret" not in repr(transport.settings)
    with pytest.raises(ConfigError, match="DIGEST_SMTP_TLS"):
        SmtpSettings("127.0.0.1", 465, tls=True, starttls=True)


@pytest.mark.parametrize(
    ("raw", "wire"),
    [
        (b"A: b\r\n\r\nbody\r\n", b"A: b\r\n\r\nbody\r\n.\r\n"),  # already in form: as is
        (b"A: b\r\n\r\nno end", b"A: b\r\n\r\nno end\r\n.\r\n"),
        (b"A: b\n\nlone\rends\r\r\n", b"A: b\r\n\r\nlone\r\nends\r\n\r\n.\r\n"),
        (b"A: b\r\n\r\n.\r\n..two\r\nx.y\r\n", b"A: b\r\n\r\n..\r\n...two\r\nx.y\r\n.\r\n"),
        (b".first\r\nx\r\n", b"..first\r\nx\r\n.\r\n"),  # a dot on the very first line
        (b"a\n\rb\r\n", b"a\r\n\r\nb\r\n.\r\n"),  # as many CRs as LFs, but not paired
        (b"", b"\r\n.\r\n"),
    ],
)
def test_data_is_crlf_dot_stuffed_and_terminated(raw: bytes, wire: bytes) -> None:
    from digest.mail.smtp_session import wire_form

    assert wire_form(raw) == wire


def test_lines_starting_with_a_dot_and_lone_line_ends_arrive_intact(
    smtp_server: tuple[Inbox, int],
) -> None:
    inbox, port = smtp_server
    text = ".\n.hidden line\n..two dots\nplain"
    raw = build_message(
        sender="d@example.org",
        to="a@example.org",
        subject="dots",
        text=text,
        html="<p>.</p>",
        message_id="<dots@example.org>",
        date=NOW,
    )
    transport = SmtpTransport(settings(port))
    try:
        [outcome] = transport.send([outgoing(1, raw, "d@example.org", "a@example.org")])
        bare_lf = raw.replace(b"\r\n", b"\n")  # a message from elsewhere, with LF alone
        [again] = transport.send([outgoing(2, bare_lf, "d@example.org", "a@example.org")])
    finally:
        transport.close()
    assert outcome.sent and again.sent
    for _, _, message in inbox.messages:
        body = message.get_body(("plain",))
        assert body is not None
        assert body.get_content().replace("\r\n", "\n") == text
