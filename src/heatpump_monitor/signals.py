"""SIGINT/SIGTERM -> a callback on the running event loop, for every long-running command."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from typing import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_stop_signals(callback: Callable[[signal.Signals], None]) -> Iterator[None]:
    """Call ``callback(sig)`` on SIGINT/SIGTERM while inside the block. Does nothing outside
    the main thread (tests, the demo's helpers) or where the loop has no signal support."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            try:
                loop.add_signal_handler(sig, callback, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
