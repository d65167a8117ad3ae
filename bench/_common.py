"""Helpers shared by the benchmark scripts (subprocess servers on loopback ports)."""

from __future__ import annotations

import resource
import socket
import time


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port_block(n: int) -> int:
    """A first port with n free ports after it."""
    for base in range(20000, 60000 - n, 1000):
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port block")


def wait_listening(port: int, timeout: float = 600) -> None:
    # long: the simulator warms up every model before it listens (~30 ms each; 10,000 gateways ~5 min)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"simulator port {port} not listening")
