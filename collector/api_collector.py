#!/usr/bin/env python3
"""API collector, seed-compatible entry point.

    export H66_IP=192.168.1.100
    export INFLUXDB_TOKEN=your-token-here
    python3 collector/api_collector.py

In the Docker image this file is /app/api_collector.py. It runs the same code as
``heatpump-monitor collect``; see the README for every variable.
"""

import sys
from pathlib import Path

try:
    from heatpump_monitor.cli import main
except ImportError:  # running from a source checkout without `pip install .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from heatpump_monitor.cli import main

if __name__ == "__main__":
    sys.exit(main(["collect", "--source", "api"]))
