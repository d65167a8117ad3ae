#!/usr/bin/env python3
"""MQTT collector, seed-compatible entry point (``/app/collector.py`` in the Docker image).

    export MQTT_BROKER=mosquitto H66_MAC=cd4dee258efa
    python3 collector/collector.py

Runs the same code as ``heatpump-monitor collect --source mqtt``: every tick of the
COLLECTION_INTERVAL grid it stores one aligned snapshot per gateway. See the README.
"""

import sys
from pathlib import Path

try:
    from heatpump_monitor.cli import main
except ImportError:  # running from a source checkout without `pip install .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from heatpump_monitor.cli import main

if __name__ == "__main__":
    sys.exit(main(["collect", "--source", "mqtt"]))
