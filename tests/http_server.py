"""A real, scriptable HTTP server on 127.0.0.1 for tests of network sources.

Each route (a path, optionally with query parameters it must match) holds a list of scripted
`Reply`s consumed in order; the last one repeats. Every request is recorded with its path,
query, headers and the monotonic time it arrived. Unknown paths answer 404.

    def test_x(http_server: ScriptedServer) -> None:
        url = http_server.route("/feed", Reply(503), Reply(200, body=b"...", content_type="..."))
        ...
        assert len(http_server.requests("/feed")) == 2

Use it in a test module with `from http_server import http_server_fixture  # noqa: F401`
(the fixture is named `http_server`), or as a context manager (`with serve() as server: ...`).
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

HOST = "127.0.0.1"
_PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    status, headers and body are sent as given (a str body is UTF-8 encoded); `content_type`
    is a shortcut for the Content-Type header. `delay` seconds pass before anything is sent
    (longer than the client's timeout makes it time out). `truncated` declares a Content-Length
    larger than the body, sends the body and closes the connection. `content_length=False`
    sends no Content-Length and ends the body by closing the connection. `gzip` compresses
    the body and sends Content-Encoding: gzip. `trickle` seconds pass between chunks of
    `chunk_size` bytes of the body (a slow server that never pauses longer than that).
    """

    status: int = 200
    body: bytes | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    delay: float = 0.0
    truncated: bool = False
    content_length: bool = True
    gzip: bool = False
    trickle: float = 0.0
    chunk_size: int = 1024

    @property
    def payload(self) -> bytes:
        data = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
        return gzip.compress(data) if self.gzip else data


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    arrived: float  # time.monotonic() when the request line and headers had been read

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class _Route:
    path: str
    query: dict[str, str]
    replies: list[Reply]
    served: int = 0

    def matches(self, path: str, query: dict[str, list[str]]) -> bool:
        return path == self.path and all(query.get(k) == [v] for k, v in self.query.items())

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


NOT_FOUND = Reply(404, body=b"no such route", content_type="text/plain")


class ScriptedServer:
    """The server's routes and what it has seen; start() and stop() run it in a thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: list[_Route] = []
        self._requests: list[Request] = []
        self._sockets: set[socket.socket] = set()
        self.stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "the server is not running"
        return f"http://{HOST}:{self._httpd.server_address[1]}"

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        """The absolute URL of a path (which may carry a query string) on this server."""
        return self.base_url + path

    def route(self, path: str, *replies: Reply) -> str:
        """Script the replies to `path`; a query string in `path` must match too. Returns the URL.

        A route with query parameters wins over a plain one for requests that carry them;
        scripting the same path and query again replaces the earlier script.
        """
        if not replies:
            raise ValueError("a route needs at least one reply")
        parts = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with self._lock:
            self._routes = [
                r for r in self._routes if not (r.path == parts.path and r.query == query)
            ]
            self._routes.append(_Route(parts.path, query, list(replies)))
        return self.url(path)

    def requests(self, path: str | None = None) -> list[Request]:
        """Requests received so far, oldest first, optionally only those to one path."""
        with self._lock:
            seen = list(self._requests)
        return [r for r in seen if path is None or r.path == path]

    # -- serving ---------------------------------------------------------------------------

    def _reply_for(self, request: Request) -> Reply:
        with self._lock:
            self._requests.append(request)
            candidates = [r for r in self._routes if r.matches(request.path, request.query)]
            if not candidates:
                return NOT_FOUND
            best = max(candidates, key=lambda r: len(r.query))
            return best.next_reply()

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)

    def start(self) -> None:
        self._httpd = _Server((HOST, 0), _Handler)
        self._httpd.scripted = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="scripted-http-server",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, wake delayed replies, cut open connections and join every thread."""
        if self._httpd is None:
            return
        self.stopping.set()
        self._httpd.shutdown()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()  # joins the handler threads (block_on_close)
        if self._thread is not None:
            self._thread.join(timeout=5)
            assert not self._thread.is_alive(), "the test HTTP server did not stop"
        self._httpd = None


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    scripted: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out or hang up mid-reply are expected here: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 10  # an idle keep-alive connection is dropped after this many seconds

    def setup(self) -> None:
        super().setup()
        scripted = self.server.scripted
        scripted._track(self.connection, add=True)
        if scripted.stopping.is_set():  # accepted just as the server stopped: hang up
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.scripted._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """No access log on stderr."""

    def do_GET(self) -> None:  # noqa: N802
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        arrived = time.monotonic()
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            arrived=arrived,
        )
        scripted = self.server.scripted
        reply = scripted._reply_for(request)
        if reply.delay and scripted.stopping.wait(reply.delay):
            self.close_connection = True
            return
        payload = reply.payload
        self.send_response(reply.status)
        headers = {k.lower(): (k, v) for k, v in reply.headers.items()}
        if reply.content_type is not None:
            headers["content-type"] = ("Content-Type", reply.content_type)
        if reply.gzip:
            headers["content-encoding"] = ("Content-Encoding", "gzip")
        bodyless = reply.status == 304 or reply.status < 200 or reply.status == 204
        if reply.truncated:
            headers["content-length"] = ("Content-Length", str(len(payload) + 1000))
            self.close_connection = True
        elif not reply.content_length:
            headers.pop("content-length", None)
            headers["connection"] = ("Connection", "close")
            self.close_connection = True
        elif not bodyless and "content-length" not in headers:
            headers["content-length"] = ("Content-Length", str(len(payload)))
        for name, value in headers.values():
            self.send_header(name, value)
        self.end_headers()
        if send_body and not bodyless:
            self._write_body(payload, reply)
        self.wfile.flush()

    def _write_body(self, payload: bytes, reply: Reply) -> None:
        if not reply.trickle:
            self.wfile.write(payload)
            return
        for start in range(0, len(payload), reply.chunk_size):
            if start and self.server.scripted.stopping.wait(reply.trickle):
                self.close_connection = True
                return
            self.wfile.write(payload[start : start + reply.chunk_size])
            self.wfile.flush()


@contextmanager
def serve() -> Iterator[ScriptedServer]:
    """Run a ScriptedServer for the duration of the block."""
    server = ScriptedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="http_server")
def http_server_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    """A running ScriptedServer on 127.0.0.1; proxies are switched off so nothing leaves."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", HOST)
    monkeypatch.setenv("no_proxy", HOST)
    with serve() as server:
        yield server
