"""``heatpump-monitor verify --since 1h``: do the charts have gaps?

For every (gateway, source) in the store selected by the environment (embedded, InfluxDB 1.x
or 2.x), over the window of ``--since`` that ends where the current tick starts (the tick
still being polled is left out): [T - since, T) with T = now rounded down to the grid.

* expected ticks: the multiples of the interval in the window ("1h" at 30 s: 120), from the
  source's first snapshot ever on: the ticks before it are "not yet collecting", reported
  on their own line and not counted as missing (a collector started 10 minutes ago is not
  at 17% over "1h");
* present: expected ticks with a snapshot exactly on the tick; coverage = present / expected;
* registers per snapshot (min/median/max), the missing ranges (gaps), and snapshots NOT on
  the grid (time % interval != 0: misalignment, like the old MQTT rounding - these do not
  count as present);
* where a gateway has both ``api`` and ``mqtt``: on how many ticks both have a snapshot,
  and the largest absolute difference per register over those ticks.

Exit code (:data:`EXIT_CODES`): 0 when every gateway/source has coverage >= ``--min-coverage``,
1 otherwise (also when there is nothing to check), 2 when it cannot run: a bad argument or
variable, or a store it cannot read (one line on stderr).

:func:`analyse` is the pure computation (no store, no clock); :func:`render` formats it.
"""

from __future__ import annotations

import argparse
import math
import re
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Mapping, Sequence

from .config import DEFAULT_INTERVAL_S, ConfigError, load_verify_config, parse_interval
from .model import Snapshot
from .stores.base import SinkError

DEFAULT_SINCE = "1h"
DEFAULT_MIN_COVERAGE = 99.0
COMPARED_SOURCES = ("api", "mqtt")
GAPS_SHOWN = 5
DIFFS_SHOWN = 5

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+)([smhdw])")

EXIT_CODES = """exit codes:
  0  every gateway/source at or above --min-coverage
  1  coverage below --min-coverage somewhere, or no snapshots to check
  2  cannot run: a bad argument or variable, or the store cannot be read"""


# -- report data ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing ticks ``first_ms`` .. ``last_ms`` (both missing, inclusive): ``ticks`` of them."""

    first_ms: int
    last_ms: int
    ticks: int


@dataclass(slots=True)
class SourceReport:
    gateway: str
    source: str
    brand: str
    expected: int  # grid ticks in the window from the source's first snapshot on
    present: int  # of those, ticks with a snapshot exactly on the tick
    snapshots: int  # every snapshot in the window (on and off the grid)
    off_grid: int  # snapshots with time % interval != 0
    first_ms: int | None  # first snapshot in the window
    last_ms: int | None
    registers_min: int | None
    registers_median: float | None
    registers_max: int | None
    gaps: list[Gap] = field(default_factory=list)
    not_collecting: int = 0  # window ticks before the source's first snapshot: not expected
    started_ms: int | None = None  # that first snapshot, when it is inside the window

    @property
    def missing(self) -> int:
        return self.expected - self.present

    @property
    def coverage(self) -> float:
        """Percent of expected ticks present (100 when no tick is expected)."""
        return 100.0 if self.expected == 0 else 100.0 * self.present / self.expected

    def meets(self, min_coverage: float) -> bool:
        # integer-exact: 110/120 vs 91.66..% has no rounding at the boundary
        return self.present * 100 >= min_coverage * self.expected


@dataclass(frozen=True, slots=True)
class RegisterDiff:
    """The largest |a - b| of one register over the shared ticks, and where it was."""

    register: str
    max_diff: float
    at_ms: int
    a: float
    b: float


