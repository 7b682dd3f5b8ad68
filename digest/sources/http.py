"""Polite HTTP fetching: conditional requests, size cap, per-host pacing, retries with backoff."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from digest.errors import FetchError, FetchStoppedError
from digest.safe_text import without_password
from digest.vocabulary import counted

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_HOST_INTERVALS = {"arxiv.org": 3.0}


@dataclass(frozen=True)
class FetchPolicy:
    """How politely and how patiently to fetch."""

    user_agent: str = "papers-digest/0.1 (+https://github.com/papers-digest/papers-digest)"
    timeout: float = 20.0
    max_bytes: int = 10 * 1024 * 1024
    attempts: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 300.0
    min_interval: float = 0.0
    host_intervals: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_HOST_INTERVALS))


@dataclass(frozen=True)
class Fetched:
    """A response worth parsing, or `unchanged` when the server answered 304."""

    url: str
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    unchanged: bool = False


class RetryableStatus(Exception):
    """An HTTP status worth retrying (408, 429, 5xx), with the server's Retry-After."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class _TooLarge(Exception):
    pass


# what may succeed on a later attempt; redirect loops, bad encodings and unknown schemes never do
RETRYABLE: tuple[type[Exception], ...] = (
    RetryableStatus,
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


class Fetcher:
    """One HTTP client shared by every source, pacing requests per host."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self.stopping = threading.Event()  # set by interrupt(): no more waits or attempts
        self.sleep, self.clock = sleep or self._wait_unless_stopping, clock
        self.client = httpx.Client(
            transport=transport,
            timeout=self.policy.timeout,
            follow_redirects=True,
            headers={"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"},
        )
        self._hosts: dict[str, tuple[threading.Lock, list[float]]] = {}
        self._guard = threading.Lock()

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def interrupt(self) -> None:
        """Stop waiting between attempts (the service is stopping): a fetch in hand fails
        after its current request instead of waiting out its backoff."""
        self.stopping.set()

    def _wait_unless_stopping(self, seconds: float) -> None:
        if self.stopping.wait(seconds):
            raise _Stopping

    def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        """GET a listing, retrying temporary failures; FetchError says why it finally failed."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        shown = without_password(url)
        try:
            host = urlsplit(url).hostname
            httpx.URL(url)
        except (ValueError, httpx.InvalidURL):
            host = None
        if not host:
            raise FetchError(f"{shown}: not a valid http(s) URL; check the source's url")
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(RETRYABLE),
            sleep=self.sleep,
            before_sleep=self._say_retry,
            reraise=True,
        )
        try:
            return retrying(self._get_once, url, headers)
        except _Stopping:
            raise FetchStoppedError(f"{shown}: not tried again: the service is stopping") from None
        except RetryableStatus as exc:
            raise FetchError(
                f"{shown}: HTTP {exc.status} after {counted(self.policy.attempts, 'attempt')}; "
                "the server is failing or rate-limiting: try again later"
            ) from None
        except httpx.TimeoutException:
            raise FetchError(
                f"{shown}: {_each(self.policy.attempts)} timed out after "
                f"{self.policy.timeout:g} s; check the URL, or raise DIGEST_HTTP_TIMEOUT if the "
                "server is just slow"
            ) from None
        except RETRYABLE as exc:
            raise FetchError(
                f"{shown}: {_describe(exc)} ({counted(self.policy.attempts, 'attempt')})"
            ) from None
        except httpx.HTTPError as exc:  # redirect loops, bad encodings, unsupported schemes
            raise FetchError(f"{shown}: {_describe(exc)}") from None

    def _get_once(self, url: str, headers: dict[str, str]) -> Fetched:
        lock, last = self._host(url)
        with lock:
            wait = last[0] + self._interval(url) - self.clock()
            if wait > 0:
                self.sleep(wait)
            try:
                return self._request(url, headers)
            finally:
                last[0] = self.clock()

    def _request(self, url: str, headers: dict[str, str]) -> Fetched:
        with self.client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status == 304:
                return Fetched(
                    url=url,
                    unchanged=True,
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                )
            if status in RETRY_STATUSES:
                raise RetryableStatus(status, _retry_after(response.headers.get("retry-after")))
            if status >= 400:
                raise FetchError(
                    f"{without_password(url)}: HTTP {status} {response.reason_phrase}; "
                    "check the URL"
                )
            try:
                body = self._read_capped(response)
            except _TooLarge:
                raise FetchError(
                    f"{without_password(url)}: body is over the {self.policy.max_bytes} byte "
                    "limit; "
                    "raise DIGEST_HTTP_MAX_BYTES if this listing is really that large"
                ) from None
            return Fetched(
                url=str(response.url),
                body=body,
                content_type=response.headers.get("content-type"),
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )

    def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.policy.max_bytes:
            raise _TooLarge
        chunks, size = [], 0
        deadline = time.monotonic() + self.policy.timeout
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.policy.max_bytes:
                raise _TooLarge
            if time.monotonic() > deadline:  # httpx's timeout bounds each read, not the whole
                raise httpx.ReadTimeout("the whole response took too long")
            chunks.append(chunk)
        return b"".join(chunks)

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server sent one, else capped exponential backoff."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.retry_after_max)
        backoff = self.policy.backoff_base * 2 ** (state.attempt_number - 1)
        return float(min(backoff, self.policy.backoff_max))

    def _say_retry(self, state: RetryCallState) -> None:
        """One line before each wait, so that a slow or unreachable source is never silent."""
        exc = state.outcome.exception() if state.outcome else None
        url = without_password(str(state.args[0])) if state.args else "?"
        wait = state.next_action.sleep if state.next_action else 0.0
        if isinstance(exc, RetryableStatus):
            reason = f"HTTP {exc.status}"
        else:
            reason = _describe(exc) if exc is not None else "failed"
        log.warning(
            "%s: %s; retrying in %.0f s (attempt %d of %d)",
            url,
            reason,
            wait,
            state.attempt_number + 1,
            self.policy.attempts,
        )

    def _interval(self, url: str) -> float:
        host = urlsplit(url).hostname or ""
        for suffix, seconds in self.policy.host_intervals.items():
            if host == suffix or host.endswith("." + suffix):
                return max(seconds, self.policy.min_interval)
        return self.policy.min_interval

    def _host(self, url: str) -> tuple[threading.Lock, list[float]]:
        host = urlsplit(url).hostname or ""  # every port of a host shares its pacing
        with self._guard:
            if host not in self._hosts:
                self._hosts[host] = (threading.Lock(), [float("-inf")])
            return self._hosts[host]


class _Stopping(Exception):
    """Raised out of a wait between attempts when the fetcher is interrupted."""


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect; check the URL and the network"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection mid-response (truncated body)"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects (a redirect loop?); check the URL"
    if isinstance(exc, httpx.DecodingError):
        return "the body could not be decoded (corrupt compression?)"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "not an http(s) URL; check the source's url"
    return f"{exc.__class__.__name__}: {exc}"


def _each(attempts: int) -> str:
    """Which attempts timed out, in words: each of 4 attempts, or the one attempt."""
    return f"each of {attempts} attempts" if attempts > 1 else "the one attempt"
