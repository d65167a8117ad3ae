"""An event loop of its own in a background thread, for synchronous callers (tests, benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, Self


class LoopThread:
    """Runs :meth:`_serve` in an event loop of its own, in a background thread, for
    synchronous code (tests, benchmarks). ``_serve`` calls ``self._ready.set()`` once serving."""

    thread_name = "h66-simulator"

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    async def _serve(self, stop: asyncio.Event) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _start_thread(self, timeout: float) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self.thread_name} did not start")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self._serve(self._stop)
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to start()
            self._error = exc
        finally:
            self._ready.set()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def start(self, timeout: float = 10.0) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
