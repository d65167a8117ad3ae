"""Alerts in a running process: the rules engine fed as snapshots arrive, the clock checked on
the interval grid, and every notice logged and put in the durable outbox for delivery.

A collector builds one :class:`AlertService` when alerts are on (``CollectorConfig.alerts``):
``writer.listeners`` hands it each poll's snapshots the moment they are in the spool, so an
alarm goes out within the tick it was polled in, whether or not the store is up. ``run`` then
does the time-based part once a tick (a silent gateway, reminders, the store and the spool) and
flushes the outbox whenever a message is added or a retry is due.

Without NOTIFY_URLS the rules still run (CONFIG_FILE has an ``alerts:`` section): the state file
feeds the dashboard, nothing is sent. apprise is imported only when something is to be sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from ..config import AlertsConfig, AnalyticsConfig
from ..masking import Secrets
from ..model import Snapshot
from .messages import message
from .rules import COLLECTOR, AlertEngine, BrandOf, Notice
from .settings import RULES
from .state import AlertStore, alerts_path

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from .outbox import Outbox, Sender

log = logging.getLogger("heatpump_monitor.alerts")

OUTBOX_PATTERN = "notify-{owner}.sqlite3"

#: what the service asks of the process's store writer once a tick
StoreState = Callable[[], "tuple[bool | None, float | None]"]
#: what a watcher asks of the store once a tick: each gateway's newest snapshot (ms); blocking
Newest = Callable[[], "dict[str, int]"]


def outbox_path(directory: str, owner: str) -> str:
    return str(Path(directory) / OUTBOX_PATTERN.format(owner=owner))


class AlertService:
    """``owner`` names the state and outbox files (``api``, ``mqtt``, ``watch``); ``store_state``
    says once a tick whether the store takes writes (None: unknown) and how full the spool is
    (percent, None: no disk spool); ``sender`` replaces apprise (tests)."""

    def __init__(self, config: AlertsConfig, owner: str, brand_of: BrandOf, *, gateways: Iterable[str] = (),
                 analytics: AnalyticsConfig | None = None, interval_s: float = 30.0,
                 store_state: StoreState | None = None, newest: Newest | None = None,
                 secrets: Secrets | None = None,
                 sender: Sender | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.owner = owner
        self.interval_s = interval_s
        self.store_state = store_state
        self.newest = newest
        self.clock = clock
        self._newest_failing = False
        self.store = AlertStore(alerts_path(config.directory, owner))
        self.engine = AlertEngine(config.settings, brand_of, store=self.store,
                                  analytics=analytics or AnalyticsConfig(tz=config.tz), gateways=gateways)
        self.outbox: Outbox | None = None
        if sender is None and config.urls:
            from .notify import Notifier  # apprise: only when something is to be sent

            sender = Notifier(list(config.urls), secrets or Secrets([]))
        self.targets: list[str] = list(getattr(sender, "targets", []))  # redacted: "1 ntfys://***"
        if sender is not None:
            from .outbox import Outbox

            self.outbox = Outbox(outbox_path(config.directory, owner), sender)
        self.notices = 0
        self._wake = asyncio.Event()

    @property
    def sending(self) -> bool:
        return self.outbox is not None

    def describe(self) -> str:
        """For the start-up log: the rules on and where messages go (targets redacted)."""
        s = self.config.settings
        # a watcher runs not_stored only; a collector every other rule
        on = [r for r in RULES if getattr(s, r).enabled and (r == "not_stored") == (self.newest is not None)]
        where = (f"messages ({self.config.language}) to {', '.join(self.targets)}" if self.targets
                 else "sending to the configured sender" if self.outbox else "not sent (NOTIFY_URLS not set)")
        return f"{len(on)} rule(s) on ({', '.join(on)}); {where}; state in {self.store.path}"

    # -- fed by the process -------------------------------------------------------------------

    def on_snapshots(self, snapshots: Sequence[Snapshot]) -> None:
        """A :data:`~..pipeline.writer.SnapshotListener`: evaluate each new snapshot."""
        notices: list[Notice] = []
        for snap in snapshots:
            notices += self.engine.observe(snap)
        self._deliver(notices)

    def check(self, now_ms: int | None = None, newest: dict[str, int] | None = None) -> list[Notice]:
        """The time-based rules, once a tick: silence, reminders, the store and the spool, and
        (a watcher) what the store holds: ``newest`` from :attr:`newest`."""
        now_ms = int(self.clock() * 1000) if now_ms is None else now_ms
        notices = self.engine.tick(now_ms)
        if newest is not None:
            notices += self.engine.observe_stored(now_ms, newest)
        if self.store_state is not None:
            reachable, spool_percent = self.store_state()
            notices += self.engine.observe_store(now_ms, reachable, spool_percent, COLLECTOR)
        self._deliver(notices)
        return notices

    def _deliver(self, notices: list[Notice]) -> None:
        if not notices:
            return
        now = self.clock()
        for n in notices:
            self.notices += 1
            m = message(n, self.config.language, self.config.tz)
            # the log is the history of what was said, sent or not (one line per notice)
            log.info("Alert %s: %s: %s", n.kind, m.title, m.body)
            if self.outbox is not None:
                # one key per notice: a delivery retried (or re-added after a crash) is one message
                self.outbox.add(f"{self.owner}|{n.key}|{n.kind}|{n.time_ms}", m.title, m.body, now)
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: check the clock every ``interval_s`` and deliver what is due (at once
        when a message is added; a failed target waits its backoff)."""
        next_check = self.clock()
        watcher = asyncio.ensure_future(stop.wait())
        watcher.add_done_callback(lambda _: self._wake.set())
        try:
            while not stop.is_set():
                now = self.clock()
                if now >= next_check:
                    newest = await self._read_newest()
                    try:
                        self.check(int(self.clock() * 1000), newest)
                    except Exception:  # a rule's bug must not stop collection or delivery
                        log.exception("Alerts: checking the rules failed")
                    next_check = now + self.interval_s
                await self.flush(now)
                wait = next_check - self.clock()
                due = self.outbox.next_try() if self.outbox is not None else None
                if due is not None:
                    wait = min(wait, due - self.clock())
                self._wake.clear()
                try:
                    async with asyncio.timeout(max(0.05, wait)):
                        await self._wake.wait()
                except TimeoutError:
                    pass
        finally:
            watcher.cancel()

    async def _read_newest(self) -> dict[str, int] | None:
        """The store's newest snapshot per gateway (a thread: a store query blocks); None while
        the store cannot answer (said once, and once when it answers again)."""
        if self.newest is None:
            return None
        try:
            newest = await asyncio.to_thread(self.newest)
        except Exception as exc:  # StoreError, or a bug: the watcher keeps running
            if not self._newest_failing:
                log.error("Alerts: cannot read the store to watch it: %s", exc)
            self._newest_failing = True
            return None
        if self._newest_failing:
            log.info("Alerts: the store answers again")
        self._newest_failing = False
        return newest

    async def flush(self, now: float | None = None) -> int:
        if self.outbox is None:
            return 0
        try:
            return await self.outbox.flush(self.clock() if now is None else now)
        except Exception:  # the outbox file (disk full?) must not stop the collector
            log.exception("Alerts: delivering the waiting messages failed")
            return 0

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()
        self.store.close()

    # -- health and metrics ----------------------------------------------------------------------

    def health(self) -> dict:
        """For /readyz (never a URL: targets are redacted, causes masked)."""
        doc: dict = {"active": len(self.engine.active()), "notices": self.notices}
        if self.outbox is not None:
            doc["delivery"] = self.outbox.health(self.clock())
        return doc

    def metric_families(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        active = GaugeMetricFamily("heatpump_alerts_active", "Alerts active now, by rule", labels=["rule"])
        counts: dict[str, int] = {}
        for n in self.engine.active():
            counts[n.rule] = counts.get(n.rule, 0) + 1
        for rule, count in sorted(counts.items()):
            active.add_metric([rule], count)
        yield active
        yield CounterMetricFamily("heatpump_alert_notices", "Alert notices (fired, resolved, reminders) since start",
                                  value=self.notices)
        if self.outbox is not None:
            from .outbox import metric_families

            yield from metric_families(self.outbox, self.clock())
