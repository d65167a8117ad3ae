"""Readers of stored snapshots: the embedded SQLite store or InfluxDB (InfluxQL).

:func:`make_reader` picks one from a :class:`~heatpump_monitor.config.StoreConfig`. Both have
``gateways()``, ``latest()``, ``snapshots(gateway, start_ms, end_ms, source=None)``, ``series()``
and ``close()``, raise :class:`ReaderError` (with a generic ``cause``, see :mod:`.errors`) and
stop at ``reader.deadline`` (:class:`BudgetExceeded`) when one is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .embedded import EmbeddedReader, GatewayInfo
from .errors import BudgetExceeded, ReaderError
from .influx import InfluxReader, quote_ident, quote_literal

if TYPE_CHECKING:
    from ..config import StoreConfig

__all__ = ["BudgetExceeded", "EmbeddedReader", "GatewayInfo", "InfluxReader", "ReaderError", "make_reader",
           "quote_ident", "quote_literal"]


def make_reader(store: "StoreConfig") -> EmbeddedReader | InfluxReader:
    """EmbeddedReader(path) for the embedded store, else an InfluxReader (1.x or 2.x/3.x).

    Nothing is opened or contacted here: errors come from the first read.
    """
    if store.kind == "embedded":
        return EmbeddedReader(store.path)
    return InfluxReader(store)
