"""What the SMTP pool tests share: a batch of small digests to numbered addresses, the pool's
settings for a server on 127.0.0.1, and outcomes sorted by kind."""

from __future__ import annotations

from datetime import UTC, datetime

from digest.errors import (
    PermanentDeliveryError,
    TemporaryDeliveryError,
)
from digest.mail import Outcome, Outgoing, build_message, outgoing
from digest.mail.smtp import SmtpSettings

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


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
