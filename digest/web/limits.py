"""Abuse limits of the web app: sliding-window counters per client and overall (a client is
an IPv4 address or an IPv6 /64).

The counts live in this process (one web process per deployment is the design); a restart
forgets them, which errs on the side of letting people sign up.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


def client_key(host: str) -> str:
    """What one client is for the limits: its IPv4 address, or its IPv6 /64 (one network
    holds 2^64 addresses, and a host may take a new one for every request)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(frozen=True)
class Limits:
    """How many requests of each kind a client, and everybody together, may make."""

    signups_per_client_hour: int = 10
    signups_per_hour: int = 300
    previews_per_client_minute: int = 120
    # mails the pages send to one address on request (a move's link, a deletion's link):
    # whoever types an address, or holds a forwarded digest, must not flood its mailbox
    mails_per_address_hour: int = 3
    mails_per_address_day: int = 6


@dataclass
class Window:
    """At most `limit` events per `seconds` for each key."""

    limit: int
    seconds: float
    clock: Callable[[], float] = time.monotonic
    _events: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, key: str) -> bool:
        """Count one event for `key`; False (and not counted) when the key is over its limit."""
        now = self.clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.seconds:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            if len(self._events) > 100_000:  # forget idle clients rather than grow forever
                self._forget_idle(now)
            return True

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, e in self._events.items() if not e or e[-1] <= now - self.seconds]
        for key in idle:
            del self._events[key]


class Guard:
    """The limits of one app: signups per client and overall, previews per client, mails
    asked for per address."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.signup_client = Window(limits.signups_per_client_hour, 3600.0, clock)
        self.signup_total = Window(limits.signups_per_hour, 3600.0, clock)
        self.preview_client = Window(limits.previews_per_client_minute, 60.0, clock)
        self.address_hour = Window(limits.mails_per_address_hour, 3600.0, clock)
        self.address_day = Window(limits.mails_per_address_day, 86400.0, clock)

    def signup(self, client: str) -> bool:
        """Whether this client may sign up (an address) now."""
        return self.signup_client.allow(client) and self.signup_total.allow("all")

    def mail_to(self, address: str) -> bool:
        """Whether the pages may send one more mail to this address now."""
        key = address.strip().lower()
        return self.address_hour.allow(key) and self.address_day.allow(key)

    def preview(self, client: str) -> bool:
        """Whether this client may ask for another preview now."""
        return self.preview_client.allow(client)
