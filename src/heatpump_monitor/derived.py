"""Derived fields: values computed per snapshot from two registers, as data, in ONE place.

``DERIVED[name] = (a, b)`` means ``name = a - b``, computed for each snapshot that has both
``a`` and ``b`` (a snapshot missing either has no value for ``name``). Used by the embedded
sink's rollup (:mod:`heatpump_monitor.stores.embedded.schema`), the raw path of
:meth:`EmbeddedReader.series <heatpump_monitor.stores.embedded.reader.EmbeddedReader.series>` and
:meth:`InfluxReader.series <heatpump_monitor.stores.influx.reader.InfluxReader.series>`; a reader's
``series()`` accepts these names like register names.

Dependency-free on purpose: the sink and the readers both import it without import cycles.
The definitions are part of the embedded store's rollup version
(:data:`~heatpump_monitor.stores.embedded.schema.ROLLUP_VERSION`): after a change, the next sink that
opens a store rebuilds its rollups from the snapshots (one log line), and readers use the
snapshots until then.
"""

from __future__ import annotations

DERIVED: dict[str, tuple[str, str]] = {
    # temperature drop over the radiator circuit (forward - return), K
    "delta_t_radiator": ("radiator_forward", "radiator_return"),
    # temperature drop over the evaporator on the brine side (in - out), K
    "delta_t_brine": ("brine_in_evaporator", "brine_out_condenser"),
}


def derive(values: dict[str, float], name: str) -> float | None:
    """The value of derived field ``name`` for one snapshot's ``values``, or None."""
    a, b = DERIVED[name]
    x, y = values.get(a), values.get(b)
    if x is None or y is None:
        return None
    return x - y
