"""Configuration from environment variables (names and defaults from the user's spec).

Every bad value ends in one :class:`ConfigError` whose message names the variable, the bad
value and what is accepted; the command line turns it into one log line and exit code 1.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, ValidationInfo, field_validator

from .masking import Secrets
from .providers import BRANDS
from .providers.overrides import NO_OVERRIDES, RegisterOverrides, check_overrides, parse_overrides
from .sources.gateway import GatewayAddress, parse_gateways

if TYPE_CHECKING:
    from .alerts.settings import AlertSettings

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = "data"
DEFAULT_STORE_PATH = "data/heatpump.sqlite3"
DEFAULT_DEMO_STORE_PATH = "data/demo.sqlite3"
DEFAULT_INFLUXDB_URL = "http://influxdb:8086"
DEFAULT_INTERVAL_S = 30
MAX_INTERVAL = 86_400


class ConfigError(Exception):
    """A configuration problem, worded for the user: one line per mistake (``lines``)."""

    def __init__(self, message: str, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.lines = lines or [message]


def _bad(var: str, value: object, accepted: str) -> ValueError:
    return ValueError(f"Invalid {var}={value!r}: expected {accepted}")


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,30}")
_MAC = re.compile(r"[0-9a-f]{12}")
#: MQTT_MAX_GATEWAYS at most: every discovered gateway is state held and a snapshot per tick
MAX_MQTT_GATEWAYS = 1000
#: GATEWAY_NAME at most this long (it is the `gateway` tag of every point)
MAX_GATEWAY_NAME = 100
_WHOLE = re.compile(r"\s*([0-9]{1,12})\s*")
_DECIMAL = re.compile(r"\s*([0-9]{1,12}(?:\.[0-9]{1,6})?)\s*")

# The choices of the settings that have them: each Literal is both the field's type and what
# its validator accepts (_choice), so the two cannot drift apart.
StoreKind = Literal["embedded", "influxdb1", "influxdb2"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["text", "json"]
TimestampMode = Literal["snapshot", "round"]
PayloadScale = Literal["auto", "raw", "scaled"]


def _whole_between(v: object, var: str, lo: int, hi: int | None, accepted: str) -> int:
    """``v`` as a whole number lo..hi (``hi`` None: no upper bound); else the variable's (or
    option's) error. ASCII digits only: int() would also take "1_0" and Arabic-Indic digits."""
    m = _WHOLE.fullmatch(str(v))
    n = int(m.group(1)) if m else None
    if n is None or n < lo or (hi is not None and n > hi):
        raise _bad(var, v, accepted)
    return n


def parse_interval(v: object, var: str = "COLLECTION_INTERVAL") -> int:
    """The collection interval in whole seconds: the one parser for the variable and for the
    commands' --interval options."""
    return _whole_between(v, var, 1, MAX_INTERVAL, f"a whole number of seconds from 1 to {MAX_INTERVAL}")


