"""Sink stage: embedded (SQLite), InfluxDB v2, InfluxDB 1.x. :func:`make_sink` picks one."""

from __future__ import annotations

from ..config import StoreConfig
from .base import Sink, SinkError

WRITE_TIMEOUT_S = 5.0


def make_sink(store: StoreConfig) -> Sink:
    if store.kind == "embedded":
        from .embedded import EmbeddedSink

        return EmbeddedSink(store.path)
    if store.kind == "influxdb2":
        from .influx_v2 import InfluxV2Sink

        return InfluxV2Sink(url=store.url, token=store.token.get_secret_value(), org=store.org,
                            bucket=store.bucket, timeout_s=WRITE_TIMEOUT_S)
    from .influx_v1 import InfluxV1Sink

    return InfluxV1Sink(url=store.url, database=store.database, username=store.username or None,
                        password=store.password.get_secret_value() or None, timeout_s=WRITE_TIMEOUT_S)


__all__ = ["Sink", "SinkError", "make_sink"]
