"""Readers of stored snapshots: the embedded SQLite store or InfluxDB (InfluxQL).

:func:`make_reader` picks one from a :class:`~heatpump_monitor.config.StoreConfig`. Both have
``gateways()``, ``latest()``, ``snapshots(gateway, start_ms, end_ms, source=None)`` and
``close()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .embedded import EmbeddedReader, GatewayInfo
from .influx import InfluxReader, ReaderError, quote_ident, quote_literal

if TYPE_CHECKING:
    from ..config import StoreConfig

__all__ = ["EmbeddedReader", "GatewayInfo", "InfluxReader", "ReaderError", "make_reader",
           "quote_ident", "quote_literal"]


def make_reader(store: "StoreConfig") -> EmbeddedReader | InfluxReader:
    """EmbeddedReader(path) for the embedded store, else an InfluxReader (1.x or 2.x/3.x).

    Nothing is opened or contacted here: errors come from the first read.
    """
    if store.kind == "embedded":
        return EmbeddedReader(store.path)
    return InfluxReader(store)
