"""Lines through an owner's data (issue 16): the heat curve the pump actually runs, and the
house's heat signature. Plain least squares, then one pass that drops outliers, so a few
hot-water charges or a party do not tilt the line; every result says how many points it
rests on and how well it fits (r²), and is None when the data cannot carry a line.

* :func:`fit_line`: y = intercept + slope·x, least squares.
* :func:`robust_line`: the same after dropping points more than ``k`` robust standard
  deviations (1.4826 × the median absolute residual) off the first line; their indices.
* :func:`signature`: daily heat (or electricity) against the day's mean outdoor temperature;
  the **balance point** is where the line reaches zero: above it, the house needs no heating.
* :func:`curve_hint`: how far the forward temperature the pump runs at an outdoor temperature
  is from what kept the house at the room target, from a plane indoor ~ forward + outdoor
  fitted over the heating hours (needs an indoor sensor).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

#: fewer points than this carry no line
MIN_POINTS = 3
#: robust standard deviations off the line that make a point an outlier
OUTLIER_K = 3.0


@dataclass(frozen=True, slots=True)
class Line:
    slope: float
    intercept: float
    r2: float  # 1: every point on the line; 0: the line explains nothing
    n: int  # points it rests on

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x

    def x_at(self, y: float) -> float | None:
        """Where the line reaches ``y`` (None: a flat line never does)."""
        return None if self.slope == 0 else (y - self.intercept) / self.slope

    def as_dict(self) -> dict[str, float | int]:
        return {"slope": round(self.slope, 4), "intercept": round(self.intercept, 3), "r2": round(self.r2, 3),
                "n": self.n}


Point = tuple[float, float]


def fit_line(points: Sequence[Point]) -> Line | None:
    """Least squares; None with fewer than :data:`MIN_POINTS` points or all at one x."""
    pts = [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]
    n = len(pts)
    if n < MIN_POINTS:
        return None
    mx = math.fsum(x for x, _ in pts) / n
    my = math.fsum(y for _, y in pts) / n
    sxx = math.fsum((x - mx) ** 2 for x, _ in pts)
    if sxx <= 1e-12 * max(1.0, mx * mx) * n:
        return None
    sxy = math.fsum((x - mx) * (y - my) for x, y in pts)
    syy = math.fsum((y - my) ** 2 for _, y in pts)
    slope = sxy / sxx
    r2 = 1.0 if syy == 0 else max(0.0, min(1.0, sxy * sxy / (sxx * syy)))
    return Line(slope, my - slope * mx, r2, n)


def robust_line(points: Sequence[Point], k: float = OUTLIER_K) -> tuple[Line | None, list[int]]:
    """:func:`fit_line` after dropping the outliers of a first fit; (line, outliers' indices)."""
    first = fit_line(points)
    if first is None:
        return None, []
    residuals = [abs(y - first.at(x)) for x, y in points]
    sigma = 1.4826 * statistics.median(residuals)
    if sigma == 0:
        # more than half the points exactly on the line: the others are off it
        out = [i for i, r in enumerate(residuals) if r > 1e-9 * max(1.0, abs(first.intercept))]
    else:
        out = [i for i, r in enumerate(residuals) if r > k * sigma]
    if not out:
        return first, []
    kept = [p for i, p in enumerate(points) if i not in set(out)]
    line = fit_line(kept)
    return (line, out) if line is not None else (first, [])


@dataclass(frozen=True, slots=True)
class Signature:
    """A house's heat signature: kWh a day against the day's mean outdoor temperature."""

    line: Line
    balance_point_c: float | None  # outdoor temperature where the need reaches zero
    kwh_per_k: float  # more per day for each degree colder (the line's slope, sign flipped)
    outliers: list[int]  # indices of the days off the line (holidays, a cold snap's add-heat...)

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line.as_dict(),
                "balance_point_c": None if self.balance_point_c is None else round(self.balance_point_c, 1),
                "kwh_per_k": round(self.kwh_per_k, 2), "outliers": self.outliers}


