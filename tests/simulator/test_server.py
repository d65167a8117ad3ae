"""The emulated H66 gateway over HTTP: routes, writes, every fault switch, and several gateways
on real loopback ports in one event loop."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import heatpump_monitor
from heatpump_monitor.providers import BRANDS, brand_for_h1ver, load_provider
from heatpump_monitor.simulator import (
    FAULTS,
    SimGateway,
    SimulatorThread,
    create_app,
    make_gateways,
    running_gateways,
    running_simulator,
    serve,
)
from heatpump_monitor.simulator import cli

T0 = 1768453200.0  # 2026-01-15 05:00 UTC


def gateway(brand: str = "thermia", **kw) -> SimGateway:
    return SimGateway.create(brand, seed=kw.pop("seed", 3), clock=lambda: T0, **kw)


def call(gw: SimGateway, method: str, path: str, **kw) -> httpx.Response:
    """One request to the gateway's app, in-process."""
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(gw))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.request(method, path, **kw)
    return asyncio.run(go())


# ---------------------------------------------------------------- the gateway API


@pytest.mark.parametrize("brand", BRANDS)
def test_alldata_serves_the_models_raw_registers(brand):
    gw = gateway(brand)
    r = call(gw, "GET", "/api/alldata")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    data = r.json()
    assert data == gw.model.raw_alldata()
    decoded = load_provider(brand).decode_poll(data)
    assert decoded.rejected == [] and decoded.unknown == [] and decoded.values


@pytest.mark.parametrize("brand", BRANDS)
def test_status_names_the_controller_family(brand):
    gw = gateway(brand, api_mode=2)
    status = call(gw, "GET", "/status").json()["status"]
    assert brand_for_h1ver(status["H1ver"]) == brand
    assert status["H1ver"][:2] == load_provider(brand).h1ver_codes[0] and len(status["H1ver"]) > 2
    assert re.fullmatch(r"[0-9a-f]{12}", status["mac"]) and status["mac"] == gw.mac
    assert status["API_ENABLED"] == 2


def test_macs_differ_between_gateways():
    gws = make_gateways(["thermia", "ivt", "nibe", "thermia"], port=9000, clock=lambda: T0)
    assert len({g.mac for g in gws}) == 4
    assert [g.port for g in gws] == [9000, 9001, 9002, 9003]
    assert [g.brand for g in gws] == ["thermia", "ivt", "nibe", "thermia"]


def test_set_is_refused_in_read_only_mode():
    gw = gateway("thermia", api_mode=1)
    before = gw.model.raw_alldata()["0203"]
    r = call(gw, "GET", "/api/set", params={"idx": "0203", "val": "235"})
    assert r.status_code == 403 and "read-only" in r.json()["error"]
    assert gw.model.raw_alldata()["0203"] == before != 235


def test_set_in_read_write_mode():
    gw = gateway("thermia", api_mode=2)
    r = call(gw, "GET", "/api/set", params={"idx": "0001", "val": "300"})
    assert r.status_code == 403 and "not writable" in r.json()["error"]
    assert call(gw, "GET", "/api/set", params={"idx": "ABCD", "val": "1"}).status_code == 400
    assert call(gw, "GET", "/api/set", params={"idx": "xyz", "val": "1"}).status_code == 400
    r = call(gw, "GET", "/api/set", params={"idx": "0203", "val": "21.5"})
    assert r.status_code == 400 and "integer" in r.json()["error"]
    assert call(gw, "GET", "/api/set", params={"idx": "0203"}).status_code == 400

    r = call(gw, "GET", "/api/set", params={"idx": "0203", "val": "235"})
    assert r.status_code == 200 and r.json() == {"status": "ok", "idx": "0203", "val": 235}
    assert call(gw, "GET", "/api/alldata").json()["0203"] == 235
    assert call(gw, "GET", "/api/set", params={"idx": "2201", "val": "4"}).status_code == 200
    assert call(gw, "GET", "/api/alldata").json()["2201"] == 4


def test_set_accepts_lower_case_index_and_checks_the_range():
    gw = gateway("ivt", api_mode=2)
    r = call(gw, "GET", "/api/set", params={"idx": "020a", "val": "150"})
    assert r.status_code == 200 and r.json()["idx"] == "020A"
    assert call(gw, "GET", "/api/alldata").json()["020A"] == 150
    r = call(gw, "GET", "/api/set", params={"idx": "2210", "val": "5000"})  # holiday 5000 days
    assert r.status_code == 400 and "range" in r.json()["error"]


