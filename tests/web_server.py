"""A real uvicorn server on 127.0.0.1 running the web app, for tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import uvicorn

from digest.config import load_settings
from digest.wiring import Services


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 22, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class WebServer:
    """The running app: its URL, the services behind it, and its clock."""

    url: str
    services: Services
    clock: Clock


@contextmanager
def serve(port: int, path: str = "") -> Iterator[WebServer]:
    """Run the app of the current directory's config on 127.0.0.1:port until the block ends;
    `path` ("/digest") puts its links under that path, as behind a reverse proxy."""
    url = f"http://127.0.0.1:{port}{path}"
    services = Services(load_settings(base_url=url))
    clock = Clock()
    config = uvicorn.Config(
        services.web_app(clock), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web server did not start")
        time.sleep(0.02)
    try:
        yield WebServer(url, services, clock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        services.close()
