"""Register values as Prometheus gauges (METRICS_REGISTERS=true): names and units by Prometheus'
conventions, bounded by gateways x registers, and scraped from a real collector's /metrics."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from heatpump_monitor.integrations.registers import RegisterGauges, gauges_of
from heatpump_monitor.model import Snapshot
from heatpump_monitor.providers import BRANDS, load_provider

from ..integration.conftest import FROZEN, addr
from ..servers import free_port

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
#: the provider's unit -> the suffix and factor Prometheus' base units ask for
BASE = {"°C": ("_celsius", 1), "kWh": ("_joules", 3_600_000), "kW": ("_watts", 1000), "W": ("_watts", 1),
        "A": ("_amperes", 1), "h": ("_seconds", 3600), "min": ("_seconds", 60), "d": ("_seconds", 86_400),
        "%": ("_ratio", 0.01)}


@pytest.mark.parametrize("brand", BRANDS)
def test_every_register_has_one_gauge_named_in_base_units(brand):
    provider = load_provider(brand)
    gauges = gauges_of(provider)
    assert len(gauges) == len(provider.registers)
    assert len({g.metric for g in gauges}) == len(gauges)  # no two registers share a series
    for g in gauges:
        reg = provider.by_name(g.register)
        assert reg is not None and NAME.fullmatch(g.metric) and g.metric.startswith("heatpump_register_")
        assert f"register {reg.index}" in g.help
        suffix, factor = BASE.get(reg.unit, ("", 1))
        assert g.factor == factor, g
        if suffix:
            assert g.metric.endswith(suffix), g
        # a unit word of the register's name is not repeated next to the base unit
        assert not re.search(r"_(kwh|kw|hours)_(joules|watts|seconds)$", g.metric), g
        assert not g.metric.endswith("_total")  # gauges, not counters


def test_names_of_some_registers():
    by_register = {g.register: g.metric for g in gauges_of(load_provider("nibe"))}
    assert by_register["outdoor_temp"] == "heatpump_register_outdoor_temp_celsius"
    assert by_register["energy_total_kwh"] == "heatpump_register_energy_total_joules"
    assert by_register["add_heat_kw"] == "heatpump_register_add_heat_watts"
    assert by_register["additional_heat"] == "heatpump_register_additional_heat_ratio"
    assert by_register["compressor"] == "heatpump_register_compressor"  # a status: 1 on, 0 off


def test_series_are_bounded_by_the_gateways_and_missing_registers_have_none(caplog):
    gauges = RegisterGauges(load_provider, max_gateways=2)
    for gw in ("a", "b", "c"):
        gauges.on_snapshots([Snapshot(gw, "thermia", "api", 0, {"outdoor_temp": -1.5, "compressor": 1.0})])
    gauges.on_snapshots([Snapshot("a", "thermia", "api", 1000, {"outdoor_temp": 2.0})])
    families = {f.name: f for f in gauges.collect()}
    temps = {s.labels["gateway"]: s.value for s in families["heatpump_register_outdoor_temp_celsius"].samples}
    assert temps == {"a": 2.0, "b": -1.5}  # c left out; a's newest value
    assert [s.labels for s in families["heatpump_register_compressor"].samples] == [
        {"gateway": "b", "brand": "thermia"}]  # a's newest snapshot has no compressor
    assert caplog.text.count("left out") == 1


def scrape(url: str) -> dict[str, dict[tuple[str, str], float]]:
    text = httpx.get(url, trust_env=False, timeout=5).text
    out: dict[str, dict[tuple[str, str], float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name.startswith("heatpump_register_"):
                assert fam.type == "gauge"
                out.setdefault(s.name, {})[(s.labels["gateway"], s.labels["brand"])] = s.value
    return out


@pytest.mark.realserver
def test_a_real_collector_serves_every_register_of_every_gateway(simulator, collector, tmp_path):
    sim = simulator(brands=("ivt", "nibe"), frozen=True)
    port = free_port()
    gateways = ",".join(addr(u) for u in sim.urls)
    c = collector({"H66_IP": gateways, "COLLECTION_INTERVAL": "1", "HEATPUMP_BRAND": "auto",
                   "STORE_PATH": str(tmp_path / "s.sqlite3"), "METRICS_PORT": str(port), "METRICS_REGISTERS": "true"})
    c.wait_for("Register metrics on /metrics: every register of up to 2 gateway")
    c.wait_for("Stored ", count=4)
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 20
    got = scrape(url)
    while time.monotonic() < deadline and len({k for v in got.values() for k in v}) < 2:
        time.sleep(0.2)
        got = scrape(url)
    for gw, u in zip(sim.gateways, sim.urls):
        provider = load_provider(gw.brand)
        want = provider.decode_poll(gw.model.raw_alldata()).values
        for g in gauges_of(provider):
            key = (addr(u), gw.brand)
            if g.register in want:
                assert got[g.metric][key] == pytest.approx(want[g.register] * g.factor), g.metric
            else:  # no sensor: no series
                assert key not in got.get(g.metric, {}), g.metric
    assert c.terminate()[0] == 0


@pytest.mark.realserver
def test_off_unless_asked_for(simulator, collector, tmp_path):
    sim = simulator(brands=("thermia",), frozen=True)
    port = free_port()
    c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "HEATPUMP_BRAND": "thermia",
                   "STORE_PATH": str(tmp_path / "s.sqlite3"), "METRICS_PORT": str(port)})
    c.wait_for("Stored ", count=2)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False, timeout=5).text
    assert "heatpump_polls_total" in text and "heatpump_register_" not in text
    assert c.terminate()[0] == 0
    assert FROZEN  # the simulator's fixed clock: constant values
