"""Operational health of a running collector: Prometheus metrics, liveness and readiness."""
