"""A bounced reader's way back. Their preferences page (a link of an old digest) asks for a
link mailed to the address; followed from that mailbox, it shows the mailbox takes mail
again: the suppression for bounces is lifted and the digests start again, bounces counted
afresh. Only bounces: an address suppressed after a complaint, a decline or by the operator
stays so (only the operator lifts that)."""

from __future__ import annotations

from datetime import datetime

from digest.errors import ValidationError
from digest.models import Subscriber, SubscriberStatus, Suppression
from digest.store import Store
from digest.subscriptions.lifecycle import restart_bounced, subscriber_for
from digest.subscriptions.links import RESTART_MAX_AGE, Links
from digest.subscriptions.mailer import Mailer

NOT_BOUNCED = (
    "only a digest stopped because mail to its address bounced can be started again this way"
)


def restartable(subscriber: Subscriber, suppressed: Suppression | None) -> bool:
    """Whether bounces alone stopped the subscription (a mailed link may start it again),
    given why its address is suppressed, if it is."""
    return subscriber.status == SubscriberStatus.BOUNCED and (
        suppressed is None or suppressed.reason == "bounce"
    )


def request_restart(store: Store, mailer: Mailer, subscriber: Subscriber, now: datetime) -> None:
    """Mail a bounced subscriber the link that starts their digests again (two days)."""
    if not restartable(subscriber, store.suppression.get(subscriber.email)):
        raise ValidationError(NOT_BOUNCED)
    context: dict[str, object] = {
        "email": subscriber.email,
        "restart_url": mailer.links.restart_url(subscriber, int(now.timestamp())),
        "valid_days": RESTART_MAX_AGE // 86400,
    }
    mailer.ask(subscriber, "Start your papers digest again?", "email/restart", context, now)


def to_restart(store: Store, links: Links, token: str, now: datetime) -> Subscriber:
    """The subscriber a restart link names, if it is still genuine and valid."""
    return subscriber_for(store, links, "restart", token, now)


def restart(store: Store, links: Links, token: str, now: datetime) -> Subscriber:
    """Start the digests of the subscriber a restart link names again (the link was
    followed, so the mailbox takes mail); a link used already changes nothing."""
    subscriber = to_restart(store, links, token, now)
    if subscriber.status == SubscriberStatus.ACTIVE:
        return subscriber
    if not restartable(subscriber, store.suppression.get(subscriber.email)):
        raise ValidationError(NOT_BOUNCED)
    store.suppression.remove(subscriber.email)  # for bounces, which this link disproves
    return restart_bounced(store, subscriber, now)
