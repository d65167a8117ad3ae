"""The interval grid: a poll's timestamp is its scheduled tick, a multiple of the interval
since the epoch (UTC), so different gateways and sources line up exactly."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Awaitable, Callable

from ..model import iso_ms

log = logging.getLogger("heatpump_monitor.collector")


def next_tick(now_ms: int, interval_ms: int) -> int:
    """The first grid tick strictly after ``now_ms``."""
    return (now_ms // interval_ms + 1) * interval_ms


def after(tick_ms: int, now_ms: int, interval_ms: int) -> tuple[int, int]:
    """The tick to run after ``tick_ms`` given the time is now ``now_ms``, and how many ticks
    were missed on the way (a slow poll, a suspended machine). A tick that became due less
    than half an interval ago still runs (late, with its own timestamp); older ones are
    skipped and counted, never run in a burst."""
    nxt = tick_ms + interval_ms
    if now_ms < nxt:
        return nxt, 0
    due = now_ms // interval_ms * interval_ms  # latest tick not in the future
    missed = (due - nxt) // interval_ms
    if now_ms - due < interval_ms // 2:
        return due, missed
    return due + interval_ms, missed + 1


async def sleep_until(tick_ms: int, stop: asyncio.Event, clock: Callable[[], float]) -> bool:
    """Sleep until the wall clock reaches the tick; False if ``stop`` is set first."""
    while True:
        delay = tick_ms / 1000 - clock()
        if delay <= 0:
            return True
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
            return False
        except asyncio.TimeoutError:
            continue


def stale_limit_s(interval_s: int) -> int:
    """How long without a tick (or a successful poll) before health checks fail."""
    return max(3 * interval_s, 90)


class Ticker:
    """Runs a callback at every tick of the grid; counts ticks and skipped ticks; touches the
    heartbeat file (read by ``heatpump-monitor healthcheck``) after each one."""

    def __init__(self, interval_s: int, clock: Callable[[], float], heartbeat_file: str = "") -> None:
        self.interval_ms = interval_s * 1000
        self.clock = clock
        self.heartbeat = Path(heartbeat_file) if heartbeat_file else None
        self.ticks = 0
        self.missed = 0
        self.last_beat: float | None = None  # clock() after the last completed tick (liveness)

    async def run(self, stop: asyncio.Event, on_tick: Callable[[int], Awaitable[None]], what: str) -> None:
        tick = next_tick(int(self.clock() * 1000), self.interval_ms)
        log.info("First %s at %s, then every %d s", what, iso_ms(tick), self.interval_ms // 1000)
        while not stop.is_set():
            if not await sleep_until(tick, stop, self.clock):
                break
            self.ticks += 1
            await on_tick(tick)
            self._beat()
            tick, missed = after(tick, int(self.clock() * 1000), self.interval_ms)
            if missed:
                self.missed += missed
                log.warning("Skipped %d tick(s): the previous %s ended too late; next at %s "
                            "(%d skipped in all)", missed, what, iso_ms(tick), self.missed)

    def _beat(self) -> None:
        self.last_beat = self.clock()
        if self.heartbeat is None:
            return
        try:
            self.heartbeat.touch()
        except OSError as exc:
            log.warning("Cannot update heartbeat file %s: %s; health checks will fail", self.heartbeat, exc)
            self.heartbeat = None
