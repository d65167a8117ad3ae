#!/usr/bin/env python3
"""Writes provisioning/dashboards/heatpump-monitor.json, the Grafana dashboard (run it after
editing this file: ``python3 deploy/grafana/make_dashboard.py``; tests/deploy/test_grafana.py
fails when the JSON and this script disagree).

The panels are written in Python, not by hand in JSON, so that every query is built from the
same few InfluxQL shapes, matching what our InfluxDB sink writes (stores/influx/lineproto.py):
measurement ``heatpump``, tags ``brand``, ``gateway``, ``source``, one float field per register
(the register's name), millisecond timestamps. Stdlib only: it runs without the project.

Panels follow the web dashboard's charts (web/charts.py) and add what InfluxQL can compute:
per-day compressor hours and starts, hot-water charges, kWh per day from the counters
(NON_NEGATIVE_DIFFERENCE of each day's last value: a counter reset or 16-bit wrap gives no value
for that day instead of a huge negative one) and from the power (INTEGRAL), a COP from counters,
and delta T. A line whose register the gateway's brand lacks simply shows nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "influxdb", "uid": "heatpump-influxdb"}
OUT = Path(__file__).resolve().parent / "provisioning" / "dashboards" / "heatpump-monitor.json"

M = '"heatpump"'
# One gateway and one source (api or mqtt: both collectors may write the same gateway during
# the migration; mixing them would count every start twice). The formats are explicit, so no
# Grafana version guesses: ${x:regex} is the value regex-escaped (a gateway such as
# 192.168.1.100:8081 matches only itself), ${x:raw} the value as it is.
GATEWAY = '"gateway" =~ /^${gateway:regex}$/'
WHERE = GATEWAY + ' AND "source" =~ /^${source:regex}$/ AND $timeFilter'
BUCKETS = "GROUP BY time($__interval) fill(null)"  # fill(null): gaps stay gaps, as on our dashboard
# Local days (the $tz variable), like the summaries' days; 23 and 25 hour days included.
DAYS = "GROUP BY time(1d) fill(none) tz('${tz:raw}')"
DAILY_RANGE = "30d"  # per-day panels always show the last 30 days, whatever the dashboard's range

Target = dict[str, Any]


def q(field: str, alias: str, agg: str = "mean") -> str:
    return f'SELECT {agg}("{field}") AS "{alias}" FROM {M} WHERE {WHERE} {BUCKETS}'


def sub(select: str, inner: str, group: str) -> str:
    """``select`` over a subquery ``inner`` (InfluxQL allows arithmetic on fields only in a raw
    SELECT, not inside an aggregate: a - b per point first, then the aggregate)."""
    return f"SELECT {select} FROM (SELECT {inner} FROM {M} WHERE {WHERE}) WHERE $timeFilter {group}"


def difference(a: str, b: str, alias: str) -> str:
    return sub(f'mean("d") AS "{alias}"', f'"{a}" - "{b}" AS "d"', BUCKETS)


def per_day_increase(counters: list[str], alias: str, factor: str = "") -> str:
    """A counter's (or the sum of counters') increase per day: last value of the day minus the
    day before's; the first day of the range has no day before and is left out."""
    if len(counters) == 1:
        return f'SELECT non_negative_difference(last("{counters[0]}")){factor} AS "{alias}" FROM {M} WHERE {WHERE} {DAYS}'
    total = " + ".join(f'"{c}"' for c in counters)
    return sub(f'non_negative_difference(last("c")){factor} AS "{alias}"', f'{total} AS "c"', DAYS)


def hours_per_day(expr: str, alias: str) -> str:
    """Hours a 0/1 state (or a product of states) was 1, per day: its integral in hours."""
    if expr.count('"') == 2:  # a field as it is
        return f'SELECT integral({expr}, 1h) AS "{alias}" FROM {M} WHERE {WHERE} {DAYS}'
    return sub(f'integral("s", 1h) AS "{alias}"', f'{expr} AS "s"', DAYS)


def transitions_per_day(field: str, alias: str) -> str:
    """Times a 0/1 state went from 0 to 1 per day: the sum of its non-negative differences."""
    return sub(f'sum("up") AS "{alias}"', f'non_negative_difference("{field}") AS "up"', DAYS)


def target(ref: str, query: str) -> Target:
    # alias $col: the series is named by the AS of the query (else Grafana shows heatpump.<col>)
    return {"refId": ref, "datasource": DATASOURCE, "query": query, "rawQuery": True,
            "resultFormat": "time_series", "alias": "$col"}


def targets(*queries: str) -> list[Target]:
    return [target(chr(ord("A") + i), qq) for i, qq in enumerate(queries)]


