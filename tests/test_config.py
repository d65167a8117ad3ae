"""Configuration: the spec's variables and defaults, store selection, and one clear message
(naming variable, value and what is accepted) for each bad value."""

import pytest

from heatpump_monitor.config import ConfigError, load_collector_config, load_store_config


def cfg(**env):
    return load_collector_config({"CONFIG_FILE": "", **env})


def test_spec_defaults():
    c = cfg(H66_IP="192.168.1.100")
    assert c.interval_s == 30
    assert (c.brand, c.brand_source) == ("thermia", "default")
    assert c.store.kind == "embedded"
    assert c.store.path == "data/heatpump.sqlite3"
    assert [g.name for g in c.gateways] == ["192.168.1.100"]
    assert c.gateways[0].base_url == "http://192.168.1.100"
    assert c.store_unknown is False
    assert c.http_timeout_s < c.interval_s


def test_token_selects_influxdb_v2_with_spec_defaults():
    c = cfg(H66_IP="h66.local", INFLUXDB_TOKEN="s3cret-token")
    assert c.store.kind == "influxdb2"
    assert (c.store.url, c.store.org, c.store.bucket) == ("http://influxdb:8086", "thermia", "heatpump")
    assert c.store.token.get_secret_value() == "s3cret-token"
    assert "s3cret-token" not in repr(c)


def test_database_selects_influxdb_1x_even_with_token():
    c = cfg(H66_IP="h66", INFLUXDB_URL="http://db:8086/", INFLUXDB_DATABASE="heat",
            INFLUXDB_USERNAME="u", INFLUXDB_PASSWORD="pw-xyz", INFLUXDB_TOKEN="t")
    assert c.store.kind == "influxdb1"
    assert (c.store.url, c.store.database, c.store.username) == ("http://db:8086", "heat", "u")
    assert "pw-xyz" not in repr(c)


def test_url_without_token_or_database_is_the_spec_message():
    with pytest.raises(ConfigError) as e:
        cfg(H66_IP="h66", INFLUXDB_URL="http://influxdb:8086")
    assert str(e.value) == "INFLUXDB_TOKEN environment variable must be set"


@pytest.mark.parametrize("env", [{}, {"H66_IP": ""}, {"H66_IP": "   "}])
def test_missing_h66_ip_is_the_exact_spec_message(env):
    with pytest.raises(ConfigError) as e:
        cfg(**env)
    assert str(e.value) == "H66_IP environment variable must be set"


@pytest.mark.parametrize("var,value,accepted", [
    ("COLLECTION_INTERVAL", "abc", "whole number of seconds from 1 to 86400"),
    ("COLLECTION_INTERVAL", "0", "whole number of seconds from 1 to 86400"),
    ("COLLECTION_INTERVAL", "-5", "whole number of seconds from 1 to 86400"),
    ("COLLECTION_INTERVAL", "2.5", "whole number of seconds from 1 to 86400"),
    ("HEATPUMP_BRAND", "daikin", "thermia, ivt, nibe, auto"),
    ("STORE_UNKNOWN_REGISTERS", "maybe", "true or false"),
    ("INFLUXDB_URL", "influxdb:8086", "http:// or https:// URL"),
    ("WRITE_BUFFER_MAX", "0", "whole number of polls"),
])
def test_bad_values_name_variable_value_and_accepted(var, value, accepted):
    with pytest.raises(ConfigError) as e:
        cfg(H66_IP="h66", **{var: value})
    msg = str(e.value)
    assert var in msg and repr(value) in msg and accepted in msg


def test_interval_and_brand_parsed():
    c = cfg(H66_IP="h66", COLLECTION_INTERVAL=" 10 ", HEATPUMP_BRAND="NIBE", STORE_UNKNOWN_REGISTERS="true")
    assert (c.interval_s, c.brand, c.brand_source, c.store_unknown) == (10, "nibe", "HEATPUMP_BRAND", True)
    assert c.http_timeout_s == 8.0


def test_short_interval_keeps_timeout_below_interval():
    assert cfg(H66_IP="h", COLLECTION_INTERVAL="1").http_timeout_s == pytest.approx(0.8)