@pytest.mark.parametrize("brand", BRANDS)
def test_alldata_in_both_firmware_forms(brand):
    """make_gateways(firmware=...) reaches the model: current firmware answers signed numbers
    and whole 32-bit counters, old firmware the same numbers cut to 0..65535."""
    current = make_gateways([brand], seed=3, clock=lambda: T0)[0]
    old = make_gateways([brand], seed=3, clock=lambda: T0, firmware="old")[0]
    assert (current.model.firmware, old.model.firmware) == ("current", "old")
    a = call(current, "GET", "/api/alldata").json()
    b = call(old, "GET", "/api/alldata").json()
    assert a == current.model.raw_alldata() and b == old.model.raw_alldata()
    assert min(a.values()) < 0 and max(a.values()) > 65535
    assert all(0 <= v <= 65535 for v in b.values())
    assert b == {k: v & 0xFFFF for k, v in a.items()}
    provider = load_provider(brand)
    da, db = provider.decode_poll(a), provider.decode_poll(b)
    assert da.rejected == db.rejected == [] and da.absent == db.absent
    narrow = {reg.name for reg in provider.registers.values() if not reg.wide}
    assert {n: v for n, v in da.values.items() if n in narrow} == \
        {n: v for n, v in db.values.items() if n in narrow}


@pytest.mark.parametrize("firmware, served", [("current", -20), ("old", 65516)])
def test_set_takes_a_negative_value_in_either_form(firmware, served):
    for val in ("-20", "65516"):
        gw = make_gateways(["nibe"], api_mode=2, clock=lambda: T0, firmware=firmware)[0]
        r = call(gw, "GET", "/api/set", params={"idx": "8255", "val": val})  # degree minutes, s16
        assert r.status_code == 200 and r.json() == {"status": "ok", "idx": "8255", "val": -20}
        assert call(gw, "GET", "/api/alldata").json()["8255"] == served
        assert gw.model.values()["degree_minutes"] == -20
    r = call(gw, "GET", "/api/set", params={"idx": "8255", "val": "65536"})
    assert r.status_code == 400 and "65536" in r.json()["error"]


def test_h1ver_is_family_code_plus_h1_version():
    gw = gateway("thermia", seed=3)
    assert gw.h1_version == "13" and gw.h1ver == "6013"  # 10 + seed % 20
    model = gateway("ivt").model
    assert SimGateway("ivt", model, h1_version="21").h1ver == "0021"
    assert call(gateway("nibe", seed=25), "GET", "/status").json()["status"]["H1ver"] == "4015"


# ---------------------------------------------------------------- faults


def test_http500():
    r = call(gateway(fault="http500"), "GET", "/api/alldata")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/plain")
    assert r.text == "Internal Server Error"


def test_html():
    r = call(gateway(fault="html"), "GET", "/api/alldata")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text.startswith("<html>") and "Error" in r.text and r.text.endswith("</html>")


def test_invalid_json():
    r = call(gateway(fault="invalid_json"), "GET", "/api/alldata")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.text.startswith('{"0001": ') and len(r.text) > 20
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)


def test_empty():
    r = call(gateway(fault="empty"), "GET", "/api/alldata")
    assert r.status_code == 200 and r.json() == {}


def test_strings():
    gw = gateway(fault="strings")
    data = call(gw, "GET", "/api/alldata").json()
    assert data and all(isinstance(v, str) for v in data.values())
    assert {k: int(v) for k, v in data.items()} == gw.model.raw_alldata()
    decoded = load_provider("thermia").decode_poll(data)
    assert len(decoded.rejected) == len(data)  # a collector must not take them


def test_not_object():
    r = call(gateway(fault="not_object"), "GET", "/api/alldata")
    assert r.status_code == 200 and isinstance(r.json(), list) and r.json()


def test_timeout_hangs_then_gives_up():
    gw = gateway(fault="timeout")
    gw.hang_seconds = 0.5

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(gw)),
                                     base_url="http://gw") as client:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.get("/api/alldata"), 0.2)
            started = time.monotonic()
            r = await client.get("/api/alldata")
            assert time.monotonic() - started >= 0.45
            assert r.status_code == 504
    asyncio.run(go())


def test_deep_json_is_a_hostile_nesting_under_the_size_cap():
    r = call(gateway(fault="deep_json"), "GET", "/api/alldata")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == b"[" * 200_000 and len(r.content) < 1_000_000


def test_all_registers_sends_every_index():
    data = call(gateway(fault="all_registers"), "GET", "/api/alldata").json()
    assert len(data) == 65536 and data["0000"] == 0 and data["FFFF"] == 65535 % 100


def test_every_fault_is_tested_here():
    tested = {"http500", "html", "invalid_json", "empty", "strings", "not_object", "timeout", "deep_json",
              "all_registers"}
    assert set(FAULTS) == tested


def test_faults_leave_status_working():
    for fault in FAULTS:
        gw = gateway(fault=fault)
        gw.hang_seconds = 0.1
        assert call(gw, "GET", "/status").status_code == 200