@dataclass(slots=True)
class Comparison:
    gateway: str
    source_a: str
    source_b: str
    expected: int
    both: int  # expected ticks where both sources have a snapshot
    only_a: int
    only_b: int
    registers_compared: int  # registers present in both on at least one shared tick
    diffs: list[RegisterDiff] = field(default_factory=list)  # largest difference first
    only_in_a: list[str] = field(default_factory=list)  # registers never in b on a shared tick
    only_in_b: list[str] = field(default_factory=list)

    @property
    def both_share(self) -> float:
        return 100.0 if self.expected == 0 else 100.0 * self.both / self.expected

    @property
    def identical(self) -> int:
        return sum(1 for d in self.diffs if d.max_diff == 0)


@dataclass(slots=True)
class Report:
    start_ms: int  # window start as asked (not necessarily on the grid)
    end_ms: int  # exclusive; verify passes the start of the current tick
    interval_ms: int
    first_tick_ms: int
    expected: int
    sources: list[SourceReport] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)

    def ok(self, min_coverage: float) -> bool:
        return bool(self.sources) and all(s.meets(min_coverage) for s in self.sources)

    def failing(self, min_coverage: float) -> list[SourceReport]:
        return [s for s in self.sources if not s.meets(min_coverage)]


# -- computation ------------------------------------------------------------------------------


