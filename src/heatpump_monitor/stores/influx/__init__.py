"""InfluxDB 1.x and 2.x: writers for each (:mod:`.v1` and :mod:`.v2`, plain HTTP/1.1 requests,
:mod:`.http`), sharing the line protocol (:mod:`.lineproto`) and one InfluxQL reader (:mod:`.reader`,
through the v1-compatible query API that both versions serve, with httpx).

The reader is loaded on first use only: the collector writes and never loads it (nor httpx)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...config import StoreConfig
from .describe import describe_v1, describe_v2
from .v1 import InfluxV1Sink
from .v2 import InfluxV2Sink

if TYPE_CHECKING:
    from .reader import InfluxReader, quote_ident, quote_literal

__all__ = ["InfluxReader", "InfluxV1Sink", "InfluxV2Sink", "describe_v1", "describe_v2", "make_reader",
           "make_v1_sink", "make_v2_sink", "quote_ident", "quote_literal"]


def make_v1_sink(store: StoreConfig, timeout_s: float) -> InfluxV1Sink:
    return InfluxV1Sink(url=store.url, database=store.database, username=store.username or None,
                        password=store.password.get_secret_value() or None, timeout_s=timeout_s)


def make_v2_sink(store: StoreConfig, timeout_s: float) -> InfluxV2Sink:
    return InfluxV2Sink(url=store.url, token=store.token.get_secret_value(), org=store.org,
                        bucket=store.bucket, timeout_s=timeout_s)


def make_reader(store: StoreConfig) -> InfluxReader:
    from .reader import InfluxReader

    return InfluxReader(store)


def __getattr__(name: str) -> Any:
    if name in ("InfluxReader", "quote_ident", "quote_literal"):
        from . import reader

        return getattr(reader, name)
    raise AttributeError(name)
