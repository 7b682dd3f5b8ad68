"""Acting on returned mail: a permanent bounce counts against the subscriber (suppressed once
they are `bounced`) when it faults the address, not the message (a spam filter's or a
policy's refusal is logged for the operator), a complaint unsubscribes and suppresses at once,
an unsubscribe request unsubscribes. Every message understood is removed from the mailbox, so
that a second run never counts it twice; the rest stay for a person to read."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from digest.bounces import FULL_FOR, mailbox_full
from digest.inbox.events import Bounce, Complaint, Event, Unknown, Unsubscribe, read_event
from digest.inbox.mailboxes import InboxSettings, messages
from digest.models import Subscriber, SubscriberStatus
from digest.store import Store
from digest.subscriptions.lifecycle import leave
from digest.vocabulary import counted

log = logging.getLogger(__name__)


@dataclass
class InboxReport:
    """What one pass over the inbox did."""

    bounces: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    unknown: int = 0
    unmatched: int = 0  # understood, but naming no subscriber of ours
    dropped: int = 0  # signups whose confirmation bounced: removed
    refused: int = 0  # digests refused for what they are (spam filters, policies), not counted
    delayed: int = 0  # reports of mail still being tried, or of a failure to try again
    full: int = 0  # digests refused for a full mailbox
    abandoned: int = 0  # of their readers, those stopped: full for bounces.FULL_FOR

    @property
    def understood(self) -> int:
        """How many messages were understood (acted on, or naming nobody of ours)."""
        return (
            self.bounces
            + self.dropped
            + self.complaints
            + self.unsubscribes
            + self.unmatched
            + self.refused
            + self.delayed
            + self.full
        )

    def __str__(self) -> str:
        refused = (
            f"; {counted(self.refused, 'digest')} refused for their content or a policy, not "
            "the address (logged: check DKIM, SPF and DMARC)"
            if self.refused
            else ""
        )
        dropped = (
            f"; {counted(self.dropped, 'signup')} removed (their confirmation bounced)"
            if self.dropped
            else ""
        )
        full = (
            f"; {counted(self.full, 'digest')} to a full mailbox ({self.abandoned} of their "
            f"readers stopped: full for {FULL_FOR.days} days)"
            if self.full
            else ""
        )
        return (
            f"{counted(self.bounces, 'bounce')}, {counted(self.complaints, 'complaint')}, "
            f"{counted(self.unsubscribes, 'unsubscribe')}; {self.unmatched} naming nobody of "
            f"ours, {self.unknown} not understood{refused}{full}{dropped}"
        )


def apply(
    store: Store, event: Event, now: datetime, bounce_limit: int, report: InboxReport
) -> None:
    """Act on one event."""
    if isinstance(event, Unknown):
        report.unknown += 1
        return
    if isinstance(event, Bounce) and event.permanent and event.delivery_id is not None:
        store.deliveries.mark_returned(event.delivery_id, event.status)  # whoever it names
    if isinstance(event, Unsubscribe):
        subscriber = store.subscribers.by_public_id(event.public_id)
    else:
        subscriber = _reported(store, event)
    if subscriber is None:
        report.unmatched += 1
        return
    if isinstance(event, Unsubscribe):
        report.unsubscribes += 1
        leave(store, subscriber, now)
    elif isinstance(event, Complaint):
        report.complaints += 1
        store.suppression.add(
            subscriber.email, "complaint", "a feedback report (marked as spam)", now
        )
        if subscriber.status == SubscriberStatus.PENDING:  # a confirmation marked as spam
            store.subscribers.remove(subscriber.email)
        else:
            leave(store, subscriber, now)
    elif not event.permanent:
        report.delayed += 1
    elif not event.faults_address and mailbox_full(event.status):
        report.full += 1
        stoppable = subscriber.status == SubscriberStatus.ACTIVE and subscriber.id is not None
        if stoppable and store.deliveries.stop_if_full_too_long(subscriber.id or 0, now):
            report.abandoned += 1
    elif not event.faults_address:
        report.refused += 1
        log.warning(
            "a digest to %s was refused (status %s) for what it is, not its address: the "
            "reader is kept; if this repeats, check DKIM, SPF and DMARC of the sending domain",
            subscriber.email,
            event.status,
        )
    elif event.notice is not None and subscriber.status == SubscriberStatus.PENDING:
        report.dropped += 1  # a typed address that takes no mail: nothing more to try
        store.subscribers.remove(subscriber.email)
    else:
        report.bounces += 1
        assert subscriber.id is not None  # a stored subscriber: _reported looked it up
        detail = f"status {event.status}"
        store.deliveries.count_bounce(subscriber.id, now, bounce_limit, detail)


def _reported(store: Store, event: Bounce | Complaint) -> Subscriber | None:
    """Whom a report names, by what nobody can forge: the signed bounce address it came to
    or the original was sent from, or the signed List-Unsubscribe of the digest it returns.
    A Message-ID alone names nobody: ours are guessable (subscriber and day), and anyone may
    mail this inbox, so a report made up around one would suppress any reader; a bounce's
    counts only when the List-Unsubscribe names the same subscriber. A report on a digest
    sent to the address a subscription moved from names nobody: the new address did not
    bounce or complain; so does a notice's bounce from before a move (its token version is
    older)."""
    if event.notice is not None:
        public_id, version = event.notice
        subscriber = store.subscribers.by_public_id(public_id)
        return subscriber if subscriber and subscriber.token_version == version else None
    if event.delivery_id is not None:
        found = store.deliveries.recipient_of(event.delivery_id)
        if found is not None:
            return _at_current_address(found)
    if event.public_id is None:
        return None
    found = store.deliveries.recipient_of(message_id=event.message_id)
    if found is not None and found[0].public_id == event.public_id:
        return _at_current_address(found)
    if isinstance(event, Complaint):  # the digest is no longer held: its List-Unsubscribe
        return store.subscribers.by_public_id(event.public_id)
    return None


def _at_current_address(found: tuple[Subscriber, bool]) -> Subscriber | None:
    subscriber, current = found
    return subscriber if current else None


def read_inbox(
    store: Store,
    where: InboxSettings,
    key: bytes,
    now: datetime,
    bounce_limit: int,
    retired: Sequence[bytes] = (),
) -> InboxReport:
    """One pass over the inbox: every message read and acted on; those understood removed
    (`retired`: keys of earlier rotations, as `classify` takes them)."""
    report = InboxReport()
    for raw, remove in messages(where):
        event = read_event(raw, key, retired)
        apply(store, event, now, bounce_limit, report)
        if not isinstance(event, Unknown):
            remove()
    return report
