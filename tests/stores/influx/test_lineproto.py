import pytest

from heatpump_monitor.model import Snapshot
from heatpump_monitor.stores.influx import lineproto
from heatpump_monitor.stores.influx.lineproto import to_line, to_lines


def test_one_point_per_poll_all_floats_ms_timestamp():
    s = Snapshot("192.168.1.100:8080", "thermia", "api", 1_764_324_030_000,
                 {"outdoor_temp": -5.3, "compressor": 1.0, "degree_minutes": -120})
    assert to_line(s) == ("heatpump,brand=thermia,gateway=192.168.1.100:8080,source=api "
                          "outdoor_temp=-5.3,compressor=1.0,degree_minutes=-120.0 1764324030000")


def test_tag_escaping_and_empty_snapshots_skipped():
    a = Snapshot("my gw,1=x", "ivt", "api", 1, {"a b": 2.5})
    b = Snapshot("g", "ivt", "api", 2, {})
    assert to_lines([a, b]) == r"heatpump,brand=ivt,gateway=my\ gw\,1\=x,source=api a\ b=2.5 1"


def test_several_points_one_per_line():
    a = Snapshot("gw1", "thermia", "api", 1_764_324_030_000, {"outdoor_temp": -5.3})
    b = Snapshot("gw2", "nibe", "mqtt", 1_764_324_060_000, {"hot_water_top": 48.5, "compressor": 0})
    c = Snapshot("gw3", "ivt", "api", 1_764_324_060_000, {})  # nothing to write: no line at all
    assert to_lines([a, c, b]) == (
        "heatpump,brand=thermia,gateway=gw1,source=api outdoor_temp=-5.3 1764324030000\n"
        "heatpump,brand=nibe,gateway=gw2,source=mqtt hot_water_top=48.5,compressor=0.0 1764324060000")
    assert to_lines([a, b]) == to_line(a) + "\n" + to_line(b)  # no trailing newline
    assert to_lines([]) == ""
    assert to_lines([c]) == ""
    assert to_lines(iter([a])) == to_line(a)  # any iterable


def test_every_tag_and_field_key_is_escaped_backslashes_kept():
    s = Snapshot(r"gw=1, b\c", "my brand", "a,b", 7, {"x=y": 1.5, "p q,r": 2.0, r"back\slash": 3.0})
    assert to_line(s) == (r"heatpump,brand=my\ brand,gateway=gw\=1\,\ b\c,source=a\,b "
                          r"x\=y=1.5,p\ q\,r=2.0,back\slash=3.0 7")


def test_names_without_special_characters_are_unchanged():
    assert lineproto._esc("outdoor_temp") == "outdoor_temp"
    assert lineproto._esc("192.168.1.100:8080") == "192.168.1.100:8080"
    assert lineproto._esc("") == ""


def test_each_name_is_escaped_once(monkeypatch):
    calls = []

    def counting_esc(name):
        calls.append(name)
        return name.replace(" ", "\\ ")

    monkeypatch.setattr(lineproto, "_escaped", {})
    monkeypatch.setattr(lineproto, "_esc", counting_esc)
    polls = [Snapshot("gw 1", "ivt", "api", t, {"a b": 1.0, "c": 2.0}) for t in (1, 2, 3)]
    lines = to_lines(polls)
    assert lines.splitlines()[2] == r"heatpump,brand=ivt,gateway=gw\ 1,source=api a\ b=1.0,c=2.0 3"
    assert sorted(calls) == sorted(["ivt", "gw 1", "api", "a b", "c"])  # once each, not per poll
    assert lineproto._escaped == {"ivt": "ivt", "gw 1": r"gw\ 1", "api": "api", "a b": r"a\ b", "c": "c"}


def test_a_point_without_fields_is_an_error():
    with pytest.raises(ValueError, match=r"^a point needs at least one field$"):
        to_line(Snapshot("gw", "thermia", "api", 1, {}))


@pytest.mark.parametrize("value,text", [
    (27.5, "27.5"),
    (-5.3, "-5.3"),  # the shortest form that reads back as the same float
    (0.1 + 0.2, "0.30000000000000004"),  # never rounded: what is stored is what was decoded
    (1, "1.0"),  # integers are written as floats: one field type for a register, always
    (0, "0.0"),
    (-120, "-120.0"),
    (True, "1.0"),
    (65535, "65535.0"),
    (1e-7, "1e-07"),
    (123456789.125, "123456789.125"),
])
def test_values_are_floats_never_integers(value, text):
    line = to_line(Snapshot("gw", "thermia", "api", 1, {"v": value}))
    assert line == f"heatpump,brand=thermia,gateway=gw,source=api v={text} 1"
    assert not line.split(" ")[1].endswith("i")  # an "i" suffix would make an integer field


def test_the_escape_cache_is_bounded():
    from heatpump_monitor.stores.influx import lineproto

    lineproto._escaped.clear()
    for i in range(lineproto._ESCAPED_MAX + 5):
        lineproto._key(f"gw {i}")
    assert len(lineproto._escaped) == 5
    assert lineproto._key("gw 1") == r"gw\ 1"  # still right after starting over
