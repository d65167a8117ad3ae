from heatpump_monitor.model import Snapshot
from heatpump_monitor.sinks.lineproto import to_line, to_lines


def test_one_point_per_poll_all_floats_ms_timestamp():
    s = Snapshot("192.168.1.100:8080", "thermia", "api", 1_764_324_030_000,
                 {"outdoor_temp": -5.3, "compressor": 1.0, "degree_minutes": -120})
    assert to_line(s) == ("heatpump,brand=thermia,gateway=192.168.1.100:8080,source=api "
                          "outdoor_temp=-5.3,compressor=1.0,degree_minutes=-120.0 1764324030000")


def test_tag_escaping_and_empty_snapshots_skipped():
    a = Snapshot("my gw,1=x", "ivt", "api", 1, {"a b": 2.5})
    b = Snapshot("g", "ivt", "api", 2, {})
    assert to_lines([a, b]) == r"heatpump,brand=ivt,gateway=my\ gw\,1\=x,source=api a\ b=2.5 1"
