"""The subscription web app: signup with a live preview, confirm, preferences, unsubscribe."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from digest.errors import DigestError
from digest.pipeline import Policy
from digest.render import TEMPLATES
from digest.store import Store
from digest.store.engine import database_error, first_line
from digest.subscriptions.mailer import Mailer
from digest.web.archive import router as archive_router
from digest.web.context import WebContext
from digest.web.feedback import router as feedback_router
from digest.web.limits import Guard, Limits
from digest.web.mailed import router as mailed_router
from digest.web.routes import router
from digest.web.security import (
    BodyLimit,
    HeadAsGet,
    SecurityHeaders,
    UnderPath,
    redact_access_log,
)

log = logging.getLogger(__name__)

FRAMEWORK_ERRORS = {
    404: "there is no page at this address: if a link in an email brought you here, "
    "copy the whole link from the email",
    405: "this page cannot be opened this way: follow the link from the email, "
    "or start at the signup page",
}
UNEXPECTED = "something went wrong on our side: please try again later"
RETRY_AFTER_SECONDS = 60


def create_app(
    store: Store,
    mailer: Mailer,
    policy: Policy,
    key: bytes,
    clock: Callable[[], datetime] | None = None,
    templates: Path = TEMPLATES,
    limits: Limits | None = None,
) -> FastAPI:
    """The web app over one store and one mail transport."""
    # no slash redirects: they would echo a spoofed Host header back as a Location
    app = FastAPI(
        title="papers digest",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
    )
    redact_access_log()
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyLimit)  # nothing reads a body it refuses
    root = urlsplit(mailer.links.base_url).path.rstrip("/")  # "" or e.g. "/digest"
    if root:
        app.add_middleware(UnderPath, prefix=root)
    app.mount("/static", StaticFiles(directory=templates / "web" / "static"), name="static")
    pages = Environment(
        loader=FileSystemLoader(str(templates)), autoescape=select_autoescape(default=True)
    )
    pages.globals["root"] = root  # the pages' own addresses start with it
    app.state.web = WebContext(
        store=store,
        mailer=mailer,
        links=mailer.links,
        policy=policy,
        key=key,
        clock=clock or (lambda: datetime.now(UTC)),
        pages=pages,
        guard=Guard(limits or Limits()),
    )
    app.include_router(router)
    app.include_router(mailed_router)
    app.include_router(feedback_router)
    app.include_router(archive_router)

    @app.exception_handler(DigestError)
    async def _expected(request: Request, exc: DigestError) -> HTMLResponse:
        return app.state.web.error(request, exc)  # type: ignore[no-any-return]

    @app.exception_handler(HTTPException)
    async def _framework(request: Request, exc: HTTPException) -> HTMLResponse:
        """A mistyped or cut link gets the site's page saying so, not a bare JSON body."""
        web: WebContext = app.state.web
        message = FRAMEWORK_ERRORS.get(exc.status_code, "this request cannot be answered")
        response = web.page(request, "error", status=exc.status_code, message=message)
        response.headers.update(exc.headers or {})  # a 405 names the methods it allows
        return response

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> HTMLResponse:
        """The database locked past the busy timeout, or gone: try again later."""
        response = app.state.web.error(request, database_error(exc))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response  # type: ignore[no-any-return]

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> HTMLResponse:
        """A fault of ours: the site's page (the server logs the traceback)."""
        web: WebContext = app.state.web
        return web.page(request, "error", status=500, message=UNEXPECTED)

    @app.get("/healthz", include_in_schema=False)
    async def _health() -> JSONResponse:
        """Healthy while the database answers (container health checks ask this)."""
        try:
            await run_in_threadpool(store.ping)
        except Exception as exc:  # whatever it is, the service cannot work: say so, not why
            log.warning("health check: the database does not answer: %s", first_line(exc))
            return JSONResponse({"ok": False}, status_code=503)
        return JSONResponse({"ok": True})

    return app
