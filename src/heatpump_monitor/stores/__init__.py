"""Storage, by backend: one package per backend with its writer and reader side by side
(:mod:`.embedded`, :mod:`.influx`), the shared protocols, types and errors (:mod:`.base`) and
the one place that chooses a backend (:mod:`.registry`)."""

from __future__ import annotations

from .base import (BudgetExceeded, GatewayInfo, Reader, ReaderError, Series, Sink, SinkError, StoreError,
                   bucket_plan)
from .registry import BACKENDS, describe, make_reader, make_sink

__all__ = ["BACKENDS", "BudgetExceeded", "GatewayInfo", "Reader", "ReaderError", "Series", "Sink", "SinkError",
           "StoreError", "bucket_plan", "describe", "make_reader", "make_sink"]
