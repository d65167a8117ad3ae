"""Both number forms real gateways send, for every brand, end to end: simulated gateways with
current firmware (signed JSON integers, counters above 65535) and with older firmware
(negatives wrapped to 0..65535) -> the real ``collect`` process -> a real InfluxDB 1.x, read
back with InfluxQL. And over MQTT: raw and already-scaled payloads through a real Mosquitto."""

from __future__ import annotations

import sys

import pytest

from heatpump_monitor.providers import load_provider

from ..servers import influx1_query, influx1_rows
from .conftest import FROZEN, addr, create_database

pytestmark = pytest.mark.realserver

BRANDS = ["thermia", "ivt", "nibe"]
TAGS = ("time", "gateway", "brand", "source", "_measurement")


def stored_rows(url: str, db: str) -> dict[str, dict]:
    """gateway -> its newest stored row (fields only)."""
    out: dict[str, dict] = {}
    for r in influx1_rows(influx1_query(url, db, "SELECT * FROM heatpump GROUP BY *")):
        if r["gateway"] not in out or r["time"] > out[r["gateway"]]["time"]:
            out[r["gateway"]] = r
    return {g: {k: v for k, v in r.items() if k not in TAGS and v is not None} for g, r in out.items()}


@pytest.fixture
def collected(simulator, collector, influxdb1):
    """Collect from three frozen gateways (one per brand) in the given firmware form into a
    database of its own; returns (simulator, {brand: stored fields}, collector log)."""

    def run(firmware: str):
        db = f"hp_forms_{firmware}"
        create_database(influxdb1.url, db)
        # a cold day: sub-zero outdoor, brine and degree-minute values (negatives on the wire)
        sim = simulator(BRANDS, frozen=True, firmware=firmware, outdoor_mean=-12.0)
        c = collector({"H66_IP": ",".join(addr(u) for u in sim.urls), "COLLECTION_INTERVAL": "1",
                       "HEATPUMP_BRAND": "auto", "INFLUXDB_URL": influxdb1.url, "INFLUXDB_DATABASE": db},
                      name=f"collector-{firmware}")
        c.wait_for("Stored ", count=6)
        assert c.terminate()[0] == 0
        rows = stored_rows(influxdb1.url, db)
        by_brand = {gw.brand: rows[addr(url)] for gw, url in zip(sim.gateways, sim.urls)}
        return sim, by_brand, c.log

    return run


def test_both_firmware_forms_store_the_same_values_for_every_brand(collected):
    sim_new, new, log_new = collected("current")
    sim_old, old, log_old = collected("old")
    for log in (log_new, log_old):
        assert "Dropped value" not in log and "Unknown register" not in log
    negatives = wide = 0
    for i, brand in enumerate(BRANDS):
        p = load_provider(brand)
        raw_new = sim_new.gateways[i].model.raw_alldata()
        raw_old = sim_old.gateways[i].model.raw_alldata()
        assert all(0 <= v <= 65535 for v in raw_old.values())  # the older form on the wire
        negatives += sum(1 for v in raw_new.values() if v < 0)
        wide += sum(1 for v in raw_new.values() if v > 65535)
        # what was stored is exactly what the provider decodes from what was served
        assert new[brand] == pytest.approx(p.decode_poll(raw_new).values), brand
        assert old[brand] == pytest.approx(p.decode_poll(raw_old).values), brand
        # ... and both forms mean the same for every 16-bit register
        sixteen = {r.name for r in p.registers.values() if not r.wide}
        assert {k: v for k, v in new[brand].items() if k in sixteen} == \
            pytest.approx({k: v for k, v in old[brand].items() if k in sixteen}), brand
        # counters keep values above 65535 on current firmware; older firmware wraps them
        for reg in p.registers.values():
            if reg.wide and not reg.writable and reg.name in new[brand]:  # counters, not settings
                assert new[brand][reg.name] * reg.factor > 65535, (brand, reg.index)
        # a sensor that is not installed is stored in neither form
        absent = {reg.name for reg in p.registers.values() if p.decode_poll({reg.index: raw_new[reg.index]}).absent}
        assert absent and not absent & (set(new[brand]) | set(old[brand])), brand
        assert new[brand]["outdoor_temp"] < 0 and old[brand]["outdoor_temp"] == new[brand]["outdoor_temp"]
    assert negatives >= 6 and wide >= 6
    assert log_new.count("no sensor on") == log_old.count("no sensor on") > 0


@pytest.mark.parametrize("payload", ["raw", "scaled"])
def test_mqtt_raw_and_scaled_payloads_are_stored_alike(broker, collector, influxdb1, payload):
    from heatpump_monitor.simulator.mqtt import MqttSimulatorThread

    db = f"hp_mqtt_{payload}"
    create_database(influxdb1.url, db)
    sim = MqttSimulatorThread(["nibe"], "127.0.0.1", broker.port, clock=lambda: FROZEN, max_delay=0.3,
                              payload=payload, outdoor_mean=-12.0)
    sim.start()
    try:
        gw = sim.gateways[0]
        c = collector({"MQTT_BROKER": "127.0.0.1", "MQTT_PORT": str(broker.port), "COLLECTION_INTERVAL": "1",
                       "HEATPUMP_BRAND": "nibe", "H66_MAC": gw.mac, "MQTT_PAYLOAD_SCALE": "auto",
                       "INFLUXDB_URL": influxdb1.url, "INFLUXDB_DATABASE": db},
                      argv=[sys.executable, "-m", "heatpump_monitor", "collect", "--source", "mqtt"])
        decided = c.wait_for(r"MQTT gateway \w+ publishes", timeout=20)
        c.wait_for("Stored ", count=4, timeout=20)
        assert c.terminate()[0] == 0
    finally:
        sim.stop()
    assert ("raw (x10" if payload == "raw" else "already scaled") in decided[0]
    assert len([line for line in c.log.splitlines() if "publishes" in line and "MQTT gateway" in line]) == 1
    want = load_provider("nibe").decode_poll(gw.model.raw_alldata()).values
    got = stored_rows(influxdb1.url, db)[gw.mac]
    assert got == pytest.approx(want)
    assert got["outdoor_temp"] < 0


def test_config_file_register_overrides_end_to_end(simulator, collector, tmp_path):
    """A user's registers: section changes what the running collector stores, and says so."""
    from heatpump_monitor.stores.embedded import EmbeddedReader

    cfg = tmp_path / "config.yaml"
    cfg.write_text('brand: ivt\nregisters:\n  "6C56": {factor: 10}\n  "0008": {name: room_temp}\n')
    sim = simulator(["ivt"], frozen=True, absent_sensors=False)
    store = tmp_path / "s.sqlite3"
    c = collector({"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "CONFIG_FILE": str(cfg),
                   "STORE_PATH": str(store)})
    c.wait_for("Stored ", count=2)
    assert c.terminate()[0] == 0
    assert f"Register overrides: 2 from {cfg}" in c.log and "Heat pump brand: ivt (from" in c.log
    values = EmbeddedReader(store).latest(addr(sim.urls[0])).values
    raw = sim.gateways[0].model.raw_alldata()
    assert values["compressor_hours_hot_water"] == raw["6C56"] / 10
    assert values["room_temp"] == raw["0008"] / 10 and "indoor_temp" not in values