def _choice(v: object, var: str, choices: Any, accepted: str, upper: bool = False) -> str:
    """``v`` as one of the ``choices`` Literal's values (case-insensitive); else the variable's error."""
    text = str(v).strip()
    text = text.upper() if upper else text.lower()
    if text not in get_args(choices):
        raise _bad(var, v, accepted)
    return text


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Settings(BaseModel):
    """Every variable, typed and validated once (see :func:`_settings`); the loaders below
    assemble what each command needs from it."""

    model_config = ConfigDict(extra="ignore")

    h66_ip: str = ""
    collection_interval: int = DEFAULT_INTERVAL_S
    heatpump_brand: str = ""  # "" (not set), a brand or auto
    store: StoreKind | None = None  # None: chosen by INFLUXDB_DATABASE / INFLUXDB_TOKEN
    influxdb_url: str = ""
    influxdb_token: SecretStr = SecretStr("")
    influxdb_org: str = "thermia"
    influxdb_bucket: str = "heatpump"
    influxdb_database: str = ""
    influxdb_username: str = ""
    influxdb_password: SecretStr = SecretStr("")
    data_dir: str = DEFAULT_DATA_DIR
    store_path: str = ""  # default: <DATA_DIR>/heatpump.sqlite3
    spool_max_mb: float = 256.0
    spool_path: str = ""  # default: <DATA_DIR>/spool-<api|mqtt>.sqlite3
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    log_format: LogFormat = "text"
    store_unknown_registers: bool = False
    config_file: str = "config.yaml"
    write_buffer_max: int = 10_000
    log_level: LogLevel = "INFO"
    heartbeat_file: str = ""
    # dashboard
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8050
    dashboard_username: str = ""
    dashboard_password: SecretStr = SecretStr("")
    # MQTT collector
    mqtt_broker: str = "mosquitto"
    mqtt_port: int = 1883
    mqtt_username: str = ""
    mqtt_password: SecretStr = SecretStr("")
    mqtt_client_id: str = ""
    mqtt_tls: bool = False
    mqtt_ca_file: str = ""
    h66_mac: str = ""
    mqtt_max_gateways: int = 10
    gateway_name: str = ""
    mqtt_timestamp_mode: TimestampMode = "snapshot"
    mqtt_getall_interval: int = 600
    mqtt_silent_limit: int = 300
    mqtt_payload_scale: PayloadScale = "auto"
    # summaries (analytics/): see AnalyticsConfig
    tz: str = ""
    cop_flow_factor: float = 2.7
    price_per_kwh: float = 2.0
    currency: str = "SEK"
    price_file: str = ""
    compressor_kw: float = 2.0
    add_heat_kw: float = 9.0
    short_cycle_starts: int = 6
    short_cycle_median_minutes: float = 15.0
    short_cycle_hours: int = 3
    hot_water_min_cycle_minutes: float = 2.0
    # alerts: apprise URLs, comma-separated (issue 14); secret: what is masked is notify_secret_parts'
    notify_urls: SecretStr = SecretStr("")
    alerts_dir: str = ""  # default: DATA_DIR; shared by the collectors and the dashboard (compose)
    language: str = ""  # a code of i18n.languages(): the dashboard's default and the alerts' messages; "" = en
    # integrations (issue 15): Home Assistant MQTT discovery on the MQTT_* broker; register gauges
    ha_discovery: bool = False
    ha_discovery_prefix: str = "homeassistant"
    ha_state_topic: str = "heatpump-monitor"  # base: <base>/<gateway>/state, <base>/<source>/availability
    metrics_registers: bool = False

    # Every validator runs before pydantic's own parsing ("before"), on the text of the
    # variable, so that each bad value gives the one-line message naming it.

    @field_validator("mqtt_port", "dashboard_port", mode="before")
    @classmethod
    def _port(cls, v: str, info: ValidationInfo) -> int:
        return _whole_between(v, str(info.field_name).upper(), 1, 65535, "a port number from 1 to 65535")

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _metrics_port(cls, v: str) -> int:
        return _whole_between(v, "METRICS_PORT", 0, 65535,
                             "a port number from 1 to 65535, or 0 for no metrics/health server")

    @field_validator("spool_max_mb", mode="before")
    @classmethod
    def _spool_mb(cls, v: str) -> float:
        m = _DECIMAL.fullmatch(str(v))
        mb = float(m.group(1)) if m else -1.0
        if not 0 <= mb <= 1_000_000:
            raise _bad("SPOOL_MAX_MB", v, "megabytes >= 0 (0: no disk spool, polls wait in memory)")
        return mb

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, v: str) -> str:
        # any language with a catalogue (i18n/locales/<code>.po): adding one adds a choice
        from .i18n import languages

        text = str(v).strip().lower()
        if text and text not in languages():
            raise _bad("LANGUAGE", v, " or ".join(languages()))
        return text

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, v: str) -> str:
        return _choice(v, "LOG_FORMAT", LogFormat, "text or json")

    @field_validator("store_unknown_registers", "mqtt_tls", "ha_discovery", "metrics_registers", mode="before")
    @classmethod
    def _boolean(cls, v: str, info: ValidationInfo) -> bool:
        text = str(v).strip().lower()
        if text not in _TRUE | _FALSE:
            raise _bad(str(info.field_name).upper(), v, "true or false")
        return text in _TRUE

    @field_validator("ha_discovery_prefix", "ha_state_topic", mode="before")
    @classmethod
    def _topic_base(cls, v: str, info: ValidationInfo) -> str:
        """A topic prefix: no wildcards, no empty level (it is joined with '/')."""
        text = str(v).strip()
        if not text or any(c in text for c in "+#\0") or "" in text.split("/"):
            raise _bad(str(info.field_name).upper(), v, "an MQTT topic prefix without +, # or empty levels, "
                       "e.g. homeassistant")
        return text

    @field_validator("h66_mac", mode="before")
    @classmethod
    def _mac(cls, v: str) -> str:
        """One MAC or a comma list, each 12 hex digits (':'/'-' allowed between them);
        normalised to lower case without separators, joined by ','."""
        macs: list[str] = []
        for part in v.split(","):
            mac = part.strip().lower().replace(":", "").replace("-", "")
            if not part.strip():
                continue
            if not _MAC.fullmatch(mac):
                raise _bad("H66_MAC", v, "the gateway's MAC as 12 hex digits, e.g. cd4dee258efa, or a comma list "
                           "of them (empty: any gateway, up to MQTT_MAX_GATEWAYS)")
            if mac in macs:
                raise _bad("H66_MAC", v, f"each MAC once ({mac} is listed twice)")
            macs.append(mac)
        return ",".join(macs)

    @field_validator("mqtt_max_gateways", mode="before")
    @classmethod
    def _max_gateways(cls, v: str) -> int:
        return _whole_between(v, "MQTT_MAX_GATEWAYS", 1, MAX_MQTT_GATEWAYS,
                             f"a whole number of gateways from 1 to {MAX_MQTT_GATEWAYS}")

    @field_validator("mqtt_timestamp_mode", mode="before")
    @classmethod
    def _mode(cls, v: str) -> str:
        return _choice(v, "MQTT_TIMESTAMP_MODE", TimestampMode, "snapshot or round")

    @field_validator("mqtt_payload_scale", mode="before")
    @classmethod
    def _payload_scale(cls, v: str) -> str:
        return _choice(v, "MQTT_PAYLOAD_SCALE", PayloadScale,
                       "auto, raw (540 is 54.0 C, like /api/alldata) or scaled (54 is 54 C)")

    @field_validator("mqtt_getall_interval", "mqtt_silent_limit", mode="before")
    @classmethod
    def _seconds(cls, v: str, info: ValidationInfo) -> int:
        return _whole_between(v, str(info.field_name).upper(), 1, None, "a whole number of seconds >= 1")

    @field_validator("cop_flow_factor", "price_per_kwh", "compressor_kw", "add_heat_kw",
                     "short_cycle_median_minutes", "hot_water_min_cycle_minutes", mode="before")
    @classmethod
    def _amount(cls, v: str, info: ValidationInfo) -> float:
        m = _DECIMAL.fullmatch(str(v))
        x = float(m.group(1)) if m else -1.0
        if not 0 <= x <= 1_000_000:
            raise _bad(str(info.field_name).upper(), v, "a number >= 0, e.g. 2.5")
        return x

    @field_validator("short_cycle_starts", "short_cycle_hours", mode="before")
    @classmethod
    def _count(cls, v: str, info: ValidationInfo) -> int:
        return _whole_between(v, str(info.field_name).upper(), 1, 1000, "a whole number from 1 to 1000")

    @field_validator("tz", mode="before")
    @classmethod
    def _tz(cls, v: str) -> str:
        name = v.strip().removeprefix(":")
        if name:
            try:
                ZoneInfo(name)
            except (ValueError, OSError, ZoneInfoNotFoundError):
                raise _bad("TZ", v, "a time zone name such as Europe/Stockholm or UTC") from None
        return name

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{1,8}|\S{1,3}", v.strip()):
            raise _bad("CURRENCY", v, "a currency code such as SEK, EUR or NOK")
        return v.strip().upper() if v.strip().isascii() else v.strip()

    @field_validator("collection_interval", mode="before")
    @classmethod
    def _interval(cls, v: str) -> int:
        return parse_interval(v)

    @field_validator("heatpump_brand", mode="before")
    @classmethod
    def _brand(cls, v: str) -> str:
        b = v.strip().lower()
        if b and b not in (*BRANDS, "auto"):
            raise _bad("HEATPUMP_BRAND", v, f"one of {', '.join(BRANDS)}, auto")
        return b

    @field_validator("store", mode="before")
    @classmethod
    def _store(cls, v: str) -> str | None:
        if not v.strip():
            return None
        return _choice(v, "STORE", StoreKind, "embedded, influxdb1 or influxdb2 "
                       "(unset: chosen by INFLUXDB_DATABASE, INFLUXDB_TOKEN)")

    @field_validator("write_buffer_max", mode="before")
    @classmethod
    def _buffer(cls, v: str) -> int:
        return _whole_between(v, "WRITE_BUFFER_MAX", 1, None, "a whole number of polls >= 1")

    @field_validator("influxdb_url", mode="before")
    @classmethod
    def _url(cls, v: str) -> str:
        v = v.strip()
        if v and not v.startswith(("http://", "https://")):
            raise _bad("INFLUXDB_URL", v, "an http:// or https:// URL, e.g. http://influxdb:8086")
        return v.rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, v: str) -> str:
        return _choice(v, "LOG_LEVEL", LogLevel, "DEBUG, INFO, WARNING or ERROR",
                       upper=True)

    @field_validator("metrics_host", "dashboard_host", mode="before")
    @classmethod
    def _host(cls, v: str) -> str:
        return v.strip() or "127.0.0.1"

    @field_validator("store_path", "spool_path", "mqtt_broker", "dashboard_username", mode="before")
    @classmethod
    def _stripped(cls, v: str) -> str:
        return v.strip()


