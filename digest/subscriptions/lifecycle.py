"""Subscribing, confirming, changing preferences and leaving: the flows behind the web pages.

Every function takes `now`; mail goes through whatever transport it is given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from digest.errors import GoneError, LinkError, UsedLinkError, ValidationError
from digest.models import Frequency, Subscriber, SubscriberStatus
from digest.planning import day_starts
from digest.store import Store
from digest.subscriptions.links import CONFIRM_MAX_AGE, FORGET_MAX_AGE, Links
from digest.subscriptions.mailer import Mailer, send_confirmation, send_reminder
from digest.subscriptions.preferences import MAX_PAUSE, new_subscriber

PREFERENCE_FIELDS = (
    "keywords",
    "exclude",
    "timezone",
    "send_at",
    "frequency",
    "weekly_day",
    "max_papers",
    "trending",
    "trending_box",
    "grouped",
)


def copy_preferences(source: Subscriber, target: Subscriber) -> None:
    """Give `target` the preferences (not the address or status) of `source`."""
    for name in PREFERENCE_FIELDS:
        setattr(target, name, getattr(source, name))


@dataclass(frozen=True)
class Preferences:
    """What a subscriber may change about their digest, as typed into a form."""

    keywords: str
    exclude: str = ""
    timezone: str = "UTC"
    send_at: str = "08:00"
    frequency: str = Frequency.DAILY
    weekly_day: str = "0"
    max_papers: int = 10
    trending: float = 0.1
    trending_box: bool = False
    grouped: bool = True


def subscribe(
    store: Store, mailer: Mailer, email: str, prefs: Preferences, now: datetime
) -> Subscriber:
    """A web signup: new addresses start pending and get a confirmation mail.

    A known address gets the same answer as a new one (nothing is revealed), and at most one
    mail an hour; an active or paused subscriber's settings are not changed by a stranger:
    they are mailed the link to their preferences instead.
    """
    fresh = _validated(email, prefs, now, status=SubscriberStatus.PENDING)
    store.subscribers.delete_expired_pending(now - timedelta(seconds=CONFIRM_MAX_AGE))
    if store.suppression.get(fresh.email) is not None:
        return fresh  # it complained or bounced: the same answer, and no mail
    existing = store.subscribers.find(fresh.email)
    if existing is None:
        subscriber = store.subscribers.add(fresh)
    elif existing.status in (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED):
        # not a second subscription: the link to the settings they have (may have lost)
        send_reminder(store, mailer, existing, now)
        return existing
    elif (
        existing.status == SubscriberStatus.PENDING
    ):  # a stranger must not rewrite a pending signup
        subscriber = existing
    else:  # unsubscribed, bounced: start over, with the new preferences
        copy_preferences(fresh, existing)
        if existing.status == SubscriberStatus.UNSUBSCRIBED:
            # they left and come back: a confirmation goes out now, even within the hour
            existing.confirmation_sent_at, existing.confirmations_sent = None, 0
        existing.status, existing.updated_at = SubscriberStatus.PENDING, now
        subscriber = store.subscribers.save(existing)
    send_confirmation(store, mailer, subscriber, now)
    return subscriber


def confirm(store: Store, links: Links, token: str, now: datetime) -> Subscriber:
    """Activate the subscriber a confirmation link names; used or stale links are refused."""
    subscriber = to_confirm(store, links, token, now)
    subscriber.status, subscriber.confirmed_at, subscriber.updated_at = (
        SubscriberStatus.ACTIVE,
        now,
        now,
    )
    return store.subscribers.save(subscriber)


def to_confirm(store: Store, links: Links, token: str, now: datetime) -> Subscriber:
    """The pending subscriber a confirmation link names; used or stale links are refused."""
    data = links.read("confirm", token, now.timestamp())
    subscriber = store.subscribers.by_public_id(data.subscriber)
    if subscriber is None or subscriber.token_version != data.version:
        raise LinkError("this link is no longer valid: sign up again to get a new one")
    sent = subscriber.confirmation_sent_at
    if (
        subscriber.status != SubscriberStatus.PENDING
        or sent is None
        or int(sent.timestamp()) != data.issued
    ):
        raise UsedLinkError("this confirmation link was already used or replaced by a newer one")
    return subscriber


def subscriber_for(
    store: Store,
    links: Links,
    purpose: str,
    token: str,
    now: datetime,
    gone: str | None = None,
) -> Subscriber:
    """The subscriber a personal link names, if the link is still valid; `gone`: what to say
    (GoneError) when the link is genuine but its subscriber no longer exists.

    Revoking links (a new token version) kills every link but unsubscribe, which keeps
    working (RFC 8058: the mail already sent must stay able to unsubscribe)."""
    data = links.read(purpose, token, now.timestamp())  # some expire (links.MAX_AGES)
    subscriber = store.subscribers.by_public_id(data.subscriber)
    if subscriber is None and gone is not None:
        raise GoneError(gone)
    if subscriber is None:
        raise LinkError("this link is no longer valid: use the link in your latest digest")
    if purpose != "unsubscribe" and subscriber.token_version != data.version:
        raise LinkError("this link is no longer valid: use the link in your latest digest")
    return subscriber


def unsubscribe(store: Store, links: Links, token: str, now: datetime) -> Subscriber:
    """Stop every digest at once; doing it again changes nothing."""
    return leave(store, subscriber_for(store, links, "unsubscribe", token, now), now)


def leave(store: Store, subscriber: Subscriber, now: datetime) -> Subscriber:
    """The subscriber unsubscribed (no change when they are already)."""
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        return subscriber
    subscriber.status, subscriber.updated_at = SubscriberStatus.UNSUBSCRIBED, now
    return store.subscribers.save(subscriber)


def decline(store: Store, links: Links, token: str, now: datetime) -> str:
    """Stop all mail to the address a confirmation mail went to, as whoever got it and did
    not ask for it wants: the address is suppressed (the signup form mails it nothing more)
    and its signup removed (a subscription it confirmed meanwhile is unsubscribed). Only the
    operator can take it off the list. The address is returned."""
    used = "nothing more will be sent to this address: it was stopped already"
    subscriber = subscriber_for(store, links, "decline", token, now, gone=used)
    left = decline_address(store, subscriber.email, "from the link of a confirmation mail", now)
    if left is not None:
        leave(store, left, now)
    return subscriber.email


def decline_address(store: Store, email: str, detail: str, now: datetime) -> Subscriber | None:
    """Suppress an address whose owner asked never to be mailed ("declined") and remove a
    signup of it not yet confirmed; the subscriber left at that address, if any."""
    store.suppression.add(email, "declined", detail, now)
    subscriber = store.subscribers.find(email)
    if subscriber is not None and subscriber.status == SubscriberStatus.PENDING:
        store.subscribers.remove(email)
        return None
    return subscriber


def way_back(links: Links, token: str, subscriber: Subscriber, now: datetime) -> str | None:
    """The preferences link (where Resubscribe keeps every setting) for someone who just
    unsubscribed with this link, unless the link is from before a revoke: such a link may
    have leaked, and it still unsubscribes but opens nothing."""
    data = links.read("unsubscribe", token, now.timestamp())
    return links.preferences_url(subscriber) if data.version == subscriber.token_version else None


def request_forget(
    store: Store, mailer: Mailer, subscriber: Subscriber, confirmed: bool, now: datetime
) -> bool:
    """Mail the subscriber the link that deletes everything kept about them (address, topics,
    votes, past digests), as they ask from their preferences page (`confirmed`: they ticked
    the box that says so); True when mailed. Not at once: whoever a digest was forwarded to
    holds that page too, and a deletion cannot be undone. An address nothing may be mailed
    to (suppressed: its digests stopped for good) is deleted at once, as no link could reach
    it; its suppression stays."""
    if not confirmed:
        raise ValidationError(
            "tick the box to confirm: deleting your data cannot be undone (to stop the "
            "digest only, unsubscribe)"
        )
    if store.suppression.get(subscriber.email) is not None:
        store.subscribers.remove(subscriber.email)
        return False
    context: dict[str, object] = {
        "email": subscriber.email,
        "forget_url": mailer.links.forget_url(subscriber, int(now.timestamp())),
        "valid_days": FORGET_MAX_AGE // 86400,
    }
    mailer.ask(subscriber, "Delete your papers digest data?", "email/forget", context, now)
    return True


def forget(store: Store, links: Links, token: str, now: datetime) -> str:
    """Delete everything kept about the subscriber a deletion link names; their address."""
    used = "nothing is kept about this address any more: it was deleted"
    subscriber = subscriber_for(store, links, "forget", token, now, gone=used)
    store.subscribers.remove(subscriber.email)
    return subscriber.email


def update_preferences(
    store: Store, subscriber: Subscriber, prefs: Preferences, now: datetime
) -> Subscriber:
    """Apply validated preferences; nothing changes when any field is invalid."""
    checked = _validated(subscriber.email, prefs, now, status=subscriber.status)
    copy_preferences(checked, subscriber)
    subscriber.updated_at = now
    return store.subscribers.save(subscriber)


def resubscribe(store: Store, subscriber: Subscriber, now: datetime) -> Subscriber:
    """Start the digests of someone who unsubscribed again (they hold their own link)."""
    if subscriber.status != SubscriberStatus.UNSUBSCRIBED:
        raise ValidationError(
            f"only an unsubscribed address can resubscribe (this one is {subscriber.status})"
        )
    _may_mail(store, subscriber)
    subscriber.status, subscriber.updated_at = SubscriberStatus.ACTIVE, now
    subscriber.next_send_at = None  # planned afresh from today
    return store.subscribers.save(subscriber)


def set_paused(
    store: Store, subscriber: Subscriber, paused: bool, now: datetime, until: date | None = None
) -> Subscriber:
    """Pause an active subscriber (`until`: the day their digests start again by themselves,
    in their time zone) or resume a paused one."""
    ends = None if until is None or not paused else day_starts(subscriber.timezone, until)
    if ends is not None and not now < ends <= now + MAX_PAUSE:
        raise ValidationError(
            f"the day to start again must come after today and within a year, not {until}; "
            "or pause without one (until you resume)"
        )
    wanted, current = (
        (SubscriberStatus.PAUSED, SubscriberStatus.ACTIVE)
        if paused
        else (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED)
    )
    if subscriber.status != current:
        raise ValidationError(
            f"only {'an' if paused else 'a'} {current} subscription can be "
            f"{'paused' if paused else 'resumed'} (this one is "
            f"{subscriber.status})"
        )
    if not paused:
        _may_mail(store, subscriber)
    subscriber.status, subscriber.updated_at, subscriber.paused_until = wanted, now, ends
    return store.subscribers.save(subscriber)


def restart_bounced(store: Store, subscriber: Subscriber, now: datetime) -> Subscriber:
    """Start the digests of a subscriber stopped by bounces again, counting afresh (the
    operator heard from its owner that the address takes mail)."""
    if subscriber.status != SubscriberStatus.BOUNCED:
        raise ValidationError(f"{subscriber.email} is {subscriber.status}, not bounced")
    _may_mail(store, subscriber)
    forget_bounces(subscriber)
    subscriber.updated_at = now
    return store.subscribers.save(subscriber)


def forget_bounces(subscriber: Subscriber) -> None:
    """Count the subscriber's bounces afresh, and start a subscription they stopped again
    (planned afresh from today)."""
    subscriber.hard_bounces, subscriber.last_bounce_at = 0, None
    if subscriber.status == SubscriberStatus.BOUNCED:
        subscriber.status, subscriber.next_send_at = SubscriberStatus.ACTIVE, None


SUPPRESSED_BECAUSE = {
    "complaint": "a digest to it was marked as spam",
    "bounce": "mail to it bounced",
    "manual": "the operator stopped all mail to it",
    "declined": "its owner asked, from a confirmation mail, never to be mailed",
}


def _may_mail(store: Store, subscriber: Subscriber) -> None:
    """Refuse to start digests that would never be sent: the address is suppressed (sending
    cancels every digest to it), which only the operator may undo."""
    suppressed = store.suppression.get(subscriber.email)
    if suppressed is not None:
        why = SUPPRESSED_BECAUSE.get(suppressed.reason, "all mail to it was stopped")
        raise ValidationError(
            f"nothing can be sent to {subscriber.email}: {why} on "
            f"{suppressed.created_at:%Y-%m-%d}, and it is on the suppression list until the "
            "operator of this service takes it off (digest suppression remove)"
        )


def _validated(
    email: str, prefs: Preferences, now: datetime, status: SubscriberStatus
) -> Subscriber:
    """A subscriber from what a form holds, every field checked once (by new_subscriber)."""
    return new_subscriber(email=email, now=now, status=status, **asdict(prefs))
