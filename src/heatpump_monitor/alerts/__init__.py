"""Alerts: rules on snapshots and their delivery."""
