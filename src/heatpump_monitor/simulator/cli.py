"""``heatpump-monitor simulate``: run simulated H66 gateways until Ctrl+C.

Wire it into a main parser with ``add_arguments(subparser)`` and ``main(args)``; it also runs
stand-alone: ``python -m heatpump_monitor.simulator.cli --brand ivt,nibe --port 8081``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Sequence

from heatpump_monitor.providers.registry import BRANDS

from .server import FAULTS, make_gateways, serve


def _brands(values: Sequence[str] | None) -> list[str]:
    out = [b.strip().lower() for v in (values or ["thermia"]) for b in v.split(",") if b.strip()]
    bad = [b for b in out if b not in BRANDS]
    if bad:
        raise ValueError(f"unknown brand {bad[0]!r}; accepted: {', '.join(BRANDS)}")
    return out


def _faults(text: str | None) -> list[str | None] | None:
    if not text:
        return None
    out: list[str | None] = []
    for f in text.split(","):
        f = f.strip().lower()
        if f in ("", "none", "ok"):
            out.append(None)
        elif f in FAULTS:
            out.append(f)
        else:
            raise ValueError(f"unknown fault {f!r}; accepted: none, {', '.join(FAULTS)}")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``simulate`` subcommand."""
    parser.add_argument("--brand", action="append", metavar="BRAND",
                        help=f"brand of the simulated pump ({'|'.join(BRANDS)}); repeat or "
                             "comma-separate for several (default thermia)")
    parser.add_argument("--gateways", type=int, default=None, metavar="N",
                        help="how many gateways (default: one per brand; brands cycle)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080,
                        help="port of the first gateway; the next ones use port+1... (default 8080; 0 = free ports)")
    parser.add_argument("--time-scale", type=float, default=1.0, metavar="X",
                        help="simulated seconds per real second (default 1; 60 = a minute per second)")
    parser.add_argument("--seed", type=int, default=1, help="model seed; gateway i uses seed+i (default 1)")
    parser.add_argument("--api-mode", type=int, choices=(1, 2), default=1,
                        help="1 read-only, 2 read/write (/api/set allowed) (default 1)")
    parser.add_argument("--fault", choices=sorted(FAULTS), default=None,
                        help="answer /api/alldata with this fault on every gateway")
    parser.add_argument("--faults", default=None, metavar="LIST",
                        help="per-gateway faults, comma-separated and cycling, 'none' for a healthy one "
                             "(e.g. none,http500,timeout); overrides --fault")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                        help="delay before every gateway answer (default 0)")


def main(args: argparse.Namespace) -> int:
    """Run the simulated gateways until SIGINT/SIGTERM. Returns the exit code."""
    try:
        brands = _brands(args.brand)
        faults = _faults(args.faults)
        if args.time_scale <= 0:
            raise ValueError("--time-scale must be positive")
        if args.latency < 0:
            raise ValueError("--latency must be >= 0")
        if args.gateways is not None and args.gateways < 1:
            raise ValueError("--gateways must be at least 1")
        if not 0 <= args.port <= 65535:
            raise ValueError("--port must be 0..65535")
        gateways = make_gateways(
            brands, args.gateways, port=args.port, seed=args.seed, api_mode=args.api_mode,
            time_scale=args.time_scale, fault=args.fault, faults=faults, latency=args.latency)
    except ValueError as exc:
        print(f"heatpump-monitor simulate: error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(gateways, args.host, announce=lambda line: print(line, flush=True)))
    except OSError as exc:
        print(f"heatpump-monitor simulate: error: cannot listen on {args.host}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl+C while stopping
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    _parser = argparse.ArgumentParser(prog="heatpump-monitor simulate",
                                      description="Run simulated Husdata H66 gateways.")
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
