"""``heatpump-monitor demo``: simulated gateways + the API collector + the embedded store,
in one process, with nothing installed but this package. First a week (``--history``) of
simulated snapshots goes into the store through the collector's path, so the dashboard opens
on full charts; then live collection continues from the same simulation."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shlex
import sys
import time
from pathlib import Path

from .config import ConfigError, StoreConfig, load_collector_config
from .model import Snapshot
from .pipeline.run import run_collector
from .providers import BRANDS, load_provider
from .stores import make_reader, make_sink
from .simulator.server import SimGateway, running_gateways

log = logging.getLogger("heatpump_monitor")

#: snapshots per write of the history: large batches, as the spool hands them to the store
HISTORY_BATCH = 2000
SEED = 7
#: the first simulator port when --port is not given. A gateway is named by its address, so
#: the same ports on every run keep one demo's gateways the same ones across runs (and a
#: second run only adds the history since the first) instead of adding new ones each time
DEMO_PORT = 8061

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
    history = max(0.0, float(args.history))
    port = DEMO_PORT if args.port is None else args.port
    gateways = _gateways(brands, count, port, args.time_scale, history)
    async with contextlib.AsyncExitStack() as stack:
        try:
            urls = await stack.enter_async_context(running_gateways(gateways))
        except OSError as exc:
            if args.port is not None:
                log.error("Cannot start the simulated gateways on ports %d..%d: %s", port, port + count - 1, exc)
                return 1
            log.warning("Ports %d..%d are taken (%s): the simulated gateways run on free ports, so the "
                        "store lists them as new gateways", port, port + count - 1, exc)
            gateways = _gateways(brands, count, 0, args.time_scale, history)
            urls = await stack.enter_async_context(running_gateways(gateways))
        try:
            dashboard = await _dashboard(stack, store, args.dashboard_port)
        except ConfigError as exc:  # e.g. a bad dashboard or analytics variable: its own words
            for line in exc.lines:
                log.error("Cannot start the dashboard: %s", line)
            return 1
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
        if history:
            await _fill_history(gateways, urls, store, args.interval, history)
        print(f"  collecting every {args.interval} s into the embedded store {store.resolve()}")
        print(f"  dashboard: {dashboard}   (open it in a browser)")
        print(f"  check the data (in another terminal): {_command('verify', store, '--interval', str(args.interval))}")
        pace = "in real time" if args.time_scale == 1 else f"{args.time_scale:g}x faster"
        print(f"  simulated time runs {pace}; "
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


def _gateways(brands: list[str], count: int, port: int, time_scale: float, history: float) -> list[SimGateway]:
    """The simulated gateways, brands cycling. The Thermia one imitates old firmware (negatives
    as 65510, counters cut to 16 bits): its kWh counter wraps within the history."""
    out = []
    for i in range(count):
        brand = brands[i % len(brands)]
        out.append(SimGateway.create(brand, seed=SEED + i, port=port + i if port else 0, time_scale=time_scale,
                                     history=history, firmware="old" if brand == "thermia" else "current"))
    return out


async def _fill_history(gateways: list[SimGateway], urls: list[str], store: Path, interval: int,
                        history: float) -> None:
    """Write ``history`` seconds of simulated snapshots before now, on the collector's interval
    grid, through the collector's own path (decode with the brand's provider -> the embedded
    store's sink, in batches), so the charts, KPIs and daily bars are full at once. The model's
    clock in history runs from now - history to now; live polls continue from its state."""
    began = time.perf_counter()
    config = StoreConfig(kind="embedded", path=str(store))
    stored = _stored_until(config)
    sink = make_sink(config)
    step_ms = interval * 1000
    total = kept = 0
    writing: asyncio.Task[None] | None = None
    try:
        await sink.check()
        for gw, url in zip(gateways, urls):
            model, name = gw.model, url.removeprefix("http://")
            provider = model.provider
            now_ms = int(model.sim_time() * 1000)
            last = now_ms // step_ms * step_ms  # the latest tick not in the future; live polls follow
            first = last - int(history * 1000) // step_ms * step_ms
            if name in stored:  # an earlier demo's gateway: only the time since its last snapshot
                resume = max(first, (stored[name] // step_ms + 1) * step_ms)
                kept += (min(resume, last + step_ms) - first) // step_ms
                first = resume
            batch: list[Snapshot] = []
            for tick in range(first, last + 1, step_ms):
                decoded = provider.decode_poll(model.raw_alldata(tick / 1000))
                batch.append(Snapshot(gateway=name, brand=provider.brand, source="api", time_ms=tick,
                                      values=decoded.values))
                if len(batch) >= HISTORY_BATCH or tick + step_ms > last:
                    # one batch is written (SQLite, off the GIL) while the next is simulated
                    if writing is not None:
                        await writing
                    writing = asyncio.create_task(sink.write(batch))
                    total += len(batch)
                    batch = []
                    await asyncio.sleep(0)  # the simulator and dashboard keep answering
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
        await sink.close()
    took = time.perf_counter() - began
    print(f"  history: {total} simulated snapshot(s) ({_span(history)} x {len(gateways)} gateway(s) "
          f"every {interval} s) written in {took:.1f} s"
          + (f"; {kept} were already stored by an earlier demo" if kept else ""), flush=True)


def _stored_until(config: StoreConfig) -> dict[str, int]:
    """Each gateway's newest snapshot from the API in the demo's store (empty for a new one)."""
    if not Path(config.path).exists():
        return {}
    reader = make_reader(config)
    try:
        return {i.gateway: i.last_ms for i in reader.gateways() if i.source == "api"}
    finally:
        reader.close()


def _span(seconds: float) -> str:
    return f"{seconds / 86400:g} d" if seconds >= 86400 else f"{seconds / 3600:g} h"


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
