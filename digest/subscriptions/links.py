"""The personal links in emails and pages: signed tokens under the service's base URL."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Protocol

from digest.errors import ExpiredLinkError, LinkError
from digest.mail.addresses import bounce_address, notice_bounce_address, unsubscribe_address
from digest.models import Subscriber
from digest.subscriptions.tokens import (
    MoveToken,
    Token,
    VoteToken,
    make_move_token,
    make_token,
    make_vote_token,
    read_move_token,
    read_token,
    read_vote_token,
)

CONFIRM_MAX_AGE = 7 * 24 * 3600
VOTE_MAX_AGE = 60 * 24 * 3600
MOVE_MAX_AGE = 2 * 24 * 3600
MOVE_BACK_MAX_AGE = 14 * 24 * 3600  # an undo link: the old mailbox may be read only weekly
FORGET_MAX_AGE = 2 * 24 * 3600
RESTART_MAX_AGE = 2 * 24 * 3600
# other tokens never expire ("decline": the "never mail me" link of a confirmation mail)
MAX_AGES = {
    "confirm": CONFIRM_MAX_AGE,
    "decline": CONFIRM_MAX_AGE,
    "forget": FORGET_MAX_AGE,
    "restart": RESTART_MAX_AGE,
}
VOTE_DIRECTIONS = {"more": 1, "less": -1}  # the last segment of a vote link
# what a link signed with a retired key (before a key rotation) may still do: what mail
# already sent must keep doing (leave the list, read the feed a reader subscribed to), none of
# what changes a subscription, which a leaked key must no longer allow
RETIRED_KEY_PURPOSES = frozenset({"unsubscribe", "archive", "feed"})


class TokenHolder(Protocol):
    """Whom a personal link names: a subscriber, or the few fields of one that mail needs."""

    @property
    def public_id(self) -> str: ...

    @property
    def token_version(self) -> int: ...


class Links:
    """Builds and reads the signed links of one deployment."""

    def __init__(
        self,
        key: bytes,
        base_url: str,
        mail_domain: str | None = None,
        retired: Sequence[bytes] = (),
    ) -> None:
        self.key = key
        self.retired = tuple(retired)  # keys of earlier rotations: RETIRED_KEY_PURPOSES
        self.base_url = base_url.rstrip("/")
        self.mail_domain = mail_domain  # where bounces and mailto: unsubscribes arrive

    def unsubscribe_mailto(self, subscriber: TokenHolder) -> str | None:
        """The List-Unsubscribe mailto: of one subscriber (read by `digest inbox`)."""
        if self.mail_domain is None:
            return None
        address = unsubscribe_address(self.key, self.mail_domain, subscriber.public_id)
        return f"mailto:{address}?subject=unsubscribe"

    def bounce_address(self, delivery_id: int) -> str | None:
        """The envelope sender of one delivery, so that its bounce names it (VERP)."""
        if self.mail_domain is None:
            return None
        return bounce_address(self.key, self.mail_domain, delivery_id)

    def notice_bounce_address(self, subscriber: TokenHolder) -> str | None:
        """The envelope sender of a mail about a subscription to its own address (VERP)."""
        if self.mail_domain is None:
            return None
        return notice_bounce_address(
            self.key, self.mail_domain, subscriber.public_id, subscriber.token_version
        )

    def token(self, purpose: str, subscriber: TokenHolder, issued: int = 0) -> str:
        """A token for this subscriber's current token version."""
        return make_token(self.key, purpose, subscriber.public_id, subscriber.token_version, issued)

    def unsubscribe_url(self, subscriber: TokenHolder) -> str:
        """The one-click unsubscribe link (valid until the token version changes)."""
        return f"{self.base_url}/unsubscribe/{self.token('unsubscribe', subscriber)}"

    def preferences_url(self, subscriber: TokenHolder) -> str:
        """The link to the subscriber's preferences page."""
        return f"{self.base_url}/preferences/{self.token('preferences', subscriber)}"

    def archive_url(self, subscriber: TokenHolder) -> str:
        """The list of the subscriber's past digests (each digest's page: edition_page)."""
        return f"{self.base_url}/digests/{self.token('archive', subscriber)}"

    def feed_url(self, subscriber: TokenHolder) -> str:
        """The subscriber's private Atom feed of the papers of their digests."""
        return f"{self.base_url}/feed/{self.token('feed', subscriber)}"

    def confirm_url(self, subscriber: Subscriber) -> str:
        """The double opt-in link, bound to the moment the confirmation was requested."""
        return self._of_confirmation("confirm", subscriber)

    def decline_url(self, subscriber: Subscriber) -> str:
        """The link of a confirmation mail that stops all mail to its address, for whoever
        did not ask for it; bound to that mail's moment, as the confirmation link."""
        return self._of_confirmation("decline", subscriber)

    def _of_confirmation(self, purpose: str, subscriber: Subscriber) -> str:
        sent = subscriber.confirmation_sent_at
        return self._issued(purpose, subscriber, int(sent.timestamp()) if sent else 0)

    def _issued(self, purpose: str, subscriber: TokenHolder, issued: int) -> str:
        """The link for `purpose` bound to the moment it was issued (MAX_AGES)."""
        return f"{self.base_url}/{purpose}/{self.token(purpose, subscriber, issued)}"

    def forget_url(self, subscriber: TokenHolder, issued: int) -> str:
        """The link, mailed to the subscriber, that deletes everything about them (two days)."""
        return self._issued("forget", subscriber, issued)

    def restart_url(self, subscriber: TokenHolder, issued: int) -> str:
        """The link, mailed to a bounced subscriber, that starts their digests again when
        followed from that mailbox (two days)."""
        return self._issued("restart", subscriber, issued)

    def read(self, purpose: str, token: str, now: float) -> Token:
        """The content of a token for `purpose`; confirmation and deletion tokens expire. A
        token of a retired key is read for RETIRED_KEY_PURPOSES only."""
        max_age = MAX_AGES.get(purpose)
        try:
            return read_token(self.key, purpose, token, now=now, max_age=max_age)
        except ExpiredLinkError:
            raise
        except LinkError:
            retired = self.retired if purpose in RETIRED_KEY_PURPOSES else ()
            for key in retired:  # only once the current key has refused it: the usual case
                with suppress(LinkError):
                    return read_token(key, purpose, token, now=now, max_age=max_age)
            raise

    def vote_urls(self, subscriber: TokenHolder, paper_id: str, issued: int) -> tuple[str, str]:
        """The "more like this" and "less like this" links of a paper, expiring after 60 days
        (one token: the direction is the last segment of the path)."""
        token = make_vote_token(
            self.key, subscriber.public_id, subscriber.token_version, issued, paper_id
        )
        return f"{self.base_url}/vote/{token}/more", f"{self.base_url}/vote/{token}/less"

    def read_vote(self, token: str, now: float, direction: str | None = None) -> VoteToken:
        """The content of a vote link that is genuine and not expired: a token and its
        direction ("more" / "less"), or (direction None) a link of earlier emails."""
        value = None if direction is None else VOTE_DIRECTIONS.get(direction)
        if direction is not None and value is None:
            raise LinkError("this link is damaged: copy the whole link from the email")
        return read_vote_token(self.key, token, now=now, max_age=VOTE_MAX_AGE, value=value)

    def move_url(self, subscriber: TokenHolder, email: str, issued: int, back: bool = False) -> str:
        """The link, mailed to `email`, that moves the subscription there (two days); `back`:
        the undo link of a move, mailed to the address it left (two weeks)."""
        token = make_move_token(
            self.key, subscriber.public_id, subscriber.token_version, issued, email, back=back
        )
        return f"{self.base_url}/move/{token}"

    def read_move(self, token: str, now: float) -> MoveToken:
        """The content of a move or undo link that is genuine and not expired."""
        try:
            return read_move_token(self.key, token, now=now, max_age=MOVE_MAX_AGE)
        except ExpiredLinkError:
            raise
        except LinkError:
            return read_move_token(self.key, token, now=now, max_age=MOVE_BACK_MAX_AGE, back=True)


def edition_page(archive_url: str, edition: str) -> str:
    """The web page of one digest, under the subscriber's list of past digests (one token
    serves every edition's page)."""
    return f"{archive_url}/{edition}"