def test_several_gateways_with_ports():
    c = cfg(H66_IP="192.168.1.100:8080, h66.local ,http://10.0.0.5:81/")
    assert [g.name for g in c.gateways] == ["192.168.1.100:8080", "h66.local", "10.0.0.5:81"]
    assert [g.base_url for g in c.gateways] == [
        "http://192.168.1.100:8080", "http://h66.local", "http://10.0.0.5:81"]


@pytest.mark.parametrize("value", ["1.2.3.4:99999", "a b", "1.2.3.4,1.2.3.4", "host:port"])
def test_bad_gateway_addresses(value):
    with pytest.raises(ConfigError) as e:
        cfg(H66_IP=value)
    assert "H66_IP" in str(e.value) and repr(value) in str(e.value)


def test_brand_from_config_file_and_env_wins(tmp_path):
    f = tmp_path / "config.yaml"
    f.write_text("brand: ivt\n")
    c = load_collector_config({"H66_IP": "h", "CONFIG_FILE": str(f)})
    assert (c.brand, c.brand_source) == ("ivt", str(f))
    c = load_collector_config({"H66_IP": "h", "CONFIG_FILE": str(f), "HEATPUMP_BRAND": "nibe"})
    assert (c.brand, c.brand_source) == ("nibe", "HEATPUMP_BRAND")


def test_bad_brand_in_config_file(tmp_path):
    f = tmp_path / "config.yaml"
    f.write_text("brand: bosch\n")
    with pytest.raises(ConfigError) as e:
        load_collector_config({"H66_IP": "h", "CONFIG_FILE": str(f)})
    assert "bosch" in str(e.value) and str(f) in str(e.value) and "thermia, ivt, nibe" in str(e.value)


def test_store_path_from_env():
    s = load_store_config({"STORE_PATH": "/tmp/x.sqlite3"})
    assert (s.kind, s.path) == ("embedded", "/tmp/x.sqlite3")


def test_dashboard_defaults_and_auth_pair():
    from heatpump_monitor.config import load_dashboard_config

    d = load_dashboard_config({})
    assert (d.host, d.port, d.auth, d.store.kind) == ("127.0.0.1", 8050, None, "embedded")
    d = load_dashboard_config({"DASHBOARD_HOST": "0.0.0.0", "DASHBOARD_PORT": "9000",
                               "DASHBOARD_USERNAME": "me", "DASHBOARD_PASSWORD": "pw-123"})
    assert (d.host, d.port, d.auth[0], d.auth[1].get_secret_value()) == ("0.0.0.0", 9000, "me", "pw-123")
    assert "pw-123" not in repr(d)
    with pytest.raises(ConfigError) as e:
        load_dashboard_config({"DASHBOARD_USERNAME": "me"})
    assert "DASHBOARD_USERNAME and DASHBOARD_PASSWORD must be set together" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_dashboard_config({"DASHBOARD_PORT": "http"})
    assert "Invalid DASHBOARD_PORT='http'" in str(e.value)


@pytest.mark.parametrize("var,value,accepted", [
    ("MQTT_PORT", "0", "a port number from 1 to 65535"),
    ("MQTT_PORT", "x", "a port number from 1 to 65535"),
    ("MQTT_TLS", "sometimes", "true or false"),
    ("H66_MAC", "zz:zz", "12 hex digits"),
    ("MQTT_TIMESTAMP_MODE", "exact", "snapshot or round"),
    ("MQTT_SILENT_LIMIT", "0", "a whole number of seconds >= 1"),
    ("MQTT_PAYLOAD_SCALE", "x10", "auto, raw (540 is 54.0 C, like /api/alldata) or scaled"),
])
def test_bad_mqtt_values_name_variable_value_and_accepted(var, value, accepted):
    from heatpump_monitor.config import load_mqtt_config

    with pytest.raises(ConfigError) as e:
        load_mqtt_config({"CONFIG_FILE": "", var: value})
    assert f"Invalid {var}={value!r}" in str(e.value) and accepted in str(e.value)


def test_spool_metrics_and_log_format_defaults():
    c = cfg(H66_IP="h66")
    assert c.spool_path == "data/spool-api.sqlite3" and c.spool_max_bytes == 256_000_000
    assert (c.metrics_port, c.metrics_host, c.log_format) == (0, "127.0.0.1", "text")


