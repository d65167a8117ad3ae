"""Integrations with the tools users already run (issue 15), each off unless configured:

* :mod:`.homeassistant`: Home Assistant MQTT discovery and one retained JSON state message per
  gateway (``HA_DISCOVERY=true``);
* :mod:`.registers`: the latest value of every register as Prometheus gauges on the collector's
  ``/metrics`` (``METRICS_REGISTERS=true``).

Both are fed by the writer's snapshot listeners (:attr:`..pipeline.writer.Writer.listeners`):
every new poll once, never a replayed backlog, and never by polling the store.
"""
