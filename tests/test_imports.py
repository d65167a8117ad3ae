"""The collector loads only what its source and store use (issue 12: memory of `collect`).
Each check runs in a fresh interpreter: this one has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from heatpump_monitor.cli import build_parser, main
build_parser("collect").parse_args(["collect"])
import heatpump_monitor.pipeline.run
from heatpump_monitor.config import StoreConfig
from heatpump_monitor.stores.registry import make_sink
from pydantic import SecretStr
store = json.loads(sys.argv[1])
make_sink(StoreConfig(**{k: SecretStr(v) if k == "token" else v for k, v in store.items()}))
print(json.dumps(sorted({m.split(".")[0] for m, mod in sys.modules.items() if mod is not None})))  # None: cli.py's httpx._main
"""

HEAVY = {"aiomqtt", "paho", "uvicorn", "starlette", "fastapi", "plotly", "prometheus_client",
         "influxdb_client", "urllib3", "rich", "pygments", "click",
         "httpx", "httpcore", "anyio",  # InfluxDB is written with sources/http.py (~10 MB less)
         "apprise"}  # alerts' delivery: imported only when NOTIFY_URLS is set (issue 14)


def loaded(store: dict) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(store)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("store", [
    {"kind": "embedded", "path": "/nonexistent/x.sqlite3"},
    {"kind": "influxdb1", "url": "http://127.0.0.1:1", "database": "db"},
    {"kind": "influxdb2", "url": "http://127.0.0.1:1", "token": "t", "org": "o", "bucket": "b"},
])
def test_the_api_collector_loads_no_mqtt_web_or_client_library(store):
    assert loaded(store) & HEAVY == set()


ALERTS_PROBE = """
import json, sys
from heatpump_monitor.alerts.service import AlertService
from heatpump_monitor.config import load_alerts_config
from heatpump_monitor.providers import load_provider
cfg = load_alerts_config({"CONFIG_FILE": "", "ALERTS_DIR": sys.argv[1], "NOTIFY_URLS": sys.argv[2]})
AlertService(cfg, "api", load_provider).close()
print(json.dumps(sorted({m.split(".")[0] for m, mod in sys.modules.items() if mod is not None})))
"""


@pytest.mark.parametrize("urls,apprise", [("", False), ("json://127.0.0.1:9/x", True)])
def test_alerts_load_apprise_only_when_something_is_to_be_sent(tmp_path, urls, apprise):
    out = subprocess.run([sys.executable, "-c", ALERTS_PROBE, str(tmp_path), urls], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert ("apprise" in json.loads(out.stdout)) == apprise
