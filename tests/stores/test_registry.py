"""The registry is the only place that chooses a store backend, and every backend it names
gives a writer, a reader and a description from its own package."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import get_args, get_type_hints

import pytest
from pydantic import SecretStr

from heatpump_monitor.config import StoreConfig
from heatpump_monitor.stores import BACKENDS, describe, make_reader, make_sink
from heatpump_monitor.stores.embedded import EmbeddedReader, EmbeddedSink
from heatpump_monitor.stores.influx import InfluxReader, InfluxV1Sink, InfluxV2Sink

SRC = Path(__file__).resolve().parents[2] / "src" / "heatpump_monitor"

STORES = {
    "embedded": (lambda tmp: StoreConfig(kind="embedded", path=str(tmp / "s.sqlite3")), EmbeddedSink, EmbeddedReader,
                 "embedded store at "),
    "influxdb1": (lambda tmp: StoreConfig(kind="influxdb1", url="http://user:pw@127.0.0.1:9/", database="hp",
                                          username="u", password=SecretStr("pw")),
                  InfluxV1Sink, InfluxReader, "InfluxDB 1.x at http://127.0.0.1:9 (database hp, user u)"),
    "influxdb2": (lambda tmp: StoreConfig(kind="influxdb2", url="http://127.0.0.1:9", token=SecretStr("tok"),
                                          org="o", bucket="b"),
                  InfluxV2Sink, InfluxReader, "InfluxDB 2.x at http://127.0.0.1:9 (bucket b, InfluxQL v1 API)"),
}


def test_every_store_kind_has_a_backend_and_nothing_more():
    kinds = set(get_args(get_type_hints(StoreConfig)["kind"]))
    assert set(BACKENDS) == kinds == set(STORES)


@pytest.mark.parametrize("kind", sorted(STORES))
def test_a_backend_gives_its_sink_reader_and_description(kind, tmp_path):
    config, sink_type, reader_type, text = STORES[kind]
    store = config(tmp_path)
    sink = make_sink(store, timeout_s=1.0)
    reader = make_reader(store)
    try:
        assert type(sink) is sink_type and type(reader) is reader_type
        assert describe(store).startswith(text)
        for shown in (describe(store), sink.description, reader.description if hasattr(reader, "description") else ""):
            assert "pw" not in shown.replace("127.0.0.1", "") and "tok" not in shown
    finally:
        reader.close()
        asyncio.run(sink.close())
    # nothing is opened or contacted when they are made
    assert not (tmp_path / "s.sqlite3").exists()


def test_an_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no store backend 'timescale' \(known: embedded, influxdb1, influxdb2\)"):
        make_reader(StoreConfig(kind="timescale"))  # type: ignore[arg-type]


def _chooses_a_backend(path: Path) -> list[str]:
    """Lines of ``path`` that compare a store's kind or import a backend package directly."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "kind":
            if any(isinstance(c, ast.Constant) and c.value in BACKENDS for c in node.comparators):
                found.append(f"{path.name}:{node.lineno} compares .kind")
        if isinstance(node, ast.ImportFrom) and node.module:
            mod = node.module.lstrip(".")
            if any(mod == f"stores.{b}" or mod.startswith(f"stores.{b}.") or mod in (b, f"stores.{b}")
                   for b in ("embedded", "influx")):
                found.append(f"{path.name}:{node.lineno} imports {node.module}")
    return found


def test_no_module_outside_stores_chooses_a_backend():
    outside = [p for p in SRC.rglob("*.py") if "stores" not in p.relative_to(SRC).parts]
    assert outside
    offenders = [line for p in outside for line in _chooses_a_backend(p)]
    assert offenders == []


def test_the_architecture_check_finds_a_backend_choice(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from .stores.embedded import EmbeddedReader\nif store.kind == 'influxdb1':\n    pass\n")
    assert _chooses_a_backend(bad) == ["bad.py:1 imports stores.embedded", "bad.py:2 compares .kind"]