def test_data_dir_moves_store_and_spool_unless_set_on_their_own():
    c = cfg(H66_IP="h66", DATA_DIR="/var/lib/hpm")
    assert (c.store.path, c.spool_path) == ("/var/lib/hpm/heatpump.sqlite3", "/var/lib/hpm/spool-api.sqlite3")
    c = cfg(H66_IP="h66", DATA_DIR="/var/lib/hpm", STORE_PATH="/x/s.db", SPOOL_PATH="/y/sp.db",
            SPOOL_MAX_MB="0.5", METRICS_PORT="9108", LOG_FORMAT="JSON")
    assert (c.store.path, c.spool_path, c.spool_max_bytes) == ("/x/s.db", "/y/sp.db", 500_000)
    assert (c.metrics_port, c.log_format) == (9108, "json")


def test_spool_max_mb_zero_means_memory_only():
    c = cfg(H66_IP="h66", SPOOL_MAX_MB="0")
    assert c.spool_path == ""


@pytest.mark.parametrize("var,value,accepted", [
    ("SPOOL_MAX_MB", "lots", "megabytes >= 0"),
    ("SPOOL_MAX_MB", "-1", "megabytes >= 0"),
    ("METRICS_PORT", "70000", "port number from 1 to 65535, or 0"),
    ("METRICS_PORT", "http", "port number from 1 to 65535, or 0"),
    ("LOG_FORMAT", "xml", "text or json"),
])
def test_bad_operational_values_are_named(var, value, accepted):
    with pytest.raises(ConfigError) as e:
        cfg(H66_IP="h66", **{var: value})
    msg = str(e.value)
    assert var in msg and repr(value) in msg and accepted in msg


def test_mqtt_payload_scale_default_and_values():
    from heatpump_monitor.config import load_mqtt_config

    assert load_mqtt_config({"CONFIG_FILE": ""}).mqtt.payload_scale == "auto"
    for value in ("raw", "Scaled ", "AUTO"):
        assert load_mqtt_config({"CONFIG_FILE": "", "MQTT_PAYLOAD_SCALE": value}).mqtt.payload_scale == value.strip().lower()


# ------------------------------------------------------------------ CONFIG_FILE registers:


def test_register_overrides_from_config_file(tmp_path):
    f = tmp_path / "config.yaml"
    f.write_text('brand: ivt\nregisters:\n  "6C56": {factor: 10}\n  nibe:\n    "9108": {unit: Hz}\n')
    c = load_collector_config({"H66_IP": "h", "CONFIG_FILE": str(f)})
    assert c.registers.path == str(f)
    assert dict(c.registers.common) == {"6C56": {"factor": 10}}
    assert dict(c.registers.by_brand) == {"nibe": {"9108": {"unit": "Hz"}}}
    assert not cfg(H66_IP="h").registers  # no file: no overrides


def test_register_override_mistakes_are_one_line_each_and_refuse_to_start(tmp_path):
    f = tmp_path / "config.yaml"
    f.write_text('registers:\n  "0007": {factor: 0}\n  "6C70": {unit: h}\n  0010: {name: x}\n')
    with pytest.raises(ConfigError) as e:
        load_collector_config({"H66_IP": "h", "CONFIG_FILE": str(f), "HEATPUMP_BRAND": "ivt"})
    assert e.value.lines == [
        f"{f}: registers 0007: factor must be a positive number, got 0",
        f'{f}: registers 8: write the index in quotes, e.g. "0010" (YAML reads an unquoted number '
        "with leading zeros differently)",
    ]
    f.write_text('registers:\n  "6C70": {unit: h}\n')  # parses; fails against the brand data
    with pytest.raises(ConfigError) as e:
        load_collector_config({"H66_IP": "h", "CONFIG_FILE": str(f), "HEATPUMP_BRAND": "ivt"})
    assert e.value.lines == [f"{f}: registers 6C70 (ivt): a register the ivt data lacks needs a name"]
    # with HEATPUMP_BRAND=auto every brand is checked
    with pytest.raises(ConfigError) as e:
        load_collector_config({"H66_IP": "h", "CONFIG_FILE": str(f), "HEATPUMP_BRAND": "auto"})
    assert len(e.value.lines) == 3


@pytest.mark.parametrize(("text", "message"), [
    ("brand: [", "Cannot read"),
    ("- a\n- b\n", "expected a mapping such as 'brand: ivt'"),
    (b"\xff\xfe", "Cannot read"),
])
def test_unreadable_config_file(tmp_path, text, message):
    f = tmp_path / "config.yaml"
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as e:
        load_collector_config({"H66_IP": "h", "CONFIG_FILE": str(f)})
    assert message in str(e.value) and str(f) in str(e.value)


