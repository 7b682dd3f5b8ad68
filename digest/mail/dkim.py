"""DKIM: every message is signed (RFC 6376), so that receivers honour one-click unsubscribe
(RFC 8058 section 4 wants both List-Unsubscribe headers signed): digests as they are composed,
in the render workers (composer.py), other mail on its way to the transport.

The private key is a PEM file named in the settings (`DIGEST_DKIM_KEY_FILE`); the public half
goes into DNS at `<selector>._domainkey.<domain>` (docs/deploy.md).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from digest.errors import ConfigError
from digest.local_files import read_capped
from digest.mail import OnOutcome, Outcome, Outgoing, Transport

MAX_KEY_BYTES = 64 * 1024  # a PEM RSA key of 4,096 bits is about 3 KB
MIN_KEY_BITS = 1024  # RFC 8301: verifiers do not accept signatures of smaller RSA keys

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"list-id",
    b"feedback-id",
)
_WSP_RUN = re.compile(rb"[ \t]+")
_UNFOLD = re.compile(rb"\r\n(?=[ \t])")


class DkimSigner:
    """Signs messages for one domain and selector with one RSA private key: rsa-sha256,
    headers relaxed, body simple (as Amazon SES signs: the body is hashed as it is, which
    costs a pass in C, where relaxing every indented line of a digest cost ~1.3 ms). The key
    is read once; a signature costs one RSA operation in OpenSSL, ~0.4 ms for 2,048 bits
    (dkimpy's pure-Python RSA and canonicalization took ~13 ms a digest)."""

    def __init__(self, key: bytes, selector: str, domain: str, where: str = "the DKIM key") -> None:
        if b"PRIVATE KEY" not in key:
            raise ConfigError(f"{where} is not a PEM private key (check DIGEST_DKIM_KEY_FILE)")
        try:
            private = serialization.load_pem_private_key(key, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ConfigError(
                f"{where} is not a usable private key ({exc}); check DIGEST_DKIM_KEY_FILE"
            ) from None
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ConfigError(f"{where} is not an RSA key: DKIM signs with rsa-sha256")
        if private.key_size < MIN_KEY_BITS:
            raise ConfigError(
                f"{where} has {private.key_size} bits: receivers ignore DKIM signatures of RSA "
                "keys under 1,024 bits (RFC 8301); make a 2,048-bit one: "
                "openssl genrsa -out dkim.pem 2048"
            )
        self.key, self.private = key, private
        self.selector, self.domain = selector.encode("ascii"), domain.encode("ascii")

    @classmethod
    def from_file(cls, key_file: Path, selector: str, domain: str) -> DkimSigner:
        """The signer of the PEM private key in `key_file`; ConfigError saying what to fix."""
        try:
            key = read_capped(key_file, MAX_KEY_BYTES)
        except OSError as exc:
            raise ConfigError(
                f"cannot read the DKIM key {key_file}: {exc.strerror or exc} "
                "(check DIGEST_DKIM_KEY_FILE; make one with: "
                "openssl genrsa -out dkim.pem 2048)"
            ) from None
        return cls(key, selector, domain, str(key_file))

    def __reduce__(self) -> tuple[type[DkimSigner], tuple[bytes, str, str]]:
        # to a composing process as its PEM: an OpenSSL key object does not pickle
        return DkimSigner, (self.key, self.selector.decode(), self.domain.decode())

    def sign(self, raw: bytes) -> bytes:
        """The message with a DKIM-Signature header in front (RFC 6376)."""
        head, separator, body = raw.partition(b"\r\n\r\n")
        if not separator:  # no body: the headers end the message
            head, body = raw.removesuffix(b"\r\n"), b""
        fields = _header_fields(head)
        names = [name for name in SIGNED_HEADERS if name in fields]
        value = b"v=1; a=rsa-sha256; c=relaxed/simple; d=%s; s=%s; h=%s; bh=%s; b=" % (
            self.domain,
            self.selector,
            b":".join(names),
            _body_hash(body),
        )
        signed = b"".join(b"%s:%s\r\n" % (name, fields[name]) for name in names)
        signed += b"dkim-signature:" + value
        signature = self.private.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        return b"DKIM-Signature: " + value + base64.b64encode(signature) + b"\r\n" + raw

    def signed(self, item: Outgoing) -> Outgoing:
        """The outgoing message with its bytes signed, its envelope as it was."""
        return replace(item, raw=self.sign(item.raw))


def _header_fields(head: bytes) -> dict[bytes, bytes]:
    """Relaxed header canonicalization: lower-case name -> value unfolded, whitespace runs as
    one space, none at either end (the last field of a name, the one a verifier takes first)."""
    fields: dict[bytes, bytes] = {}
    for line in _UNFOLD.sub(b"", head).split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon:
            fields[name.rstrip(b" \t").lower()] = _WSP_RUN.sub(b" ", value).strip(b" \t")
    return fields


def _body_hash(body: bytes) -> bytes:
    """base64(SHA-256) of the simple canonical body: the body as it is, but for empty lines
    at its end, with one CRLF after its last line (one CRLF when there is no body)."""
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    canonical = hashlib.sha256(memoryview(body)[:end])
    canonical.update(b"\r\n")
    return base64.b64encode(canonical.digest())


class SigningTransport:
    """A transport that DKIM-signs every message before handing it to another one."""

    def __init__(self, inner: Transport, signer: DkimSigner) -> None:
        self.inner = inner
        self.signer = signer

    def send(
        self,
        batch: Sequence[Outgoing],
        should_stop: Callable[[], bool] | None = None,
        on_outcome: OnOutcome | None = None,
    ) -> list[Outcome]:
        """Sign, then send through the inner transport."""
        signed = [self.signer.signed(item) for item in batch]
        return self.inner.send(signed, should_stop, on_outcome)

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()
