import pytest

from heatpump_monitor.pipeline.grid import after, next_tick

I = 30_000  # 30 s in ms
T0 = 1_764_324_000_000  # 2025-11-28T10:00:00Z, on the 30 s grid


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
    (T0 + I + 5_000, (T0 + I, 0)),  # slightly late: that tick still runs, with its own stamp
    (T0 + I + 20_000, (T0 + 2 * I, 1)),  # over half an interval late: skipped and counted
    (T0 + 3 * I + 1_000, (T0 + 3 * I, 2)),  # two ticks lost, no burst
    (T0 + 10 * I + 29_000, (T0 + 11 * I, 10)),
])
def test_after_skips_missed_ticks_without_burst(now, expected):
    assert after(T0, now, I) == expected


def test_one_second_interval():
    assert after(1000, 1400, 1000) == (2000, 0)
    assert after(1000, 2600, 1000) == (3000, 1)
