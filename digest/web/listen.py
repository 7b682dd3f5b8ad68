"""The web app's listening socket, bound before anything else starts, with errors that say
what to change (uvicorn logs a bind failure and exits 3, after `serve` has already sent mail)."""

from __future__ import annotations

import errno
import socket

from digest.errors import ConfigError


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port (IPv6 when the host has a colon, as uvicorn binds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {address(host, port)}: {_advice(exc)}") from None
    return sock


def address(host: str, port: int) -> str:
    """host:port as a URL writes it ([::1]:8000 for IPv6)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _advice(exc: OSError) -> str:
    """What a bind error means for the operator."""
    if exc.errno == errno.EADDRINUSE:
        return (
            "the port is in use (another digest web or serve?): stop it, or choose another --port"
        )
    if exc.errno == errno.EACCES:
        return "ports below 1024 need root: choose a port from 1024 (e.g. 8000) behind a proxy"
    reason = exc.strerror or (exc.args[-1] if exc.args else str(exc))
    return f"{reason}: give --host an address of this machine (127.0.0.1, or 0.0.0.0 for all)"