def signature(days: Sequence[Point], max_outdoor_c: float | None = None) -> Signature | None:
    """``days``: (mean outdoor °C, kWh) per day. Days warmer than ``max_outdoor_c`` (summer:
    hot water only) are left out of the fit but not counted as outliers. None when the days
    cannot carry a line, or it does not fall with warmer weather (then there is no balance point
    to speak of: a summer-only period, or a house heated by something else)."""
    idx = [i for i, (x, _) in enumerate(days) if max_outdoor_c is None or x <= max_outdoor_c]
    line, out = robust_line([days[i] for i in idx])
    if line is None or line.slope >= 0:
        return None
    balance = line.x_at(0.0)
    return Signature(line, balance, -line.slope, [idx[i] for i in out])


@dataclass(frozen=True, slots=True)
class CurveHint:
    outdoor_c: float  # where the comparison is made (e.g. -10)
    forward_c: float  # the forward the pump runs there (the fitted curve)
    needed_c: float  # the forward that kept the house at the room target there
    room_c: float  # the room target
    n: int  # heating hours it rests on

    @property
    def difference_k(self) -> float:
        """Positive: the pump runs warmer than needed (lower the curve); negative: colder."""
        return self.forward_c - self.needed_c

    def as_dict(self) -> dict[str, float | int]:
        return {"outdoor_c": self.outdoor_c, "forward_c": round(self.forward_c, 1), "needed_c": round(self.needed_c, 1),
                "room_c": self.room_c, "difference_k": round(self.difference_k, 1), "n": self.n}


def plane(rows: Sequence[tuple[float, float, float]]) -> tuple[float, float, float] | None:
    """z = a + b·x + c·y by least squares over (x, y, z) rows; None when x and y do not vary
    independently (the normal equations are singular)."""
    n = len(rows)
    if n < 4:
        return None
    mx = math.fsum(r[0] for r in rows) / n
    my = math.fsum(r[1] for r in rows) / n
    mz = math.fsum(r[2] for r in rows) / n
    sxx = math.fsum((r[0] - mx) ** 2 for r in rows)
    syy = math.fsum((r[1] - my) ** 2 for r in rows)
    sxy = math.fsum((r[0] - mx) * (r[1] - my) for r in rows)
    sxz = math.fsum((r[0] - mx) * (r[2] - mz) for r in rows)
    syz = math.fsum((r[1] - my) * (r[2] - mz) for r in rows)
    det = sxx * syy - sxy * sxy
    if det <= 1e-9 * max(1.0, sxx * syy):
        return None
    b = (sxz * syy - syz * sxy) / det
    c = (syz * sxx - sxz * sxy) / det
    return mz - b * mx - c * my, b, c


def curve_hint(hours: Sequence[tuple[float, float, float]], room_c: float, at_outdoor_c: float = -10.0,
               min_hours: int = 24) -> CurveHint | None:
    """``hours``: (outdoor °C, forward °C, indoor °C) per heating hour (means). The pump's curve
    is the line forward ~ outdoor; the house's answer is the plane indoor ~ forward + outdoor;
    the forward that keeps the house at ``room_c`` at ``at_outdoor_c`` is where the plane meets
    it. None with too few hours, no indoor response to the forward (b <= 0: the house did not
    get warmer with warmer water, so the data cannot say), or a curve that cannot be fitted."""
    if len(hours) < min_hours:
        return None
    curve = fit_line([(o, f) for o, f, _ in hours])
    house = plane([(f, o, i) for o, f, i in hours])
    if curve is None or house is None:
        return None
    a, b, c = house
    if b <= 0.01:
        return None
    needed = (room_c - a - c * at_outdoor_c) / b
    return CurveHint(at_outdoor_c, curve.at(at_outdoor_c), needed, room_c, len(hours))