@dataclass(frozen=True)
class StoreConfig:
    kind: StoreKind
    path: str = DEFAULT_STORE_PATH
    url: str = ""
    token: SecretStr = SecretStr("")
    org: str = ""
    bucket: str = ""
    database: str = ""
    username: str = ""
    password: SecretStr = SecretStr("")

    def secrets(self, *basic_auth: tuple[str, str]) -> Secrets:
        """What to mask wherever this store's text is shown: its token, its password and the
        base64 of user:password (a server may echo the Authorization header), and the same
        for ``basic_auth`` pairs of others (the dashboard's login)."""
        return Secrets([self.token.get_secret_value()],
                       [(self.username, self.password.get_secret_value()), *basic_auth])


@dataclass(frozen=True)
class MqttSettings:
    broker: str
    port: int
    username: str
    password: SecretStr
    client_id: str
    tls: bool
    ca_file: str
    mac: str  # H66_MAC: one MAC or a comma list (normalised); empty: any gateway (+/HP/+), discovered
    gateway_name: str
    timestamp_mode: TimestampMode
    getall_interval_s: int
    silent_limit_s: int
    payload_scale: PayloadScale = "auto"
    max_gateways: int = 10  # MQTT_MAX_GATEWAYS: gateways discovered at most (when no MAC is configured)

    @property
    def macs(self) -> tuple[str, ...]:
        """The configured gateways; () when any gateway may be discovered."""
        return tuple(self.mac.split(",")) if self.mac else ()

    @property
    def names(self) -> dict[str, str]:
        """MAC -> the name its snapshots are stored under, where that is not the MAC itself:
        GATEWAY_NAME names the one configured MAC (the loader allows it only then)."""
        macs = self.macs
        return {macs[0]: self.gateway_name} if len(macs) == 1 and self.gateway_name else {}

    @property
    def gateway_names(self) -> list[str]:
        """The configured gateways by the name they are stored under ([] when discovered)."""
        names = self.names
        return [names.get(mac, mac) for mac in self.macs]


