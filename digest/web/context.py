"""What every page handler shares: the store, the mailer, page rendering, CSRF, previews."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from digest.errors import (
    AlreadyExistsError,
    DigestError,
    ExpiredLinkError,
    GoneError,
    NotFoundError,
    StoreError,
    TransportError,
    UsedLinkError,
    ValidationError,
)
from digest.models import Paper
from digest.pipeline import Policy, recent_corpus
from digest.ranking import Corpus, Profile, keyword_hits, rank
from digest.ranking.suggest import suggestions
from digest.store import Store
from digest.subscriptions.links import Links
from digest.subscriptions.mailer import Mailer
from digest.subscriptions.preferences import FREQUENCIES, WEEKDAYS, check_topics
from digest.web.limits import Guard, Limits
from digest.web.security import CSRF_COOKIE, csrf_ok, csrf_token, new_csrf_cookie

PREVIEW_CACHE = timedelta(minutes=1)
MAX_FORM_FIELD = 4000
BUSY = "The service is busy just now: please try again in a minute."

log = logging.getLogger(__name__)


@dataclass
class WebContext:
    """Everything the pages need, built once per app."""

    store: Store
    mailer: Mailer
    links: Links
    policy: Policy
    key: bytes
    clock: Callable[[], datetime]
    pages: Environment
    guard: Guard = field(default_factory=lambda: Guard(Limits()))
    _preview_cache: tuple[datetime, list[Paper], Corpus] | None = field(default=None, repr=False)
    _preview_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render a page; forms on it get a CSRF token bound to the browser's cookie."""
        cookie = request.cookies.get(CSRF_COOKIE) or new_csrf_cookie()
        body = self.pages.get_template(f"web/{name}.html").render(
            csrf=csrf_token(self.key, cookie),
            frequencies=FREQUENCIES,
            weekdays=WEEKDAYS,
            **context,
        )
        response = HTMLResponse(body, status_code=status)
        if request.cookies.get(CSRF_COOKIE) != cookie:
            response.set_cookie(
                CSRF_COOKIE,
                cookie,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    def too_many(self, request: Request, what: str) -> HTMLResponse:
        """The answer to a client over one of the limits."""
        return self.page(
            request,
            "error",
            status=429,
            message=f"too many {what} from your network just now: please try again in an hour",
        )

    def csrf_valid(self, request: Request, form: dict[str, str]) -> bool:
        """Whether a POSTed form carries the token of this browser's cookie."""
        return csrf_ok(self.key, request.cookies.get(CSRF_COOKIE), form.get("csrf"))

    def error(self, request: Request, exc: DigestError) -> HTMLResponse:
        """The error page with the status that fits the error; a mail server's trouble is
        logged for the operator (host, port, settings) and told to the visitor plainly."""
        message = str(exc)
        if isinstance(exc, TransportError):
            log.warning("%s", message)
            message = "We could not send you an email just now: please try again in a few minutes."
        elif isinstance(exc, StoreError):
            log.warning("%s", message)
            message = BUSY
        return self.page(request, "error", status=status_for(exc), message=message)

    def _preview_corpus(self) -> tuple[list[Paper], Corpus]:
        """The last seven days' papers and their corpus, weighted as planning weighs them,
        rebuilt at most once a minute (the build, not the ranking, is what a preview spends
        its time on)."""
        now = self.clock()
        with self._preview_lock:
            cached = self._preview_cache
            if cached is None or not timedelta(0) <= now - cached[0] < PREVIEW_CACHE:
                papers, corpus = recent_corpus(self.store, now, self.policy.semantic)
                cached = self._preview_cache = (now, papers, corpus)
            return cached[1], cached[2]

    def preview(self, keywords: str, exclude: str, limit: int = 8) -> dict[str, Any]:
        """Papers of the last seven days that these keywords would pick, the keywords that
        match none of them, and the typed words no paper holds with what was likely meant."""
        profile = Profile(*check_topics(keywords, exclude))
        papers, corpus = self._preview_corpus()
        if not papers:  # a new service, or its sources fail: no keyword is to blame
            return {"papers": [], "unmatched": [], "suggestions": {}, "note": NO_RECENT_PAPERS}
        [matches] = rank(corpus, [profile], limit, min_score=self.policy.min_score)
        hits = keyword_hits(corpus, profile.keywords, self.policy.min_score)
        by_id = {p.id: p for p in papers}
        return {
            "papers": [
                {
                    "title": by_id[m.paper_id].title,
                    "url": by_id[m.paper_id].url,
                    "matched": m.matched,
                    "related": list(m.related),
                    "score": m.score,
                }
                for m in matches
            ],
            "unmatched": [k for k, count in hits.items() if not count],
            "suggestions": suggestions(profile.keywords, corpus.stats.df),
        }


NO_RECENT_PAPERS = "No papers arrived in the last seven days yet: nothing to preview."


def status_for(exc: DigestError) -> int:
    """HTTP status of an expected error."""
    for kind, status in (
        (ExpiredLinkError, 410),
        (GoneError, 410),
        (UsedLinkError, 409),
        (AlreadyExistsError, 409),
        (ValidationError, 400),
        (NotFoundError, 404),
        (TransportError, 503),
        (StoreError, 503),
    ):
        if isinstance(exc, kind):
            return status
    return 500
