"""Every error the service raises on purpose, in one tree.

    DigestError                  base: the CLI prints str(error) on one line and exits 1
    ├── ConfigError              a setting is missing or invalid
    ├── ValidationError          user input is invalid (email, time zone, keywords, send time)
    │   └── LinkError            a signed link is forged, altered, for another purpose, or revoked
    │       ├── ExpiredLinkError     a link that was genuine but is too old
    │       └── UsedLinkError        a one-time link (confirmation) used again
    ├── NotFoundError            a subscriber, paper or source that does not exist
    │   └── GoneError                a link to a subscriber or paper that was removed
    ├── AlreadyExistsError       creating something that is already there
    ├── SourceError              a listing could not be read
    │   ├── FetchError           the network or file system failed (HTTP status, timeout, size)
    │   │   └── FetchStoppedError    given up because the service is stopping (not the source)
    │   └── ParseError           the content is not a listing this service understands
    ├── StoreError               the database could not be opened or migrated
    └── TransportError           a message could not be handed to the mail transport
        ├── TemporaryDeliveryError   try again later (4xx, disconnect, timeout)
        │   └── SenderRefusedError       the server refuses us (relay, login, From): our setup
        └── PermanentDeliveryError   never retry (5xx)
            └── RecipientRefusedError    the recipient's address was refused: a hard bounce

Each message says what went wrong and what to do about it.
"""

from __future__ import annotations


class DigestError(Exception):
    """Base class of every error the service raises on purpose."""


class ConfigError(DigestError):
    """A setting is missing or invalid."""


class ValidationError(DigestError):
    """User input is invalid."""


class LinkError(ValidationError):
    """A signed link that is not (or no longer) valid."""


class ExpiredLinkError(LinkError):
    """A genuine link that has expired."""


class UsedLinkError(LinkError):
    """A one-time link used a second time."""


class NotFoundError(DigestError):
    """Something named by the user does not exist."""


class GoneError(NotFoundError):
    """A link names a subscriber or paper that is no longer there."""


class AlreadyExistsError(DigestError):
    """Something the user wants to create already exists."""


class SourceError(DigestError):
    """A listing could not be read."""


class FetchError(SourceError):
    """The listing could not be fetched (network, file system, HTTP status)."""


class FetchStoppedError(FetchError):
    """A fetch given up because the service is stopping: no failure of the source."""


class ParseError(SourceError):
    """The listing's content is not in a format the service understands."""


class StoreError(DigestError):
    """The database could not be opened, migrated or written."""


class TransportError(DigestError):
    """A message could not be handed to the mail transport."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TemporaryDeliveryError(TransportError):
    """A delivery failed for now and should be retried later."""


class SenderRefusedError(TemporaryDeliveryError):
    """The server refuses our mail for a reason about us, whatever the recipient (relaying
    denied, a login wanted, a From it will not send): retried until the operator fixes it."""


class PermanentDeliveryError(TransportError):
    """A delivery failed for good and must not be retried."""


class RecipientRefusedError(PermanentDeliveryError):
    """The server refused the recipient for good (5xx at RCPT): a hard bounce."""