def test_latency_delays_answers():
    gw = gateway(latency=0.3)
    started = time.monotonic()
    assert call(gw, "GET", "/api/alldata").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_control_endpoint_switches_faults_at_runtime():
    gw = gateway()
    r = call(gw, "POST", "/sim/fault", json={"fault": "http500", "latency": 0.05})
    assert r.status_code == 200 and r.json()["fault"] == "http500" and r.json()["latency"] == 0.05
    assert call(gw, "GET", "/api/alldata").status_code == 500
    assert call(gw, "POST", "/sim/fault", json={"fault": "bogus"}).status_code == 400
    assert call(gw, "POST", "/sim/fault", json={"latency": -1}).status_code == 400
    assert gw.fault == "http500" and gw.latency == 0.05  # refused changes leave the state alone
    r = call(gw, "POST", "/sim/fault", json={"fault": None, "latency": 0, "api_mode": 2})
    assert r.json()["fault"] is None and gw.api_mode == 2
    assert call(gw, "GET", "/api/alldata").status_code == 200
    state = call(gw, "GET", "/sim/state").json()
    assert state["brand"] == "thermia" and state["mac"] == gw.mac
    assert state["values"]["outdoor_temp"] == gw.model.values()["outdoor_temp"]


def test_bad_gateway_settings_are_refused():
    with pytest.raises(ValueError):
        gateway(fault="nope")
    with pytest.raises(ValueError):
        gateway(api_mode=3)
    with pytest.raises(ValueError):
        make_gateways(["carrier"])


# ---------------------------------------------------------------- real servers


def test_several_gateways_on_real_ports_in_one_loop():
    async def go() -> None:
        async with running_simulator(["thermia", "ivt", "nibe"], port=0, time_scale=60) as urls:
            ports = {int(u.rsplit(":", 1)[1]) for u in urls}
            assert len(urls) == 3 and len(ports) == 3 and 0 not in ports
            async with httpx.AsyncClient(timeout=5) as client:
                answers = await asyncio.gather(*(client.get(u + "/api/alldata") for u in urls))
                statuses = await asyncio.gather(*(client.get(u + "/status") for u in urls))
            for brand, r, s in zip(["thermia", "ivt", "nibe"], answers, statuses):
                assert r.status_code == 200
                decoded = load_provider(brand).decode_poll(r.json())
                assert decoded.rejected == [] and decoded.unknown == []
                assert brand_for_h1ver(s.json()["status"]["H1ver"]) == brand
        async with httpx.AsyncClient(timeout=2) as client:  # stopped: the ports are closed
            with pytest.raises(httpx.ConnectError):
                await client.get(urls[0] + "/api/alldata")
    asyncio.run(go())


def test_running_gateways_writes_back_ports_and_faults_apply_per_gateway():
    gws = make_gateways(["ivt", "nibe"], faults=[None, "http500"], clock=lambda: T0)

    async def go() -> None:
        async with running_gateways(gws) as urls:
            assert urls == [f"http://127.0.0.1:{g.port}" for g in gws]
            async with httpx.AsyncClient(timeout=5) as client:
                assert (await client.get(urls[0] + "/api/alldata")).json() == gws[0].model.raw_alldata()
                assert (await client.get(urls[1] + "/api/alldata")).status_code == 500
                r = await client.post(urls[1] + "/sim/fault", json={"fault": None})
                assert r.status_code == 200
                assert (await client.get(urls[1] + "/api/alldata")).status_code == 200
    asyncio.run(go())


def test_serve_announces_each_gateway_and_stops_on_request():
    lines: list[str] = []
    gws = make_gateways(["ivt", "thermia"], clock=lambda: T0)

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(serve(gws, "127.0.0.1", [0, 0], announce=lines.append, stop=stop))
        while len(lines) < 2:
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(timeout=5) as client:
            assert (await client.get(f"http://127.0.0.1:{gws[1].port}/status")).status_code == 200
        stop.set()
        await asyncio.wait_for(task, 5)
    asyncio.run(go())
    for line, gw in zip(lines, gws):
        assert line == f"Simulated {gw.brand} gateway at http://127.0.0.1:{gw.port} (mac {gw.mac})"


def test_busy_port_raises_oserror():
    async def go() -> None:
        async with running_simulator(["thermia"]) as urls:
            port = int(urls[0].rsplit(":", 1)[1])
            with pytest.raises(OSError):
                async with running_simulator(["ivt"], port=port):
                    pass
    asyncio.run(go())


