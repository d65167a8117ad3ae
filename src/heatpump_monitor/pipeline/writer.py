"""Hands snapshots to the sink without ever blocking polling; loses nothing the spool can hold.

``submit`` puts snapshots in the spool (on disk by default) before any write is attempted. The
writer task then writes the spool's oldest entries to the sink in batches and removes them once
the sink acknowledged them. When the sink is down, entries wait in the spool and are retried
every few seconds and with every new poll; when it is back, the backlog is replayed in time
order, one batch at a time, while polling goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Sequence

from ..model import Snapshot, iso_ms
from ..stores.base import Sink, SinkError
from .spool import Entry, MemorySpool, Spool

log = logging.getLogger("heatpump_monitor.writer")

MAX_BATCH = 1000  # also bounds the memory a replay takes (~8 MB of decoded polls)
#: up to this many polls in one write, each gets its own "Stored ..." line at INFO
PER_POLL_LINES_MAX = 10
RETRY_S = 5.0
REMIND_EVERY_S = 300.0
#: while the store needs the operator (a missing database: the cause carries the fix), remind this often
REMIND_FIX_EVERY_S = 60.0

#: called after every write attempt with (seconds, number of snapshots, succeeded)
WriteObserver = Callable[[float, int, bool], None]
#: called with each batch of new snapshots once they are in the spool (alerts, Home Assistant):
#: they see every poll once, whether or not the store is up, and never a replayed backlog
SnapshotListener = Callable[[Sequence[Snapshot]], None]


class Writer:
    def __init__(self, sink: Sink, spool: Spool | None = None, *, max_batch: int = MAX_BATCH,
                 retry_s: float = RETRY_S, observer: WriteObserver | None = None) -> None:
        self.sink = sink
        self.spool: Spool = spool if spool is not None else MemorySpool(10_000)
        self.max_batch = max_batch
        self.retry_s = retry_s
        self.observer = observer
        self.stored = 0
        self.failing_since: float | None = None
        self.last_cause = ""
        self.last_ok_wall: float | None = None  # time.time() of the last acknowledged write
        self._last_remind = 0.0
        self.rejected = 0  # polls the store refused (set aside, not retried)
        self._last_reject_cause = ""
        self._last_reject_log = 0.0
        self._staged: list[Snapshot] = []
        self.listeners: list[SnapshotListener] = []
        self._wake = asyncio.Event()
        self._busy = asyncio.Lock()

    @property
    def pending(self) -> int:
        """Snapshots not yet acknowledged by the sink."""
        return self.spool.depth + len(self._staged)

    @property
    def dropped(self) -> int:
        return self.spool.dropped

    def submit(self, snapshots: Sequence[Snapshot]) -> None:
        """Queue snapshots; they reach the spool within this turn of the event loop (every
        submit of one turn is one spool transaction, e.g. a burst of MQTT messages)."""
        if not snapshots:
            return
        if not self._staged:
            try:
                asyncio.get_running_loop().call_soon(self.persist)
            except RuntimeError:  # no loop (tests, shutdown): persist now
                self._staged.extend(snapshots)
                self.persist()
                return
        self._staged.extend(snapshots)

    def persist(self) -> None:
        """Move submitted snapshots into the spool and wake the writer task."""
        if self._staged:
            staged, self._staged = self._staged, []
            self.spool.append(staged)
            self._wake.set()
            for listener in self.listeners:
                try:
                    listener(staged)
                except Exception:  # a listener's bug must not stop storing
                    log.exception("Error in %s while handing it %d snapshot(s)",
                                  getattr(listener, "__qualname__", "a snapshot listener"), len(staged))

    async def run(self, stop: asyncio.Event) -> None:
        """Write whatever the spool holds, until ``stop``: at once when something is submitted
        while the sink works; every ``retry_s`` (and only then) while it fails."""
        # one wait per turn, on one event, with no task made per tick: ``stop`` also sets
        # ``_wake`` (through one watcher for the whole run); while the sink fails, only the
        # timer (or ``stop``) ends the wait
        watcher = asyncio.ensure_future(stop.wait())
        watcher.add_done_callback(lambda _: self._wake.set())
        self._wake.set()  # a spool left over from the last run is written first
        try:
            while not stop.is_set():
                event = self._wake if self.failing_since is None else stop
                try:
                    async with asyncio.timeout(self.retry_s if self.pending else None):
                        await event.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
                if self.pending and not stop.is_set():
                    await self.flush()
        finally:
            watcher.cancel()

    async def flush(self) -> bool:
        """Write everything pending, oldest first, batch by batch. True when nothing is left."""
        async with self._busy:
            self.persist()
            replayed = batches = 0
            recovering = self.failing_since is not None
            while True:
                batch = self.spool.head(self.max_batch)
                if not batch:
                    break
                try:
                    written = await self._write(batch)
                except SinkError as exc:
                    self._failed(str(exc), REMIND_FIX_EVERY_S if exc.fix else REMIND_EVERY_S)
                    return False
                except Exception as exc:  # a sink bug must not kill collection
                    log.exception("Unexpected error writing to %s", self.sink.description)
                    self._failed(f"unexpected {type(exc).__name__}", REMIND_EVERY_S)
                    return False
                snapshots = [e.snapshot for e in written]
                self.spool.ack(batch)
                self.stored += len(written)
                replayed += len(written)
                batches += 1
                self.last_ok_wall = time.time()
                self._succeeded(snapshots)
                if self.spool.depth:
                    await asyncio.sleep(0)  # let polling run between batches of a replay
                self.persist()
            if recovering and batches > 1:
                log.info("Backlog written: %d poll(s) in all", replayed)
            return True

    async def _write(self, batch: list[Entry]) -> list[Entry]:
        """Write ``batch``; the entries written. When the store refuses the data itself, the
        batch is halved until the refused polls are found; they are set aside in the spool
        (never retried, so they cannot block everything behind them) and the rest is written."""
        start = time.perf_counter()
        try:
            await self.sink.write([e.snapshot for e in batch])
        except SinkError as exc:
            self._observe(start, len(batch), False)
            if not exc.rejected:
                raise
            if len(batch) == 1:
                self._set_aside(batch[0], str(exc))
                return []
            mid = len(batch) // 2
            return await self._write(batch[:mid]) + await self._write(batch[mid:])
        except BaseException:
            self._observe(start, len(batch), False)
            raise
        self._observe(start, len(batch), True)
        return batch

    def _set_aside(self, entry: Entry, cause: str) -> None:
        self.rejected += 1
        self.spool.reject(entry, cause)
        now = time.monotonic()
        if cause != self._last_reject_cause or now - self._last_reject_log >= REMIND_EVERY_S:
            s = entry.snapshot
            log.error("%s refused the poll of %s at %s: %s; set aside in the spool's rejected table, "
                      "not retried (%d refused so far)", self.sink.description, s.gateway, s.iso_time,
                      cause, self.rejected)
            self._last_reject_cause, self._last_reject_log = cause, now

    def _observe(self, start: float, n: int, ok: bool) -> None:
        if self.observer is not None:
            self.observer(time.perf_counter() - start, n, ok)

    def _failed(self, cause: str, remind_s: float) -> None:
        """Say an outage once, when its cause changes and every ``remind_s`` while it lasts."""
        now = time.monotonic()
        if self.failing_since is None or cause != self.last_cause:
            log.error("Failed to write to %s: %s; keeping %d poll(s) in the spool to retry",
                      self.sink.description, cause, self.pending)
            self._last_remind = now
            if self.failing_since is None:
                self.failing_since = now
        elif now - self._last_remind >= remind_s:
            log.error("Still failing to write to %s: %s; %d poll(s) waiting in the spool",
                      self.sink.description, cause, self.pending)
            self._last_remind = now
        self.last_cause = cause

    def _succeeded(self, batch: list[Snapshot]) -> None:
        if self.failing_since is not None:
            log.warning("Writing to %s works again after %.0f s; wrote %d poll(s), %d still waiting",
                        self.sink.description, time.monotonic() - self.failing_since,
                        len(batch), self.pending)
            self.failing_since = None
            self.last_cause = ""
        # the spec's line for every poll; a large batch (many gateways, a replay) gets one
        # summary line instead, the per-poll lines at DEBUG
        level = logging.INFO if len(batch) <= PER_POLL_LINES_MAX else logging.DEBUG
        if log.isEnabledFor(level):
            for s in batch:
                log.log(level, "Stored %d metrics with timestamp %s from %s", len(s.values), s.iso_time, s.gateway)
        if len(batch) > PER_POLL_LINES_MAX:
            first, last = min(s.time_ms for s in batch), max(s.time_ms for s in batch)
            span = iso_ms(first) if first == last else f"{iso_ms(first)} to {iso_ms(last)}"
            log.info("Stored %d polls (%d metrics) with timestamp %s from %d gateway(s)", len(batch),
                     sum(len(s.values) for s in batch), span, len({s.gateway for s in batch}))
