"""Moving a subscription to another address: by the operator at once, or by the reader through
a link mailed to the new address (whoever holds the preferences page must also hold the new
mailbox). Settings, votes and past digests move with it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from digest.errors import AlreadyExistsError, LinkError, TransportError, ValidationError
from digest.models import Subscriber, SubscriberStatus
from digest.store import Store
from digest.subscriptions.lifecycle import decline_address, forget_bounces
from digest.subscriptions.links import MOVE_BACK_MAX_AGE, MOVE_MAX_AGE, Links
from digest.subscriptions.mailer import Mailer
from digest.subscriptions.preferences import normalise_email
from digest.subscriptions.tokens import MoveToken


def change_email(store: Store, subscriber: Subscriber, new: str, now: datetime) -> Subscriber:
    """Move a subscription to another address (settings, votes and history kept): links sent
    to the old one are revoked (but unsubscribe), its bounces forgotten (and those still to
    come of digests sent to it, see `DeliveryQueries.recipient_of`), and a subscription
    stopped by them starts again. Not to an address of another subscriber (a signup there
    not yet confirmed gives way), nor a suppressed one; the caller vouches for the new
    address (the operator: nothing is confirmed)."""
    email = normalise_email(new)
    if email == subscriber.email:
        raise ValidationError(f"{email} is already this subscriber's address")
    other = store.subscribers.find(email)
    if other is not None and other.status != SubscriberStatus.PENDING:
        raise AlreadyExistsError(
            f"{email} is another subscriber's address: `digest subscribers remove` it first"
        )
    if (suppressed := store.suppression.get(email)) is not None:
        raise ValidationError(
            f"{email} is on the suppression list ({suppressed.reason}): "
            "`digest suppression remove` it first if its owner asked for this"
        )
    if other is not None:  # a signup never confirmed, nobody's subscription: it gives way
        store.subscribers.remove(email)
    subscriber.email, subscriber.updated_at, subscriber.address_since = email, now, now
    subscriber.token_version += 1
    forget_bounces(subscriber)  # the new address has not bounced
    return store.subscribers.save(subscriber)


class MailLimit(Protocol):
    """How many mails one address may be sent on request (web.limits.Guard)."""

    def mail_to(self, address: str) -> bool: ...


def request_move(
    store: Store,
    mailer: Mailer,
    subscriber: Subscriber,
    new: str,
    now: datetime,
    limit: MailLimit | None = None,
) -> None:
    """Mail `new` the link that moves this subscription there (a signup of that address
    not yet confirmed gives way when the link is followed). An address that is another
    subscriber's or suppressed gets nothing, nor one sent more such mails than `limit`
    allows (anyone can sign up and type any address here), and the reader is told the same
    either way: anyone can hold a preferences page, which must not tell who subscribes."""
    email = normalise_email(new)
    if email == subscriber.email:
        raise ValidationError(f"{email} is already the address of this digest")
    other = store.subscribers.find(email)
    taken = other is not None and other.status != SubscriberStatus.PENDING
    if taken or store.suppression.get(email) is not None:
        return
    if limit is not None and not limit.mail_to(email):
        return
    move_url = mailer.links.move_url(subscriber, email, int(now.timestamp()))
    context: dict[str, object] = {
        "old": subscriber.email,
        "email": email,
        "move_url": move_url,
        "decline_url": f"{move_url}/decline",
        "valid_days": MOVE_MAX_AGE // 86400,
    }
    error = mailer.mail(
        email, "Confirm your new address for papers digest", "email/move", context, now
    )
    if error is not None:
        raise TransportError(f"could not send the mail to {email}: {error}")


def to_move(store: Store, links: Links, token: str, now: datetime) -> tuple[Subscriber, MoveToken]:
    """The subscription a move (or undo) link names, and what the link says: the address it
    moves to; a link used already (a move revokes the links of before) or revoked is refused."""
    data = links.read_move(token, now.timestamp())
    subscriber = store.subscribers.by_public_id(data.subscriber)
    if subscriber is None or subscriber.token_version != data.version:
        raise LinkError(
            "this link is no longer valid: it was used already, or newer links replaced it"
        )
    return subscriber, data


def declining(links: Links, token: str, now: datetime) -> str:
    """The address a move link was mailed to, for its owner to stop all mail to it (they
    did not ask for it); not for an undo link, mailed to the digest's own old address."""
    data = links.read_move(token, now.timestamp())
    if data.back:
        raise LinkError("this link takes a digest back; it does not stop mail")
    return data.email


def decline(store: Store, links: Links, token: str, now: datetime) -> str:
    """Stop all mail to the address a move link was mailed to: suppressed, whoever asks
    again (only the operator lifts it); a signup of it not yet confirmed goes too."""
    email = declining(links, token, now)
    decline_address(store, email, "from the link of a move mail", now)
    return email


def move(store: Store, mailer: Mailer, token: str, now: datetime) -> Subscriber:
    """Move the subscription a link names to the address it was mailed to, and tell the old
    address (where the digest went until now) that it moved, with a link that takes it back
    (whoever holds a forwarded digest holds its preferences page, and so can ask for a move).
    An undo link's own move is told without one: the taker must not take it back again."""
    subscriber, link = to_move(store, mailer.links, token, now)
    old, email = subscriber.email, link.email
    try:
        moved = change_email(store, subscriber, email, now)
    except AlreadyExistsError:  # signed up since the link was sent; its words are the CLI's
        raise AlreadyExistsError(
            f"{email} has a digest of its own now: unsubscribe it (a link is in each of its "
            "digests), then ask for the move again"
        ) from None
    except ValidationError:  # suppressed since
        raise ValidationError(f"{email} cannot receive digests from this service") from None
    undo = None if link.back else mailer.links.move_url(moved, old, int(now.timestamp()), True)
    context: dict[str, object] = {
        "old": old,
        "email": moved.email,
        "undo_url": undo,
        "undo_days": MOVE_BACK_MAX_AGE // 86400,
    }
    mailer.tell(store, old, "Your papers digest has moved", "email/moved", context, now)
    return moved
