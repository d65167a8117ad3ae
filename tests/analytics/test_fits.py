"""The fits of issue 16 on constructed data with known answers."""

from __future__ import annotations

import pytest

from heatpump_monitor.analytics.fits import curve_hint, fit_line, plane, robust_line, signature


def test_an_exact_line_is_found_exactly():
    line = fit_line([(x, 2 * x + 1) for x in range(-5, 6)])
    assert line is not None
    assert (line.slope, line.intercept, line.r2, line.n) == pytest.approx((2.0, 1.0, 1.0, 11))
    assert line.at(10) == pytest.approx(21.0) and line.x_at(1.0) == pytest.approx(0.0)


def test_least_squares_by_hand():
    # x̄ 1.5, ȳ 0.5, Sxx 5, Sxy 1, Syy 1: slope 0.2, intercept 0.2, r² 0.2
    line = fit_line([(0, 0), (1, 1), (2, 0), (3, 1)])
    assert line is not None and (line.slope, line.intercept, line.r2) == pytest.approx((0.2, 0.2, 0.2))


def test_no_line_from_too_little():
    assert fit_line([(1, 1), (2, 2)]) is None
    assert fit_line([(3, 1), (3, 2), (3, 5)]) is None  # every point at one x
    assert fit_line([(0, 1), (1, float("nan")), (2, 3)]) is None  # two usable points
    assert robust_line([]) == (None, [])


def test_an_outlier_is_dropped_and_named():
    pts = [(x, 2 * x + 1 + (0.1 if x % 2 else -0.1)) for x in range(12)]
    pts.insert(5, (5.5, 100.0))
    line, out = robust_line(pts)
    assert out == [5]
    assert line is not None and line.slope == pytest.approx(2.0, abs=0.02) and line.n == 12


def test_signature_balance_point_and_slope():
    # 3 kWh a day for each degree below 17 °C; summer days (hot water only) above 15 °C
    days = [(t, 3.0 * (17 - t)) for t in range(-10, 16)] + [(20.0, 5.0), (22.0, 5.0)]
    days.insert(3, (-7.0, 0.0))  # away from home: the heating off
    sig = signature(days, max_outdoor_c=15.0)
    assert sig is not None
    assert sig.balance_point_c == pytest.approx(17.0) and sig.kwh_per_k == pytest.approx(3.0)
    assert sig.outliers == [3]  # the holiday, by its index in ``days``; summer days are not outliers
    assert sig.as_dict()["balance_point_c"] == 17.0


def test_no_signature_when_warmer_days_need_more():
    assert signature([(t, 2.0 * t + 10) for t in range(10)]) is None
    assert signature([(1.0, 5.0)]) is None


def test_plane_is_recovered():
    rows = [(x, y, 1 + 2 * x - 0.5 * y) for x in range(5) for y in range(0, 20, 3)]
    a, b, c = plane(rows)  # type: ignore[misc]
    assert (a, b, c) == pytest.approx((1.0, 2.0, -0.5))
    assert plane([(x, 2 * x, x) for x in range(10)]) is None  # y a function of x: no plane


def test_curve_hint_the_issues_example():
    """The pump runs 38 - 0.8·outdoor (cycling ±2 K about it); the house is at 21 °C when the
    forward is 35 - 0.8·outdoor and gains 0.4 K per K warmer water. At -10 °C the pump runs 46 °C
    where 43 °C kept the house at 21 °C: 3 K too warm."""
    hours = []
    for o in range(-15, 6):
        for d in (-2.0, 0.0, 2.0):
            f = 38 - 0.8 * o + d
            hours.append((float(o), f, 21 + 0.4 * (f - (35 - 0.8 * o))))
    hint = curve_hint(hours, room_c=21.0, at_outdoor_c=-10.0)
    assert hint is not None
    assert (hint.forward_c, hint.needed_c, hint.difference_k) == pytest.approx((46.0, 43.0, 3.0))
    assert hint.as_dict()["difference_k"] == 3.0 and hint.n == len(hours)


def test_no_curve_hint_without_evidence():
    # the forward varies, the house never reacts (b = 0): the data cannot say what is needed
    hours = [(float(o), 40.0 - o + d, 21.0) for o in range(-15, 15) for d in (-2.0, 2.0)]
    assert plane([(f, o, i) for o, f, i in hours]) == pytest.approx((21.0, 0.0, 0.0), abs=1e-9)
    assert curve_hint(hours, 21.0) is None
    collinear = [(float(o), 40.0 - o, 21.0 + 0.1 * o) for o in range(-15, 15)]  # forward a function of outdoor
    assert curve_hint(collinear, 21.0) is None
    assert curve_hint(hours[:5], 21.0) is None  # too few hours
