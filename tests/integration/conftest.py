"""Fixtures for end-to-end tests: the real ``collect`` process (a subprocess, as a user runs
it), simulated gateways over real HTTP on loopback, and real database servers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from heatpump_monitor.simulator.server import SimulatorThread, make_gateways

from ..servers import influx1_query, start_mosquitto

ROOT = Path(__file__).resolve().parents[2]
FROZEN = 1_764_324_000.0  # a fixed simulator clock: constant values, exact expectations


class CollectorProcess:
    """``python3 collector/api_collector.py`` (the seed entry point) with a given environment;
    its log goes to a file the test reads."""

    def __init__(self, env: dict[str, str], log_path: Path, argv: list[str] | None = None) -> None:
        self.log_path = log_path
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(
            ("INFLUXDB_", "H66_", "HEATPUMP_", "SPOOL_", "METRICS_", "DATA_DIR", "STORE_PATH", "LOG_FORMAT"))}
        # the spool lives in the test's own directory, shared by every process of one test
        # (a restarted collector finds what the killed one left)
        full_env.update({"CONFIG_FILE": "", "PYTHONUNBUFFERED": "1",
                         "DATA_DIR": str(log_path.parent / "data"), **env})
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv or [sys.executable, str(ROOT / "collector" / "api_collector.py")],
                                     env=full_env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 15.0, count: int = 1) -> list[str]:
        """Lines matching ``pattern`` (regex), once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            hits = [line for line in self.log.splitlines() if re.search(pattern, line)]
            if len(hits) >= count:
                return hits
            if self.proc.poll() is not None:
                raise AssertionError(f"collector exited ({self.proc.returncode}) before {pattern!r}:\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count}x {pattern!r} within {timeout} s:\n{self.log}")
            time.sleep(0.05)

    def terminate(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        """Send ``sig``; return (exit code, seconds until exit)."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(15)
        finally:
            self._log.close()
        return rc, time.monotonic() - t0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


@pytest.fixture
def collector(tmp_path):
    procs: list[CollectorProcess] = []

    def start(env: dict[str, str], name: str = "collector", argv: list[str] | None = None) -> CollectorProcess:
        p = CollectorProcess(env, tmp_path / f"{name}.log", argv)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()


@pytest.fixture
def broker(tmp_path):
    """A Mosquitto of this test's own on loopback."""
    h = start_mosquitto(tmp_path / "mosquitto")
    yield h
    h.stop()


@pytest.fixture
def simulator():
    """Start simulated gateways in a background thread; returns the SimulatorThread."""
    sims: list[SimulatorThread] = []

    def start(brands=("thermia",), frozen: bool = False, **options) -> SimulatorThread:
        if frozen:
            options["clock"] = lambda: FROZEN
        sim = SimulatorThread(gateways=make_gateways(brands, **options))
        sim.start()
        sims.append(sim)
        return sim

    yield start
    for s in sims:
        s.stop()


def set_fault(url: str, fault: str | None, latency: float = 0.0) -> None:
    r = httpx.post(url + "/sim/fault", json={"fault": fault, "latency": latency}, trust_env=False)
    assert r.status_code == 200, r.text


def addr(url: str) -> str:
    return url.removeprefix("http://")


def sim_env(sim, **extra: str) -> dict[str, str]:
    """The collector's environment for the simulator's first gateway, polled every second."""
    gw = sim.gateways[0]
    return {"H66_IP": addr(sim.urls[0]), "COLLECTION_INTERVAL": "1", "HEATPUMP_BRAND": gw.brand, **extra}


def create_database(url: str, name: str) -> None:
    influx1_query(url, "", f'CREATE DATABASE "{name}"')
