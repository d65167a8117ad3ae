"""Derived values: computed from registers, each defined ONCE here (name, unit, description,
inputs, how computed) and used by every store's reader, the embedded store's rollups, the
API's field catalogue and the dashboard.

A derived value is computed per snapshot, from that snapshot's values and - for values that
need history, such as a counter's increase - the snapshot before it of the same gateway and
source. A snapshot missing an input has no value (None), exactly like an absent register, so
charts aggregate derived values the same way as registers (count, min, max, mean per bucket).

Three shapes cover what owners ask for (see ``shared/reference/owner-analytics.md``):

* :func:`difference` ``a - b`` (delta T). Linear, so it also has ``terms``: a store may compute
  it in its own query language (SQL, InfluxQL) instead of fetching the inputs.
* :func:`ratio` ``a / b`` (COP = heat / electricity); None when ``b`` is 0.
* :func:`increase` ``a - a(previous snapshot)`` (a counter's increase: starts, kWh); None on
  the first snapshot and when the counter went down (a reset after a restart).

How stores compute them (the same answer everywhere unless said otherwise):

* A definition with ``terms`` is computed in the store's query language, per snapshot.
* Any other one is computed here, per snapshot, by :func:`along` over the inputs' values in
  time order of one (gateway, source); ``previous`` is the snapshot just before, also the one
  before the range or bucket asked for - the first snapshot of a range is never left without.
  The embedded store does this for every chart (raw path and rollups): exact.
* InfluxDB does it from raw points for chart buckets under 10 minutes (spans up to ~10 days at
  1,500 points): exact, except that InfluxDB only returns points holding one of the inputs, so
  ``previous`` there is the last snapshot holding one of them (the same whenever the gateway
  reports the inputs in every snapshot). Longer spans are computed per chart bucket from the
  inputs' per-bucket count, mean and last value by :attr:`Derived.from_buckets` (no raw points
  over months): only the mean is given (min and max None), and it is APPROXIMATE for a ratio
  (mean(a) / mean(b) instead of the mean of a / b). For an increase it is exact while the
  counter does not reset and is in every snapshot.

Charting an increase (starts): the mean of a bucket is the increase per snapshot (a rate, the
same scale at every zoom: times the snapshots per hour it is starts per hour); the total over
the bucket is mean x snapshots.

Dependency-free on purpose: the stores, the web layer and the CLI all import it without
cycles. :attr:`Derived.key` is part of the embedded store's rollup version: after a change of a
definition, the next sink that opens a store rebuilds its rollups (one log line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping

Values = Mapping[str, float]
#: (this snapshot's values, the previous snapshot's values or None) -> value or None
Compute = Callable[[Values, "Values | None"], "float | None"]


@dataclass(frozen=True, slots=True)
class Summary:
    """One input over one chart bucket: values, their mean and the last one."""

    n: int
    mean: float
    last: float


#: (this bucket's summaries by input, the previous non-empty bucket's or None) -> bucket mean
BucketCompute = Callable[[Mapping[str, Summary], "Mapping[str, Summary] | None"], "float | None"]


@dataclass(frozen=True)
class Derived:
    name: str
    unit: str
    description: str
    #: the registers (or other derived values' names, never) the value is computed from
    inputs: tuple[str, ...]
    #: the rule, short and stable, e.g. "radiator_forward - radiator_return" (shown in the API)
    formula: str
    compute: Compute = field(repr=False, compare=False)
    #: needs the previous snapshot of the same gateway and source
    uses_previous: bool = False
    #: when set, the value is sum(weight * input), every input present: stores may compute it
    #: server-side, exactly (SQL for the embedded store, InfluxQL for InfluxDB)
    terms: tuple[tuple[str, float], ...] = ()
    #: the bucket mean from the inputs' bucket summaries, for stores that cannot read raw
    #: points over long spans (InfluxDB); approximate unless the definition's doc says so
    from_buckets: BucketCompute | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> tuple[object, ...]:
        """What identifies the definition's results (not the Python function object)."""
        return (self.name, self.formula, self.inputs, self.uses_previous, self.terms)


def difference(name: str, a: str, b: str, unit: str, description: str) -> Derived:
    def compute(values: Values, previous: Values | None = None) -> float | None:
        x, y = values.get(a), values.get(b)
        return None if x is None or y is None else x - y

    return Derived(name, unit, description, (a, b), f"{a} - {b}", compute, terms=((a, 1.0), (b, -1.0)))


def ratio(name: str, a: str, b: str, unit: str, description: str) -> Derived:
    def compute(values: Values, previous: Values | None = None) -> float | None:
        x, y = values.get(a), values.get(b)
        return None if x is None or y is None or y == 0 else x / y

    def from_buckets(this: Mapping[str, Summary], previous: Mapping[str, Summary] | None) -> float | None:
        x, y = this.get(a), this.get(b)
        return None if x is None or y is None or y.mean == 0 else x.mean / y.mean  # approximate

    return Derived(name, unit, description, (a, b), f"{a} / {b}", compute, from_buckets=from_buckets)


def increase(name: str, a: str, unit: str, description: str) -> Derived:
    def compute(values: Values, previous: Values | None) -> float | None:
        x = values.get(a)
        y = None if previous is None else previous.get(a)
        # a counter that went down was reset (gateway or pump restart): no increase to tell
        return None if x is None or y is None or x < y else x - y

    def from_buckets(this: Mapping[str, Summary], previous: Mapping[str, Summary] | None) -> float | None:
        # the increases of a bucket add up to its last value minus the one before it (exact
        # while the counter neither resets nor misses a snapshot), spread over its snapshots
        x = this.get(a)
        y = None if previous is None else previous.get(a)
        return None if x is None or y is None or x.last < y.last else (x.last - y.last) / x.n

    return Derived(name, unit, description, (a,), f"{a} - previous {a}", compute, uses_previous=True,
                   from_buckets=from_buckets)


def catalogue(*definitions: Derived) -> dict[str, Derived]:
    return {d.name: d for d in definitions}


DERIVED: dict[str, Derived] = catalogue(
    # the temperature drop over the radiator circuit: the heat given to the house per unit of flow
    difference("delta_t_radiator", "radiator_forward", "radiator_return", "K", "Radiator forward - return"),
    # the drop over the evaporator on the brine side: the heat taken from the ground
    difference("delta_t_brine", "brine_in_evaporator", "brine_out_condenser", "K", "Brine in - brine out"),
    # the drop over the condenser's own circuit: with the flow factor, the heat the compressor
    # makes (also while making hot water, when the radiator circuit is bypassed)
    difference("delta_t_heat_carrier", "heat_carrier_forward", "heat_carrier_return", "K",
               "Heat carrier forward - return"),
)


def along(d: Derived, rows: Iterable[Values], previous: Values | None = None) -> Iterator[float | None]:
    """``d`` for each snapshot of ``rows`` (one gateway and source, time order), each with the
    one before it; ``previous`` is the snapshot before the first (None: there is none)."""
    for values in rows:
        yield d.compute(values, previous)
        previous = values


def derive(values: Values, name: str, previous: Values | None = None,
           definitions: Mapping[str, Derived] = DERIVED) -> float | None:
    """The value of derived value ``name`` for one snapshot's ``values``, or None."""
    return definitions[name].compute(values, previous)


def derive_all(values: Values, previous: Values | None = None,
               definitions: Mapping[str, Derived] = DERIVED) -> dict[str, float]:
    """Every derived value the snapshot has (those with all inputs present)."""
    out: dict[str, float] = {}
    for name, d in definitions.items():
        v = d.compute(values, previous)
        if v is not None:
            out[name] = v
    return out
