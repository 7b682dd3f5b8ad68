"""DKIM: every message is signed on its way to the transport (RFC 6376), so that receivers
honour one-click unsubscribe (RFC 8058 section 4 wants both List-Unsubscribe headers signed).

The private key is a PEM file named in the settings (`DIGEST_DKIM_KEY_FILE`); the public half
goes into DNS at `<selector>._domainkey.<domain>` (docs/deploy.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import dkim

from digest.errors import ConfigError
from digest.local_files import read_capped
from digest.mail import OnOutcome, Outcome, Outgoing, Transport

MAX_KEY_BYTES = 64 * 1024  # a PEM RSA key of 4,096 bits is about 3 KB

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"list-id",
)


class DkimSigner:
    """Signs messages for one domain and selector with one private key."""

    def __init__(self, key_file: Path, selector: str, domain: str) -> None:
        try:
            self.key = read_capped(key_file, MAX_KEY_BYTES)
        except OSError as exc:
            raise ConfigError(
                f"cannot read the DKIM key {key_file}: {exc.strerror or exc} "
                "(check DIGEST_DKIM_KEY_FILE; make one with: "
                "openssl genrsa -out dkim.pem 2048)"
            ) from None
        if b"PRIVATE KEY" not in self.key:
            raise ConfigError(f"{key_file} is not a PEM private key (check DIGEST_DKIM_KEY_FILE)")
        self.selector = selector.encode("ascii")
        self.domain = domain.encode("ascii")

    def sign(self, raw: bytes) -> bytes:
        """The message with a DKIM-Signature header in front."""
        header = dkim.sign(
            raw,
            self.selector,
            self.domain,
            self.key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
        )
        return bytes(header) + raw


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
        signed = [replace(item, raw=self.signer.sign(item.raw)) for item in batch]
        return self.inner.send(signed, should_stop, on_outcome)

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()
