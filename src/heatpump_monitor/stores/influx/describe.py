"""How an InfluxDB store is named in logs, ``verify`` and the dashboard: one wording for its
writer, its reader and the registry (never a secret: no password, no ``user:pw@`` in the URL)."""

from __future__ import annotations

from ...config import StoreConfig
from ...errors import display_url


def database_text(url: str, database: str, username: str | None = None) -> str:
    user = f", user {username}" if username else ""
    return f"InfluxDB 1.x at {display_url(url)} (database {database}{user})"


def describe_v1(store: StoreConfig) -> str:
    return database_text(store.url, store.database, store.username)


def describe_v2(store: StoreConfig) -> str:
    return f"InfluxDB 2.x at {display_url(store.url)} (bucket {store.bucket}, InfluxQL v1 API)"
