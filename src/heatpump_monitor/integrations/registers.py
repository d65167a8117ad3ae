"""Register values on the collector's ``/metrics`` (``METRICS_REGISTERS=true``): the latest value
of every register of every gateway as a Prometheus gauge, labelled ``gateway`` and ``brand``.

Names follow Prometheus' conventions: ``heatpump_register_<register>_<base unit>``, values
converted to the base unit the suffix names (:data:`UNITS`):

=========  ==============  ===========================================
provider   metric suffix   conversion
=========  ==============  ===========================================
°C         ``_celsius``    as is
kWh        ``_joules``     x 3,600,000 (1 kWh = 3.6 MJ)
kW, W      ``_watts``      x 1000, as is
A          ``_amperes``    as is
h, min, d  ``_seconds``    x 3600, x 60, x 86400
%          ``_ratio``      / 100 (0..1)
°Cmin      (none)          as is; the names say ``degree_minutes``
(none)     (none)          statuses 1 on / 0 off, settings, counters
=========  ==============  ===========================================

A unit word already in the register's name is dropped (``energy_total_kwh`` ->
``heatpump_register_energy_total_joules``). The series are bounded by the gateways this
collector may have times the registers of their brand; a register missing from the newest
snapshot (no sensor) has no series until it is back. How fresh the values are is
``heatpump_last_success_timestamp_seconds{gateway}``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric

from ..model import Snapshot
from ..providers import Provider, Register

if TYPE_CHECKING:
    from ..config import CollectorConfig

log = logging.getLogger("heatpump_monitor.metrics")

PREFIX = "heatpump_register_"
#: provider unit -> (metric suffix, factor to the base unit, unit words the name may already carry)
UNITS: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "°C": ("celsius", 1.0, ("celsius",)),
    "kWh": ("joules", 3_600_000.0, ("kwh",)),
    "kW": ("watts", 1000.0, ("kw",)),
    "W": ("watts", 1.0, ("w", "watts")),
    "A": ("amperes", 1.0, ("a", "amperes")),
    "h": ("seconds", 3600.0, ("hours", "h")),
    "min": ("seconds", 60.0, ("minutes", "min")),
    "d": ("seconds", 86_400.0, ("days", "d")),
    "%": ("ratio", 0.01, ("percent", "pct")),
}


@dataclass(frozen=True, slots=True)
class Gauge:
    register: str  # the register's name (the snapshot's key)
    metric: str
    factor: float
    help: str


def metric_for(reg: Register) -> Gauge:
    """The gauge of one register: its name in base units, the factor to them, its help."""
    words = reg.name.split("_")
    suffix, factor, unit_words = UNITS.get(reg.unit, ("", 1.0, ()))
    if suffix:
        kept = [w for w in words if w not in unit_words] or words
        name = "_".join(kept + [suffix])
    else:
        # an unknown unit is not guessed at: the name stays the register's, the help says the unit
        name = reg.name
    what = reg.description or reg.name.replace("_", " ")
    unit = f"{suffix} = {reg.unit} x {factor:.10g}" if factor != 1.0 else reg.unit
    if reg.mapping:
        unit = ", ".join(f"{k} {v}" for k, v in sorted(reg.mapping.items()))
    elif reg.kind == "status":
        unit = "1 on, 0 off"
    return Gauge(reg.name, PREFIX + name, factor,
                 f"{what} (register {reg.index}{'; ' + unit if unit else ''})")


def gauges_of(provider: Provider) -> list[Gauge]:
    """Every register's gauge; a name two registers would share keeps the second's own name."""
    out: list[Gauge] = []
    seen: set[str] = set()
    for reg in provider.registers.values():
        g = metric_for(reg)
        if g.metric in seen:
            g = Gauge(g.register, PREFIX + reg.name + "_" + g.metric.rsplit("_", 1)[-1], g.factor, g.help)
        seen.add(g.metric)
        out.append(g)
    return out


def gateway_bound(cfg: CollectorConfig) -> int:
    """The gateways a collector may have: the configured ones, else MQTT_MAX_GATEWAYS."""
    if cfg.mqtt is None:
        return len(cfg.gateways)
    return len(cfg.mqtt.macs) or cfg.mqtt.max_gateways


class RegisterGauges:
    """The writer's listener (:meth:`on_snapshots`) and a metric source for ``/metrics`` in two
    steps (:meth:`copy` on the event loop, then the families built from that copy in the
    scrape's worker thread: ``CollectorMetrics.deferred``)."""

    def __init__(self, providers: Callable[[str], Provider], max_gateways: int) -> None:
        self.providers = providers
        self.max_gateways = max_gateways
        self._latest: dict[str, Snapshot] = {}  # newest snapshot per gateway, at most max_gateways
        self._gauges: dict[str, list[Gauge]] = {}  # by brand: filled by on_snapshots, on the loop
        self._said_full = False
        self._lock = threading.Lock()  # copy() may also be called off the loop (a caller's choice)

    def on_snapshots(self, snapshots: Sequence[Snapshot]) -> None:
        with self._lock:
            for s in snapshots:
                if s.gateway in self._latest or len(self._latest) < self.max_gateways:
                    self._latest[s.gateway] = s
                    self._gauges_for(s.brand)
                elif not self._said_full:
                    log.warning("Register metrics: gateway %s left out: already %d gateway(s) on /metrics",
                                s.gateway[:100], self.max_gateways)
                    self._said_full = True

    def _gauges_for(self, brand: str) -> list[Gauge]:
        g = self._gauges.get(brand)
        if g is None:
            try:
                g = gauges_of(self.providers(brand))
            except (KeyError, ValueError, OSError):
                g = []  # a brand without registers has no gauges (said by the collector already)
            self._gauges[brand] = g
        return g

    def copy(self) -> Callable[[], Iterator[Metric]]:
        """The newest snapshots now (a list of references: O(gateways), microseconds at 1,000)
        and what builds their families. A snapshot is never changed once the writer has handed
        it on, and the gauge lists of its brand exist already, so the families may be built in
        any thread while the loop goes on replacing snapshots."""
        with self._lock:
            latest = list(self._latest.values())
            gauges = dict(self._gauges)
        return lambda: families_of(latest, gauges)

    def collect(self) -> Iterator[Metric]:
        return self.copy()()


def families_of(latest: Sequence[Snapshot], gauges: Mapping[str, Sequence[Gauge]]) -> Iterator[Metric]:
    """A gauge family per register with a value, a sample per gateway (sorted by gateway)."""
    families: dict[str, GaugeMetricFamily] = {}
    for s in sorted(latest, key=lambda s: s.gateway):
        for g in gauges.get(s.brand, ()):
            x = s.values.get(g.register)
            if x is None:
                continue
            fam = families.get(g.metric)
            if fam is None:
                fam = families[g.metric] = GaugeMetricFamily(g.metric, g.help, labels=["gateway", "brand"])
            fam.add_metric([s.gateway, s.brand], x * g.factor)
    yield from families.values()


def start_register_gauges(cfg: CollectorConfig, writer_listeners: list, deferred: list) -> RegisterGauges:
    """Gauges fed every new snapshot (``writer_listeners``), collected with the collector's
    metrics (``deferred``: copied on the loop, built in the scrape's thread)."""
    from ..providers.overrides import Providers

    gauges = RegisterGauges(Providers(cfg.registers).get, gateway_bound(cfg))
    writer_listeners.append(gauges.on_snapshots)
    deferred.append(gauges.copy)
    log.info("Register metrics on /metrics: every register of up to %d gateway(s) (METRICS_REGISTERS)",
             gauges.max_gateways)
    return gauges
