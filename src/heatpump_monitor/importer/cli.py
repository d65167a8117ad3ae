"""The ``import-upstream`` command's options and their checks (one ``error:`` line each)."""

from __future__ import annotations

import argparse
import getpass
import math
import os
import re
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..config import MAX_GATEWAY_NAME, ConfigError, load_data_dir, load_mqtt_config, load_store_config
from ..providers import BRANDS, normalize_index
from ..verify import parse_duration

if TYPE_CHECKING:  # the reader (and httpx) only when the command runs: `collect` must not load it
    from .source import OldDatabase

DEFAULT_SOURCE = "import"
DEFAULT_CHUNK = "1d"
_SOURCE = re.compile(r"[a-z0-9_-]{1,40}")

EPILOG = """examples:
  INFLUX_OLD_TOKEN=... heatpump-monitor import-upstream --from-url http://old:8086 \\
      --from-bucket heatpump --from-org thermia --from-token-env INFLUX_OLD_TOKEN \\
      --since 2026-01-01 --gateway 192.168.1.100
  heatpump-monitor import-upstream --from-url http://old:8086 --from-database heatpump \\
      --since 2026-01-01 --rescale 5FAB=0.1 --gateway cd4dee258efa

exit codes: 0 imported (or already imported), 1 cannot import (one error line), 2 bad options"""


def moment_arg(text: str) -> int:
    """--since/--until: a date (2026-01-01, midnight UTC) or an ISO-8601 time (UTC without offset)."""
    t = text.strip()
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid time {text!r}: expected e.g. 2026-01-01 or "
                                         "2026-01-01T06:00:00Z") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return round(dt.timestamp() * 1000)


def rescale_arg(text: str) -> tuple[str, float]:
    """--rescale REGISTER_ID=FACTOR, e.g. 5FAB=0.1."""
    idx_text, _, factor_text = text.partition("=")
    idx = normalize_index(idx_text.strip())
    try:
        factor = float(factor_text)
    except ValueError:
        factor = math.nan
    if idx is None or not math.isfinite(factor) or factor == 0:
        raise argparse.ArgumentTypeError(f"invalid --rescale {text!r}: expected REGISTER_ID=FACTOR, e.g. 5FAB=0.1")
    return idx, factor