def grid(start_ms: int, end_ms: int, interval_ms: int) -> tuple[int, int]:
    """(first tick >= start_ms, number of ticks < end_ms) on the interval grid."""
    first = -(-start_ms // interval_ms) * interval_ms
    n = 0 if end_ms <= first else -(-(end_ms - first) // interval_ms)
    return first, n


def _gaps(present: Sequence[int], first: int, n: int, interval_ms: int) -> list[Gap]:
    """Missing runs between the sorted on-grid ``present`` ticks of [first, first + n*I)."""
    gaps: list[Gap] = []
    prev = first - interval_ms  # a virtual tick just before the window
    for t in [*present, first + n * interval_ms]:  # and one just after it
        missing = (t - prev) // interval_ms - 1
        if missing > 0:
            gaps.append(Gap(prev + interval_ms, t - interval_ms, missing))
        prev = t
    return gaps


def analyse(snapshots_by_key: Mapping[tuple[str, str], Iterable[Snapshot]],
            start_ms: int, end_ms: int, interval_ms: int,
            started: Mapping[tuple[str, str], int] | None = None) -> Report:
    """Coverage, gaps, off-grid snapshots and api/mqtt agreement over [start_ms, end_ms).

    ``snapshots_by_key`` maps (gateway, source) to its snapshots (any order; those outside
    the window are ignored). Expected ticks are the multiples of ``interval_ms`` in the window;
    the caller leaves out the current, unfinished tick by passing its start as ``end_ms``.
    ``started`` maps (gateway, source) to its first snapshot ever: the ticks before it are
    not expected of it (a source not in it is taken to have collected before the window).
    """
    if interval_ms <= 0:
        raise ValueError("interval_ms must be positive")
    first, n = grid(start_ms, end_ms, interval_ms)
    report = Report(start_ms=start_ms, end_ms=end_ms, interval_ms=interval_ms, first_tick_ms=first, expected=n)
    on_grid: dict[tuple[str, str], dict[int, Snapshot]] = {}
    for key in sorted(snapshots_by_key):
        gateway, source = key
        snaps = [s for s in snapshots_by_key[key] if start_ms <= s.time_ms < end_ms]
        ticks: dict[int, Snapshot] = {}
        off = 0
        for s in snaps:
            if s.time_ms % interval_ms == 0:
                ticks[s.time_ms] = s
            else:
                off += 1
        on_grid[key] = ticks
        counts = [len(s.values) for s in snaps]
        times = [s.time_ms for s in snaps]
        present = sorted(ticks)
        since = (started or {}).get(key)
        own_first, own_n = (first, n) if since is None or since <= first else grid(since, end_ms, interval_ms)
        report.sources.append(SourceReport(
            gateway=gateway, source=source,
            brand=max((s.brand for s in snaps), default=""),
            expected=own_n, present=len(present), snapshots=len(snaps), off_grid=off,
            first_ms=min(times, default=None), last_ms=max(times, default=None),
            registers_min=min(counts, default=None),
            registers_median=statistics.median(counts) if counts else None,
            registers_max=max(counts, default=None),
            gaps=_gaps(present, own_first, own_n, interval_ms),
            not_collecting=n - own_n, started_ms=since if own_first != first else None,
        ))
    a_src, b_src = COMPARED_SOURCES
    for gateway in sorted({g for g, _ in on_grid}):
        if (gateway, a_src) in on_grid and (gateway, b_src) in on_grid:
            report.comparisons.append(_compare(gateway, a_src, b_src, on_grid[(gateway, a_src)],
                                               on_grid[(gateway, b_src)], n))
    return report


def _compare(gateway: str, a_src: str, b_src: str, a: dict[int, Snapshot], b: dict[int, Snapshot],
             expected: int) -> Comparison:
    shared = sorted(a.keys() & b.keys())
    best: dict[str, RegisterDiff] = {}
    seen_a: set[str] = set()
    seen_b: set[str] = set()
    for t in shared:
        va, vb = a[t].values, b[t].values
        seen_a.update(va)
        seen_b.update(vb)
        for reg in va.keys() & vb.keys():
            x, y = va[reg], vb[reg]
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            d = abs(x - y)
            cur = best.get(reg)
            if cur is None or d > cur.max_diff:
                best[reg] = RegisterDiff(reg, d, t, x, y)
    return Comparison(
        gateway=gateway, source_a=a_src, source_b=b_src, expected=expected, both=len(shared),
        only_a=len(a.keys() - b.keys()), only_b=len(b.keys() - a.keys()),
        registers_compared=len(best),
        diffs=sorted(best.values(), key=lambda d: (-d.max_diff, d.register)),
        only_in_a=sorted(seen_a - seen_b), only_in_b=sorted(seen_b - seen_a),
    )


# -- rendering --------------------------------------------------------------------------------


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _stamp(ms: int) -> str:
    """2025-11-28 10:00:30Z (milliseconds only when there are any)."""
    s = _utc(ms).strftime("%Y-%m-%d %H:%M:%S")
    return (s + f".{ms % 1000:03d}Z") if ms % 1000 else s + "Z"


def _clock(ms: int, with_date: bool) -> str:
    s = _stamp(ms)
    return s if with_date else s[11:]


def format_duration(ms: int) -> str:
    """1w2d / 1h30m / 45s / 0s, largest units first."""
    s, out = ms // 1000, []
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if s >= size:
            out.append(f"{s // size}{unit}")
            s %= size
    return "".join(out) or "0s"


def _num(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e15 else repr(v)


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    return lines


def _gap_text(g: Gap, with_date: bool) -> str:
    """'10:00:30Z..10:02:00Z (4 ticks)', or '10:00:30Z (1 tick)'."""
    if g.ticks == 1:
        return f"{_clock(g.first_ms, with_date)} (1 tick)"
    return f"{_clock(g.first_ms, with_date)}..{_clock(g.last_ms, with_date)} ({g.ticks} ticks)"


def render(report: Report, min_coverage: float = DEFAULT_MIN_COVERAGE) -> str:
    """The report as aligned text (UTC times)."""
    r = report
    with_date = _utc(r.first_tick_ms).date() != _utc(max(r.first_tick_ms, r.end_ms - 1)).date()
    out = [
        f"Window {_stamp(r.start_ms)} .. {_stamp(r.end_ms)} ({format_duration(r.end_ms - r.start_ms)}), "
        f"interval {format_duration(r.interval_ms)}: {r.expected} ticks expected "
        f"(the current tick from {_clock(r.end_ms, with_date)} is not counted)",
        "",
    ]
    if not r.sources:
        out.append("No snapshots in the store.")
        return "\n".join(out)
    rows = [["gateway", "source", "first in window", "expected", "present", "coverage", "registers min/med/max",
             "off-grid", "missing", "gaps"]]
    for s in r.sources:
        regs = "-" if s.registers_min is None else f"{s.registers_min}/{s.registers_median:g}/{s.registers_max}"
        rows.append([
            s.gateway, s.source, "-" if s.first_ms is None else _stamp(s.first_ms),
            str(s.expected), str(s.present), f"{s.coverage:.2f}%", regs, str(s.off_grid), str(s.missing),
            str(len(s.gaps)),
        ])
    out += _table(rows, right={3, 4, 5, 7, 8, 9})
    late = [s for s in r.sources if s.not_collecting and s.started_ms is not None]
    if late:
        out += ["", "Not yet collecting (ticks before the first snapshot; not expected, not counted as missing):"]
        out += [f"  {s.gateway} {s.source}: started at {_stamp(s.started_ms)}, {s.not_collecting} "
                f"tick{'s' if s.not_collecting != 1 else ''} ({format_duration(s.not_collecting * r.interval_ms)}) "
                "of the window before" for s in late if s.started_ms is not None]
    with_gaps = [s for s in r.sources if s.gaps]
    if with_gaps:
        out += ["", f"Gaps (missing ticks, first..last; at most the {GAPS_SHOWN} largest per source):"]
        width = max(len(f"{s.gateway} {s.source}") for s in with_gaps)
        for s in with_gaps:
            shown = sorted(sorted(s.gaps, key=lambda g: (-g.ticks, g.first_ms))[:GAPS_SHOWN],
                           key=lambda g: g.first_ms)
            lines = [_gap_text(g, with_date) for g in shown]
            more = len(s.gaps) - len(shown)
            if more:
                lines.append(f"... and {more} more gap{'s' if more != 1 else ''}")
            label = f"{s.gateway} {s.source}"
            for i, text in enumerate(lines):
                out.append(f"  {(label if i == 0 else '').ljust(width)}  {text}")
    with_off = [s for s in r.sources if s.off_grid]
    if with_off:
        out += ["", "Snapshots off the grid (time % interval != 0, a sign of misaligned timestamps):"]
        out += [f"  {s.gateway} {s.source}: {s.off_grid} of {s.snapshots}" for s in with_off]
    for c in r.comparisons:
        out += [
            "",
            f"{c.source_a} vs {c.source_b} on {c.gateway}: both at {c.both}/{c.expected} ticks "
            f"({c.both_share:.2f}%), {c.source_a} only {c.only_a}, {c.source_b} only {c.only_b}; "
            f"{c.registers_compared} registers compared, {c.identical} identical",
        ]
        differing = [d for d in c.diffs if d.max_diff > 0][:DIFFS_SHOWN]
        if differing:
            rows = [["register", "max |diff|", "at", c.source_a, c.source_b]]
            rows += [[d.register, _num(d.max_diff), _clock(d.at_ms, with_date), _num(d.a), _num(d.b)]
                     for d in differing]
            out += ["  " + line for line in _table(rows, right={1, 3, 4})]
        for src, names in ((c.source_a, c.only_in_a), (c.source_b, c.only_in_b)):
            if names:
                listed = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
                out.append(f"  only in {src}: {listed}")
    failing = r.failing(min_coverage)
    out.append("")
    if failing:
        out.append(f"FAIL: {len(failing)} of {len(r.sources)} gateway/source below {min_coverage:g}% coverage: "
                   + ", ".join(f"{s.gateway} {s.source} ({s.coverage:.2f}%)" for s in failing))
    else:
        out.append(f"OK: all {len(r.sources)} gateway/source at or above {min_coverage:g}% coverage")
    return "\n".join(out)


# -- command line -----------------------------------------------------------------------------


def parse_duration(text: str) -> int:
    """'30m', '1h', '2d', '1w', '1h30m', '90s' -> seconds (> 0)."""
    t = text.strip().lower()
    if not t or _DURATION.sub("", t) != "":
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: expected e.g. 30m, 1h, 2d, 1w")
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(t))
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: must be longer than 0s")
    return seconds


def interval_arg(text: str) -> int:
    """An --interval option, read by the same rule as COLLECTION_INTERVAL."""
    try:
        return parse_interval(text, "--interval")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _percent(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0 <= v <= 100:
        raise argparse.ArgumentTypeError(f"invalid coverage {text!r}: expected a percentage from 0 to 100")
    return v


def _now(text: str) -> int:
    """Epoch milliseconds, or ISO-8601 (UTC when no offset)."""
    t = text.strip()
    if re.fullmatch(r"-?\d+", t):
        return int(t)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid --now {text!r}: expected epoch ms or ISO-8601") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return round(dt.timestamp() * 1000)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=parse_duration, default=parse_duration(DEFAULT_SINCE), metavar="DURATION",
                        help=f"window before now, e.g. 30m, 1h, 2d, 1w (default {DEFAULT_SINCE})")
    parser.add_argument("--interval", type=interval_arg, default=None, metavar="SECONDS",
                        help=f"poll interval (default: $COLLECTION_INTERVAL or {DEFAULT_INTERVAL_S})")
    parser.add_argument("--min-coverage", type=_percent, default=DEFAULT_MIN_COVERAGE, metavar="PERCENT",
                        help=f"exit 1 when any gateway/source is below this (default {DEFAULT_MIN_COVERAGE:g})")
    parser.add_argument("--gateway", default=None, help="check only this gateway (as stored, e.g. 192.168.1.100)")
    parser.add_argument("--store", default=None, metavar="PATH",
                        help="check this embedded store file, e.g. the demo's data/demo.sqlite3 "
                             "(default: the store the variables select)")
    # for tests and reproducible reports: the moment to count back from (epoch ms or ISO-8601)
    parser.add_argument("--now", type=_now, default=None, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heatpump-monitor verify",
                                     description="Check the stored snapshots for gaps (charts without holes).",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def _error(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def main(args: argparse.Namespace) -> int:
    from .stores import ReaderError, describe, make_reader

    try:
        cfg = load_verify_config(store_path=args.store)
    except ConfigError as exc:
        return _error(str(exc))
    store = cfg.store
    interval_s = args.interval or cfg.interval_s
    interval_ms = interval_s * 1000
    since_ms = args.since * 1000
    if since_ms < interval_ms:
        return _error(f"--since {format_duration(since_ms)} is shorter than the interval "
                      f"({interval_s}s): no complete tick to check")
    now_ms = args.now if args.now is not None else int(time.time() * 1000)
    # the window ends where the current (unfinished) tick starts, and spans --since before
    # it: "1h" at 30 s is always 120 ticks, whatever the phase of "now" within its tick
    end_ms = now_ms // interval_ms * interval_ms
    start_ms = end_ms - since_ms

    reader = make_reader(store)
    try:
        infos = reader.gateways()
        if args.gateway is not None:
            known = sorted({i.gateway for i in infos})
            infos = [i for i in infos if i.gateway == args.gateway]
            if not infos:
                print(f"Gateway {args.gateway!r} has no snapshots in {describe(store)}"
                      + (f" (stored: {', '.join(known)})" if known else ""))
                return 1
        data = {(i.gateway, i.source): list(reader.snapshots(i.gateway, start_ms, end_ms, source=i.source))
                for i in infos}
    except (ReaderError, SinkError) as exc:  # their messages name the store already
        return _error(str(exc))
    except (sqlite3.Error, OSError) as exc:
        return _error(f"cannot read {describe(store)}: {exc}")
    finally:
        reader.close()

    started = {(i.gateway, i.source): i.first_ms for i in infos}
    report = analyse(data, start_ms, end_ms, interval_ms, started)
    print(f"Store: {describe(store)}")
    print(render(report, args.min_coverage))
    return 0 if report.ok(args.min_coverage) else 1


if __name__ == "__main__":  # python -m heatpump_monitor.verify
    sys.exit(main(build_parser().parse_args()))
