"""DKIM signatures: checked by an independent verifier (dkimpy), made in the render workers."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import pytest
from conftest import Project
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from scripted_outbox import NOW, ScriptedTransport, planned_store

from digest.errors import ConfigError
from digest.mail import Outgoing, build_message
from digest.mail.dkim import DkimSigner
from digest.outbox import Outbox, SendPolicy, send_due
from digest.render import Renderer
from digest.subscriptions.links import Links

FIXTURES = Path(__file__).parent / "fixtures" / "dkim"
PUBLIC = (FIXTURES / "test-only-public.b64").read_text().strip()


def signer() -> DkimSigner:
    return DkimSigner.from_file(FIXTURES / "test-only-private.pem", "digest", "example.org")


def verified(raw: bytes) -> bool:
    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"digest._domainkey.example.org."
        return f"v=DKIM1; k=rsa; p={PUBLIC}".encode()

    return bool(dkim.verify(raw, dnsfunc=dns))


def message(
    subject: str = "Papers digest", text: str = "Hello\n", html: str = "<p>Hi</p>"
) -> bytes:
    return build_message(
        sender="Digest <digest@example.org>",
        to="r@example.org",
        subject=subject,
        text=text,
        html=html,
        message_id="<1@example.org>",
        date=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
        unsubscribe_url="https://d.example/unsubscribe/t",
    )


@pytest.mark.parametrize(
    "raw",
    [
        message(),
        message(subject="Résumé: ünïcode " * 8),  # an RFC 2047 subject folded over lines
        message(text="  indented   text\t with  runs  \n\n\n", html="<p>  a  </p>\n\n"),
        message() + b"\r\n\r\n\r\n",  # empty lines at the end of the body
        message().split(b"\r\n\r\n")[0] + b"\r\n\r\n",  # no body at all
    ],
    ids=["plain", "folded-subject", "whitespace", "trailing-lines", "no-body"],
)
def test_signatures_verify_and_any_change_breaks_them(raw: bytes) -> None:
    signed = signer().sign(raw)
    assert verified(signed)
    assert signed.endswith(raw) and signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    assert not verified(signed.replace(b"Subject: ", b"Subject: FREE ", 1))
    assert not verified(signed + b"PS: added on the way\r\n")


def test_the_signer_travels_to_a_worker_process_as_its_key() -> None:
    again = pickle.loads(pickle.dumps(signer()))
    assert again.sign(message()) == signer().sign(message())  # rsa-sha256 is deterministic


# a 512-bit RSA key, made for this test only (cryptography refuses to make one under 1,024)
SHORT_KEY = b"""-----BEGIN PRIVATE KEY-----
MIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEA7FF2iDg/5/j0X7kJ
NxegyFysB959RXcBJAT8go4KIeMSvaDCr7iGu531PHIeclI5zAOwnEISWGSFAY/c
t/PgEwIDAQABAkEA4fzFLV8dPeiFSUTZ2yVtTC3TFXNeuJ8lKBzcnLzYU63MADbU
g7McdwV9ozGlzIetcz0BUtoVZPpPEYl3dLAhgQIhAP4nstmAhzl9gM4SbETwVLXi
R5Wwrvp+8EYBl7vDq3GHAiEA7gieKDXDLQvIGwmsqskbq0c3epoo2xJyI18HDv0j
8BUCIBJ5mEqvSSUotmBEfpJUVhQSqtl6yn1zFMxB+WGwy5mpAiAIi9Sp2uxMBL1F
gz5oz1mn96GdTEWlP+9LJ9FID3yn1QIgboOA4mwnKVIAZzSzlpeXFgqATG5h2Ang
gFKyNjYGr8E=
-----END PRIVATE KEY-----
"""


def test_a_key_receivers_would_ignore_is_refused(tmp_path: Path) -> None:
    """RFC 8301: verifiers ignore signatures of RSA keys under 1,024 bits, so every digest
    would go out as if unsigned (and lose one-click unsubscribe): refused, saying what to do."""
    (tmp_path / "short.pem").write_bytes(SHORT_KEY)
    with pytest.raises(ConfigError, match="has 512 bits") as error:
        DkimSigner.from_file(tmp_path / "short.pem", "digest", "example.org")
    assert "openssl genrsa -out dkim.pem 2048" in str(error.value)


def test_a_key_that_cannot_sign_is_one_clear_error(tmp_path: Path) -> None:
    ed = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    broken = b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n"
    for name, pem, says in [("ed.pem", ed, "not an RSA key"), ("bad.pem", broken, "usable")]:
        (tmp_path / name).write_bytes(pem)
        with pytest.raises(ConfigError, match=says) as error:
            DkimSigner.from_file(tmp_path / name, "digest", "example.org")
        assert "DIGEST_DKIM_KEY_FILE" in str(error.value) or "rsa-sha256" in str(error.value)


def test_digests_are_signed_as_they_are_composed_in_the_render_workers(tmp_path: Path) -> None:
    """The outbox's transport signs nothing: every digest arrives signed all the same, from
    the worker processes (several batches) as from the sending process."""
    store = planned_store(tmp_path, [f"reader{n}" for n in range(7)])
    transport = ScriptedTransport()
    outbox = Outbox(
        transport,
        Renderer(),
        Links(b"k" * 32, "https://d.example"),
        "Digest <digest@example.org>",
        SendPolicy(batch=2, render_processes=2),
        signer=signer(),
    )
    assert send_due(store, outbox, now=NOW).sent == 7
    assert len(transport.raw) == 7 and all(verified(raw) for raw in transport.raw)


def test_other_mail_is_signed_on_its_way_to_the_transport() -> None:
    """Confirmation mail goes through the signing transport (digests are signed before)."""
    from digest.mail.dkim import SigningTransport

    inner = ScriptedTransport()
    [outcome] = SigningTransport(inner, signer()).send([Outgoing(1, message(), "d@x", "r@x")])
    assert outcome.sent and verified(inner.raw[0])


def test_any_header_spacing_folding_case_and_repeat_verifies() -> None:
    """Relaxed header canonicalization against dkimpy's, on 60 seeded random shapes."""
    import random

    rng = random.Random(7)
    sign = signer().sign

    def blank() -> bytes:
        return rng.choice([b" ", b"  ", b"\t", b" \t ", b""])

    names = [b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Id", b"X-Other"]
    for _ in range(60):
        lines = []
        for name in names:
            fold = rng.choice([b"", b"\r\n\tmore", b"\r\n folded" + blank()])
            value = blank() + b"a" + blank() + b"b" + fold + blank()
            lines.append(rng.choice([name, name.lower(), name.upper()]) + b":" + value)
        if rng.random() < 0.3:
            lines.append(b"Subject: a second subject")  # the last one is the one signed
        rng.shuffle(lines)
        body = b"".join(
            rng.choice([b"x", b" y", b"z ", b"a  b", b"", b".d"]) + b"\r\n" for _ in range(5)
        )
        assert verified(sign(b"\r\n".join(lines) + b"\r\n\r\n" + body))


def test_internationalised_domains_are_written_and_signed_in_their_ascii_form(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A From domain such as bücher.example reaches every header in its IDNA form
    (Message-ID, List-Id, Feedback-ID, the unsubscribe address), and DKIM signs as that form
    (d=): raw UTF-8 there is invalid without SMTPUTF8, and signing it failed outright. So does
    the web address every link starts with (List-Unsubscribe's one-click link)."""
    monkeypatch.setenv("DIGEST_FROM", "Papers <digest@bücher.example>")
    monkeypatch.setenv("DIGEST_BASE_URL", "https://Bücher.example/digest/")
    monkeypatch.setenv("DIGEST_DKIM_KEY_FILE", str(FIXTURES / "test-only-private.pem"))
    project.ok("subscribers", "add", "a@example.org", "--keywords", "kv cache")
    project.ok("run", "--now", "2026-11-22T09:00:00Z")
    [path] = (project.maildir / "new").iterdir()
    raw = path.read_bytes().replace(b"\n", b"\r\n")
    head = raw.partition(b"\r\n\r\n")[0]
    assert head.isascii()
    ascii_domain = "xn--bcher-kva.example"
    parsed = message_from_bytes(raw, policy=policy.default)
    assert str(parsed["Message-ID"]).endswith(f"@{ascii_domain}>")
    assert parsed["List-Id"] == f"papers digest <digest.{ascii_domain}>"
    assert parsed["Feedback-ID"] == f"digest:{ascii_domain}"
    assert f"@{ascii_domain}?subject=unsubscribe>" in str(parsed["List-Unsubscribe"])
    assert str(parsed["List-Unsubscribe"]).startswith(f"<https://{ascii_domain}/digest/unsub")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"digest._domainkey.{ascii_domain}.".encode()
        return f"v=DKIM1; k=rsa; p={PUBLIC}".encode()

    assert dkim.verify(raw, dnsfunc=dns)
