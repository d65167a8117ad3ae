"""H66 gateway emulator: a deterministic heat-pump model served over the gateway's HTTP API.

``PumpModel`` produces every register of a brand; ``SimGateway`` + ``create_app`` serve one
gateway (with switchable faults); ``serve`` / ``running_simulator`` / ``SimulatorThread`` run
several gateways in one process.
"""

from .model import PumpModel, RegisterRefused, encode_value, raw_to_value
from .server import (
    FAULTS,
    SimGateway,
    SimulatorThread,
    create_app,
    mac_address,
    make_gateways,
    run_simulator,
    running_gateways,
    running_simulator,
    serve,
)

__all__ = [
    "FAULTS", "PumpModel", "RegisterRefused", "SimGateway", "SimulatorThread", "create_app",
    "encode_value", "mac_address", "make_gateways", "raw_to_value", "run_simulator",
    "running_gateways", "running_simulator", "serve",
]