@dataclass(frozen=True)
class HomeAssistantSettings:
    """HA_DISCOVERY=true: where and how the collector publishes to Home Assistant (the MQTT_*
    broker of the MQTT collector, or the one given to the API collector)."""

    broker: str
    port: int
    username: str
    password: SecretStr
    client_id: str  # MQTT_CLIENT_ID + "-ha" when set: never the MQTT source's own id
    tls: bool
    ca_file: str
    discovery_prefix: str
    state_base: str
    max_gateways: int  # the configured gateways, or MQTT_MAX_GATEWAYS when they are discovered


@dataclass(frozen=True)
class CollectorConfig:
    gateways: tuple[GatewayAddress, ...]
    interval_s: int
    brand: str  # thermia | ivt | nibe | auto
    brand_source: str  # where the brand came from, for the start-up log
    store: StoreConfig
    store_unknown: bool
    write_buffer_max: int
    log_level: LogLevel
    heartbeat_file: str = ""  # touched after every tick; `heatpump-monitor healthcheck` reads it
    mqtt: MqttSettings | None = None
    spool_path: str = ""  # empty: no disk spool (SPOOL_MAX_MB=0); waiting polls kept in memory
    spool_max_bytes: int = 256_000_000
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # 0: no /metrics, /healthz, /readyz server
    log_format: LogFormat = "text"
    registers: RegisterOverrides = NO_OVERRIDES  # CONFIG_FILE's registers: section
    alerts: AlertsConfig | None = None  # None: no rules run (neither NOTIFY_URLS nor alerts: set)
    homeassistant: HomeAssistantSettings | None = None  # HA_DISCOVERY=true
    metrics_registers: bool = False  # METRICS_REGISTERS=true: register values on /metrics

    @property
    def source(self) -> str:
        return "api" if self.mqtt is None else "mqtt"

    @property
    def http_timeout_s(self) -> float:
        """Always shorter than the interval, so a hanging gateway never delays the next tick."""
        return min(10.0, self.interval_s * 0.8)


def _lowered(env: Mapping[str, str] | None) -> dict[str, str]:
    """The variables, by lower-case name: the process environment (the one place this package
    reads it), or ``env`` alone when given (tests, the demo)."""
    return {k.lower(): v for k, v in (os.environ if env is None else env).items()}


#: environment variables whose values never appear in any output
SECRET_VARS = ("INFLUXDB_TOKEN", "INFLUXDB_PASSWORD", "MQTT_PASSWORD", "DASHBOARD_PASSWORD")
#: (user, password) variable pairs sent as HTTP basic auth: their base64 is masked too
BASIC_AUTH_VARS = (("INFLUXDB_USERNAME", "INFLUXDB_PASSWORD"), ("DASHBOARD_USERNAME", "DASHBOARD_PASSWORD"),
                   ("MQTT_USERNAME", "MQTT_PASSWORD"))


def env_secrets(env: Mapping[str, str] | None = None) -> Secrets:
    """The secrets among the variables, in every form a server may echo them: what the log
    masks before the settings are even checked (a bad setting's message may quote one)."""
    variables = _lowered(env)
    urls = split_notify_urls(variables.get("notify_urls", ""))
    values, pairs = notify_secret_parts(urls)
    return Secrets([variables.get(v.lower(), "") for v in SECRET_VARS] + values,
                   [(variables.get(u.lower(), ""), variables.get(p.lower(), "")) for u, p in BASIC_AUTH_VARS]
                   + pairs)


def split_notify_urls(text: str) -> list[str]:
    """NOTIFY_URLS: comma- (or whitespace-) separated apprise URLs, empty parts dropped."""
    return [u for u in re.split(r"[,\s]+", text) if u]


#: a notification URL's parts shorter than this are not masked on their own (a path such as
#: /hook or a port would mangle every message); the whole URL and its password always are
_URL_PART_MIN = 6