def test_unknown_config_file_keys_are_an_error(tmp_path):
    f = tmp_path / "config.yaml"
    f.write_text("brand: ivt\nregister:\n  x: 1\n")  # a typo of registers: would drop the overrides
    with pytest.raises(ConfigError) as e:
        load_collector_config({"H66_IP": "h", "CONFIG_FILE": str(f)})
    assert str(e.value) == (f"Invalid {f}: 1 unknown key(s) (register); known: brand, registers, alerts. "
                            "Is it the right file?")


@pytest.mark.attack("10")
@pytest.mark.parametrize(("path", "why"), [("/nonexistent/config.yaml", "no such file"), ("/", "not a file")])
def test_a_config_file_named_explicitly_must_exist(path, why):
    with pytest.raises(ConfigError) as e:
        load_collector_config({"H66_IP": "h", "CONFIG_FILE": path})
    assert str(e.value) == f"Invalid CONFIG_FILE={path!r}: {why} (unset it to use none)"


def test_the_default_config_file_is_optional(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config.yaml here
    monkeypatch.delenv("CONFIG_FILE", raising=False)
    monkeypatch.setenv("H66_IP", "h")
    assert load_collector_config().brand_source == "default"


@pytest.mark.attack("10")
def test_a_file_that_is_no_yaml_mapping_is_an_error(tmp_path):
    f = tmp_path / "shadow"
    f.write_text("root:*:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\n")
    with pytest.raises(ConfigError) as e:
        load_collector_config({"H66_IP": "h", "CONFIG_FILE": str(f)})
    assert str(e.value) == f"Invalid {f}: 2 unknown key(s); known: brand, registers, alerts. Is it the right file?"
    assert "19700" not in str(e.value)  # what a wrong file holds stays out of the log


@pytest.mark.parametrize(("var", "value"), [
    ("COLLECTION_INTERVAL", "٣٠"), ("COLLECTION_INTERVAL", "3_0"), ("METRICS_PORT", "٨٠٥١"),
    ("MQTT_SILENT_LIMIT", "1_0"), ("WRITE_BUFFER_MAX", "1_000"), ("SPOOL_MAX_MB", "1_0"),
    ("SPOOL_MAX_MB", "１０"), ("DASHBOARD_PORT", "８０５０"), ("COLLECTION_INTERVAL", "1e2"),
])
@pytest.mark.attack("10")
def test_numbers_are_ascii_digits_only(var, value):
    from heatpump_monitor.config import load_dashboard_config, load_mqtt_config

    env = {"H66_IP": "h", "CONFIG_FILE": "", var: value}
    with pytest.raises(ConfigError) as e:
        {"DASHBOARD_PORT": load_dashboard_config, "MQTT_SILENT_LIMIT": load_mqtt_config}.get(var, load_collector_config)(env)
    assert f"Invalid {var}={value!r}" in str(e.value)


def test_ascii_numbers_still_read_with_spaces():
    c = cfg(H66_IP="h", COLLECTION_INTERVAL=" 15 ", SPOOL_MAX_MB="2.5", METRICS_PORT="8051")
    assert (c.interval_s, c.spool_max_bytes, c.metrics_port) == (15, 2_500_000, 8051)


# ------------------------------------------------------------------ STORE, typed values, one read


@pytest.mark.parametrize(("env", "kind"), [
    ({}, "embedded"),
    ({"STORE": ""}, "embedded"),
    ({"INFLUXDB_TOKEN": "t"}, "influxdb2"),  # unset: the seed's selection
    ({"INFLUXDB_TOKEN": "t", "INFLUXDB_DATABASE": "db"}, "influxdb1"),
    ({"STORE": "embedded", "INFLUXDB_TOKEN": "t", "INFLUXDB_DATABASE": "db"}, "embedded"),
    ({"STORE": "embedded", "INFLUXDB_URL": "http://db:8086"}, "embedded"),  # no "token must be set"
    ({"STORE": " InfluxDB2 ", "INFLUXDB_TOKEN": "t", "INFLUXDB_DATABASE": "db"}, "influxdb2"),
    ({"STORE": "influxdb1", "INFLUXDB_TOKEN": "t", "INFLUXDB_DATABASE": "db"}, "influxdb1"),
])
def test_store_names_the_backend_and_wins_over_the_selection(env, kind):
    assert load_store_config(env).kind == kind


@pytest.mark.parametrize(("env", "message"), [
    ({"STORE": "influxdb1", "INFLUXDB_TOKEN": "t"}, "STORE=influxdb1 needs INFLUXDB_DATABASE"),
    ({"STORE": "influxdb2", "INFLUXDB_DATABASE": "db"}, "STORE=influxdb2 needs INFLUXDB_TOKEN"),
    ({"STORE": "sqlite"}, "Invalid STORE='sqlite': expected embedded, influxdb1 or influxdb2 "
                          "(unset: chosen by INFLUXDB_DATABASE, INFLUXDB_TOKEN)"),
])
def test_store_mistakes_are_one_line(env, message):
    with pytest.raises(ConfigError) as e:
        load_store_config(env)
    assert str(e.value) == message and e.value.lines == [message]


def test_a_store_file_given_on_the_command_line_wins():
    s = load_store_config({"STORE": "influxdb2", "INFLUXDB_TOKEN": "t"}, path="data/demo.sqlite3")
    assert (s.kind, s.path) == ("embedded", "data/demo.sqlite3")
    from heatpump_monitor.config import load_dashboard_config, load_verify_config

    assert load_dashboard_config({}, store_path="x.sqlite3").store.path == "x.sqlite3"
    v = load_verify_config({"COLLECTION_INTERVAL": "60", "STORE_PATH": "a.db"}, store_path="b.db")
    assert (v.store.path, v.interval_s) == ("b.db", 60)


def test_a_mapping_given_is_the_only_source(monkeypatch):
    monkeypatch.setenv("INFLUXDB_TOKEN", "from-the-process")
    monkeypatch.setenv("COLLECTION_INTERVAL", "abc")
    assert load_store_config({}).kind == "embedded"
    with pytest.raises(ConfigError, match="COLLECTION_INTERVAL"):
        load_store_config()


def test_values_are_typed_once():
    from heatpump_monitor.config import load_healthcheck_config, load_mqtt_config

    m = load_mqtt_config({"CONFIG_FILE": "", "MQTT_PORT": " 8883 ", "MQTT_TLS": "Yes", "MQTT_SILENT_LIMIT": "60",
                          "MQTT_GETALL_INTERVAL": "120", "MQTT_MAX_GATEWAYS": "3", "MQTT_BROKER": " b "})
    assert (m.mqtt.port, m.mqtt.tls, m.mqtt.silent_limit_s, m.mqtt.getall_interval_s, m.mqtt.max_gateways,
            m.mqtt.broker) == (8883, True, 60, 120, 3, "b")
    h = load_healthcheck_config({"METRICS_PORT": "9108", "HEARTBEAT_FILE": "/tmp/hb", "COLLECTION_INTERVAL": "15"})
    assert (h.metrics_port, h.heartbeat_file, h.interval_s) == (9108, "/tmp/hb", 15)
    c = cfg(H66_IP="h", STORE_UNKNOWN_REGISTERS="off", LOG_LEVEL="debug", METRICS_HOST=" ")
    assert (c.store_unknown, c.log_level, c.metrics_host) == (False, "DEBUG", "127.0.0.1")


def test_log_settings_before_the_whole_check():
    from heatpump_monitor.config import log_settings

    assert log_settings({}) == ("INFO", "text")
    assert log_settings({"LOG_LEVEL": "warning", "LOG_FORMAT": " JSON"}) == ("WARNING", "json")
    # one bad value falls back alone (the whole check reports it), the other is kept
    assert log_settings({"LOG_LEVEL": "loud", "LOG_FORMAT": "json", "COLLECTION_INTERVAL": "x"}) == ("INFO", "json")


def test_interval_option_follows_the_variable_rule():
    from heatpump_monitor.config import parse_interval

    assert parse_interval(" 5 ", "--interval") == 5
    for bad in ("0", "86401", "1_0", "٣٠", "5s"):
        with pytest.raises(ValueError) as e:
            parse_interval(bad, "--interval")
        assert str(e.value) == f"Invalid --interval={bad!r}: expected a whole number of seconds from 1 to 86400"
