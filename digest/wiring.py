"""Builds the service's parts from Settings: the one place that turns config into objects."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from digest.config import Settings, sqlite_file
from digest.mail.message import sender_domain

if TYPE_CHECKING:  # each part loads its modules when first built: a command pays for its own
    from fastapi import FastAPI

    from digest.mail import Transport
    from digest.mail.dkim import DkimSigner
    from digest.outbox import SendPolicy
    from digest.pipeline import Policy
    from digest.ranking.semantic import Embedder
    from digest.render import Renderer
    from digest.sources.http import Fetcher
    from digest.store import Store
    from digest.subscriptions.links import Links
    from digest.subscriptions.mailer import Mailer


def new_sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names when it does not exist yet (None: it exists, or not SQLite)."""
    path = sqlite_file(url)
    return None if path is None or path.exists() else path.resolve()


@dataclass
class Services:
    """Lazily built parts of one process, all from one Settings."""

    settings: Settings
    on_new_database: Callable[[Path], object] | None = None  # told before one is created
    _store: Store | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def store(self) -> Store:
        """The database, opened and migrated on first use (once, whichever thread asks)."""
        from digest.store import Store

        with self._lock:
            if self._store is None:
                new = new_sqlite_file(self.settings.database_url)
                if new is not None and self.on_new_database is not None:
                    self.on_new_database(new)
                self._store = Store(self.settings.database_url)
            return self._store

    @cached_property
    def renderer(self) -> Renderer:
        """The template environment."""
        from digest.render import Renderer

        return Renderer()

    @cached_property
    def transport(self) -> Transport:
        """The configured mail transport, DKIM-signing when a key is configured."""
        if self.dkim is None:
            return self.mail_transport
        from digest.mail.dkim import SigningTransport

        return SigningTransport(self.mail_transport, self.dkim)

    @cached_property
    def dkim(self) -> DkimSigner | None:
        """The DKIM signer of the configured key, if any (the outbox signs as it composes)."""
        s = self.settings
        if s.dkim_key_file is None:
            return None
        from digest.mail.dkim import DkimSigner

        domain = s.dkim_domain or sender_domain(s.from_address)
        return DkimSigner.from_file(s.dkim_key_file, s.dkim_selector, domain)

    @cached_property
    def mail_transport(self) -> Transport:
        """The configured mail transport itself (SMTP or Maildir), signing nothing."""
        from digest.mail import MaildirTransport
        from digest.mail.smtp import SmtpSettings, SmtpTransport

        s = self.settings
        if s.transport == "maildir":
            return MaildirTransport(s.maildir)
        return SmtpTransport(
            SmtpSettings(
                host=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                starttls=s.smtp_starttls,
                tls=s.smtp_tls,
                timeout=s.smtp_timeout,
                connections=s.smtp_connections,
                rate=s.smtp_rate,
            )
        )

    @cached_property
    def fetcher(self) -> Fetcher:
        """The HTTP client every network source shares (polite, paced per host)."""
        from digest.sources.http import Fetcher, FetchPolicy

        s = self.settings
        return Fetcher(
            FetchPolicy(
                user_agent=s.effective_user_agent(),
                timeout=s.http_timeout,
                max_bytes=s.http_max_bytes,
                attempts=s.http_attempts,
                backoff_base=s.http_backoff_seconds,
                backoff_max=s.http_backoff_max_seconds,
                host_intervals=dict(s.host_intervals),
            )
        )

    @property
    def policy(self) -> Policy:
        """How papers are chosen and planning runs."""
        from digest.pipeline import Policy

        s = self.settings
        return Policy(
            min_score=s.min_score,
            first_window_days=s.first_window_days,
            send_empty=s.send_empty,
            message_domain=sender_domain(s.from_address),
            semantic=self.embedder,
            processes=s.plan_processes,
        )

    @cached_property
    def embedder(self) -> Embedder | None:
        """The semantic extra's model when it is installed and the setting allows it."""
        from digest.ranking.semantic import load_embedder

        return load_embedder(self.settings.semantic)

    @cached_property
    def send_policy(self) -> SendPolicy:
        """How the outbox is worked: batches, retries, bounces, claims."""
        from digest.outbox import SendPolicy

        s = self.settings
        return SendPolicy(
            batch=s.send_batch,
            max_attempts=s.retry_max_attempts,
            give_up_after=timedelta(hours=s.retry_give_up_hours),
            backoff_seconds=s.retry_backoff_seconds,
            backoff_max_seconds=s.retry_backoff_max_seconds,
            bounce_limit=s.bounce_limit,
            claim_timeout=timedelta(seconds=s.claim_timeout_seconds),
            render_processes=s.render_processes,
        )

    @property
    def links(self) -> Links:
        """Signed personal links rooted at the configured base URL."""
        from digest.subscriptions.links import Links

        s = self.settings
        return Links(
            s.token_key(), s.base_url, sender_domain(s.from_address), s.retired_token_keys()
        )

    @property
    def mailer(self) -> Mailer:
        """What the subscription flows need to send their mails (confirmations, moves,
        notices)."""
        from digest.subscriptions.mailer import Mailer

        return Mailer(self.transport, self.renderer, self.links, self.settings.from_address)

    def web_app(self, clock: Callable[[], datetime] | None = None) -> FastAPI:
        """The subscription web app over this process's store and transport."""
        from digest.web import create_app
        from digest.web.limits import Limits

        s = self.settings
        limits = Limits(s.signups_per_client_hour, s.signups_per_hour, s.previews_per_client_minute)
        return create_app(self.store, self.mailer, self.policy, s.token_key(), clock, limits=limits)

    def close(self) -> None:
        """Release the database, the mail transport's connections and the fetcher."""
        if "mail_transport" in self.__dict__:  # also the signing transport's inner one
            self.mail_transport.close()
        if self._store is not None:
            self._store.close()
        if "fetcher" in self.__dict__:
            self.fetcher.close()

    def interrupt_fetches(self) -> None:
        """Let a fetch waiting to try again give up now (the service is stopping)."""
        if "fetcher" in self.__dict__:
            self.fetcher.interrupt()
