"""The SMTP pool against a real, scripted aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import Inbox, free_port
from smtp_faults import FaultServer

from digest.config import Settings
from digest.errors import (
    ConfigError,
    PermanentDeliveryError,
    SenderRefusedError,
    TemporaryDeliveryError,
)
from digest.mail import Outcome, Outgoing, build_message, outgoing
from digest.mail.smtp import SmtpSettings, SmtpTransport
from digest.wiring import Services

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def address(i: int) -> str:
    return f"user{i}@example.org"


def batch(n: int) -> list[Outgoing]:
    return [
        outgoing(
            i,
            build_message(
                sender="Digest <digest@example.org>",
                to=address(i),
                subject=f"digest {i}",
                text=f"hello {i}",
                html=f"<p>hello {i}</p>",
                message_id=f"<digest-{i}@example.org>",
                date=NOW,
            ),
            "Digest <digest@example.org>",
            address(i),
        )
        for i in range(1, n + 1)
    ]


def settings(port: int, **kwargs: object) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, timeout=1.0, **kwargs)  # type: ignore[arg-type]


def by_kind(outcomes: list[Outcome]) -> tuple[list[int], list[Outcome], list[Outcome]]:
    """(sent ids, temporary failures, permanent failures)."""
    sent = [o.delivery_id for o in outcomes if o.sent]
    temporary = [o for o in outcomes if isinstance(o.error, TemporaryDeliveryError)]
    permanent = [o for o in outcomes if isinstance(o.error, PermanentDeliveryError)]
    return sent, temporary, permanent


def test_every_message_arrives_exactly_once_over_four_connections(server: FaultServer) -> None:
    outcomes = SmtpTransport(settings(server.port, connections=4)).send(batch(40))

    assert [o.delivery_id for o in outcomes] == list(range(1, 41))
    assert all(o.sent and o.attempted and o.error is None for o in outcomes)
    assert sorted(server.accepted) == sorted(
        (address(i), f"<digest-{i}@example.org>") for i in range(1, 41)
    )
    assert server.log.connections == 4


def test_rate_limit_spaces_messages_over_all_connections(server: FaultServer) -> None:
    transport = SmtpTransport(settings(server.port, connections=4, rate=50))
    messages = batch(25)

    start = time.monotonic()
    outcomes = transport.send(messages[:13]) + transport.send(messages[13:])  # one budget
    elapsed = time.monotonic() - start

    assert all(o.sent for o in outcomes)
    assert len(server.accepted) == 25
    assert elapsed >= 0.45  # 24 gaps of 20 ms after the first message


def test_recipients_refused_with_550_fail_permanently_and_others_go_out(
    server: FaultServer,
) -> None:
    server.script.reject = {address(3), address(8)}

    outcomes = SmtpTransport(settings(server.port, connections=2)).send(batch(10))

    sent, temporary, permanent = by_kind(outcomes)
    assert sorted(o.delivery_id for o in permanent) == [3, 8]
    assert all(o.error is not None and o.error.code == 550 for o in permanent)
    assert "no such user" in str(permanent[0].error)
    assert temporary == []
    assert sorted(sent) == [1, 2, 4, 5, 6, 7, 9, 10]
    assert sorted(server.per_recipient()) == sorted(address(i) for i in sent)
    assert server.log.connections == 2  # a refused recipient does not cost the connection


def test_451_is_temporary_with_its_code(server: FaultServer) -> None:
    server.script.temp_every = 3

    outcomes = SmtpTransport(settings(server.port, connections=3)).send(batch(30))

    sent, temporary, permanent = by_kind(outcomes)
    assert len(temporary) == 10 and permanent == []
    assert all(o.error is not None and o.error.code == 451 for o in temporary)
    assert len(sent) == 20
    assert sorted(server.per_recipient()) == sorted(address(i) for i in sent)
    assert server.log.connections == 3


def test_connection_dropped_inside_data_is_temporary_and_the_rest_still_go_out(
    server: FaultServer,
) -> None:
    server.script.drop_first = {address(4): 1, address(11): 1}

    outcomes = SmtpTransport(settings(server.port, connections=1)).send(batch(16))

    sent, temporary, permanent = by_kind(outcomes)
    assert sorted(o.delivery_id for o in temporary) == [4, 11]
    assert all(o.error is not None and o.error.code is None for o in temporary)
    assert permanent == []
    assert sorted(sent) == [i for i in range(1, 17) if i not in (4, 11)]
    assert server.per_recipient() == {address(i): 1 for i in sent}
    assert server.log.connections == 1 + 2  # each dropped connection was replaced once


def test_server_that_never_greets_fails_everything_temporarily_within_the_timeout(
    server: FaultServer,
) -> None:
    server.script.hang_greeting = True

    outcomes = SmtpTransport(settings(server.port, connections=4)).send(batch(20))

    assert len(outcomes) == 20
    assert all(isinstance(o.error, TemporaryDeliveryError) for o in outcomes)
    assert all(o.error is not None and o.error.code is None for o in outcomes)
    assert "cannot connect" in str(outcomes[0].error)
    assert server.log.connections == 4  # one timed-out connect per worker, not per message
    assert server.accepted == []


def test_server_that_hangs_in_data_fails_everything_temporarily(server: FaultServer) -> None:
    server.script.hang_data = True

    outcomes = SmtpTransport(settings(server.port, connections=4)).send(batch(20))

    assert len(outcomes) == 20
    assert all(isinstance(o.error, TemporaryDeliveryError) for o in outcomes)
    assert server.log.data_total == 8  # 4 workers x 2 attempts; the rest were never tried
    assert server.accepted == []


def test_server_down_fails_everything_temporarily_at_once() -> None:
    port = free_port()  # nothing listens here

    outcomes = SmtpTransport(settings(port, connections=4)).send(batch(30))

    assert len(outcomes) == 30
    for outcome in outcomes:
        assert isinstance(outcome.error, TemporaryDeliveryError)
        assert outcome.error.code is None and outcome.attempted
        assert f"cannot connect to SMTP 127.0.0.1:{port}" in str(outcome.error)


def test_should_stop_finishes_messages_in_flight_and_leaves_the_rest_unattempted(
    server: FaultServer,
) -> None:
    outcomes = SmtpTransport(settings(server.port, connections=2)).send(
        batch(30), should_stop=lambda: len(server.accepted) >= 5
    )

    assert [o.delivery_id for o in outcomes] == list(range(1, 31))
    sent = [o.delivery_id for o in outcomes if o.sent]
    unattempted = [o for o in outcomes if not o.attempted]
    assert 5 <= len(sent) <= 5 + 2  # at most one message in flight per connection
    assert sorted(server.per_recipient()) == sorted(address(i) for i in sent)
    assert len(unattempted) == 30 - len(sent)
    assert all(o.error is None for o in unattempted)


def test_should_stop_before_the_start_sends_nothing_and_connects_nowhere(
    server: FaultServer,
) -> None:
    outcomes = SmtpTransport(settings(server.port)).send(batch(5), should_stop=lambda: True)

    assert [(o.delivery_id, o.attempted, o.error) for o in outcomes] == [
        (i, False, None) for i in range(1, 6)
    ]
    assert server.log.connections == 0


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


def test_send_from_inside_a_running_event_loop(server: FaultServer) -> None:
    """The web app's async routes call the (synchronous) transport for confirmation mail."""

    async def route() -> list[Outcome]:
        return SmtpTransport(settings(server.port)).send(batch(2))

    outcomes = asyncio.run(route())

    assert all(o.sent for o in outcomes) and len(server.accepted) == 2


