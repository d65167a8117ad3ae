"""The embedded store (default): SQLite, no server. Writer :mod:`.sink`, reader :mod:`.reader`,
layout and rollups :mod:`.schema`."""

from __future__ import annotations

from pathlib import Path

from ...config import StoreConfig
from .reader import EmbeddedReader
from .sink import EmbeddedSink

__all__ = ["EmbeddedReader", "EmbeddedSink", "describe", "make_reader", "make_sink"]


def describe(store: StoreConfig) -> str:
    return f"embedded store at {Path(store.path).resolve()}"


def make_sink(store: StoreConfig, timeout_s: float) -> EmbeddedSink:
    return EmbeddedSink(store.path)


def make_reader(store: StoreConfig) -> EmbeddedReader:
    return EmbeddedReader(store.path)
