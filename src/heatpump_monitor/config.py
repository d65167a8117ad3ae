"""Configuration from environment variables (names and defaults from the user's spec).

Every bad value ends in one :class:`ConfigError` whose message names the variable, the bad
value and what is accepted; the command line turns it into one log line and exit code 1.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Mapping

import yaml
from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .providers import BRANDS
from .sources.gateway import GatewayAddress, parse_gateways

log = logging.getLogger(__name__)

DEFAULT_STORE_PATH = "data/heatpump.sqlite3"
DEFAULT_INFLUXDB_URL = "http://influxdb:8086"
MAX_INTERVAL = 86_400


class ConfigError(Exception):
    """A configuration problem, worded for the user."""


def _bad(var: str, value: object, accepted: str) -> ValueError:
    return ValueError(f"Invalid {var}={value!r}: expected {accepted}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Settings(BaseSettings):
    """Raw settings as read from the environment; see :func:`load_settings`."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    h66_ip: str = ""
    collection_interval: str = "30"
    heatpump_brand: str = ""
    influxdb_url: str = ""
    influxdb_token: SecretStr = SecretStr("")
    influxdb_org: str = "thermia"
    influxdb_bucket: str = "heatpump"
    influxdb_database: str = ""
    influxdb_username: str = ""
    influxdb_password: SecretStr = SecretStr("")
    store_path: str = DEFAULT_STORE_PATH
    store_unknown_registers: str = "false"
    config_file: str = "config.yaml"
    write_buffer_max: str = "10000"
    log_level: str = "INFO"
    heartbeat_file: str = ""

    @field_validator("collection_interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        try:
            n = int(v.strip())
        except ValueError:
            raise _bad("COLLECTION_INTERVAL", v, f"a whole number of seconds from 1 to {MAX_INTERVAL}") from None
        if not 1 <= n <= MAX_INTERVAL:
            raise _bad("COLLECTION_INTERVAL", v, f"a whole number of seconds from 1 to {MAX_INTERVAL}")
        return str(n)

    @field_validator("heatpump_brand")
    @classmethod
    def _brand(cls, v: str) -> str:
        b = v.strip().lower()
        if b and b not in (*BRANDS, "auto"):
            raise _bad("HEATPUMP_BRAND", v, f"one of {', '.join(BRANDS)}, auto")
        return b

    @field_validator("store_unknown_registers")
    @classmethod
    def _bool(cls, v: str) -> str:
        if v.strip().lower() not in _TRUE | _FALSE:
            raise _bad("STORE_UNKNOWN_REGISTERS", v, "true or false")
        return v.strip().lower()

    @field_validator("write_buffer_max")
    @classmethod
    def _buffer(cls, v: str) -> str:
        try:
            n = int(v)
        except ValueError:
            n = 0
        if n < 1:
            raise _bad("WRITE_BUFFER_MAX", v, "a whole number of polls >= 1")
        return str(n)

    @field_validator("influxdb_url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = v.strip()
        if v and not v.startswith(("http://", "https://")):
            raise _bad("INFLUXDB_URL", v, "an http:// or https:// URL, e.g. http://influxdb:8086")
        return v.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        lv = v.strip().upper()
        if lv not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise _bad("LOG_LEVEL", v, "DEBUG, INFO, WARNING or ERROR")
        return lv


@dataclass(frozen=True)
class StoreConfig:
    kind: Literal["embedded", "influxdb2", "influxdb1"]
    path: str = DEFAULT_STORE_PATH
    url: str = ""
    token: SecretStr = SecretStr("")
    org: str = ""
    bucket: str = ""
    database: str = ""
    username: str = ""
    password: SecretStr = SecretStr("")


@dataclass(frozen=True)
class CollectorConfig:
    gateways: tuple[GatewayAddress, ...]
    interval_s: int
    brand: str  # thermia | ivt | nibe | auto
    brand_source: str  # where the brand came from, for the start-up log
    store: StoreConfig
    store_unknown: bool
    write_buffer_max: int
    log_level: str
    heartbeat_file: str = ""  # touched after every tick; `heatpump-monitor healthcheck` reads it

    @property
    def http_timeout_s(self) -> float:
        """Always shorter than the interval, so a hanging gateway never delays the next tick."""
        return min(10.0, self.interval_s * 0.8)


def _settings(env: Mapping[str, str] | None) -> Settings:
    try:
        if env is None:
            return Settings()
        # explicit mapping (tests): read only from it
        return Settings(**{k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields})
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err.get("ctx", {}).get("error") or err["msg"])
        raise ConfigError(msg.removeprefix("Value error, ")) from None


def store_config(s: Settings) -> StoreConfig:
    """Which store the variables select: INFLUXDB_DATABASE -> 1.x, INFLUXDB_TOKEN -> v2, else embedded."""
    if s.influxdb_database:
        return StoreConfig(kind="influxdb1", url=s.influxdb_url or DEFAULT_INFLUXDB_URL,
                           database=s.influxdb_database, username=s.influxdb_username,
                           password=s.influxdb_password)
    if s.influxdb_token.get_secret_value():
        return StoreConfig(kind="influxdb2", url=s.influxdb_url or DEFAULT_INFLUXDB_URL,
                           token=s.influxdb_token, org=s.influxdb_org, bucket=s.influxdb_bucket)
    if s.influxdb_url:
        raise ConfigError("INFLUXDB_TOKEN environment variable must be set")
    return StoreConfig(kind="embedded", path=s.store_path)


def load_store_config(env: Mapping[str, str] | None = None) -> StoreConfig:
    return store_config(_settings(env))


def _brand_from_file(path: str) -> str | None:
    p = Path(path)
    if not p.is_file():
        return None
    try:
        doc = yaml.safe_load(p.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"Invalid {path}: expected a mapping such as 'brand: ivt'")
    brand = doc.get("brand")
    if brand is None:
        return None
    b = str(brand).strip().lower()
    if b not in (*BRANDS, "auto"):
        raise ConfigError(f"Invalid brand {brand!r} in {path}: expected one of {', '.join(BRANDS)}, auto")
    return b


def load_collector_config(env: Mapping[str, str] | None = None) -> CollectorConfig:
    s = _settings(env)
    if not s.h66_ip.strip():
        raise ConfigError("H66_IP environment variable must be set")
    try:
        gateways = parse_gateways(s.h66_ip)
    except ValueError as exc:
        raise ConfigError(f"Invalid H66_IP={s.h66_ip!r}: {exc}") from None
    if s.heatpump_brand:
        brand, source = s.heatpump_brand, "HEATPUMP_BRAND"
    else:
        file_brand = _brand_from_file(s.config_file)
        if file_brand:
            brand, source = file_brand, s.config_file
        else:
            brand, source = "thermia", "default"
    return CollectorConfig(
        gateways=tuple(gateways),
        interval_s=int(s.collection_interval),
        brand=brand,
        brand_source=source,
        store=store_config(s),
        store_unknown=s.store_unknown_registers in _TRUE,
        write_buffer_max=int(s.write_buffer_max),
        log_level=s.log_level,
        heartbeat_file=s.heartbeat_file,
    )


def environ() -> Mapping[str, str]:
    return os.environ
