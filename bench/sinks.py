"""The local SMTP sinks the benchmarks send to: postfix's smtp-sink (C, never the bottleneck)
when it is installed or can be, else an aiosmtpd sink in its own process."""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

HOST = "127.0.0.1"
SMTP_SINK = "smtp-sink"
_COUNTER = re.compile(rb"mesg=(\d+)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Sink:
    """A running sink: where it listens, what it is, and how many messages it took."""

    name = "sink"
    port: int
    pid: int  # the sink's process, for its CPU time

    def stop(self) -> int:
        """Stop the sink; how many messages it accepted in all."""
        raise NotImplementedError


class PostfixSink(Sink):
    """postfix's smtp-sink: `-c` prints a running message counter."""

    name = "postfix smtp-sink"

    def __init__(self, program: str) -> None:
        self.port = free_port()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        # its counter goes to a file: a pipe nobody drains would stop it after ~2,000 messages
        self.counter = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.process = subprocess.Popen(
            [program, "-c", *user, f"{HOST}:{self.port}", "1024"],
            stdout=self.counter,
            stderr=subprocess.DEVNULL,
        )
        self.pid = self.process.pid
        _wait_for_port(self.port)

    def stop(self) -> int:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.counter.seek(0)
        counts = _COUNTER.findall(self.counter.read())
        self.counter.close()
        return int(counts[-1]) if counts else -1


class _Counting:
    """aiosmtpd handler that accepts every message and counts them."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        return "250 OK"


def _aiosmtpd_main(conn: Connection, port: int) -> None:
    from aiosmtpd.controller import Controller

    handler = _Counting()
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    conn.send("ready")
    conn.recv()  # any message means stop
    conn.send(handler.count)
    controller.stop()


class AiosmtpdSink(Sink):
    """aiosmtpd in its own process (so it does not share the client's GIL); ~650 msg/s here."""

    name = "aiosmtpd sink"

    def __init__(self) -> None:
        context = mp.get_context("spawn")
        self.parent, child = context.Pipe()
        self.port = free_port()
        self.process = context.Process(target=_aiosmtpd_main, args=(child, self.port), daemon=True)
        self.process.start()
        self.pid = int(self.process.pid or 0)
        if not self.parent.poll(60) or self.parent.recv() != "ready":
            self.process.kill()
            raise RuntimeError("the aiosmtpd sink did not start within 60 s")

    def stop(self) -> int:
        self.parent.send("stop")
        received = int(self.parent.recv()) if self.parent.poll(30) else -1
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
        return received


def smtp_sink_program(say: Callable[[str], None]) -> str | None:
    """Where smtp-sink is; installs Debian's postfix for it when root with apt-get, and says so."""
    found = shutil.which(SMTP_SINK) or shutil.which(SMTP_SINK, path="/usr/sbin:/usr/bin")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    say("postfix's smtp-sink is missing: installing Debian package postfix (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        ["apt-get", "install", "-y", "-q", "postfix"], env=env, capture_output=True, check=False
    )
    if done.returncode != 0:
        say("could not install postfix; using the aiosmtpd sink")
        return None
    return shutil.which(SMTP_SINK, path="/usr/sbin:/usr/bin")


def open_sink(say: Callable[[str], None], prefer_postfix: bool = True) -> Sink:
    """postfix's smtp-sink when available (installed if it can be), else aiosmtpd."""
    program = smtp_sink_program(say) if prefer_postfix else None
    return PostfixSink(program) if program else AiosmtpdSink()


def _wait_for_port(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the sink did not listen on {HOST}:{port} within {seconds} s")
