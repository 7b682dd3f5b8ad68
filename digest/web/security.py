"""CSRF tokens (double submit, HMAC-bound to a cookie) and security headers."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

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


_TOKEN_PATH = re.compile(r"/(confirm|unsubscribe|preferences|vote|digests|feed)/[^\s?\"]+")


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
    """CSP with frame-ancestors, no referrer (token URLs must not leak), nosniff, no caching."""

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
        return response
