"""The interval grid: a poll's timestamp is its scheduled tick, a multiple of the interval
since the epoch (UTC), so different gateways and sources line up exactly."""

from __future__ import annotations


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
