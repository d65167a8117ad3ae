"""The interval grid: tick arithmetic, and the Ticker that runs a callback on every tick.

The Ticker tests run on an event loop with virtual time (:class:`VirtualTimeLoop`): time only
moves when every task waits, straight to the next timer, so a 30 s interval takes no real time
and nothing depends on how fast the machine is.
"""

import asyncio
import logging
import selectors

import pytest

from heatpump_monitor.pipeline.grid import Ticker, after, next_tick, stale_limit_s

I = 30_000  # 30 s in ms
T0 = 1_764_324_000_000  # 2025-11-28T10:00:00Z, on the 30 s grid
S0 = T0 // 1000  # the same, in seconds (what a clock returns)


@pytest.mark.parametrize("now,expected", [
    (T0, T0 + I),  # exactly on a tick: the next one
    (T0 + 1, T0 + I),
    (T0 + I - 1, T0 + I),
    (T0 + 12_345, T0 + I),
])
def test_next_tick_is_on_the_grid(now, expected):
    assert next_tick(now, I) == expected
    assert expected % I == 0


@pytest.mark.parametrize("now,expected", [
    (T0 + 200, (T0 + I, 0)),  # fast poll
    (T0 + I - 1, (T0 + I, 0)),
    (T0 + I, (T0 + I, 0)),  # ended exactly at the next tick: it runs now
    (T0 + I + 5_000, (T0 + I, 0)),  # slightly late: that tick still runs, with its own stamp
    (T0 + I + 14_999, (T0 + I, 0)),  # late by just under half an interval: still runs
    (T0 + I + 15_000, (T0 + 2 * I, 1)),  # late by half an interval: skipped and counted
    (T0 + I + 20_000, (T0 + 2 * I, 1)),  # over half an interval late: skipped and counted
    (T0 + 3 * I + 1_000, (T0 + 3 * I, 2)),  # two ticks lost, no burst
    (T0 + 3 * I + 14_999, (T0 + 3 * I, 2)),
    (T0 + 3 * I + 15_000, (T0 + 4 * I, 3)),
    (T0 + 10 * I + 29_000, (T0 + 11 * I, 10)),
])
def test_after_skips_missed_ticks_without_burst(now, expected):
    tick, missed = after(T0, now, I)
    assert (tick, missed) == expected
    assert type(tick) is int and type(missed) is int  # counts, shown as "2 tick(s) skipped"


def test_one_second_interval():
    assert after(1000, 1400, 1000) == (2000, 0)
    assert after(1000, 2499, 1000) == (2000, 0)
    assert after(1000, 2500, 1000) == (3000, 1)  # half an interval late
    assert after(1000, 2600, 1000) == (3000, 1)


@pytest.mark.parametrize("interval_s,limit_s", [(1, 90), (10, 90), (30, 90), (31, 93), (60, 180), (3600, 10800)])
def test_stale_limit_is_three_intervals_and_at_least_90_s(interval_s, limit_s):
    assert stale_limit_s(interval_s) == limit_s


# ------------------------------------------------------------------ virtual time


class _JumpingSelector(selectors.DefaultSelector):
    """Never blocks: when the loop would wait ``timeout`` seconds for its next timer, the
    loop's clock jumps forward by that much instead."""

    MAX_ROUNDS = 100_000  # a loop that never waits for anything: fail instead of hanging

    def __init__(self, loop):
        super().__init__()
        self.loop = loop
        self.rounds = 0

    def select(self, timeout=None):
        self.rounds += 1
        if self.rounds > self.MAX_ROUNDS:
            raise RuntimeError("event loop spinning: virtual time does not advance")
        ready = super().select(0)
        if not ready:
            if timeout is None:
                raise RuntimeError("deadlock: every task waits and no timer is scheduled")
            self.loop.now += timeout
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """``wall()`` is the wall clock (epoch seconds) given to the code under test; the loop's
    own ``time()`` counts from S0, as asyncio's timer resolution (1 ns) is lost on floats the
    size of epoch seconds."""

    def __init__(self, start_s: float) -> None:
        self.now = float(start_s - S0)
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now

    def wall(self) -> float:
        return S0 + self.now


def run_at(start_s, make_coro):
    """Run ``make_coro(loop)`` on a virtual-time loop whose clock starts at ``start_s``."""
    loop = VirtualTimeLoop(start_s)
    try:
        return loop.run_until_complete(make_coro(loop))
    finally:
        loop.close()


