"""The interval grid: a poll's timestamp is its scheduled tick, a multiple of the interval
since the epoch (UTC), so different gateways and sources line up exactly.

The grid is the wall clock's, which can be stepped (NTP after a long suspend, an operator, a
bad RTC at boot). The :class:`Ticker` compares the wall clock with the monotonic clock at
every wake-up: a step of :data:`STEP_S` or more is logged as a clock step and polling resumes
on the new grid at once, instead of sleeping the step away (a step back) or counting the
jump as ticks missed by a slow poll (a step forward)."""

from __future__ import annotations

import asyncio
import logging
import time
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


#: A difference this large between the wall clock's and the monotonic clock's advance since the
#: last look is a step, not drift (NTP slews at most 0.5 ms/s: 15 ms over a 30 s interval).
STEP_S = 1.0
#: Longest single sleep, so a step during a long interval is noticed within this.
MAX_SLEEP_S = 60.0


def stale_limit_s(interval_s: int) -> int:
    """How long without a tick (or a successful poll) before health checks fail."""
    return max(3 * interval_s, 90)


class Ticker:
    """Runs a callback at every tick of the grid; counts ticks, skipped ticks and clock steps;
    touches the heartbeat file (read by ``heatpump-monitor healthcheck``) after each one."""

    def __init__(self, interval_s: int, clock: Callable[[], float], heartbeat_file: str = "",
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval_ms = interval_s * 1000
        self.clock = clock
        self.monotonic = monotonic
        self.heartbeat = Path(heartbeat_file) if heartbeat_file else None
        self.ticks = 0
        self.missed = 0
        self.clock_steps = 0
        self.last_beat: float | None = None  # clock() after the last completed tick
        self.last_beat_mono: float | None = None  # the same on the monotonic clock (liveness)
        self._anchor: tuple[float, float]  # (wall, monotonic) at the last look; set by run()

    def beat_age_s(self) -> float | None:
        """Seconds since the last completed tick, by the monotonic clock (a wall-clock step
        must not make a stuck collector look live)."""
        return None if self.last_beat_mono is None else self.monotonic() - self.last_beat_mono

    def _step(self) -> float:
        """How far the wall clock moved against the monotonic clock since the last look."""
        wall, mono = self.clock(), self.monotonic()
        step = (wall - self._anchor[0]) - (mono - self._anchor[1])
        self._anchor = (wall, mono)
        return step

    def _after_step(self, tick: int, what: str) -> int:
        """The tick to run next: ``tick``, or after a clock step the next one on the new grid."""
        step = self._step()
        if abs(step) < STEP_S:
            return tick
        self.clock_steps += 1
        now = int(self.clock() * 1000)
        due = now // self.interval_ms * self.interval_ms  # as after(): a tick due less than half
        nxt = due if now - due < self.interval_ms // 2 else due + self.interval_ms  # an interval ago runs
        log.warning("Clock stepped %s by %.1f s (wall clock against the monotonic clock): the next %s "
                    "is at %s on the new grid (%d clock step(s) in all)", "forward" if step > 0 else "back",
                    abs(step), what, iso_ms(nxt), self.clock_steps)
        return nxt

    async def _sleep_until(self, tick: int, stop: asyncio.Event, what: str) -> int | None:
        """Sleep until the wall clock reaches ``tick`` (moved to the new grid if the clock steps
        meanwhile); the tick to run, or None when ``stop`` is set first."""
        while True:
            tick = self._after_step(tick, what)
            delay = tick / 1000 - self.clock()
            if delay <= 0:
                return tick
            try:  # asyncio.timeout: no task made per tick, unlike wait_for
                async with asyncio.timeout(min(delay, MAX_SLEEP_S)):
                    await stop.wait()
                return None
            except TimeoutError:
                continue

    async def run(self, stop: asyncio.Event, on_tick: Callable[[int], Awaitable[None]], what: str) -> None:
        tick = next_tick(int(self.clock() * 1000), self.interval_ms)
        self._anchor = (self.clock(), self.monotonic())
        log.info("First %s at %s, then every %d s", what, iso_ms(tick), self.interval_ms // 1000)
        while not stop.is_set():
            due = await self._sleep_until(tick, stop, what)
            if due is None:
                break
            tick = due
            self.ticks += 1
            await on_tick(tick)
            self._beat()
            stepped = self._after_step(tick, what)
            if stepped != tick:  # the clock stepped during the tick: the new grid, no blame
                tick = stepped
                continue
            tick, missed = after(tick, int(self.clock() * 1000), self.interval_ms)
            if missed:
                self.missed += missed
                log.warning("Skipped %d tick(s): the previous %s ended too late; next at %s "
                            "(%d skipped in all)", missed, what, iso_ms(tick), self.missed)

    def _beat(self) -> None:
        self.last_beat = self.clock()
        self.last_beat_mono = self.monotonic()
        if self.heartbeat is None:
            return
        try:
            self.heartbeat.touch()
        except OSError as exc:
            log.warning("Cannot update heartbeat file %s: %s; health checks will fail", self.heartbeat, exc)
            self.heartbeat = None
