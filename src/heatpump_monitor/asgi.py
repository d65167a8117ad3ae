"""Small helpers for serving our ASGI apps (dashboard, collector health) with uvicorn."""

from __future__ import annotations

import contextlib
import socket
from typing import Iterator

import uvicorn


def bind(host: str, port: int) -> socket.socket:
    """A listening socket bound up front, so a taken port is our own clear error (OSError)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, reuse_port=False)


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to whoever runs the event loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