def test_virtual_time_loop_jumps_to_the_next_timer():
    async def main(loop):
        t0 = loop.time()
        await asyncio.sleep(30)
        return loop.time() - t0, loop.wall()

    assert run_at(S0 + 12, main) == (30, S0 + 42)


# ------------------------------------------------------------------ Ticker

LOGGER = "heatpump_monitor.collector"


class Recorder:
    """An on_tick callback: calls ``hook(ticker)`` first, records (tick, time of the call),
    takes ``durations[i]`` seconds for the i-th tick, and sets ``stop`` after ``ticks`` ticks."""

    def __init__(self, loop, ticker, stop, ticks, durations=(), hook=None):
        self.loop, self.ticker, self.stop, self.ticks = loop, ticker, stop, ticks
        self.durations = list(durations)
        self.hook = hook
        self.calls = []

    async def __call__(self, tick_ms):
        assert len(self.calls) < self.ticks, "on_tick called after stop was set"
        if self.hook:
            self.hook(self.ticker)
        self.calls.append((tick_ms, self.loop.wall()))
        i = len(self.calls) - 1
        if i < len(self.durations):
            await asyncio.sleep(self.durations[i])
        if len(self.calls) == self.ticks:
            self.stop.set()


def run_ticker(start_s, ticks, durations=(), heartbeat_file="", hook=None, stop_after_s=None, stop_first=False):
    """Run a 30 s Ticker from ``start_s`` until ``ticks`` ticks are done (or ``stop`` is set
    ``stop_after_s`` seconds after the start, or before it); returns the ticker, the
    recorder, and the loop time when ``run`` returned."""
    loop = VirtualTimeLoop(start_s)
    ticker = Ticker(30, loop.wall, heartbeat_file, monotonic=loop.time)

    async def main():
        stop = asyncio.Event()
        rec = Recorder(loop, ticker, stop, ticks, durations, hook)
        if stop_after_s is not None:
            loop.call_later(stop_after_s, stop.set)
        if stop_first:
            stop.set()
        await ticker.run(stop, rec, "poll")
        return rec, loop.wall()

    try:
        rec, ended = loop.run_until_complete(main())
    finally:
        loop.close()
    return ticker, rec, ended


def messages(caplog, level=None):
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and (level is None or r.levelno == level)]


def test_a_new_ticker_has_counted_nothing(tmp_path):
    t = Ticker(30, lambda: 0.0)
    assert (t.interval_ms, t.ticks, t.missed, t.last_beat, t.heartbeat) == (30_000, 0, 0, None, None)
    assert Ticker(30, lambda: 0.0, str(tmp_path / "hb")).heartbeat == tmp_path / "hb"