def notify_secret_parts(urls: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """What to mask of each notification URL: the URL whole and after its scheme, its password
    (and user:password's base64, sent as basic auth), and its tokens: a host without a dot
    (Telegram's bot token, Discord's webhook id), each path segment and query value of
    _URL_PART_MIN characters or more (ntfy topics, webhook keys). Every apprise service keeps its
    secret in one of those places, and we cannot know which for a service we were not told of."""
    from urllib.parse import parse_qsl, unquote

    values: list[str] = []
    pairs: list[tuple[str, str]] = []
    for url in urls:
        rest = url.split("://", 1)[1] if "://" in url else url
        values += [url, rest]
        netloc, _, tail = rest.partition("/")
        path, _, query = tail.partition("?")
        if "?" in netloc:
            netloc, _, query = netloc.partition("?")
        userinfo, _, host = netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        if password:
            values += [password, unquote(password)]
            pairs.append((unquote(user), unquote(password)))
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 and host.rsplit(":", 1)[1].isdigit() else host
        if "." not in host and host != "localhost":
            values.append(host)
        parts = [p for p in path.split("/") if p] + [v for _, v in parse_qsl(query)]
        values += [p for p in parts + [unquote(p) for p in parts] if len(p) >= _URL_PART_MIN]
    return values, pairs


def redact_url(url: str) -> str:
    """A notification URL as the logs name it: its scheme only (``tgram://***``)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    return f"{scheme}://***" if scheme.isascii() and scheme.isalnum() else "***"


def load_notify_urls(env: Mapping[str, str] | None = None) -> list[str]:
    """NOTIFY_URLS as a list (empty: alerts off); each must at least look like scheme://..."""
    return _notify_urls(_settings(env))


def _notify_urls(s: Settings) -> list[str]:
    urls = split_notify_urls(s.notify_urls.get_secret_value())
    for url in urls:
        if "://" not in url:
            raise ConfigError(f"Invalid NOTIFY_URLS entry {redact_url(url)}: expected an apprise URL "
                              "such as ntfys://topic, tgram://bottoken/chatid or mailtos://user:pass@host")
    return urls


@dataclass(frozen=True)
class AlertsConfig:
    """Alerts (issue 14). They run when NOTIFY_URLS is set (rules and delivery) or CONFIG_FILE
    has an ``alerts:`` section (rules only: the dashboard shows them, nothing is sent)."""

    urls: tuple[str, ...] = field(repr=False)  # secret: NOTIFY_URLS
    settings: AlertSettings
    directory: str  # ALERTS_DIR (default DATA_DIR): state and outbox files, shared with the dashboard
    language: str  # "en" or a code with a catalogue (heatpump_monitor.i18n.languages)
    tz: ZoneInfo  # "since 06:40" in the owner's time
    on: bool = True  # NOTIFY_URLS set or an alerts: section: the rules run (a dashboard may read it anyway)

    def __repr__(self) -> str:  # never the URLs, in no form
        return f"AlertsConfig({len(self.urls)} target(s), directory={self.directory!r}, language={self.language})"


def alerts_config(s: Settings, doc: dict, path: str, always: bool = False) -> AlertsConfig | None:
    """The alerts' settings; None when they are off (``always``: for the dashboard and the
    watcher, which show the rules even when nothing is sent)."""
    from .alerts.settings import parse_alert_settings  # pydantic models of the rules: only if used

    urls = _notify_urls(s)
    if not urls and "alerts" not in doc and not always:
        return None
    settings = parse_alert_settings(doc.get("alerts"), path)
    language = settings.language or s.language or "en"
    return AlertsConfig(urls=tuple(urls), settings=settings, directory=s.alerts_dir or s.data_dir,
                        language=language,  # checked by both validators
                        tz=_zone(s.tz), on=bool(urls) or "alerts" in doc)


def load_alerts_config(env: Mapping[str, str] | None = None) -> AlertsConfig:
    """The alerts' settings for the dashboard and ``watch``, whether or not anything is sent."""
    s = _settings(env)
    config = alerts_config(s, _config_doc(s), s.config_file, always=True)
    assert config is not None
    return config


def _settings(env: Mapping[str, str] | None) -> Settings:
    variables = _lowered(env)
    try:
        return Settings.model_validate({k: v for k, v in variables.items() if k in Settings.model_fields})
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err.get("ctx", {}).get("error") or err["msg"])
        raise ConfigError(msg.removeprefix("Value error, ")) from None


def log_settings(env: Mapping[str, str] | None = None) -> tuple[LogLevel, LogFormat]:
    """LOG_LEVEL and LOG_FORMAT for the first log lines, read before the whole configuration is
    checked so that its errors are logged as configured; a bad one is the default here (the
    whole check then reports it)."""
    variables = _lowered(env)

    def valid(name: str) -> Settings:
        try:
            return Settings.model_validate({name: variables[name]} if name in variables else {})
        except ValidationError:
            return Settings()

    return valid("log_level").log_level, valid("log_format").log_format


def store_config(s: Settings, path: str | None = None) -> StoreConfig:
    """The store STORE names; unset, the one the variables select: INFLUXDB_DATABASE -> 1.x,
    INFLUXDB_TOKEN -> v2, else embedded. ``path``: an embedded store file named on the command
    line (``--store``), which wins over every variable."""
    if path is not None:
        return StoreConfig(kind="embedded", path=path)
    kind = s.store or _implied_store(s)
    url = s.influxdb_url or DEFAULT_INFLUXDB_URL
    if kind == "influxdb1":
        if not s.influxdb_database:
            raise ConfigError("STORE=influxdb1 needs INFLUXDB_DATABASE")
        return StoreConfig(kind="influxdb1", url=url, database=s.influxdb_database,
                           username=s.influxdb_username, password=s.influxdb_password)
    if kind == "influxdb2":
        if not s.influxdb_token.get_secret_value():
            raise ConfigError("STORE=influxdb2 needs INFLUXDB_TOKEN")
        return StoreConfig(kind="influxdb2", url=url, token=s.influxdb_token, org=s.influxdb_org,
                           bucket=s.influxdb_bucket)
    return StoreConfig(kind="embedded", path=s.store_path or str(Path(s.data_dir) / "heatpump.sqlite3"))


