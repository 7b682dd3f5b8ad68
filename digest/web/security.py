"""CSRF tokens (double submit, HMAC-bound to a cookie) and security headers."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from urllib.parse import unquote

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "digest_csrf"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def new_csrf_cookie() -> str:
    """A random value for the CSRF cookie."""
    return secrets.token_urlsafe(32)


def csrf_token(key: bytes, cookie: str) -> str:
    """The form field value that proves a form was served to the holder of `cookie`; under
    a key of its own, derived from the link key, so that it can never sign a link."""
    own_key = hmac.new(key, b"papers-digest csrf key", hashlib.sha256).digest()
    return hmac.new(own_key, f"csrf:{cookie}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, cookie: str | None, submitted: str | None) -> bool:
    """True when the submitted form field matches the browser's CSRF cookie."""
    if not cookie or not submitted or not (cookie.isascii() and submitted.isascii()):
        return False
    return hmac.compare_digest(csrf_token(key, cookie), submitted)


# every route whose path holds a {token} (a test checks that none is missing)
_TOKEN_PATH = re.compile(
    r"/(confirm|unsubscribe|preferences|vote|digests|feed|move|decline|forget|restart)"
    r"/[^\s?\"]+"
)


def redact_tokens(text: str) -> str:
    """A request line with the personal tokens of link paths cut out."""
    return _TOKEN_PATH.sub(r"/\1/[token]", text)


class RedactTokens(logging.Filter):
    """Keeps link tokens out of the access log: a log line must not open someone's settings."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a for a in record.args)
        record.msg = redact_tokens(str(record.msg))
        return True


def redact_access_log() -> None:
    """Install RedactTokens on uvicorn's access log (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())


class SecurityHeaders(BaseHTTPMiddleware):
    """CSP with frame-ancestors, no referrer (token URLs must not leak), nosniff, no caching,
    no search engine indexing but of the signup page."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.url.scheme == "https":
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        if request.url.path != "/":  # a digest or settings page shared by a reader stays
            response.headers["X-Robots-Tag"] = "noindex, nofollow"  # out of search engines
        return response


MAX_BODY = 512 * 1024  # bytes of a request body; the largest form is a few kilobytes


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413 before it is held in memory: one
    whose declared length is over it at once, a chunked one as soon as it passes it (a form
    is otherwise read whole, and a few large posts would exhaust the service's memory)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _too_large(send, self.limit)
            return
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _BodyTooLarge
            return message

        async def noted(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, noted)
        except* _BodyTooLarge:  # grouped when it crossed a middleware's task group
            if not started:
                await _too_large(send, self.limit)


async def _too_large(send: Send, limit: int) -> None:
    body = f"the request is over {limit} bytes".encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HeadAsGet:
    """Answers HEAD as the GET of the same address without its body (uptime monitors and
    link checkers ask HEAD; FastAPI's routes would refuse it with 405). Safe because no GET
    changes anything."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


class UnderPath:
    """Serves the app under the path of `base_url` (https://example.org/digest): a request
    for /digest/vote/... is answered as /vote/..., whether the reverse proxy passes the path
    on whole or strips the prefix itself (then the request comes as /vote/... already)."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        # the request's path comes decoded ("/my digest"), its raw path as sent ("/my%20digest")
        self.app, self.prefix, self.raw_prefix = app, unquote(prefix), prefix.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and (path == self.prefix or path.startswith(self.prefix + "/")):
            scope = {**scope, "path": path[len(self.prefix) :] or "/"}
            raw = scope.get("raw_path")
            if raw is not None and raw.startswith(self.raw_prefix):
                scope["raw_path"] = raw[len(self.raw_prefix) :] or b"/"
        await self.app(scope, receive, send)
