"""Who says "the collector stopped": a process that is still running, watching the store.

A collector cannot report its own death, and each collector watching the others would need
them to know of each other. The store is what every collector writes and every reader
sees, so the watcher asks it, once a minute, for each gateway's newest snapshot, and the
``not_stored`` rule fires when one is older than its limit (15 min by default): the collector
stopped, hangs, or cannot store. That covers every way of "no data" a collector's own rules
cannot (its ``gateway_silent`` needs the collector alive; its ``store_unreachable`` needs it
to be running to try).

It runs in the dashboard (``serve``), which every compose file runs next to the collectors,
when alerts are on; ``heatpump-monitor watch`` runs the same thing without a web server (a
setup without the dashboard). Its state and outbox are its own (``alerts-watch.sqlite3``,
``notify-watch.sqlite3`` in ALERTS_DIR), so it never repeats or swallows a collector's alert.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Callable

from ..config import AlertsConfig
from ..masking import Secrets
from ..providers import load_provider
from ..stores.base import Reader
from .service import AlertService

if TYPE_CHECKING:
    from .outbox import Sender

log = logging.getLogger("heatpump_monitor.alerts")

OWNER = "watch"
INTERVAL_S = 60.0  # the rule's resolution is minutes; a store query a minute is nothing


def newest_by_gateway(reader: Reader) -> dict[str, int]:
    """Each gateway's newest snapshot time (ms). A gateway stored by two collectors (API and
    MQTT side by side) is watched per source: "gw (mqtt)" stopping while "gw (api)" goes on
    is still a collector stopped."""
    infos = reader.gateways()
    sources = Counter(i.gateway for i in infos)
    return {(i.gateway if sources[i.gateway] == 1 else f"{i.gateway} ({i.source})"): i.last_ms for i in infos}


def watcher(config: AlertsConfig, reader: Reader, secrets: Secrets | None = None,
            interval_s: float = INTERVAL_S, clock: Callable[[], float] | None = None,
            sender: Sender | None = None) -> AlertService:
    """The watcher's service: the ``not_stored`` rule (and reminders) only; the collectors'
    rules run in the collectors. ``sender`` replaces apprise (tests)."""
    return AlertService(config, OWNER, load_provider, interval_s=interval_s, sender=sender,
                        newest=lambda: newest_by_gateway(reader), secrets=secrets, clock=clock or time.time)


async def run_watch(config: AlertsConfig, reader: Reader, stop: asyncio.Event, secrets: Secrets | None = None,
                    interval_s: float = INTERVAL_S) -> None:
    """Watch until ``stop``; undelivered messages wait in the outbox for the next start."""
    service = watcher(config, reader, secrets, interval_s)
    log.info("Watching the store for gateways with nothing stored for %g min: %s",
             config.settings.not_stored.minutes, service.describe())
    try:
        await service.run(stop)
    finally:
        service.close()
