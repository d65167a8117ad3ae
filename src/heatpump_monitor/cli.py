"""The ``heatpump-monitor`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Sequence

# httpx imports its own command-line tool (click, rich, pygments: ~6 MB of the collector's
# memory) whenever they are installed; no command here uses it. None in sys.modules makes that
# import fail, which httpx handles (it is how httpx behaves without its [cli] extra).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from . import __version__  # noqa: E402  (after the line above: it must precede any import of httpx)
from .config import ConfigError, env_secrets, load_collector_config, log_settings
from .logs import setup_logging
from .providers import BRANDS, Provider, default_register, load_provider, normalize_index

log = logging.getLogger("heatpump_monitor")

EXIT_BROKEN_PIPE = 141


def cmd_collect(args: argparse.Namespace) -> int:
    """The API or MQTT collector, configured by environment variables; runs until stopped."""
    from .config import load_mqtt_config
    from .pipeline.run import run_collector

    level, fmt = log_settings()
    setup_logging(level, secrets=env_secrets(), fmt=fmt)
    try:
        cfg = load_mqtt_config() if args.source == "mqtt" else load_collector_config()
    except ConfigError as exc:
        for line in exc.lines:
            log.error("%s", line)
        return 1
    logging.getLogger().setLevel(cfg.log_level)
    return asyncio.run(run_collector(cfg))


def cmd_demo(args: argparse.Namespace) -> int:
    from .config import demo_store_path
    from .demo import run_demo

    setup_logging("INFO")
    args.store = args.store or demo_store_path()
    return asyncio.run(run_demo(args))


def _history_arg(text: str) -> int:
    """demo --history: a duration (7d, 12h), or 0 for none."""
    from .verify import parse_duration

    return 0 if text.strip() == "0" else parse_duration(text)


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulator.cli import main as sim_main

    setup_logging("INFO")
    return sim_main(args)


def _effective_provider(args: argparse.Namespace) -> Provider | None:
    """The brand's registers with CONFIG_FILE's (or --config's) overrides, as the collector uses
    them; None after one error line per mistake in the overrides."""
    from .config import load_register_overrides
    from .providers.overrides import apply_overrides

    try:
        overrides = load_register_overrides(path=args.config, brand=args.brand)
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return None
    return apply_overrides(load_provider(args.brand), overrides)[0]  # checked by the loader


def _brand_arg(args: argparse.Namespace) -> bool:
    """--brand, else HEATPUMP_BRAND or CONFIG_FILE's brand:, else an error line."""
    if args.brand:
        return True
    from .config import configured_brand

    try:
        brand = configured_brand(path=args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    if brand not in BRANDS:
        print(f"error: give --brand ({', '.join(BRANDS)})", file=sys.stderr)
        return False
    args.brand = brand
    return True


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode a saved /api/alldata answer: a table (or --json) of index, name, raw, value, unit;
    --explain INDEX tells each step of one register."""
    from .sources.api import FetchError, parse_alldata

    if not _brand_arg(args):
        return 2
    provider = _effective_provider(args)
    if provider is None:
        return 1
    raw: dict[str, Any] = {}
    explain_raw: Any = None
    if args.explain and "=" in args.explain:
        args.explain, text = args.explain.split("=", 1)
        try:
            explain_raw = json.loads(text)
        except ValueError:
            print(f"error: --explain {args.explain}={text}: the value must be a JSON number", file=sys.stderr)
            return 2
    if args.file:
        try:
            raw = parse_alldata(Path(args.file).read_bytes())
        except (OSError, FetchError) as exc:
            print(f"error: {args.file}: {exc}", file=sys.stderr)
            return 1
    elif not args.explain:
        print("error: give the FILE holding the JSON of GET /api/alldata", file=sys.stderr)
        return 2
    if args.explain:
        return _explain(provider, args.explain, raw, explain_raw, args.json)
    decoded = provider.decode_poll(raw, store_unknown=True)
    rejected = {idx: cause for idx, _, cause in decoded.rejected}
    absent = set(decoded.absent)
    rows = []
    for key in sorted(raw, key=lambda k: str(k).upper()):
        idx = normalize_index(str(key)) or str(key)
        reg = provider.register(idx)
        shown = reg or (default_register(idx) if normalize_index(idx) else None)
        row: dict[str, Any] = {"index": idx, "name": shown.name if shown else None, "known": reg is not None,
                               "raw": raw[key], "value": None, "unit": shown.unit if shown else "",
                               "status": "ok", "text": None, "cause": None}
        if idx in rejected:
            row.update(status="dropped", cause=rejected[idx])
        elif shown is not None and shown.name in absent:
            row["status"] = "no sensor"
        elif shown is not None:
            v = decoded.values[shown.name]
            text = shown.text(v)
            if reg is not None and reg.index == provider.alarm_register and v == int(v):
                text = provider.alarm_text(int(v))
            row.update(value=v, text=text)
        rows.append(row)
    summary = {"decoded": sum(1 for r in rows if r["status"] == "ok" and r["known"]),
               "unknown": len(decoded.unknown), "no_sensor": len(decoded.absent),
               "dropped": len(decoded.rejected)}
    if args.json:
        print(json.dumps({"brand": provider.brand, "title": provider.title, "file": args.file,
                          "registers": rows, "summary": summary}, ensure_ascii=False, indent=1))
        return 0
    table = [("index", "name", "raw", "value", "unit")]
    for r in rows:
        name = r["name"] if r["known"] else f"{r['name'] or '-'} (unknown, H1 type)"
        if r["status"] == "dropped":
            value = f"DROPPED: {r['cause']}"
        elif r["status"] == "no sensor":
            value = "no sensor"
        else:
            value = f"{r['value']:g}" + (f" ({r['text']})" if r["text"] else "")
        table.append((r["index"], name, json.dumps(r["raw"]), value, r["unit"]))
    _table(table)
    print(f"\n{summary['decoded']} decoded, {summary['unknown']} unknown, {summary['no_sensor']} without sensor, "
          f"{summary['dropped']} dropped ({provider.title})")
    return 0


def _explain(provider: Provider, index: str, raw: dict[str, Any], given: Any, as_json: bool) -> int:
    from .providers.explain import explain

    idx = normalize_index(index)
    if idx is None:
        print(f"error: --explain {index!r}: a register index is four hex digits, e.g. 0007", file=sys.stderr)
        return 2
    value = given
    if value is None:
        value = next((v for k, v in raw.items() if normalize_index(str(k)) == idx), None)
    steps = explain(provider, idx, value, scaled=isinstance(value, float))
    if as_json:
        print(json.dumps({"brand": provider.brand, "index": idx, "raw": value,
                          "steps": [s.as_dict() for s in steps]}, ensure_ascii=False, indent=1))
        return 0
    if value is None and raw:
        print(f"({idx} is not in the answer: its definition only)")
    for s in steps:
        lines = [w for part in s.detail.split("\n") for w in textwrap.wrap(part, 96, subsequent_indent="  ")]
        for i, line in enumerate(lines or [""]):
            tail = f"   [{s.set_by}]" if s.set_by and i == len(lines) - 1 else ""
            print(f"{s.step if i == 0 else '':<16}{line}{tail}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The dashboard: web UI and JSON API over the store the variables select."""
    from .config import load_alerts_config, load_dashboard_config
    from .web.serve import serve

    secrets = env_secrets()
    setup_logging("INFO", secrets=secrets, fmt=log_settings()[1])
    try:
        cfg = load_dashboard_config(store_path=args.store)
        from .config import load_register_overrides
        from .providers.overrides import use_overrides

        use_overrides(load_register_overrides())  # units and names as the collector stores them
        alerts = load_alerts_config()
        if alerts.on and alerts.urls:
            from .alerts.notify import Notifier

            Notifier(list(alerts.urls), secrets)  # a bad URL: one line now, not at the first alert
    except ConfigError as exc:
        for line in exc.lines:
            log.error("%s", secrets.mask(line))
        return 1
    auth = (cfg.auth[0], cfg.auth[1].get_secret_value()) if cfg.auth else None
    # alerts on: the dashboard is the process that says "a collector stopped" (alerts/watch.py)
    return serve(args.host or cfg.host, args.port or cfg.port, cfg.store, auth, log,
                 watch=alerts if alerts.on else None, alerts=alerts)


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import main as verify_main

    setup_logging("WARNING", secrets=env_secrets())
    return verify_main(args)


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Docker HEALTHCHECK: exit 0 when ``/readyz`` (or ``/healthz`` with --live) of the
    collector's METRICS_PORT, or of --url, answers 200; without either, when the heartbeat
    file is fresh."""
    import urllib.error
    import urllib.request

    from .config import load_healthcheck_config
    from .pipeline.grid import stale_limit_s

    try:
        cfg = load_healthcheck_config()
    except ConfigError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    url = args.url
    if not url and cfg.metrics_port > 0:
        url = f"http://127.0.0.1:{cfg.metrics_port}/{'healthz' if args.live else 'readyz'}"
    if url:
        try:
            with urllib.request.urlopen(url, timeout=8) as resp:  # noqa: S310 - our own loopback URL
                print(f"healthy: {resp.read(500).decode('utf-8', 'replace').strip()}")
                return 0
        except urllib.error.HTTPError as exc:
            print(f"unhealthy: HTTP {exc.code} {exc.read(500).decode('utf-8', 'replace').strip()}", file=sys.stderr)
        except (OSError, ValueError) as exc:
            print(f"unhealthy: {url} does not answer ({getattr(exc, 'reason', exc)})", file=sys.stderr)
        return 1
    if not cfg.heartbeat_file:
        print("unhealthy: HEARTBEAT_FILE is not set", file=sys.stderr)
        return 1
    try:
        age = time.time() - Path(cfg.heartbeat_file).stat().st_mtime
    except OSError as exc:
        print(f"unhealthy: no heartbeat ({exc})", file=sys.stderr)
        return 1
    limit = stale_limit_s(cfg.interval_s)
    if age > limit:
        print(f"unhealthy: last tick {age:.0f} s ago (limit {limit} s)", file=sys.stderr)
        return 1
    print(f"healthy: last tick {age:.0f} s ago")
    return 0


def cmd_notify_test(args: argparse.Namespace) -> int:
    """Send a test message to every NOTIFY_URLS target: one line per target (redacted), exit 1
    if any failed, 2 if NOTIFY_URLS is not set."""
    from .config import load_notify_urls

    secrets = env_secrets()
    setup_logging("WARNING", secrets=secrets)
    try:
        urls = load_notify_urls()
        if not urls:
            print("error: NOTIFY_URLS is not set (comma-separated apprise URLs, e.g. ntfys://topic)", file=sys.stderr)
            return 2
        from .alerts.notify import Notifier  # imports apprise: only here and when NOTIFY_URLS is set

        notifier = Notifier(urls, secrets)
    except ConfigError as exc:
        print(f"error: {secrets.mask(str(exc))}", file=sys.stderr)
        return 1
    results = notifier.send("heatpump-monitor: test", "A test message from heatpump-monitor notify-test.")
    for r in results:
        print(f"{r.target}: ok" if r.ok else f"{r.target}: failed: {r.cause}")
    return 0 if all(r.ok for r in results) else 1


def cmd_watch(args: argparse.Namespace) -> int:
    """Watch the store: "nothing stored from a gateway for N minutes" (the collector stopped)
    to NOTIFY_URLS. The dashboard does the same when alerts are on; this is for setups without it."""
    from .alerts.watch import INTERVAL_S, run_watch
    from .config import load_alerts_config, load_store_config
    from .signals import on_stop_signals
    from .stores import make_reader

    secrets = env_secrets()
    level, fmt = log_settings()
    setup_logging(level, secrets=secrets, fmt=fmt)
    try:
        alerts = load_alerts_config()
        store = load_store_config(path=args.store)
        if alerts.urls:
            from .alerts.notify import Notifier

            Notifier(list(alerts.urls), secrets)  # a bad URL: one line now, not at the first alert
    except ConfigError as exc:
        for line in exc.lines:
            log.error("%s", secrets.mask(line))
        return 1
    if not alerts.urls:
        log.warning("NOTIFY_URLS is not set: alerts are recorded for the dashboard but not sent")
    reader = make_reader(store)

    async def main() -> int:
        stop = asyncio.Event()
        with on_stop_signals(lambda sig: stop.set()):
            await run_watch(alerts, reader, stop, secrets, args.interval or INTERVAL_S)
        return 0

    try:
        return asyncio.run(main())
    finally:
        reader.close()


def cmd_providers(args: argparse.Namespace) -> int:
    """Brands, or one brand's effective register table (with CONFIG_FILE's overrides)."""
    if not args.brand:
        for brand in BRANDS:
            shipped = load_provider(brand)
            print(f"{brand}: {shipped.title} (H1ver {', '.join(shipped.h1ver_codes)}), "
                  f"{len(shipped.registers)} registers")
        return 0
    effective = _effective_provider(args)
    if effective is None:
        return 1
    p = effective
    print(f"{p.brand}: {p.title} (H1ver {', '.join(p.h1ver_codes)}), {len(p.registers)} registers")
    rows = [("index", "name", "unit", "factor", "size", "range", "no sensor", "rw", "factor from", "mapping")]
    overridden = []
    for r in sorted(p.registers.values(), key=lambda r: r.index):
        rng = "" if r.min is None and r.max is None else \
            f"{'' if r.min is None else f'{r.min:g}'}..{'' if r.max is None else f'{r.max:g}'}"
        absent = ", ".join([f"<={r.absent_at_or_below:g}"] if r.absent_at_or_below is not None else []
                           + [f"raw {x}" for x in r.absent_raw])
        mapping = ", ".join(f"{k}={v}" for k, v in (r.mapping or {}).items())
        rows.append((r.index, r.name, r.unit, f"/{r.factor:g}", r.size, rng, absent,
                     "rw" if r.writable else "", r.factor_source, mapping))
        keys = sorted(k for k, f in r.origin.items() if f not in (p.file, "h1-types.yaml"))
        if keys:
            overridden.append(f"  {r.index} {r.name}: {', '.join(keys)} from {r.origin[keys[0]]}")
    _table(rows)
    if overridden:
        print("\noverridden by your configuration:")
        print("\n".join(overridden))
    used = sorted({r.factor_source for r in p.registers.values()} | {s for r in p.registers.values() for s in r.source})
    print("\nsources:")
    for key in used:
        print(f"  {key}: {' '.join(p.sources.get(key, '?').split())}")
    if p.alarms:
        print("\nalarm texts (" + (p.alarm_register or "") + "):")
        for code, text in p.alarms.items():
            print(f"  {code:>3}  {text}")
    return 0


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser; given ``command``, the simulator's options (which import its web
    server) only when it is that one, so that e.g. ``collect`` loads nothing it does not use."""
    from .verify import EXIT_CODES, interval_arg
    from .verify import add_arguments as add_verify_arguments

    parser = argparse.ArgumentParser(prog="heatpump-monitor",
                                     description="Record every register of Husdata H60/H66 heat-pump gateways.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("collect", help="run the collector (configured by environment variables)")
    p.add_argument("--source", choices=["api", "mqtt"], default="api",
                   help="api: poll GET /api/alldata (default); mqtt: listen to <mac>/HP/<register>")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("demo", help="simulated gateway + collector + embedded store in one process")
    p.add_argument("--brand", default="thermia", help="thermia, ivt, nibe or a comma list (default thermia)")
    p.add_argument("--gateways", type=int, default=0,
                   help="number of simulated gateways, brands cycling (default: one per brand)")
    p.add_argument("--interval", type=interval_arg, default=30, help="poll interval in seconds (default 30)")
    p.add_argument("--history", type=_history_arg, default=7 * 86400, metavar="DURATION",
                   help="first write this much simulated history before now, e.g. 7d, 12h (default 7d; 0: none)")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="simulated seconds per real second (default 1: real time; 60 to see cycles quickly)")
    p.add_argument("--store", default=None, metavar="PATH",
                   help="embedded store file (default $STORE_PATH or data/demo.sqlite3)")
    p.add_argument("--port", type=int, default=None,
                   help="first simulator port (default 8061, or free ports when taken; 0: free ports)")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds (default: run until Ctrl+C)")
    p.add_argument("--dashboard-port", type=int, default=8050,
                   help="dashboard port on 127.0.0.1 (default 8050; 0: any free port)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("simulate", help="run simulated H66 gateways over HTTP")
    if command in (None, "simulate"):
        from .simulator.cli import add_arguments

        add_arguments(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("decode", help="decode a saved /api/alldata JSON file and print a table")
    p.add_argument("--brand", choices=BRANDS, help="default: HEATPUMP_BRAND or CONFIG_FILE's brand")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--explain", metavar="INDEX[=RAW]",
                   help="each step of one register: raw -> number -> factor -> value -> range and "
                        "no-sensor checks, and which file set each (RAW: a value to try instead of FILE's)")
    p.add_argument("--config", default=None, help="the file with your registers: overrides (default $CONFIG_FILE or config.yaml)")
    p.add_argument("file", nargs="?", help="file holding the JSON of GET /api/alldata")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("serve", help="the web dashboard and JSON API (DASHBOARD_HOST:DASHBOARD_PORT, default 127.0.0.1:8050)")
    p.add_argument("--host", default="", help="listen address (default $DASHBOARD_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default $DASHBOARD_PORT or 8050)")
    p.add_argument("--store", default=None, metavar="PATH",
                   help="show this embedded store file, e.g. the demo's data/demo.sqlite3 "
                        "(default: the store the variables select)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("verify", help="coverage of the stored data: ticks present, gaps, api vs mqtt",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verify_arguments(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("healthcheck", help="exit 0 when the collector (METRICS_PORT) or --url is ready; "
                                          "without either, while the heartbeat (HEARTBEAT_FILE) is fresh")
    p.add_argument("--url", default="", help="check this URL instead, e.g. http://127.0.0.1:8050/readyz")
    p.add_argument("--live", action="store_true", help="check /healthz (liveness) instead of /readyz")
    p.set_defaults(func=cmd_healthcheck)

    p = sub.add_parser("watch", help="watch the store and send an alert when a gateway has nothing stored for "
                       "N minutes (the collector stopped); the dashboard does this too when alerts are on")
    p.add_argument("--store", help="an embedded store file (default: the store the variables select)")
    p.add_argument("--interval", type=float, default=0, help=argparse.SUPPRESS)  # tests: seconds between checks
    p.set_defaults(func=cmd_watch)
    p = sub.add_parser("notify-test", help="send a test message to every NOTIFY_URLS target, "
                                          "one ok/failed line each")
    p.set_defaults(func=cmd_notify_test)

    p = sub.add_parser("providers", help="list brands, or one brand's registers (with your overrides)")
    p.add_argument("brand", nargs="?", choices=BRANDS)
    p.add_argument("--config", default=None, help="the file with your registers: overrides (default $CONFIG_FILE or config.yaml)")
    p.set_defaults(func=cmd_providers)

    from .pipeline import spool_cli  # `spool list|replay|discard`: the polls the store refused

    spool_cli.add_parser(sub)
    from .analytics import cli as summary_cli  # `summary`: runtime, starts, energy, COP, cost per day

    summary_cli.add_parser(sub)
    from .importer import cli as import_cli  # `import-upstream`: the old collector's history

    import_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(next((w for w in words if not w.startswith("-")), "")).parse_args(argv)
    try:
        rc = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at exit
        return rc
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader stopped reading (`| head`): the rest of the output is not wanted. Point
        # stdout at /dev/null so that the interpreter's final flush does not fail again, and
        # exit as a tool killed by SIGPIPE would (128 + 13), as `set -o pipefail` expects.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
