"""``heatpump-monitor simulate``: run simulated H66 gateways until Ctrl+C.

Wire it into a main parser with ``add_arguments(subparser)`` and ``main(args)``; it also runs
stand-alone: ``python -m heatpump_monitor.simulator.cli --brand ivt,nibe --port 8081``.

With ``--mqtt HOST[:PORT]`` the same gateways also publish their registers to that MQTT broker
(see :mod:`heatpump_monitor.simulator.mqtt`); ``--no-http`` leaves out the HTTP servers. The
MQTT password comes from ``--mqtt-password`` or ``$MQTT_PASSWORD`` and is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Sequence

from heatpump_monitor.providers.registry import BRANDS

from ..config import simulator_mqtt_password
from ..signals import on_stop_signals
from .model import FIRMWARES
from .server import FAULTS, SimGateway, make_gateways, serve

MQTT_DEFAULT_PORT = 1883


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


def parse_mqtt_address(text: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[V6]`` or ``[V6]:PORT`` -> (host, port); port default 1883."""
    text = text.strip()
    if not text:
        raise ValueError("--mqtt needs HOST[:PORT]")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not host or (rest and not rest.startswith(":")):
            raise ValueError(f"--mqtt {text!r}: expected [IPV6]:PORT")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:  # a bare host name, IPv4 address or IPv6 address
        host, port_text = text, ""
    if not host:
        raise ValueError(f"--mqtt {text!r}: no host")
    if port_text == "":
        return host, MQTT_DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"--mqtt {text!r}: port must be 1..65535")
    return host, int(port_text)


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
    parser.add_argument("--firmware", choices=FIRMWARES, default="current",
                        help="how numbers are written: current (signed JSON integers, counters above "
                             "65535; the default) or old (negatives wrapped to 0..65535)")
    mqtt = parser.add_argument_group("MQTT", "publish the gateways' registers to an MQTT broker as "
                                     "<mac>/HP/<index>, like an H66 gateway's MQTT client")
    mqtt.add_argument("--mqtt", default=None, metavar="HOST[:PORT]",
                      help=f"publish to this broker (default port {MQTT_DEFAULT_PORT}); HTTP is "
                           "still served unless --no-http")
    mqtt.add_argument("--no-http", action="store_true",
                      help="with --mqtt: do not serve the HTTP API")
    mqtt.add_argument("--mqtt-username", default=None, metavar="USER", help="MQTT user name")
    mqtt.add_argument("--mqtt-password", default=None, metavar="PASSWORD",
                      help="MQTT password (default: $MQTT_PASSWORD); never printed")
    mqtt.add_argument("--max-delay", type=float, default=2.0, metavar="SECONDS",
                      help="each MQTT message waits a random 0..SECONDS before it is published (default 2)")
    mqtt.add_argument("--garbage", type=float, default=0.0, metavar="P",
                      help="probability 0..1 that an MQTT register message carries garbage (default 0)")
    mqtt.add_argument("--drop-every", type=float, default=0.0, metavar="SECONDS",
                      help="force an abrupt MQTT disconnect every SECONDS (default 0: never)")
    mqtt.add_argument("--mqtt-payload", choices=("raw", "scaled"), default="raw",
                      help="raw: integers as in /api/alldata (540); scaled: real units as some H66 "
                           "firmware publishes them (54.0) (default raw)")


def main(args: argparse.Namespace) -> int:
    """Run the simulated gateways until SIGINT/SIGTERM. Returns the exit code."""
    mqtt_options: dict | None = None
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
        mqtt_address = getattr(args, "mqtt", None)
        if mqtt_address is not None:
            host, port = parse_mqtt_address(mqtt_address)
            password = args.mqtt_password if args.mqtt_password is not None else simulator_mqtt_password()
            if args.max_delay < 0:
                raise ValueError("--max-delay must be >= 0")
            if not 0 <= args.garbage <= 1:
                raise ValueError("--garbage must be a probability 0..1")
            if args.drop_every < 0:
                raise ValueError("--drop-every must be >= 0")
            if password is not None and args.mqtt_username is None:
                raise ValueError("an MQTT password needs --mqtt-username")
            mqtt_options = dict(host=host, port=port, username=args.mqtt_username, password=password,
                                max_delay=args.max_delay, garbage=args.garbage,
                                drop_every=args.drop_every, seed=args.seed,
                                payload=getattr(args, "mqtt_payload", "raw"))
        elif getattr(args, "no_http", False):
            raise ValueError("--no-http needs --mqtt (nothing would be simulated)")
        gateways = make_gateways(
            brands, args.gateways, port=args.port, seed=args.seed, api_mode=args.api_mode,
            time_scale=args.time_scale, fault=args.fault, faults=faults, latency=args.latency,
            firmware=getattr(args, "firmware", "current"))
    except ValueError as exc:
        print(f"heatpump-monitor simulate: error: {exc}", file=sys.stderr)
        return 2
    http = not getattr(args, "no_http", False)
    try:
        asyncio.run(_run(gateways, args.host, http, mqtt_options))
    except OSError as exc:
        print(f"heatpump-monitor simulate: error: cannot listen on {args.host}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl+C while stopping
        pass
    return 0


async def _run(gateways: list[SimGateway], host: str, http: bool, mqtt_options: dict | None) -> None:
    """Serve HTTP (unless ``http`` is false) and publish over MQTT (when ``mqtt_options``)
    until SIGINT/SIGTERM."""
    def announce(line: str) -> None:
        print(line, flush=True)

    stop = asyncio.Event()
    tasks: list[asyncio.Future] = []
    # serve() handles the signals when it runs; without it we do
    signals = contextlib.nullcontext() if http else on_stop_signals(lambda sig: stop.set())
    with signals:
        if mqtt_options is not None:
            from .mqtt import make_publishers, run_publishers

            publishers = make_publishers(gateways, **mqtt_options)
            for pub in publishers:
                announce(f"Simulated {pub.gateway.brand} gateway on MQTT {pub.broker} as {pub.register_topics}")
            tasks.append(asyncio.ensure_future(run_publishers(publishers, stop)))
        if http:
            tasks.append(asyncio.ensure_future(serve(gateways, host, announce=announce, stop=stop)))
        if not http:
            announce("Ctrl+C stops.")
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        for t in tasks:  # report a failure (e.g. the HTTP port is taken)
            if not t.cancelled() and (failure := t.exception()) is not None:
                raise failure


if __name__ == "__main__":  # pragma: no cover
    _parser = argparse.ArgumentParser(prog="heatpump-monitor simulate",
                                      description="Run simulated Husdata H66 gateways.")
    add_arguments(_parser)
    sys.exit(main(_parser.parse_args()))