def test_empty_batch_connects_nowhere(server: FaultServer) -> None:
    assert SmtpTransport(settings(server.port)).send([]) == []
    assert server.log.connections == 0


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


def test_connections_outlive_a_batch_and_close_says_goodbye(server: FaultServer) -> None:
    transport = SmtpTransport(settings(server.port, connections=3))
    for start in range(3):  # three batches of one send run
        items = batch(30)[start * 10 : start * 10 + 10]
        assert all(o.sent for o in transport.send(items))
    assert server.log.connections == 3  # connected once, not once per batch
    transport.close()
    assert len(server.log.accepted) == 30
    assert len(transport.idle) == 0


def test_a_pooled_connection_the_server_dropped_is_replaced_without_losing_a_message(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest.mail import smtp

    transport = SmtpTransport(settings(server.port, connections=2))
    assert all(o.sent for o in transport.send(batch(4)[:2]))
    server.stop()  # the server goes away, and with it the pooled connections
    server.start()
    monkeypatch.setattr(smtp, "IDLE_CHECK", 0.0)  # check pooled connections before reuse
    outcomes = transport.send(batch(4)[2:])
    assert [o.sent for o in outcomes] == [True, True]
    assert {r for r, _ in server.log.accepted} >= {address(3), address(4)}
    transport.close()


def test_a_connection_sends_its_next_message_only_once_its_last_outcome_is_recorded(
    server: FaultServer,
) -> None:
    """The caller's receipt gates DATA: however slow recording is, the server never holds more
    than one unrecorded message per connection (what a SIGKILL could repeat)."""
    import threading
    from concurrent.futures import Future

    lock = threading.Lock()
    unrecorded: set[int] = set()
    worst = 0

    def heard(outcome: Outcome) -> Future[None]:
        nonlocal worst
        receipt: Future[None] = Future()
        with lock:
            unrecorded.add(outcome.delivery_id)
            worst = max(worst, len(unrecorded))

        def recorded() -> None:
            with lock:
                unrecorded.discard(outcome.delivery_id)
            receipt.set_result(None)

        threading.Timer(0.05, recorded).start()  # a slow disk
        return receipt

    outcomes = SmtpTransport(settings(server.port, connections=2)).send(batch(10), on_outcome=heard)
    assert all(o.sent for o in outcomes) and len(server.accepted) == 10
    assert worst <= 2


def test_a_failed_recording_stops_the_connection_before_data(server: FaultServer) -> None:
    """When the outcome of a message cannot be recorded, the connection sends no more data."""
    from concurrent.futures import Future

    def heard(outcome: Outcome) -> Future[None]:
        receipt: Future[None] = Future()
        receipt.set_exception(OSError("disk full"))
        return receipt

    transport = SmtpTransport(settings(server.port, connections=1))
    outcomes = transport.send(batch(3), on_outcome=heard)
    transport.close()
    assert outcomes[0].sent
    assert all(isinstance(o.error, TemporaryDeliveryError) for o in outcomes[1:])
    assert len(server.accepted) == 1


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
