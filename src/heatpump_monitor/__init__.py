"""heatpump-monitor: record every register of a Husdata H60/H66 gateway, one timestamp per poll."""

__version__ = "0.1.0"
