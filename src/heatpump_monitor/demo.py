"""``heatpump-monitor demo``: simulated gateways + the API collector + the embedded store,
in one process, with nothing installed but this package."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shlex
import sys
from pathlib import Path

from .config import ConfigError, StoreConfig, load_collector_config
from .pipeline.run import run_collector
from .providers import BRANDS, load_provider
from .stores import make_reader
from .simulator.server import running_simulator

log = logging.getLogger("heatpump_monitor")

SHOWN = ("outdoor_temp", "radiator_forward", "radiator_return", "hot_water_top", "compressor", "switch_valve")


async def run_demo(args: argparse.Namespace) -> int:
    brands = [b.strip().lower() for b in args.brand.split(",") if b.strip()]
    bad = [b for b in brands if b not in BRANDS]
    count = args.gateways or len(brands)
    if bad or not brands or count < 1:
        log.error("Invalid --brand %r / --gateways %d: expected brands from %s and at least one gateway",
                  args.brand, args.gateways, ", ".join(BRANDS))
        return 1
    store = Path(args.store)
    async with contextlib.AsyncExitStack() as stack:
        urls = await stack.enter_async_context(running_simulator(
            brands, port=args.port, count=count, time_scale=args.time_scale, seed=7))
        dashboard = await _dashboard(stack, store, args.dashboard_port)
        env = {
            "H66_IP": ",".join(u.removeprefix("http://") for u in urls),
            "COLLECTION_INTERVAL": str(args.interval),
            # one brand: as configured; several: detected from each gateway's /status
            "HEATPUMP_BRAND": brands[0] if len(set(brands)) == 1 else "auto",
            "STORE_PATH": str(store),
            "DATA_DIR": str(store.parent),  # the spool sits next to the store
            "CONFIG_FILE": "",
        }
        try:
            cfg = load_collector_config(env)
        except ConfigError as exc:
            log.error("%s", exc)
            return 1
        print("heatpump-monitor demo", flush=True)
        for i, url in enumerate(urls):
            print(f"  simulated {brands[i % len(brands)]} gateway: {url}   (try: curl {url}/api/alldata)")
        print(f"  collecting every {args.interval} s into the embedded store {store.resolve()}")
        print(f"  dashboard: {dashboard}   (open it in a browser)")
        print(f"  check the data (in another terminal): {_command('verify', store, '--interval', str(args.interval))}")
        print(f"  simulated time runs {args.time_scale:g}x faster; "
              + (f"stopping after {args.duration:g} s" if args.duration else "Ctrl+C stops"), flush=True)
        stop = asyncio.Event()
        if args.duration:
            asyncio.get_running_loop().call_later(args.duration, stop.set)
        rc = await run_collector(cfg, stop)
    _summary(store)
    if store.exists():
        print(f"\nThe dashboard again: {_command('serve', store)}")
        print(f"Check the data: {_command('verify', store, '--interval', str(args.interval))}"
              "   (ticks after the demo stopped count as missing)")
    return rc


def _command(name: str, store: Path, *options: str) -> str:
    """The command line that reads the demo's store, as the user can type it here: serve and
    verify read the collector's store by default, not the demo's."""
    return shlex.join([_program(), name, "--store", str(store), *options])


def _program() -> str:
    """How this command was started: scripts/demo runs .venv/bin/heatpump-monitor, which is
    not on the PATH (shown relative to here); else the plain name."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "heatpump-monitor":
        path, here = argv0.resolve(), Path.cwd().resolve()
        if path.is_relative_to(here):
            return str(path.relative_to(here))
    return "heatpump-monitor"


async def _dashboard(stack: contextlib.AsyncExitStack, store: Path, port: int) -> str:
    """The dashboard on 127.0.0.1:``port``; on any free port when that one is taken."""
    from .web.serve import running_dashboard

    store.parent.mkdir(parents=True, exist_ok=True)
    config = StoreConfig(kind="embedded", path=str(store))
    try:
        return await stack.enter_async_context(running_dashboard(config, "127.0.0.1", port))
    except OSError as exc:
        log.warning("Port %d is taken (%s); the dashboard uses a free port instead", port, exc.strerror)
        return await stack.enter_async_context(running_dashboard(config, "127.0.0.1", 0))


def _summary(store: Path) -> None:
    if not store.exists():
        print("No data was stored.")
        return
    reader = make_reader(StoreConfig(kind="embedded", path=str(store)))
    try:
        infos = reader.gateways()
        print(f"\n{sum(i.snapshots for i in infos)} snapshot(s) in {store.resolve()}:")
        for info in infos:
            snap = reader.latest(info.gateway, info.source)
            provider = load_provider(info.brand)
            shown = []
            for name in SHOWN:
                if snap and name in snap.values:
                    reg = provider.by_name(name)
                    text = reg.text(snap.values[name]) if reg else None
                    shown.append(f"{name}={text or format(snap.values[name], 'g')}{reg.unit if reg and not text else ''}")
            print(f"  {info.gateway} ({info.brand}): {info.snapshots} polls, latest {snap.iso_time if snap else '-'}")
            if shown:
                print("    " + ", ".join(shown))
    finally:
        reader.close()
