"""The mails of the subscription flows: `Mailer` sends one rendered mail, and the mails the
signup form sends (a confirmation, a reminder of the settings) go out under limits, for the
form mails addresses that strangers type.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from digest.errors import TransportError
from digest.mail import Transport, build_message, outgoing
from digest.models import Subscriber, SubscriberStatus
from digest.render import Renderer
from digest.store import Store
from digest.subscriptions.links import CONFIRM_MAX_AGE, Links

log = logging.getLogger(__name__)
CONFIRM_EVERY = timedelta(hours=1)
CONFIRMATIONS_PER_DAY = 3
TOPICS_SHOWN = 5
TOPIC_CHARS = 40


class SignupMail(NamedTuple):
    """A mail the signup form sends: its subject, template and name in an error."""

    subject: str
    template: str
    name: str


CONFIRMATION = SignupMail("Confirm your papers digest", "email/confirm", "confirmation mail")
REMINDER = SignupMail("Your papers digest settings", "email/subscribed", "mail with your settings")


@dataclass
class Mailer:
    """What the flows need to send their mails (confirmations, moves, notices)."""

    transport: Transport
    renderer: Renderer
    links: Links
    sender: str

    def mail(
        self,
        to: str,
        subject: str,
        template: str,
        context: dict[str, object],
        now: datetime,
        envelope: str | None = None,
    ) -> str | None:
        """Send one message rendered from `template` (.txt and .html) to one address; the
        transport's error, if any. Its Message-ID names the template, the address, the time;
        its bounces go to `envelope` (else to the From address)."""
        text, html = self.renderer.render_pair(template, {"subject": subject, **context})
        name = template.rsplit("/", 1)[-1]
        tag = hashlib.sha256(to.encode()).hexdigest()[:12]
        message_id = f"<{name}-{tag}-{int(now.timestamp())}@papers-digest>"
        message = build_message(
            sender=self.sender,
            to=to,
            subject=subject,
            text=text,
            html=html,
            date=now,
            message_id=message_id,
        )
        [outcome] = self.transport.send([outgoing(0, message, envelope or self.sender, to)])
        return None if outcome.error is None else str(outcome.error)

    def ask(
        self,
        subscriber: Subscriber,
        subject: str,
        template: str,
        context: dict[str, object],
        now: datetime,
    ) -> None:
        """A mail carrying a link the subscriber asked for (deletion, a restart), its bounces
        naming them; TransportError when it could not be sent."""
        envelope = self.links.notice_bounce_address(subscriber)
        error = self.mail(subscriber.email, subject, template, context, now, envelope)
        if error is not None:
            raise TransportError(f"could not send the mail to {subscriber.email}: {error}")

    def tell(
        self,
        store: Store,
        to: str,
        subject: str,
        template: str,
        context: dict[str, object],
        now: datetime,
    ) -> None:
        """A mail that only tells of something done (a move, a deletion): never to an address
        that complained or bounced, and a failure is logged, for what it tells stands."""
        if store.suppression.get(to) is not None:
            return
        error = self.mail(to, subject, template, context, now)
        if error is not None:  # the mailbox may well be gone
            log.warning("could not send %r to %s: %s", subject, to, error)


def may_confirm(subscriber: Subscriber, now: datetime) -> bool:
    """Whether another confirmation mail may go to this address now: the waits double
    (1 h, 2 h, 4 h) and at most CONFIRMATIONS_PER_DAY go out in a day, so nobody can use the
    signup form to mail an address over and over."""
    sent, count = subscriber.confirmation_sent_at, subscriber.confirmations_sent
    if sent is None or now - sent >= timedelta(days=1):
        return True
    if count >= CONFIRMATIONS_PER_DAY:
        return False
    wait: timedelta = CONFIRM_EVERY * 2 ** max(count - 1, 0)
    return now - sent >= wait


def shown_topics(keywords: list[str]) -> str:
    """The topics a confirmation mail quotes: a few, each short and in quotes, because the
    mail goes to an address a stranger may have typed."""
    quoted = [f"“{k[:TOPIC_CHARS]}{'…' if len(k) > TOPIC_CHARS else ''}”" for k in keywords]
    more = len(quoted) - TOPICS_SHOWN
    return ", ".join(quoted[:TOPICS_SHOWN]) + (f" and {more} more" if more > 0 else "")


def send_confirmation(store: Store, mailer: Mailer, subscriber: Subscriber, now: datetime) -> bool:
    """Mail a confirmation link unless `may_confirm` says wait; True when one was sent."""
    return _signup_mail(
        store,
        mailer,
        subscriber,
        now,
        CONFIRMATION,
        lambda sent_to: {
            "confirm_url": mailer.links.confirm_url(sent_to),
            "decline_url": mailer.links.decline_url(sent_to),
            "valid_days": CONFIRM_MAX_AGE // 86400,
        },
    )


def send_reminder(store: Store, mailer: Mailer, subscriber: Subscriber, now: datetime) -> bool:
    """Mail a subscriber who signed up again the link to their settings (they may have lost
    it), under the limits of confirmation mails; True when one was sent."""
    return _signup_mail(
        store,
        mailer,
        subscriber,
        now,
        REMINDER,
        lambda sent_to: {
            "paused": sent_to.status == SubscriberStatus.PAUSED,
            "preferences_url": mailer.links.preferences_url(sent_to),
            "unsubscribe_url": mailer.links.unsubscribe_url(sent_to),
        },
    )


def _signup_mail(
    store: Store,
    mailer: Mailer,
    subscriber: Subscriber,
    now: datetime,
    kind: SignupMail,
    links: Callable[[Subscriber], dict[str, object]],
) -> bool:
    """Send a mail the signup form asked for unless `may_confirm` says wait; `links` is
    called once the mail's time is set (a confirmation link is bound to it)."""
    if not may_confirm(subscriber, now):
        return False
    fresh_day = subscriber.confirmation_sent_at is None or (
        now - subscriber.confirmation_sent_at >= timedelta(days=1)
    )
    if subscriber.id is None:
        subscriber = store.subscribers.save(subscriber)  # the link needs its id
    previous = subscriber.confirmation_sent_at, subscriber.confirmations_sent
    subscriber.confirmation_sent_at = now.replace(microsecond=0)  # saved once the mail is out
    subscriber.confirmations_sent = 1 if fresh_day else subscriber.confirmations_sent + 1
    context = {
        "email": subscriber.email,
        "topics": shown_topics(subscriber.keywords),
        **links(subscriber),
    }
    envelope = mailer.links.notice_bounce_address(subscriber)
    error = mailer.mail(subscriber.email, kind.subject, kind.template, context, now, envelope)
    if error is not None:
        subscriber.confirmation_sent_at, subscriber.confirmations_sent = previous
        raise TransportError(f"could not send the {kind.name}: {error}")
    store.subscribers.save(subscriber)
    return True
