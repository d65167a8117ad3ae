"""InfluxDB 1.x and 2.x: writers for each (:mod:`.v1` and :mod:`.v2`, plain requests with
httpx, :mod:`.http`), sharing the line protocol (:mod:`.lineproto`) and one InfluxQL reader (:mod:`.reader`,
through the v1-compatible query API that both versions serve)."""

from __future__ import annotations

from ...config import StoreConfig
from .describe import describe_v1, describe_v2
from .reader import InfluxReader, quote_ident, quote_literal
from .v1 import InfluxV1Sink
from .v2 import InfluxV2Sink

__all__ = ["InfluxReader", "InfluxV1Sink", "InfluxV2Sink", "describe_v1", "describe_v2", "make_reader",
           "make_v1_sink", "make_v2_sink", "quote_ident", "quote_literal"]


def make_v1_sink(store: StoreConfig, timeout_s: float) -> InfluxV1Sink:
    return InfluxV1Sink(url=store.url, database=store.database, username=store.username or None,
                        password=store.password.get_secret_value() or None, timeout_s=timeout_s)


def make_v2_sink(store: StoreConfig, timeout_s: float) -> InfluxV2Sink:
    return InfluxV2Sink(url=store.url, token=store.token.get_secret_value(), org=store.org,
                        bucket=store.bucket, timeout_s=timeout_s)


def make_reader(store: StoreConfig) -> InfluxReader:
    return InfluxReader(store)