def _implied_store(s: Settings) -> StoreKind:
    """The seed's selection, kept for STORE unset."""
    if s.influxdb_database:
        return "influxdb1"
    if s.influxdb_token.get_secret_value():
        return "influxdb2"
    if s.influxdb_url:
        raise ConfigError("INFLUXDB_TOKEN environment variable must be set")
    return "embedded"


def load_store_config(env: Mapping[str, str] | None = None, path: str | None = None) -> StoreConfig:
    return store_config(_settings(env), path)


def load_data_dir(env: Mapping[str, str] | None = None) -> str:
    """DATA_DIR: the directory of the collectors' own files (spool, embedded store) and of
    ``import-upstream``'s checkpoints. Every variable is checked, as by the other loaders."""
    return _settings(env).data_dir


#: CONFIG_FILE's sections: the brand, register corrections, alert rules
CONFIG_KEYS = ("brand", "registers", "alerts")


def read_config_file(path: str, explicit: bool = False) -> dict:
    """CONFIG_FILE as a mapping; {} when the default config.yaml does not exist (it is optional).
    A file named explicitly (CONFIG_FILE, --config) must exist and be a readable YAML mapping."""
    p = Path(path)
    if not path:
        return {}
    if not p.is_file():
        if explicit:
            raise ConfigError(f"Invalid CONFIG_FILE={path!r}: "
                              f"{'not a file' if p.exists() else 'no such file'} (unset it to use none)")
        return {}
    try:
        doc = yaml.safe_load(p.read_text("utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"Invalid {path}: expected a mapping such as 'brand: ivt'")
    unknown = [k for k in doc if k not in CONFIG_KEYS]
    if unknown:
        # a typo (register:) would silently drop the user's corrections; and the names are only
        # shown when they look like setting names (a wrong file's lines are nobody's business)
        shown = [k for k in unknown if isinstance(k, str) and _KEY.fullmatch(k)]
        named = f" ({', '.join(sorted(shown))})" if len(shown) == len(unknown) else ""
        raise ConfigError(f"Invalid {path}: {len(unknown)} unknown key(s){named}; known: {', '.join(CONFIG_KEYS)}. "
                          "Is it the right file?")
    return doc


def _brand(s: Settings, doc: dict) -> tuple[str, str]:
    if s.heatpump_brand:
        return s.heatpump_brand, "HEATPUMP_BRAND"
    brand = doc.get("brand")
    if brand is not None:
        b = str(brand).strip().lower()
        if b not in (*BRANDS, "auto"):
            raise ConfigError(f"Invalid brand {brand!r} in {s.config_file}: expected one of {', '.join(BRANDS)}, auto")
        return b, s.config_file
    return "thermia", "default"


def _config_doc(s: Settings, path: str | None = None) -> dict:
    """CONFIG_FILE's content, or ``path``'s (a command's --config); either given explicitly must exist."""
    if path is not None:
        return read_config_file(path, explicit=True)
    return read_config_file(s.config_file, explicit="config_file" in s.model_fields_set)


def configured_brand(env: Mapping[str, str] | None = None, path: str | None = None) -> str:
    """HEATPUMP_BRAND, else CONFIG_FILE's (or ``path``'s) brand:, else "" (for the commands
    that decode without a gateway to ask)."""
    s = _settings(env)
    doc = _config_doc(s, path)
    return _brand(s, doc)[0] if (s.heatpump_brand or doc.get("brand") is not None) else ""


def register_overrides(path: str, doc: dict, brand: str = "auto") -> RegisterOverrides:
    """CONFIG_FILE's ``registers:`` section, checked against the brands it may apply to;
    raises ConfigError with one line per mistake."""
    overrides, errors = parse_overrides(doc.get("registers"), path)
    if not errors:
        errors = check_overrides(overrides, BRANDS if brand == "auto" else (brand,))
    if errors:
        raise ConfigError(f"{len(errors)} mistake(s) in {path}'s registers: section", errors)
    return overrides


def load_register_overrides(env: Mapping[str, str] | None = None, path: str | None = None,
                            brand: str = "auto") -> RegisterOverrides:
    """The overrides in CONFIG_FILE (or ``path``), for the commands that decode or show registers."""
    s = _settings(env)
    doc = _config_doc(s, path)
    path = s.config_file if path is None else path
    return register_overrides(path, doc, brand)


def load_collector_config(env: Mapping[str, str] | None = None) -> CollectorConfig:
    """Settings of the API collector (``collect``, ``api_collector.py``)."""
    s = _settings(env)
    if not s.h66_ip.strip():
        raise ConfigError("H66_IP environment variable must be set")
    try:
        gateways = parse_gateways(s.h66_ip)
    except ValueError as exc:
        raise ConfigError(f"Invalid H66_IP={s.h66_ip!r}: {exc}") from None
    doc = _config_doc(s)
    brand, source = _brand(s, doc)
    return _common(s, tuple(gateways), brand, source, doc=doc)


def load_mqtt_config(env: Mapping[str, str] | None = None) -> CollectorConfig:
    """Settings of the MQTT collector (``collect --source mqtt``, ``collector.py``)."""
    s = _settings(env)
    doc = _config_doc(s)
    brand, source = _brand(s, doc)
    if brand == "auto":
        raise ConfigError(f"Invalid HEATPUMP_BRAND='auto' (from {source}) for the MQTT collector: "
                          "expected one of thermia, ivt, nibe (auto detection needs the HTTP API)")
    name = s.gateway_name.strip()
    if name and (not s.h66_mac or "," in s.h66_mac):
        raise ConfigError("GATEWAY_NAME needs exactly one MAC in H66_MAC: it names one gateway")
    if len(name) > MAX_GATEWAY_NAME or not name.isprintable() or "\\" in name:
        # the `gateway` tag of every point: a newline or a backslash would break line protocol
        raise ConfigError(f"Invalid GATEWAY_NAME={s.gateway_name[:MAX_GATEWAY_NAME]!r}: expected at most "
                          f"{MAX_GATEWAY_NAME} printable characters without a backslash, e.g. 192.168.1.100")
    mqtt = MqttSettings(
        broker=s.mqtt_broker, port=s.mqtt_port, username=s.mqtt_username,
        password=s.mqtt_password, client_id=s.mqtt_client_id, tls=s.mqtt_tls,
        ca_file=s.mqtt_ca_file, mac=s.h66_mac, gateway_name=name,
        timestamp_mode=s.mqtt_timestamp_mode,
        getall_interval_s=s.mqtt_getall_interval, silent_limit_s=s.mqtt_silent_limit,
        payload_scale=s.mqtt_payload_scale,
        max_gateways=s.mqtt_max_gateways)
    if not mqtt.broker:
        raise ConfigError("Invalid MQTT_BROKER='': expected the broker's host name or address")
    return _common(s, (), brand, source, mqtt, doc=doc)


def _common(s: Settings, gateways: tuple[GatewayAddress, ...], brand: str, source: str,
            mqtt: MqttSettings | None = None, doc: dict | None = None) -> CollectorConfig:
    if s.metrics_registers and not s.metrics_port:
        raise ConfigError("METRICS_REGISTERS=true needs METRICS_PORT: the register values are served on its /metrics")
    spool_path = ""
    if s.spool_max_mb > 0:
        spool_path = s.spool_path or str(Path(s.data_dir) / f"spool-{'api' if mqtt is None else 'mqtt'}.sqlite3")
    return CollectorConfig(
        gateways=gateways,
        interval_s=s.collection_interval,
        brand=brand,
        brand_source=source,
        store=store_config(s),
        store_unknown=s.store_unknown_registers,
        write_buffer_max=s.write_buffer_max,
        log_level=s.log_level,
        heartbeat_file=s.heartbeat_file,
        mqtt=mqtt,
        spool_path=spool_path,
        spool_max_bytes=int(s.spool_max_mb * 1_000_000),
        metrics_host=s.metrics_host,
        metrics_port=s.metrics_port,
        log_format=s.log_format,
        registers=register_overrides(s.config_file, doc or {}, brand),
        alerts=alerts_config(s, doc or {}, s.config_file),
        homeassistant=_homeassistant(s, len(gateways) if mqtt is None else len(mqtt.macs) or mqtt.max_gateways),
        metrics_registers=s.metrics_registers,
    )


def _homeassistant(s: Settings, max_gateways: int) -> HomeAssistantSettings | None:
    if not s.ha_discovery:
        return None
    if not s.mqtt_broker:
        raise ConfigError("Invalid MQTT_BROKER='': HA_DISCOVERY=true needs the broker's host name or address")
    if s.mqtt_tls and s.mqtt_ca_file:
        import ssl  # checked here: a bad file found by the publisher's thread would only be logged

        try:
            ssl.create_default_context(cafile=s.mqtt_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"Invalid MQTT_CA_FILE={s.mqtt_ca_file!r}: {exc}") from None
    return HomeAssistantSettings(
        broker=s.mqtt_broker, port=s.mqtt_port, username=s.mqtt_username, password=s.mqtt_password,
        client_id=f"{s.mqtt_client_id}-ha" if s.mqtt_client_id else "", tls=s.mqtt_tls, ca_file=s.mqtt_ca_file,
        discovery_prefix=s.ha_discovery_prefix, state_base=s.ha_state_topic, max_gateways=max_gateways)


def load_language(env: Mapping[str, str] | None = None) -> str:
    """LANGUAGE: the dashboard's default language (a browser's choice overrides it) and the
    alerts' messages'; "en" when unset. The one place the dashboard reads it."""
    return _settings(env).language or "en"


@dataclass(frozen=True)
class DashboardConfig:
    host: str
    port: int
    auth: tuple[str, SecretStr] | None
    store: StoreConfig


def load_dashboard_config(env: Mapping[str, str] | None = None, store_path: str | None = None) -> DashboardConfig:
    """Settings of ``heatpump-monitor serve``: where to listen, optional basic auth, the store
    (``store_path``: an embedded store file given by ``serve --store``)."""
    s = _settings(env)
    user, password = s.dashboard_username, s.dashboard_password
    if bool(user) != bool(password.get_secret_value()):
        raise ConfigError("DASHBOARD_USERNAME and DASHBOARD_PASSWORD must be set together (or neither)")
    return DashboardConfig(host=s.dashboard_host, port=s.dashboard_port,
                           auth=(user, password) if user else None, store=store_config(s, store_path))


@dataclass(frozen=True)
class AnalyticsConfig:
    """How summaries are computed (``heatpump_monitor.analytics``); every figure that uses an
    assumption says so (``estimated``)."""

    tz: ZoneInfo  # local days and hours for people (TZ; default the system's zone)
    flow_factor_kw_per_k: float = 2.7  # COP_FLOW_FACTOR: heat kW per K of forward - return
    price_per_kwh: float = 2.0  # PRICE_PER_KWH, used where PRICE_FILE has no price
    currency: str = "SEK"
    price_file: str = ""  # PRICE_FILE: CSV of prices by time (spot-price exports)
    compressor_kw: float = 2.0  # COMPRESSOR_KW: electric power assumed without a meter
    add_heat_kw: float = 9.0  # ADD_HEAT_KW: the add-on heater's full power (percent registers)
    short_cycle_starts: int = 6  # starts in one hour that make the hour "busy"
    short_cycle_median_minutes: float = 15.0  # ...and a day's median cycle at most this long
    short_cycle_hours: int = 3  # ...in at least this many hours of the day: short-cycling
    hot_water_min_cycle_minutes: float = 2.0  # shorter hot-water runs are noise, not cycles


def system_zone(env: Mapping[str, str] | None = None) -> ZoneInfo:
    """The zone summaries use: TZ if set, else the system's (/etc/localtime), else UTC."""
    return _zone(_settings(env).tz)


def _zone(name: str) -> ZoneInfo:
    if name:
        return ZoneInfo(name)
    try:
        target = str(Path("/etc/localtime").resolve())
        key = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""
        return ZoneInfo(key) if key else ZoneInfo("UTC")
    except (ValueError, OSError, ZoneInfoNotFoundError):
        return ZoneInfo("UTC")


def load_analytics_config(env: Mapping[str, str] | None = None) -> AnalyticsConfig:
    s = _settings(env)
    if s.price_file and not Path(s.price_file).is_file():
        raise ConfigError(f"Invalid PRICE_FILE={s.price_file!r}: no such file (a CSV of time,price rows)")
    return AnalyticsConfig(
        tz=system_zone(env), flow_factor_kw_per_k=s.cop_flow_factor, price_per_kwh=s.price_per_kwh,
        currency=s.currency, price_file=s.price_file, compressor_kw=s.compressor_kw,
        add_heat_kw=s.add_heat_kw, short_cycle_starts=s.short_cycle_starts,
        short_cycle_median_minutes=s.short_cycle_median_minutes, short_cycle_hours=s.short_cycle_hours,
        hot_water_min_cycle_minutes=s.hot_water_min_cycle_minutes)


@dataclass(frozen=True)
class VerifyConfig:
    store: StoreConfig
    interval_s: int


def load_verify_config(env: Mapping[str, str] | None = None, store_path: str | None = None) -> VerifyConfig:
    """Settings of ``heatpump-monitor verify``: the store (``store_path``: ``--store``) and the
    collectors' interval."""
    s = _settings(env)
    return VerifyConfig(store=store_config(s, store_path), interval_s=s.collection_interval)


@dataclass(frozen=True)
class HealthcheckConfig:
    metrics_port: int  # 0: the collector serves no /readyz; check the heartbeat file instead
    heartbeat_file: str
    interval_s: int


def load_healthcheck_config(env: Mapping[str, str] | None = None) -> HealthcheckConfig:
    """Settings of ``heatpump-monitor healthcheck``: the collector's, since it checks that one."""
    s = _settings(env)
    return HealthcheckConfig(metrics_port=s.metrics_port, heartbeat_file=s.heartbeat_file,
                             interval_s=s.collection_interval)


def demo_store_path(env: Mapping[str, str] | None = None) -> str:
    """The demo's default store: STORE_PATH when set, else its own file beside the real store.
    Read without checking the other variables: the demo configures its collector itself."""
    return _lowered(env).get("store_path", "").strip() or DEFAULT_DEMO_STORE_PATH


def simulator_mqtt_password(env: Mapping[str, str] | None = None) -> str | None:
    """MQTT_PASSWORD for ``simulate --mqtt`` (None: not set). Read on its own: the simulator is
    not configured by the collector's variables, so their mistakes are not its concern."""
    return _lowered(env).get("mqtt_password")
