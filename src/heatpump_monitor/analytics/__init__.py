"""What owners ask of their data: per local hour, day and period, compressor runtime and
starts, cycle lengths and short-cycling, add-heat hours, hot-water cycles, outdoor figures,
energy (measured or estimated), an estimated COP, cost, and the event log.

Computed from stored snapshots through any store's reader (so imported and replayed data is
summarised too): ``profile`` (what a brand's registers mean, from its data file), ``units``
(the facts of one hour: the rules), ``summary`` (periods, events, the cache of closed hours),
``prices`` (flat or from a CSV file).
"""

from .prices import PriceFileError, Prices, load_prices
from .profile import Profile, profile_for
from .summary import FIELDS, Period, Summarizer, summarize
from .units import Event, Unit, hour_units, walk

__all__ = ["FIELDS", "Event", "Period", "PriceFileError", "Prices", "Profile", "Summarizer", "Unit",
           "hour_units", "load_prices", "profile_for", "summarize", "walk"]