def test_ticker_runs_on_the_grid_counts_ticks_and_stops(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    ticker, rec, ended = run_ticker(S0 + 12.345, ticks=3, durations=[2, 2, 2])
    # the first tick is the next one on the grid; each call happens at its tick, stamped with it
    assert [tick for tick, _ in rec.calls] == [T0 + I, T0 + 2 * I, T0 + 3 * I]
    for tick, at in rec.calls:
        assert tick / 1000 <= at < tick / 1000 + 0.001
    assert (ticker.ticks, ticker.missed) == (3, 0)
    # stop set during the third tick: run returns when that tick is done, not at the next one
    assert S0 + 92 <= ended < S0 + 92.001
    assert ticker.last_beat == ended
    assert messages(caplog) == ["First poll at 2025-11-28T10:00:30.000Z, then every 30 s"]
    assert messages(caplog, logging.INFO) == messages(caplog)


def test_ticker_started_on_a_tick_waits_for_the_next_one():
    ticker, rec, _ = run_ticker(S0, ticks=1)
    assert rec.calls == [(T0 + I, S0 + 30)]


def test_stop_while_sleeping_ends_the_loop_at_once():
    # stop at 10:00:57, between the first and the second tick
    ticker, rec, ended = run_ticker(S0 + 12, ticks=5, stop_after_s=45)
    assert [tick for tick, _ in rec.calls] == [T0 + I]
    assert ticker.ticks == 1
    assert ended == S0 + 57


def test_stop_set_before_the_first_tick_runs_nothing():
    ticker, rec, ended = run_ticker(S0 + 12, ticks=5, stop_first=True)
    assert (rec.calls, ticker.ticks, ticker.last_beat, ended) == ([], 0, None, S0 + 12)


def test_slow_ticks_skip_and_count_missed_ticks_without_burst(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    # tick 1 (10:00:30) takes 65 s: ends at 10:01:35, 10:01:00 is lost, 10:01:30 runs late
    # tick 2 (10:01:30) takes 95 s: ends at 10:03:10, 10:02:00 and 10:02:30 are lost
    ticker, rec, _ = run_ticker(S0 + 12, ticks=3, durations=[65, 95, 1])
    assert rec.calls == [(T0 + I, S0 + 30), (T0 + 3 * I, S0 + 95), (T0 + 6 * I, S0 + 190)]
    assert (ticker.ticks, ticker.missed) == (3, 3)
    assert type(ticker.missed) is int
    assert messages(caplog, logging.WARNING) == [
        "Skipped 1 tick(s): the previous poll ended too late; next at 2025-11-28T10:01:30.000Z (1 skipped in all)",
        "Skipped 2 tick(s): the previous poll ended too late; next at 2025-11-28T10:03:00.000Z (3 skipped in all)",
    ]


def test_a_tick_late_by_half_an_interval_is_skipped():
    # tick 1 ends exactly 15 s after tick 2 was due: tick 2 is skipped, the next runs on time
    ticker, rec, _ = run_ticker(S0 + 12, ticks=2, durations=[45])
    assert rec.calls == [(T0 + I, S0 + 30), (T0 + 3 * I, S0 + 90)]
    assert ticker.missed == 1


def test_last_beat_is_the_time_the_last_tick_ended():
    beats = []
    ticker, rec, ended = run_ticker(S0 + 12, ticks=3, durations=[4, 7, 1],
                                    hook=lambda t: beats.append(t.last_beat))
    # before tick 1 nothing has completed; then the end of each tick: 10:00:34, 10:01:07
    assert beats == [None, S0 + 34, S0 + 67]
    assert ticker.last_beat == ended == S0 + 91


def test_heartbeat_file_is_touched_after_every_tick(tmp_path):
    hb = tmp_path / "heartbeat"
    seen = []

    def look_and_delete(ticker):
        seen.append(hb.exists())
        hb.unlink(missing_ok=True)

    ticker, rec, _ = run_ticker(S0 + 12, ticks=3, heartbeat_file=str(hb), hook=look_and_delete)
    # not touched before the first tick; touched again after each one (deleted by the next)
    assert seen == [False, True, True]
    assert hb.exists()
    assert ticker.heartbeat == hb


def test_heartbeat_failure_is_logged_once_and_disables_it(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    hb = tmp_path / "missing-dir" / "heartbeat"
    ticker, rec, ended = run_ticker(S0 + 12, ticks=3, durations=[1, 1, 1], heartbeat_file=str(hb))
    assert ticker.ticks == 3  # the ticks go on
    assert ticker.heartbeat is None
    assert ticker.last_beat == ended == S0 + 91
    (warning,) = messages(caplog, logging.WARNING)
    assert warning.startswith(f"Cannot update heartbeat file {hb}: [Errno 2] ")
    assert warning.endswith("; health checks will fail")
    assert not hb.exists()


# ------------------------------------------------------------------ clock steps


def run_stepping(start_s, ticks, steps, durations=()):
    """A 30 s Ticker whose wall clock is stepped by ``steps``: (loop seconds after the start,
    seconds to add to the wall clock). Returns the ticker and the (tick, wall time) calls."""
    loop = VirtualTimeLoop(start_s)
    offset = [0.0]

    def wall():
        return loop.wall() + offset[0]

    ticker = Ticker(30, wall, monotonic=loop.time)

    async def main():
        stop = asyncio.Event()
        calls = []

        async def on_tick(tick):
            calls.append((tick, wall()))
            i = len(calls) - 1
            if i < len(durations):
                await asyncio.sleep(durations[i])
            if len(calls) == ticks:
                stop.set()

        for at, by in steps:
            loop.call_later(at, lambda by=by: offset.__setitem__(0, offset[0] + by))
        await ticker.run(stop, on_tick, "poll")
        return calls

    try:
        return ticker, loop.run_until_complete(main())
    finally:
        loop.close()


@pytest.mark.attack("4")
def test_a_clock_stepped_back_while_sleeping_resumes_on_the_new_grid_at_once(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    # first tick 10:00:30; at 10:00:40 the clock goes back 10 minutes (to 09:50:40)
    ticker, calls = run_stepping(S0 + 12, ticks=3, steps=[(28, -600)])
    assert [t for t, _ in calls] == [T0 + I, T0 - 600_000 + 2 * I, T0 - 600_000 + 3 * I]
    assert calls[1][1] == (T0 - 600_000 + 2 * I) / 1000  # 09:51:00: at the first wake-up
    assert (ticker.ticks, ticker.missed, ticker.clock_steps) == (3, 0, 1)
    assert messages(caplog, logging.WARNING) == [
        "Clock stepped back by 600.0 s (wall clock against the monotonic clock): the next poll is at "
        "2025-11-28T09:51:00.000Z on the new grid (1 clock step(s) in all)"]


@pytest.mark.attack("4")
def test_a_clock_stepped_forward_while_sleeping_is_not_blamed_on_a_slow_poll(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    ticker, calls = run_stepping(S0 + 12, ticks=3, steps=[(28, 600)])
    assert [t for t, _ in calls] == [T0 + I, T0 + 600_000 + 2 * I, T0 + 600_000 + 3 * I]
    assert (ticker.missed, ticker.clock_steps) == (0, 1)
    warnings = messages(caplog, logging.WARNING)
    assert len(warnings) == 1 and warnings[0].startswith("Clock stepped forward by 600.0 s")
    assert not any("ended too late" in m for m in messages(caplog))


@pytest.mark.attack("4")
def test_a_clock_step_during_a_poll_is_a_clock_step(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    # the first poll (10:00:30) takes 5 s; the clock goes forward 300 s in the middle of it
    ticker, calls = run_stepping(S0 + 12, ticks=2, steps=[(20, 300)], durations=[5])
    # it ends at 10:05:35 on the new clock: 10:05:30 is less than half an interval late and runs
    assert calls == [(T0 + I, S0 + 30), (T0 + 300_000 + I, S0 + 335)]
    assert (ticker.missed, ticker.clock_steps) == (0, 1)
    assert messages(caplog, logging.WARNING) == [
        "Clock stepped forward by 300.0 s (wall clock against the monotonic clock): the next poll is at "
        "2025-11-28T10:05:30.000Z on the new grid (1 clock step(s) in all)"]


def test_small_drift_is_not_a_step():
    ticker, calls = run_stepping(S0 + 12, ticks=3, steps=[(20, 0.4), (50, -0.4)])
    assert [t for t, _ in calls] == [T0 + I, T0 + 2 * I, T0 + 3 * I]
    assert ticker.clock_steps == 0


def test_a_step_in_a_long_interval_is_noticed_within_a_minute():
    loop = VirtualTimeLoop(S0 + 5)
    offset = [0.0]
    ticker = Ticker(3600, lambda: loop.wall() + offset[0], monotonic=loop.time)

    async def main():
        stop = asyncio.Event()
        loop.call_later(10, lambda: offset.__setitem__(0, -1800.0))  # back half an hour
        noticed = []

        def watch():
            if ticker.clock_steps:
                noticed.append(loop.time())
                stop.set()
            else:
                loop.call_later(1, watch)
        loop.call_later(1, watch)

        async def on_tick(tick):
            stop.set()
        await ticker.run(stop, on_tick, "poll")
        return noticed

    try:
        noticed = loop.run_until_complete(main())
    finally:
        loop.close()
    assert noticed and noticed[0] - (S0 + 5 - S0) <= 10 + 60 + 1


@pytest.mark.attack("4")
def test_beat_age_is_monotonic():
    mono = [100.0]
    wall = [5_000.0]
    t = Ticker(30, lambda: wall[0], monotonic=lambda: mono[0])
    assert t.beat_age_s() is None
    t._beat()
    mono[0] += 12
    wall[0] -= 600  # the wall clock went back: the age still grows
    assert t.beat_age_s() == 12


def test_the_first_tick_is_not_run_early():
    ticker, calls = run_stepping(S0 + 29.5, ticks=1, steps=[])
    assert calls == [(T0 + I, S0 + 30)]


def test_every_clock_step_is_counted():
    ticker, calls = run_stepping(S0 + 12, ticks=3, steps=[(28, -600), (70, 300)])
    assert ticker.clock_steps == 2


@pytest.mark.parametrize(("late_s", "runs"), [(12, "due"), (14, "due"), (15, "next"), (20, "next")])
def test_after_a_step_a_tick_less_than_half_an_interval_late_still_runs(late_s, runs):
    # the clock goes forward so that the first wake-up (10:01:00 by the monotonic clock) finds the
    # new wall clock late_s seconds after a tick of the new grid
    ticker, calls = run_stepping(S0 + 12, ticks=2, steps=[(28, 600 + late_s)])
    due = T0 + 600_000 + 2 * I
    assert calls[1][0] == (due if runs == "due" else due + I)
