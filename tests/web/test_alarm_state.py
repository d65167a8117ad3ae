"""The overview's alarm (web/alarms.py ``alarm_state``) and the summaries' and alerts' alarm
(analytics/profile.py ``Profile.alarm_active`` + ``alarm_text``, over the provider's
``alarm_text``) are two readings of the same registers: they must agree. ``alarm_state`` stays
its own function because it also answers what only ``/api/v1/latest`` shows (the register it
read, its value, the last alarm's text after it cleared, "unknown" without a register)."""

from __future__ import annotations

from itertools import product

import pytest

from heatpump_monitor.analytics.profile import alarm_text, profile_for
from heatpump_monitor.config import load_analytics_config
from heatpump_monitor.providers import BRANDS, load_provider
from heatpump_monitor.web.alarms import alarm_state

STATUS = [None, 0.0, 1.0, 2.0]  # IVT's status may exceed 1
CODES = [None, 0.0, 5.0, 99.0]  # decoded alarm numbers are whole (u16, factor 1)


@pytest.mark.parametrize("brand", BRANDS)
def test_the_overview_and_the_summaries_read_the_alarm_alike(brand):
    provider = load_provider(brand)
    profile = profile_for(provider, load_analytics_config({"CONFIG_FILE": ""}))
    assert profile.alarm_code == "alarm_code" and profile.alarm in ("alarm", None)  # the names alarm_state reads
    for status, code in product(STATUS, CODES):
        values = {k: v for k, v in (("alarm", status), ("alarm_code", code)) if v is not None}
        state = alarm_state(provider, values)
        active = profile.alarm_active(values)
        assert state.active == active, values
        if active:
            assert state.text == alarm_text(profile, provider, values), values
        if code:
            assert provider.alarm_text(int(code)) in (state.text, state.last_text), values