class Layout:
    """Panels left to right, 24 columns a row; ids in order."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = 0
        self.row_h = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({"id": len(self.panels) + 1, "type": "row", "title": title, "collapsed": False,
                            "panels": [], "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}})
        self.y += 1

    def add(self, panel: dict[str, Any], w: int = 12, h: int = 8) -> None:
        if self.x + w > 24:
            self._newline()
        panel = {"id": len(self.panels) + 1, **panel, "datasource": DATASOURCE,
                 "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y}}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_h
        self.x, self.row_h = 0, 0


def timeseries(title: str, unit: str, tgts: list[Target], description: str = "", *, bars: bool = False,
               decimals: int | None = None, dashed: tuple[str, ...] = ()) -> dict[str, Any]:
    custom: dict[str, Any] = {"drawStyle": "bars" if bars else "line", "lineWidth": 1,
                              "fillOpacity": 60 if bars else 0, "spanNulls": False,
                              "showPoints": "never", "lineInterpolation": "linear"}
    defaults: dict[str, Any] = {"unit": unit, "custom": custom}
    if decimals is not None:
        defaults["decimals"] = decimals
    overrides = [{"matcher": {"id": "byName", "options": name},
                  "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}]}
                 for name in dashed]
    panel: dict[str, Any] = {"type": "timeseries", "title": title, "description": description,
                             "targets": tgts, "fieldConfig": {"defaults": defaults, "overrides": overrides},
                             "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                                         "tooltip": {"mode": "multi", "sort": "none"}}}
    if bars:
        panel["timeFrom"] = DAILY_RANGE
        panel["interval"] = "1d"
    return panel


def stat(title: str, unit: str, tgts: list[Target], mappings: list[dict[str, Any]] | None = None,
         decimals: int | None = None) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit, "mappings": mappings or [], "color": {"mode": "fixed", "fixedColor": "text"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {"type": "stat", "title": title, "targets": tgts,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "none", "textMode": "value_and_name",
                        "justifyMode": "auto", "orientation": "auto"}}


def latest(field: str, alias: str) -> str:
    return f'SELECT last("{field}") AS "{alias}" FROM {M} WHERE {WHERE}'


def value_map(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "value", "options": {k: {"text": v, "index": i} for i, (k, v) in enumerate(values.items())}}]


def panels() -> list[dict[str, Any]]:
    L = Layout()
    L.row("Now")
    L.add(stat("Temperatures now", "celsius", targets(
        latest("outdoor_temp", "Outdoor"), latest("indoor_temp", "Indoor"),
        latest("radiator_forward", "Forward"), latest("hot_water_top", "Hot water")), decimals=1), w=12, h=5)
    L.add(stat("Electric power", "watt", targets(latest("power_w", "Power"))), w=4, h=5)
    L.add(stat("Compressor", "none", targets(latest("compressor", "Compressor")),
               value_map({"0": "off", "1": "on"})), w=4, h=5)
    L.add(stat("Alarm code", "none", targets(latest("alarm_code", "Alarm code")), value_map({"0": "none"})), w=4, h=5)

    # the web dashboard's charts (web/charts.py), in its order, one target per line
    L.row("Temperatures")
    L.add(timeseries("Outdoor / indoor", "celsius", targets(
        q("outdoor_temp", "Outdoor"), q("indoor_temp", "Indoor"))))
    L.add(timeseries("Heating circuit", "celsius", targets(
        q("radiator_forward", "Forward"), q("radiator_return", "Return"), q("heating_setpoint", "Setpoint"),
        q("heat_carrier_forward", "Heat carrier forward"), q("heat_carrier_return", "Heat carrier return")),
        dashed=("Setpoint",)))
    L.add(timeseries("Brine", "celsius", targets(
        q("brine_in_evaporator", "Brine in"), q("brine_out_condenser", "Brine out"))))
    L.add(timeseries("Hot water", "celsius", targets(
        q("hot_water_top", "Top"), q("hot_water_mid", "Middle"))))
    L.add(timeseries("Delta T", "kelvin", targets(
        difference("radiator_forward", "radiator_return", "Radiator forward - return"),
        difference("brine_in_evaporator", "brine_out_condenser", "Brine in - brine out"),
        difference("heat_carrier_forward", "heat_carrier_return", "Heat carrier forward - return")),
        "Mean of forward - return per point (derived.py's delta_t_*), not the difference of the means.",
        decimals=1))
    L.add(timeseries("Degree minutes", "none", targets(q("degree_minutes", "Degree minutes"))))

    L.row("Operation")
    op = timeseries("Operation (share of time on)", "percentunit", targets(
        q("compressor", "Compressor"), q("brine_pump", "Brine pump"), q("radiator_pump", "Radiator pump"),
        q("heat_circuit_pump", "Heat circuit pump"), q("switch_valve", "Switch valve (hot water)"),
        f'SELECT mean("additional_heat") / 100 AS "Additional heat" FROM {M} WHERE {WHERE} {BUCKETS}'),
        "Each state's mean over the interval: 1 = on all the time; additional heat as a share of its full power.")
    op["type"] = "state-timeline"
    op["fieldConfig"]["defaults"] = {"unit": "percentunit", "min": 0, "max": 1,
                                     "color": {"mode": "continuous-greens"}, "custom": {"fillOpacity": 80}}
    op["options"] = {"showValue": "never", "mergeValues": False, "rowHeight": 0.8,
                     "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
                     "tooltip": {"mode": "single", "sort": "none"}}
    L.add(op, w=24, h=9)
    L.add(timeseries("Electric power", "watt", targets(q("power_w", "Power"))), w=24)

    L.row("Per day (last 30 days, days in $tz)")
    L.add(timeseries("Compressor hours per day", "h", targets(
        hours_per_day('"compressor"', "Compressor on"),
        hours_per_day('"compressor" * "switch_valve"', "of which hot water"),
        per_day_increase(["compressor_hours"], "Counter compressor_hours"),
        per_day_increase(["compressor_hours_heating", "compressor_hours_hot_water"], "Counters compressor_hours_*")),
        "From the compressor state (integral of 0/1 over time) and from the pump's own hour counters.",
        bars=True, decimals=1))
    L.add(timeseries("Starts per day", "none", targets(
        transitions_per_day("compressor", "Compressor starts"),
        transitions_per_day("switch_valve", "Hot water charges"),
        per_day_increase(["compressor_starts"], "Counter compressor_starts")),
        "Off-to-on changes of the state seen in the snapshots (a start and stop between two polls is missed), "
        "and the pump's own start counter where it has one.", bars=True, decimals=0))
    L.add(timeseries("Energy per day", "kwatth", targets(
        per_day_increase(["energy_kwh"], "Electricity (energy_kwh)"),
        per_day_increase(["energy_total_kwh"], "Electricity (energy_total_kwh)"),
        per_day_increase(["compressor_energy_heating", "compressor_energy_hot_water", "aux_energy_heating",
                          "aux_energy_hot_water"], "Electricity (compressor + aux counters)"),
        f'SELECT integral("power_w", 1h) / 1000 AS "Electricity from power_w" FROM {M} WHERE {WHERE} {DAYS}',
        per_day_increase(["supplied_energy_heating", "supplied_energy_hot_water"], "Heat supplied")),
        "Counters: the day's last value minus the day before's (a reset or 16-bit wrap leaves that day out). "
        "From power: the integral of power_w.", bars=True, decimals=1))
    # a ratio of two per-day increases: the increases in a subquery grouped by day, divided outside
    counters = ('"supplied_energy_heating" + "supplied_energy_hot_water" AS "h", "compressor_energy_heating" + '
                '"compressor_energy_hot_water" + "aux_energy_heating" + "aux_energy_hot_water" AS "e"')
    cop = (f'SELECT "heat" / "el" AS "COP" FROM (SELECT non_negative_difference(last("h")) AS "heat", '
           f'non_negative_difference(last("e")) AS "el" FROM (SELECT {counters} FROM {M} WHERE {WHERE}) '
           f'WHERE $timeFilter {DAYS}) WHERE $timeFilter')
    L.add(timeseries("COP per day (heat / electricity counters)", "none", targets(cop),
                     "Pumps with both heat and electricity counters (IVT Rego 1000): heat supplied / electricity used.",
                     bars=True, decimals=2))
    return L.panels


def variable_query(name: str, label: str, query: str) -> dict[str, Any]:
    return {"type": "query", "name": name, "label": label, "datasource": DATASOURCE, "query": query,
            "definition": query, "refresh": 1, "sort": 1, "multi": False, "includeAll": False,
            "current": {}, "options": [], "hide": 0}


def dashboard() -> dict[str, Any]:
    tz = "Europe/Stockholm"
    return {
        "uid": "heatpump-monitor",
        "title": "Heat pump",
        "description": "heatpump-monitor snapshots in InfluxDB (measurement heatpump, tags gateway/source/brand)",
        "tags": ["heatpump-monitor"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [
            variable_query("gateway", "Gateway", f'SHOW TAG VALUES FROM {M} WITH KEY = "gateway"'),
            variable_query("source", "Source", f'SHOW TAG VALUES FROM {M} WITH KEY = "source" WHERE {GATEWAY}'),
            {"type": "textbox", "name": "tz", "label": "Days in", "query": tz, "hide": 0,
             "current": {"text": tz, "value": tz}, "options": [{"selected": True, "text": tz, "value": tz}]},
        ]},
        "panels": panels(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
