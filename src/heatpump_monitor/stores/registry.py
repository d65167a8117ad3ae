"""The one place that chooses a store backend: ``STORE`` (``StoreConfig.kind``) -> its writer,
its reader and its description. Adding a backend = a package under :mod:`heatpump_monitor.stores`
and one entry in :data:`BACKENDS` (plus its settings in :mod:`heatpump_monitor.config`).

Backends are imported when first used, so the embedded store never loads an InfluxDB client.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from ..config import StoreConfig
from .base import Reader, Sink

#: how long one write may take before it counts as failed (the spool keeps the polls)
WRITE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Backend:
    """Where a backend's functions live: ``module`` and the names of its sink factory
    ``(store, timeout_s) -> Sink``, reader factory ``(store) -> Reader`` and ``(store) -> str``
    description (for logs, ``verify`` and the dashboard; never a secret)."""

    module: str
    sink: str = "make_sink"
    reader: str = "make_reader"
    describe: str = "describe"

    def get(self, name: str) -> Callable[..., Any]:
        return getattr(importlib.import_module(self.module, __package__), name)


BACKENDS: dict[str, Backend] = {
    "embedded": Backend(".embedded"),
    "influxdb1": Backend(".influx", sink="make_v1_sink", describe="describe_v1"),
    "influxdb2": Backend(".influx", sink="make_v2_sink", describe="describe_v2"),
}


def backend(store: StoreConfig) -> Backend:
    try:
        return BACKENDS[store.kind]
    except KeyError:
        raise ValueError(f"no store backend {store.kind!r} (known: {', '.join(BACKENDS)})") from None


def make_sink(store: StoreConfig, timeout_s: float = WRITE_TIMEOUT_S) -> Sink:
    b = backend(store)
    sink: Sink = b.get(b.sink)(store, timeout_s)
    return sink


def make_reader(store: StoreConfig) -> Reader:
    """The store's reader. Nothing is opened or contacted here: errors come from the first read."""
    b = backend(store)
    reader: Reader = b.get(b.reader)(store)
    return reader


def describe(store: StoreConfig) -> str:
    b = backend(store)
    text: str = b.get(b.describe)(store)
    return text
