"""Runs a collector (API or MQTT) until SIGTERM/SIGINT: finish the write in progress, exit within 5 s."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
from typing import TYPE_CHECKING

from .. import __version__
from ..config import CollectorConfig, ConfigError, env_secrets
from ..model import iso_ms
from ..stores import SinkError, make_sink
from ..signals import on_stop_signals
from .contract import Collector
from .spool import DiskSpool, MemorySpool, Spool, SpoolError
from .writer import Writer

if TYPE_CHECKING:
    from ..alerts.service import AlertService
    from ..health.server import HealthServer
    from ..sources.api import ApiClient

log = logging.getLogger("heatpump_monitor")

SHUTDOWN_BUDGET_S = 4.0


async def run_collector(cfg: CollectorConfig, stop: asyncio.Event | None = None) -> int:
    """Run the collector ``cfg`` describes (API, or MQTT when ``cfg.mqtt`` is set) until
    ``stop`` or SIGTERM/SIGINT; finish the write in progress; return the exit code."""
    stop = stop or asyncio.Event()
    with on_stop_signals(lambda sig: _on_signal(stop, sig)):
        return await _run(cfg, stop)


async def _run(cfg: CollectorConfig, stop: asyncio.Event) -> int:
    if cfg.mqtt is None:
        names = some_names([g.name for g in cfg.gateways])
        log.info("heatpump-monitor %s API collector: %d gateway(s) [%s], every %d s", __version__,
                 len(cfg.gateways), names, cfg.interval_s)
    else:
        m = cfg.mqtt
        log.info("heatpump-monitor %s MQTT collector: broker %s:%d%s, gateway %s, %s mode, every %d s",
                 __version__, m.broker, m.port, " (TLS)" if m.tls else "", m.mac or "any (+/HP/+)",
                 m.timestamp_mode, cfg.interval_s)
    log.info("Heat pump brand: %s (from %s)", cfg.brand, cfg.brand_source)
    if cfg.registers:
        n = len(cfg.registers.common) + sum(len(v) for v in cfg.registers.by_brand.values())
        log.info("Register overrides: %d from %s (see `heatpump-monitor providers BRAND`)", n, cfg.registers.path)
    try:
        spool = open_spool(cfg)
    except SpoolError as exc:
        log.error("%s: set DATA_DIR (or SPOOL_PATH) to a writable directory, or SPOOL_MAX_MB=0 to keep "
                  "waiting polls in memory only", exc)
        return 1
    sink = make_sink(cfg.store)
    log.info("Storing to %s", sink.description)
    sink_error = ""
    try:
        await sink.check()
    except SinkError as exc:
        sink_error = str(exc)
        log.error("Store not usable yet: %s; collecting anyway, polls wait in the spool", exc)

    writer = Writer(sink, spool)
    client: ApiClient | None = None
    collector: Collector
    # each source's modules only when it runs: the API collector never loads the MQTT client,
    # the MQTT collector never loads the HTTP one
    if cfg.mqtt is None:
        from ..sources.api import ApiClient
        from .collector import ApiCollector

        client = ApiClient(cfg.http_timeout_s)
        collector = ApiCollector(list(cfg.gateways), cfg.brand, cfg.interval_s, writer, client,
                                 store_unknown=cfg.store_unknown, heartbeat_file=cfg.heartbeat_file,
                                 registers=cfg.registers)
    else:
        from ..providers.overrides import Providers
        from .mqtt_collector import MqttCollector

        collector = MqttCollector(cfg.mqtt, Providers(cfg.registers).get(cfg.brand), cfg.interval_s, writer,
                                  store_unknown=cfg.store_unknown, heartbeat_file=cfg.heartbeat_file)
    try:
        alerts = _start_alerts(cfg, collector, writer, spool)
    except (ConfigError, OSError, sqlite3.Error) as exc:
        log.error("Alerts cannot start: %s", exc)
        spool.close()
        await sink.close()
        return 1
    health_server = _start_health_server(cfg, collector, writer, sink_error, alerts)
    if cfg.homeassistant is not None:  # paho's thread and the discovery rules only when HA_DISCOVERY is on
        from ..integrations.homeassistant import start_homeassistant

        homeassistant = start_homeassistant(cfg, writer)
    alerts_task = asyncio.create_task(alerts.run(stop), name="alerts") if alerts is not None else None
    writer_task = asyncio.create_task(writer.run(stop), name="writer")
    collect_task = asyncio.create_task(collector.run(stop), name="collector")
    stop_task = asyncio.create_task(stop.wait())
    rc = 0
    try:
        await asyncio.wait({collect_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if collect_task.done() and not collect_task.cancelled() and collect_task.exception():
            from .collector import FatalError  # only here: the MQTT collector needs nothing else of it

            error = collect_task.exception()
            if isinstance(error, FatalError):
                log.error("%s", error)
            else:
                log.error("Collector stopped by an unexpected error", exc_info=error)
            rc = 1
    finally:
        stop.set()
        stop_task.cancel()
        collect_task.cancel()  # a poll in flight is abandoned; its tick is not stored
        await asyncio.gather(collect_task, return_exceptions=True)
        try:  # the write in progress finishes; then one last try for what is pending
            await asyncio.wait_for(asyncio.shield(writer_task), SHUTDOWN_BUDGET_S / 2)
            if writer.pending:
                await asyncio.wait_for(writer.flush(), SHUTDOWN_BUDGET_S / 2)
        except asyncio.TimeoutError:
            writer_task.cancel()
        writer.persist()
        if writer.pending and isinstance(spool, DiskSpool):
            log.warning("Exiting with %d poll(s) not yet written to %s: they wait in the spool %s "
                        "and are written at the next start", writer.pending, sink.description, spool.path)
        elif writer.pending:
            log.error("Exiting with %d poll(s) not written to %s: they are lost (SPOOL_MAX_MB=0)",
                      writer.pending, sink.description)
        spool.close()
        if alerts_task is not None and alerts is not None:
            # a send in progress finishes and is marked done (else it would go again at the next
            # start); what is still waiting stays in the outbox for the next start
            try:
                await asyncio.wait_for(alerts_task, SHUTDOWN_BUDGET_S / 4)
            except Exception:  # the budget ran out (TimeoutError), or the task failed
                alerts_task.cancel()
                await asyncio.gather(alerts_task, return_exceptions=True)
            alerts.close()
        if cfg.homeassistant is not None:
            await asyncio.to_thread(homeassistant.stop)  # "offline", then disconnect
        if health_server is not None:
            await health_server.stop()
        if client is not None:
            await client.aclose()
        await sink.close()
        refused = f", {writer.rejected} refused by the store" if writer.rejected else ""
        log.info("Stopped: %s, %d poll(s) stored%s", collector.summary(), writer.stored, refused)
    return rc


def some_names(names: list[str], most: int = 10) -> str:
    """The first ``most`` names and how many more: a start-up line of 5,000 gateways is 85 kB."""
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def open_spool(cfg: CollectorConfig) -> Spool:
    """The disk spool at ``cfg.spool_path`` (memory when SPOOL_MAX_MB=0); says what it holds."""
    if not cfg.spool_path:
        spool: Spool = MemorySpool(cfg.write_buffer_max)
        log.warning("No disk spool (SPOOL_MAX_MB=0): polls waiting for the store are kept in memory "
                    "(at most %d) and lost if the collector stops", cfg.write_buffer_max)
        return spool
    disk = DiskSpool(cfg.spool_path, cfg.spool_max_bytes)
    if disk.depth:
        oldest = disk.oldest_ms()
        log.warning("Spool %s holds %d poll(s) (%.1f MB) not yet stored, oldest from %s: writing them first",
                    disk.path, disk.depth, disk.bytes / 1e6, iso_ms(oldest) if oldest is not None else "?")
    else:
        log.info("Spool: %s", disk.description)
    return disk


def _start_alerts(cfg: CollectorConfig, collector: Collector, writer: Writer, spool: Spool) -> AlertService | None:
    """The alerts, when on: fed every new snapshot by the writer, checked once a tick."""
    if cfg.alerts is None:
        return None
    from ..alerts.service import AlertService  # the rules and their state: only when alerts are on
    from ..providers.overrides import Providers

    gateways = [g.name for g in cfg.gateways] if cfg.mqtt is None else cfg.mqtt.gateway_names

    def store_state() -> tuple[bool | None, float | None]:
        if isinstance(spool, DiskSpool):
            full = 100.0 * spool.bytes / cfg.spool_max_bytes if cfg.spool_max_bytes else None
        else:
            full = 100.0 * spool.depth / cfg.write_buffer_max if cfg.write_buffer_max else None
        return writer.failing_since is None, full

    # the time-based rules count minutes: checking them more often than every 10 s buys nothing
    # (a pump's alarm comes with its snapshot, not with the check)
    service = AlertService(cfg.alerts, cfg.source, Providers(cfg.registers).get, gateways=gateways,
                           interval_s=max(cfg.interval_s, 10), store_state=store_state, secrets=env_secrets())
    writer.listeners.append(service.on_snapshots)
    log.info("Alerts: %s", service.describe())
    return service


def _start_health_server(cfg: CollectorConfig, collector: Collector, writer: Writer,
                         sink_error: str, alerts: AlertService | None = None) -> HealthServer | None:
    if not cfg.metrics_port:
        return None
    from ..health.metrics import CollectorMetrics
    from ..health.server import Health, HealthServer, create_health_app

    metrics = CollectorMetrics(collector, writer, cfg.source, cfg.brand)
    if cfg.metrics_registers:  # every register as a gauge: only when METRICS_REGISTERS is on
        from ..integrations.registers import start_register_gauges

        start_register_gauges(cfg, writer.listeners, metrics.deferred)
    health = Health(collector, writer)
    health.sink_check_error = sink_error
    if alerts is not None:
        metrics.extra.append(alerts.metric_families)
        health.alerts = alerts.health
    server = HealthServer(create_health_app(health, metrics), cfg.metrics_host, cfg.metrics_port)
    return server if server.start() else None


def _on_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    if not stop.is_set():
        log.info("Received %s: finishing the write in progress and stopping", signal.Signals(sig).name)
    stop.set()
