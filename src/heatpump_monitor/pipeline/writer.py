"""Hands snapshots to the sink without ever blocking polling; keeps what could not be written.

A write failure keeps the snapshots in a bounded in-memory buffer and retries them with the
next write. When the bound is hit the oldest snapshot is dropped with a loud warning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Sequence

from ..model import Snapshot
from ..sinks.base import Sink, SinkError

log = logging.getLogger("heatpump_monitor.writer")

MAX_BATCH = 5000
REMIND_EVERY_S = 300.0


class Writer:
    def __init__(self, sink: Sink, max_pending: int = 10_000) -> None:
        self.sink = sink
        self.max_pending = max_pending
        self.pending: deque[Snapshot] = deque()
        self.dropped = 0
        self.stored = 0
        self.failing_since: float | None = None
        self._last_cause = ""
        self._last_remind = 0.0
        self._wake = asyncio.Event()
        self._busy = asyncio.Lock()

    def submit(self, snapshots: Sequence[Snapshot]) -> None:
        for s in snapshots:
            if len(self.pending) >= self.max_pending:
                old = self.pending.popleft()
                self.dropped += 1
                log.error("Write buffer full (%d polls): dropped the poll of %s at %s - data lost "
                          "(%d dropped so far)", self.max_pending, old.gateway, old.iso_time, self.dropped)
            self.pending.append(s)
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Write whatever is pending each time something is submitted, until ``stop``."""
        while not stop.is_set():
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()
            self._wake.clear()
            if self.pending:
                await self.flush()

    async def flush(self) -> bool:
        """Try to write everything pending, oldest first. True when nothing is left."""
        async with self._busy:
            while self.pending:
                batch = list(self.pending)[:MAX_BATCH]
                try:
                    await self.sink.write(batch)
                except SinkError as exc:
                    self._failed(str(exc))
                    return False
                except Exception as exc:  # a sink bug must not kill collection
                    log.exception("Unexpected error writing to %s", self.sink.description)
                    self._failed(f"unexpected {type(exc).__name__}")
                    return False
                for _ in batch:
                    self.pending.popleft()
                self.stored += len(batch)
                self._succeeded(batch)
            return True

    def _failed(self, cause: str) -> None:
        now = time.monotonic()
        if self.failing_since is None or cause != self._last_cause:
            log.error("Failed to write to %s: %s; keeping %d poll(s) to retry with the next write",
                      self.sink.description, cause, len(self.pending))
            self._last_remind = now
            if self.failing_since is None:
                self.failing_since = now
        elif now - self._last_remind >= REMIND_EVERY_S:
            log.error("Still failing to write to %s: %s; %d poll(s) waiting",
                      self.sink.description, cause, len(self.pending))
            self._last_remind = now
        self._last_cause = cause

    def _succeeded(self, batch: list[Snapshot]) -> None:
        if self.failing_since is not None:
            log.warning("Writing to %s works again after %.0f s; wrote %d waiting poll(s)",
                        self.sink.description, time.monotonic() - self.failing_since, len(batch))
            self.failing_since = None
            self._last_cause = ""
        for s in batch[-200:] if len(batch) > 200 else batch:
            log.info("Stored %d metrics with timestamp %s from %s", len(s.values), s.iso_time, s.gateway)
        if len(batch) > 200:
            log.info("Stored %d polls in all (only the newest 200 listed)", len(batch))
