"""The embedded store (default): SQLite, no server. Writer :mod:`.sink`, reader :mod:`.reader`,
layout and rollups :mod:`.schema`."""

from __future__ import annotations

from ...config import StoreConfig
from .reader import EmbeddedReader
from .schema import describe_path
from .sink import EmbeddedSink

__all__ = ["EmbeddedReader", "EmbeddedSink", "describe", "make_reader", "make_sink"]


def describe(store: StoreConfig) -> str:
    return describe_path(store.path)


def make_sink(store: StoreConfig, timeout_s: float) -> EmbeddedSink:
    return EmbeddedSink(store.path)


def make_reader(store: StoreConfig) -> EmbeddedReader:
    return EmbeddedReader(store.path)
