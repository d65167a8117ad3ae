"""The end-to-end fixtures of tests/integration (the real collector process, simulated gateways,
a Mosquitto of the test's own), shared with the integrations' tests."""

from ..integration.conftest import broker, collector, simulator  # noqa: F401  (pytest fixtures)
