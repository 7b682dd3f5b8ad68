"""The service object: the stages of papers digest over the parts built from Settings.

    digest = Digest(Services(load_settings()))
    digest.run(now)        # fetch every configured source, then dispatch
    digest.dispatch(now)   # plan whoever is due, then send what is ready

The CLI and the scheduler call these and only print or log what they return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from digest import pipeline
from digest.errors import ValidationError
from digest.inbox import InboxReport, InboxSettings, read_inbox
from digest.ingest import SourceReport
from digest.models import Subscriber
from digest.outbox import Outbox, SendReport, send_due
from digest.planning import days_back, kept_digests_from
from digest.ranking import Match
from digest.sources.base import SourceConfig
from digest.store.papers import Removal
from digest.views import RenderedDigest
from digest.wiring import Services


@dataclass
class RunReport:
    """What one run did: each listing fetched, then the dispatch."""

    fetched: list[SourceReport]
    dispatched: pipeline.DispatchReport


class Digest:
    """papers digest over one set of services (store, transport, renderer, links, policies)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @property
    def outbox(self) -> Outbox:
        """How digests are composed and sent."""
        s = self.services
        return Outbox(
            s.mail_transport,
            s.renderer,
            s.links,
            s.settings.from_address,
            s.send_policy,
            signer=s.dkim,  # signed as composed, in the render workers: not in the sender
        )

    def fetch(
        self,
        now: datetime,
        sources: Sequence[SourceConfig] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[SourceReport]:
        """Ingest these sources (default: every configured one)."""
        s = self.services
        chosen = list(s.settings.sources) if sources is None else list(sources)
        return pipeline.fetch(s.store, chosen, now, s.fetcher, progress)

    def dispatch(
        self,
        now: datetime,
        should_stop: Callable[[], bool] = lambda: False,
        progress: Callable[[int], None] | None = None,
    ) -> pipeline.DispatchReport:
        """Plan every due digest, then send every delivery that is ready."""
        s = self.services
        return pipeline.dispatch(
            s.store,
            self.outbox,
            now=now,
            policy=s.policy,
            should_stop=should_stop,
            progress=progress,
        )

    def send_ready(
        self, now: datetime, should_stop: Callable[[], bool] = lambda: False
    ) -> SendReport:
        """Send every delivery that is ready, planning nothing (`digest worker`)."""
        return send_due(self.services.store, self.outbox, now=now, should_stop=should_stop)

    def run(self, now: datetime) -> RunReport:
        """The job cron calls: fetch every configured source, then dispatch."""
        fetched = self.fetch(now)
        return RunReport(fetched, self.dispatch(now))

    def prune(
        self, before: datetime, now: datetime, progress: Callable[[int], None] | None = None
    ) -> int:
        """Delete the finished digests planned before `before` (DeliveryQueries.prune); a
        day planning may still read (kept_digests_from) is refused."""
        self._planning_reads(before, now, "reads the digests", " to send no paper twice")
        return self.services.store.deliveries.prune(before, progress)

    def prune_papers(self, before: datetime, now: datetime) -> Removal:
        """Delete the papers first seen before `before` that no digest or vote names
        (PaperQueries.prune); a day whose papers planning may still pick is refused."""
        self._planning_reads(before, now, "picks digests from the papers first seen", "")
        return self.services.store.papers.prune(before)

    def _planning_reads(self, before: datetime, now: datetime, what: str, why: str) -> None:
        """Refuse to delete from a day planning still reads (kept_digests_from)."""
        kept_from = kept_digests_from(self.services.settings.first_window_days, now)
        if before > kept_from:
            raise ValidationError(
                f"{before.date().isoformat()} is too recent: planning {what} from "
                f"{kept_from.date().isoformat()} on{why}; use that day or an earlier one"
            )

    def keep(self, now: datetime) -> tuple[int, int] | None:
        """What `keep_days` asks, done: the finished digests and then the papers nobody names
        any more, older than that many days, deleted; (digests, papers), None when off."""
        days = self.services.settings.keep_days
        if not days:
            return None
        before = days_back(now, days)
        digests = self.prune(before, now)
        return digests, len(self.services.store.papers.prune(before).removed)  # checked above

    def read_inbox(self, now: datetime) -> InboxReport:
        """Act on the returned mail (DIGEST_INBOX_*): bounces, complaints, unsubscribes."""
        s = self.services.settings
        where = InboxSettings(
            kind=s.inbox_kind,
            path=s.inbox_path,
            host=s.inbox_host,
            port=s.inbox_port,
            username=s.inbox_username,
            password=s.inbox_password.get_secret_value() if s.inbox_password else "",
            tls=s.inbox_tls,
        )
        return read_inbox(
            self.services.store, where, s.token_key(), now, s.bounce_limit, s.retired_token_keys()
        )

    def preview(self, subscriber: Subscriber, now: datetime) -> tuple[RenderedDigest, list[Match]]:
        """The digest this subscriber would get next, neither stored nor sent."""
        s = self.services
        return pipeline.preview(s.store, subscriber, now, s.policy, s.renderer, s.links)
