"""derived.py: a ratio and a counter's increase per snapshot (zero or missing denominator,
reset, first snapshot) and from bucket summaries; along() hands each snapshot its previous."""

from __future__ import annotations

import random

from heatpump_monitor.derived import DERIVED, Summary, along, derive_all, increase, ratio

COP = ratio("cop", "heat", "el", "", "heat / electricity")
STARTS = increase("starts", "c", "", "starts")


def test_ratio_per_snapshot():
    assert COP.compute({"heat": 6.0, "el": 2.0}, None) == 3.0
    assert COP.compute({"heat": 6.0, "el": 0.0}, None) is None
    assert COP.compute({"heat": 6.0}, None) is None
    assert COP.compute({"el": 2.0}, None) is None


def test_increase_needs_the_previous_snapshot_and_skips_a_reset():
    assert list(along(STARTS, [{"c": 3.0}, {"c": 5.0}, {"c": 1.0}, {"c": 4.0}, {}, {"c": 9.0}])) == [
        None, 2.0, None, 3.0, None, None]
    assert list(along(STARTS, [{"c": 3.0}], {"c": 1.0})) == [2.0]  # the one before the range


def test_along_sums_of_increases_telescope_without_resets():
    rng = random.Random(3)
    counter = [0.0]
    for _ in range(500):
        counter.append(counter[-1] + rng.choice([0.0, 0.0, 1.0, 2.0]))
    xs = list(along(STARTS, [{"c": c} for c in counter[1:]], {"c": counter[0]}))
    assert sum(xs) == counter[-1] - counter[0] and len(xs) == 500


def test_from_buckets():
    assert COP.from_buckets({"heat": Summary(4, 6.0, 1.0), "el": Summary(4, 2.0, 9.0)}, None) == 3.0
    assert COP.from_buckets({"heat": Summary(4, 6.0, 1.0), "el": Summary(4, 0.0, 0.0)}, None) is None
    this, before = {"c": Summary(5, 0.0, 20.0)}, {"c": Summary(1, 0.0, 10.0)}
    assert STARTS.from_buckets(this, before) == 2.0  # 10 more over 5 snapshots
    assert STARTS.from_buckets(this, None) is None
    assert STARTS.from_buckets(before, this) is None  # went down: a reset


def test_derive_all_passes_the_previous_snapshot():
    defs = {**DERIVED, "starts": STARTS}
    assert derive_all({"c": 4.0}, {"c": 1.0}, defs) == {"starts": 3.0}
    assert derive_all({"c": 4.0}, None, defs) == {}