def add_parser(sub: Any) -> None:
    p = sub.add_parser("import-upstream", help="import the old (upstream) collector's InfluxDB history, aligned "
                                               "to the grid, under source=import",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from-url", required=True, metavar="URL", help="the old InfluxDB, e.g. http://influxdb:8086")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--from-database", metavar="DB", help="InfluxDB 1.x: the old database")
    which.add_argument("--from-bucket", metavar="BUCKET", help="InfluxDB 2.x: the old bucket (read through "
                                                               "InfluxQL: it needs a DBRP mapping)")
    p.add_argument("--from-username", default="", metavar="USER", help="1.x: user name, if auth is enabled")
    p.add_argument("--from-password-env", default="", metavar="VAR",
                   help="1.x: the environment variable holding the password (else asked on a terminal)")
    p.add_argument("--from-org", default="", metavar="ORG", help="2.x: the organisation (for messages)")
    p.add_argument("--from-token-env", default="", metavar="VAR",
                   help="2.x: the environment variable holding a token that may read the bucket "
                        "(else asked on a terminal)")
    p.add_argument("--since", required=True, type=moment_arg, metavar="TIME",
                   help="first moment to import: 2026-01-01 (UTC) or an ISO-8601 time")
    p.add_argument("--until", type=moment_arg, default=None, metavar="TIME",
                   help="import before this moment (default: the current tick)")
    p.add_argument("--brand", choices=BRANDS, default=None, help="default: HEATPUMP_BRAND or CONFIG_FILE's brand")
    p.add_argument("--gateway", default=None, metavar="NAME",
                   help="the gateway name to store under: the one your collector uses, so the history "
                        "continues its charts (default: GATEWAY_NAME, else the one MAC in H66_MAC)")
    p.add_argument("--source", default=DEFAULT_SOURCE, help=f"the source tag (default {DEFAULT_SOURCE})")
    p.add_argument("--rescale", type=rescale_arg, action="append", default=[], metavar="REGISTER_ID=FACTOR",
                   help="multiply one register's old values, e.g. 5FAB=0.1 (repeatable)")
    p.add_argument("--store", default=None, metavar="PATH",
                   help="write this embedded store file (default: the store the variables select)")
    p.add_argument("--chunk", type=parse_duration, default=parse_duration(DEFAULT_CHUNK), metavar="DURATION",
                   help=f"time read at once (default {DEFAULT_CHUNK}; smaller bounds memory further)")
    p.add_argument("--restart", action="store_true", help="ignore the checkpoint: import from --since again")
    p.add_argument("--max-chunks", type=int, default=None, help=argparse.SUPPRESS)  # tests: an interruption
    p.set_defaults(func=cmd_import)


def _secret(var: str, what: str, option: str) -> str:
    """A secret from the variable ``var``, else asked on a terminal; never echoed."""
    if var:
        value = os.environ.get(var, "")
        if not value:
            raise ConfigError(f"{option} {var}: that environment variable is not set or empty")
        return value
    if sys.stdin.isatty() and sys.stderr.isatty():
        return getpass.getpass(f"{what}: ")
    raise ConfigError(f"give {option} VAR (the environment variable holding the {what.lower()}); "
                      "there is no terminal to ask on")


def _old_database(args: argparse.Namespace) -> OldDatabase:
    from .source import OldDatabase

    if args.from_bucket:
        if args.from_username or args.from_password_env:
            raise ConfigError("--from-username/--from-password-env are for --from-database (1.x); "
                              "a 2.x bucket takes --from-token-env")
        token = _secret(args.from_token_env, "Token of the old InfluxDB", "--from-token-env")
        return OldDatabase(args.from_url, bucket=args.from_bucket, org=args.from_org, token=token)
    if args.from_token_env:
        raise ConfigError("--from-token-env is for --from-bucket (2.x); a 1.x database takes --from-username "
                          "and --from-password-env")
    password = ""
    if args.from_username or args.from_password_env:
        password = _secret(args.from_password_env, "Password of the old InfluxDB", "--from-password-env")
    return OldDatabase(args.from_url, database=args.from_database, username=args.from_username, password=password)


def _gateway(args: argparse.Namespace, configured: list[str]) -> str:
    """--gateway, else the one gateway the MQTT collector's settings name (GATEWAY_NAME or its MAC)."""
    name = (args.gateway if args.gateway is not None else configured[0] if len(configured) == 1 else "").strip()
    if not name:
        raise ConfigError("give --gateway NAME: the gateway name your collector stores (the H66's address, "
                          "e.g. 192.168.1.100, or its MAC; `heatpump-monitor verify` lists them)")
    if len(name) > MAX_GATEWAY_NAME or not name.isprintable() or "\\" in name:
        raise ConfigError(f"invalid --gateway: expected at most {MAX_GATEWAY_NAME} printable characters "
                          "without a backslash")
    return name


def cmd_import(args: argparse.Namespace) -> int:
    from ..config import env_secrets
    from ..logs import setup_logging
    from ..providers.overrides import Providers
    from .run import ImportJob, run_import

    setup_logging("WARNING", secrets=env_secrets())
    if not _SOURCE.fullmatch(args.source):
        print("error: --source: expected 1 to 40 of a-z, 0-9, _ and -", file=sys.stderr)
        return 2
    if args.until is not None and args.until <= args.since:
        print("error: --until must be after --since", file=sys.stderr)
        return 2
    try:
        env = dict(os.environ)
        if args.brand:
            env["HEATPUMP_BRAND"] = args.brand
        cfg = load_mqtt_config(env)  # the MQTT collector's settings: brand, grid, silent limit, store
        assert cfg.mqtt is not None
        store = load_store_config(env, args.store)
        data_dir = load_data_dir(env)
        gateway = _gateway(args, cfg.mqtt.gateway_names)
        old = _old_database(args)
    except ConfigError as exc:
        for line in exc.lines or [str(exc)]:
            print(f"error: {line}", file=sys.stderr)
        return 1
    interval_ms = cfg.interval_s * 1000
    now_tick = int(time.time() * 1000) // interval_ms * interval_ms
    until = args.until if args.until is not None else now_tick
    if until <= args.since:
        print("error: --since is in the future", file=sys.stderr)
        return 2
    job = ImportJob(old=old, store=store, provider=Providers(cfg.registers).get(cfg.brand), gateway=gateway,
                    source=args.source, since_ms=args.since, until_ms=until, interval_ms=interval_ms,
                    silent_limit_ms=cfg.mqtt.silent_limit_s * 1000, chunk_ms=args.chunk * 1000,
                    data_dir=data_dir, store_unknown=cfg.store_unknown, rescale=dict(args.rescale),
                    restart=args.restart, max_chunks=args.max_chunks)
    return run_import(job)
