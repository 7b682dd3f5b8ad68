"""When a reader's address counts as one that takes no mail: pure rules over what came back.

Hard bounces (no such mailbox or domain) count in a row: each within BOUNCE_MEMORY of the one
before, so that a mail migration answering "user unknown" for a day, three times a year, does
not stop a reader for good. A full mailbox is a soft failure that says nothing the first days
(a holiday, a burst of mail), but a mailbox that stays full for FULL_FOR is abandoned: mailbox
providers read mail sent on to it as a list never cleaned, and some turn such boxes into spam
traps. The rules read the delivery rows the outbox and the inbox keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta

BOUNCE_MEMORY = timedelta(days=30)
FULL_FOR = timedelta(days=14)

# RFC 3463 X.2.2 "mailbox full", in a reply or a report's status, or the words servers use
_FULL = re.compile(
    r"\b[45]\.2\.2\b|mailbox (?:is )?full|over quota|quota exceeded|insufficient storage",
    re.IGNORECASE,
)


def bounces_in_a_row(count: int, last: datetime | None, now: datetime) -> int:
    """The hard bounce count once one more bounce comes at `now`."""
    return count + 1 if last is not None and now - last < BOUNCE_MEMORY else 1


def mailbox_full(reply: str | None) -> bool:
    """Whether a failure's reply, report status or recorded error says the mailbox is full."""
    return reply is not None and _FULL.search(reply) is not None


def full_too_long(outcomes: Iterable[tuple[str, bool, str | None]]) -> bool:
    """Whether the newest digests, as (edition, delivered, error) newest first, failed for a
    full mailbox over FULL_FOR or more with none delivered since the first of them."""
    newest: date | None = None
    for edition, delivered, error in outcomes:
        if delivered or not mailbox_full(error):
            return False
        day = date.fromisoformat(edition)
        newest = newest or day
        if newest - day >= FULL_FOR:
            return True
    return False
