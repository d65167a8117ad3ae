"""``heatpump-monitor summary``: the summaries on the command line, as a table, CSV or JSON
(the same list of periods as ``/api/v1/summary``)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from datetime import date, datetime, timedelta
from typing import Any

from ..config import ConfigError, load_analytics_config, load_verify_config
from ..stores import describe, make_reader
from ..stores.base import ReaderError
from .prices import PriceFileError, load_prices
from .summary import CSV_HEADER, MAX_DAYS, Period, Summarizer, csv_row, gateway_doc, parse_days

def since_arg(text: str) -> int:
    """--since: a number of days (30d) or weeks (4w), today included (as the API's since=)."""
    try:
        return parse_days(text, MAX_DAYS)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date such as 2026-11-30") from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser("summary", help="runtime, starts, short-cycling, add-heat, hot water, energy, COP and cost "
                                       "per local day (or hour, or the whole period)")
    p.add_argument("--store", default=None, metavar="PATH",
                   help="an embedded store file, e.g. the demo's data/demo.sqlite3 (default: the store the variables select)")
    p.add_argument("--gateway", default=None, help="one gateway (default: every gateway in the store)")
    p.add_argument("--source", default=None, help="api or mqtt (default: the gateway's source with most snapshots)")
    p.add_argument("--since", type=since_arg, default=7, metavar="N[d|w]",
                   help="the last N local days, today included (default 7d)")
    p.add_argument("--from", dest="first", type=date_arg, default=None, metavar="DATE", help="first local day (instead of --since)")
    p.add_argument("--to", dest="last", type=date_arg, default=None, metavar="DATE", help="last local day (default today)")
    p.add_argument("--by", choices=["day", "hour", "period"], default="day", help="one row per day (default), hour or the whole period")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="CSV with every figure")
    out.add_argument("--json", action="store_true", help="JSON: a list of periods per gateway")
    p.set_defaults(func=cmd_summary)


def cmd_summary(args: argparse.Namespace) -> int:
    try:
        config = load_analytics_config()
        store = load_verify_config(store_path=args.store).store
        prices = load_prices(config.price_per_kwh, config.currency, config.price_file, config.tz)
    except (ConfigError, PriceFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    today = datetime.now(config.tz).date()
    last = args.last or today
    first = args.first or (last - timedelta(days=args.since - 1))
    if first > last or (last - first).days >= MAX_DAYS or (args.by == "hour" and (last - first).days >= 31):
        print(f"error: --from {first} --to {last}: expected a first day on or before the last, at most "
              f"{MAX_DAYS} days (31 by hour)", file=sys.stderr)
        return 2
    reader = make_reader(store)
    try:
        s = Summarizer(reader, config, prices)
        infos = [i for i in reader.gateways() if args.gateway in (None, i.gateway) and args.source in (None, i.source)]
        if args.gateway and not infos:
            print(f"error: no data for gateway {args.gateway!r} in {describe(store)}", file=sys.stderr)
            return 1
        if not args.source:  # one series per gateway: the source with most snapshots
            best: dict[str, Any] = {}
            for i in infos:
                if i.gateway not in best or i.snapshots > best[i.gateway].snapshots:
                    best[i.gateway] = i
            infos = list(best.values())
        t0 = time.monotonic()
        results = [(i, s.periods(i, first, last, args.by)) for i in infos]
    except ReaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        reader.close()
    if args.json:
        json.dump([gateway_doc(i, ps, config) for i, ps in results], sys.stdout, indent=1)
        print()
    elif args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(CSV_HEADER)
        for i, ps in results:
            for p in ps:
                w.writerow(csv_row(i, p))
    else:
        if not results:
            print(f"No gateways in {describe(store)}.")
        for i, ps in results:
            _table(i.gateway, i.brand, ps, config.currency)
        print(f"\n* estimated. {len(results)} gateway(s), computed in {time.monotonic() - t0:.1f} s; "
              "--csv or --json for every figure.")
    return 0


def _fmt(p: Period, key: str, spec: str = "g") -> str:
    v = p.values.get(key)
    if v is None:
        return "-"
    text = format(v, spec) if isinstance(v, (int, float)) and not isinstance(v, bool) else ("yes" if v is True else "no" if v is False else str(v))
    return text + ("*" if key in p.values.get("estimated", ()) else "")  # type: ignore[operator]


def _table(gateway: str, brand: str, periods: list[Period], currency: str) -> None:
    print(f"\n{gateway} ({brand})")
    head = ["period", "starts", "starts/h", "run h", "median cycle min", "short-cycling", "add-heat h",
            "hot-water cycles", "kWh", "COP", f"cost {currency}", "outdoor C", "unknown h"]
    rows = [head]
    for p in periods:
        label = p.start.strftime("%Y-%m-%d %H:%M") if (p.end - p.start).total_seconds() <= 3600 * 1.5 else \
            p.start.strftime("%Y-%m-%d") + ("" if (p.end.date() - p.start.date()).days <= 1 else f"..{(p.end - timedelta(days=1)).date()}")
        rows.append([label, _fmt(p, "compressor_starts"), _fmt(p, "starts_per_hour", ".2f"),
                     _fmt(p, "compressor_runtime_h", ".1f"), _fmt(p, "cycle_median_min", ".1f"),
                     _fmt(p, "short_cycling"), _fmt(p, "add_heat_h", ".1f"), _fmt(p, "hot_water_cycles"),
                     _fmt(p, "energy_kwh", ".1f"), _fmt(p, "cop", ".2f"), _fmt(p, "cost", ".2f"),
                     _fmt(p, "outdoor_mean", ".1f"), _fmt(p, "unknown_h", ".1f")])
    widths = [max(len(r[k]) for r in rows) for k in range(len(head))]
    for r in rows:
        print("  ".join(c.rjust(w) if k else c.ljust(w) for k, (c, w) in enumerate(zip(r, widths))).rstrip())