def test_simulator_thread_for_synchronous_code():
    with SimulatorThread(["nibe", "ivt"], api_mode=2) as sim:
        assert len(sim.urls) == 2
        r = httpx.get(sim.urls[0] + "/api/set", params={"idx": "0203", "val": "225"}, timeout=5)
        assert r.status_code == 200
        assert httpx.get(sim.urls[0] + "/api/alldata", timeout=5).json()["0203"] == 225
        url = sim.urls[1]
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/status", timeout=2)


# ---------------------------------------------------------------- the command line


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_defaults_and_bad_input():
    args = parse()
    assert (args.brand, args.host, args.port, args.time_scale, args.api_mode, args.fault, args.firmware) == \
        (None, "127.0.0.1", 8080, 1.0, 1, None, "current")
    assert cli.main(parse("--brand", "carrier")) == 2
    assert cli.main(parse("--faults", "none,boom")) == 2
    assert cli.main(parse("--time-scale", "0")) == 2
    with pytest.raises(SystemExit):
        parse("--fault", "boom")


def test_cli_firmware_option(monkeypatch):
    assert parse("--firmware", "old").firmware == "old"
    assert parse("--firmware", "current").firmware == "current"
    for bad in ("new", "OLD", "2021", ""):
        with pytest.raises(SystemExit) as e:
            parse("--firmware", bad)
        assert e.value.code == 2
    seen = []

    async def fake_run(gateways, host, http, mqtt_options):
        seen.append((gateways, http, mqtt_options))
    monkeypatch.setattr(cli, "_run", fake_run)
    assert cli.main(parse("--brand", "ivt,nibe", "--firmware", "old")) == 0
    assert cli.main(parse("--brand", "thermia")) == 0
    (old_gws, http, mqtt), (cur_gws, _, _) = seen
    assert http and mqtt is None
    assert [(g.brand, g.model.firmware) for g in old_gws] == [("ivt", "old"), ("nibe", "old")]
    assert [g.model.firmware for g in cur_gws] == ["current"]


def test_cli_runs_gateways_until_sigterm():
    """The real command in a subprocess: three gateways on free ports, brands cycling, old
    firmware, then a clean exit on SIGTERM (handled, not the default kill)."""
    src = str(Path(heatpump_monitor.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "heatpump_monitor.simulator.cli", "--brand", "ivt", "--brand", "nibe",
         "--gateways", "3", "--port", "0", "--api-mode", "2", "--faults", "none,empty", "--firmware", "old"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        found = [re.fullmatch(r"Simulated (\w+) gateway at (http://127\.0\.0\.1:\d+) \(mac ([0-9a-f]{12})\)", l)
                 for l in lines]
        assert all(found), lines
        assert [m.group(1) for m in found] == ["ivt", "nibe", "ivt"]
        urls = [m.group(2) for m in found]
        data = httpx.get(urls[0] + "/api/alldata", timeout=5).json()
        assert data and all(0 <= v <= 65535 for v in data.values())  # old firmware: 32-bit cut too
        assert httpx.get(urls[1] + "/api/alldata", timeout=5).json() == {}  # fault "empty"
        assert brand_for_h1ver(httpx.get(urls[2] + "/status", timeout=5).json()["status"]["H1ver"]) == "ivt"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr.read() == ""  # no traceback, no uvicorn noise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_the_simulator_answers_without_delayed_acks():
    """Its listening sockets say TCP, so asyncio sets TCP_NODELAY on every accepted connection
    (with protocol 0 it does not, and each answer after the first waits for a delayed ACK)."""
    import socket as _socket

    from heatpump_monitor.simulator.server import _listen

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.set_result(sock.getsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=_listen("127.0.0.1", 0))
        port = server.sockets[0].getsockname()[1]
        _, w = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(seen, 5)
        finally:
            w.close()
            server.close()

    assert asyncio.run(accepted_nodelay()) == 1


def test_control_endpoint_raises_and_clears_an_alarm():
    now = [T0]
    gw = SimGateway.create("thermia", seed=3, clock=lambda: now[0], alarms=False)
    assert gw.model.values()["alarm_code"] == 0
    r = call(gw, "POST", "/sim/fault", json={"alarm": 60})
    assert r.status_code == 200 and r.json()["alarm"] == 60
    now[0] += 20  # the physics' next steps (10 s each) see it
    v = gw.model.values()
    assert v["alarm_code"] == 60 and v["alarm"] == 1
    assert call(gw, "POST", "/sim/fault", json={"alarm": "x"}).status_code == 400
    assert call(gw, "POST", "/sim/fault", json={"alarm": -1}).status_code == 400
    assert gw.model.forced_alarm == 60  # refused: unchanged
    assert call(gw, "POST", "/sim/fault", json={"alarm": 0}).json()["alarm"] == 0
    now[0] += 20
    assert gw.model.values()["alarm_code"] == 0
    assert call(gw, "POST", "/sim/fault", json={"alarm": None}).json()["alarm"] is None
