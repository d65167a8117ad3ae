"""The ``alerts:`` section of CONFIG_FILE: which rules run and their thresholds.

Every rule is on by default with a threshold meant for a Scandinavian ground-source or
air/water pump; each can be tuned or switched off (``hot_water: false`` or
``hot_water: {enabled: false}``). Unknown keys are mistakes (a typo such as ``minuets:``
would silently keep the default), reported one line each like the ``registers:`` section.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..config import ConfigError
from ..i18n import languages


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True

    @model_validator(mode="before")
    @classmethod
    def _switch(cls, v: Any) -> Any:
        # "rule: false" is the short way to switch one off; "rule: true" keeps its defaults
        if isinstance(v, bool):
            return {"enabled": v}
        return v


class AlarmRule(Rule):
    """The pump's own alarm (status register, else the alarm number) and its clearing."""


class SilentRule(Rule):
    minutes: float = Field(default=10.0, gt=0, le=10_080)


class AddHeatRule(Rule):
    minutes: float = Field(default=120.0, ge=0, le=10_080)


class AddHeatShareRule(Rule):
    """The add-on heater's share of the heat made today (local day; heat estimated as in the
    summaries): a pump that leans on its heater costs two to three times as much."""

    above_percent: float = Field(default=50.0, gt=0, le=100)
    min_kwh: float = Field(default=10.0, ge=0, le=10_000)  # heat made today before the share means anything
    hysteresis_percent: float = Field(default=5.0, ge=0, le=100)  # resolves at or below above - this


class HotWaterRule(Rule):
    below_c: float = Field(default=40.0, ge=-50, le=100)
    minutes: float = Field(default=30.0, ge=0, le=10_080)
    hysteresis_k: float = Field(default=2.0, ge=0, le=50)  # resolves above below_c + hysteresis_k


class BrineRule(Rule):
    above_k: float = Field(default=5.0, gt=0, le=50)
    minutes: float = Field(default=15.0, ge=0, le=10_080)
    hysteresis_k: float = Field(default=1.0, ge=0, le=50)  # resolves at or below above_k - hysteresis_k


class ShortCycleRule(Rule):
    """The summaries' rule (README "Summaries") over a rolling window instead of a local day."""

    starts: int = Field(default=6, ge=1, le=1000)  # starts in one hour that make the hour busy
    hours: int = Field(default=3, ge=1, le=168)  # busy hours in the window that make it short-cycling
    median_minutes: float = Field(default=15.0, gt=0, le=1440)  # ...with the window's median cycle at most this
    window_hours: int = Field(default=6, ge=1, le=168)  # resolves when no hour of the window is busy

    @model_validator(mode="after")
    def _fits(self) -> "ShortCycleRule":
        if self.hours > self.window_hours:
            raise ValueError(f"hours ({self.hours}) must be at most window_hours ({self.window_hours})")
        return self


class MissingRule(Rule):
    ticks: int = Field(default=10, ge=1, le=100_000)  # snapshots in a row without a register seen before


class StoreRule(Rule):
    minutes: float = Field(default=10.0, ge=0, le=10_080)  # the store refusing writes this long


class NotStoredRule(Rule):
    """The watcher's rule (``watch``, the dashboard): nothing new in the store from a gateway."""

    minutes: float = Field(default=15.0, gt=0, le=10_080)
    forget_days: float = Field(default=7.0, gt=0, le=3650)  # a gateway silent this long is retired: not watched


class SpoolRule(Rule):
    above_percent: float = Field(default=80.0, gt=0, le=100)  # of SPOOL_MAX_MB
    hysteresis_percent: float = Field(default=10.0, ge=0, le=100)  # resolves at or below above - this


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    language: str | None = None  # None: LANGUAGE, else English; a code with a catalogue (i18n)
    reminder_hours: float = Field(default=12.0, ge=0, le=8760)  # 0: no reminders
    max_gateways: int = Field(default=1000, ge=1, le=100_000)  # gateways tracked at most (memory bound)
    alarm: AlarmRule = AlarmRule()
    gateway_silent: SilentRule = SilentRule()
    add_heat: AddHeatRule = AddHeatRule()
    add_heat_share: AddHeatShareRule = AddHeatShareRule()
    hot_water: HotWaterRule = HotWaterRule()
    brine_delta_t: BrineRule = BrineRule()
    short_cycling: ShortCycleRule = ShortCycleRule()
    sensor_missing: MissingRule = MissingRule()
    store_unreachable: StoreRule = StoreRule()
    spool_filling: SpoolRule = SpoolRule()
    not_stored: NotStoredRule = NotStoredRule()

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, v: Any) -> Any:
        # any language with a locales/<code>.po: adding one is adding a file, not code
        if isinstance(v, str) and v.strip().lower() not in languages():
            raise ValueError(f"expected one of {', '.join(languages())}")
        return v.strip().lower() if isinstance(v, str) else v


#: rule ids, in the order messages and the README list them
RULES = ("alarm", "gateway_silent", "add_heat", "add_heat_share", "hot_water", "brine_delta_t", "short_cycling", "sensor_missing",
         "store_unreachable", "spool_filling", "not_stored")


def parse_alert_settings(section: Any, path: str = "CONFIG_FILE") -> AlertSettings:
    """CONFIG_FILE's ``alerts:`` section (None: all defaults); raises ConfigError with one line
    per mistake, each naming the file and the key."""
    if section is None:
        return AlertSettings()
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: alerts must be a mapping such as 'hot_water: {{below_c: 38}}'")
    try:
        return AlertSettings.model_validate(section)
    except ValidationError as exc:
        lines = [_line(path, e) for e in exc.errors()]
        raise ConfigError(f"{len(lines)} mistake(s) in {path}'s alerts: section", lines) from None


def _line(path: str, e: Any) -> str:
    where = " ".join(str(p) for p in e.get("loc", ()))
    if e.get("type") == "extra_forbidden":
        return f"{path}: alerts {where}: unknown key"
    msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
    got = e.get("input")
    shown = f" (got {got!r})" if isinstance(got, (str, int, float)) and len(repr(got)) <= 40 else ""
    return f"{path}: alerts {where}: {msg}{shown}"
