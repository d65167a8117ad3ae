"""The integrations' settings: off by default, one clear error per bad value."""

from __future__ import annotations

import pytest

from heatpump_monitor.config import ConfigError, load_collector_config, load_mqtt_config

API = {"H66_IP": "192.168.1.100,192.168.1.101", "CONFIG_FILE": ""}


def test_off_by_default():
    cfg = load_collector_config(API)
    assert cfg.homeassistant is None and cfg.metrics_registers is False


def test_home_assistant_uses_the_mqtt_broker_settings():
    cfg = load_collector_config({**API, "HA_DISCOVERY": "true", "MQTT_BROKER": "broker.lan", "MQTT_PORT": "8883",
                                 "MQTT_USERNAME": "u", "MQTT_PASSWORD": "p", "MQTT_CLIENT_ID": "hp",
                                 "HA_DISCOVERY_PREFIX": "ha", "HA_STATE_TOPIC": "house/heatpump"})
    ha = cfg.homeassistant
    assert ha is not None
    assert (ha.broker, ha.port, ha.username, ha.password.get_secret_value()) == ("broker.lan", 8883, "u", "p")
    assert ha.client_id == "hp-ha"  # never the MQTT collector's own id: the broker would drop one of them
    assert (ha.discovery_prefix, ha.state_base, ha.max_gateways) == ("ha", "house/heatpump", 2)
    assert "p" not in repr(ha.password)


def test_the_mqtt_collector_bounds_home_assistant_by_its_gateways():
    env = {"CONFIG_FILE": "", "HA_DISCOVERY": "1", "MQTT_MAX_GATEWAYS": "7"}
    assert load_mqtt_config(env).homeassistant.max_gateways == 7  # type: ignore[union-attr]
    env["H66_MAC"] = "cd4dee258efa,cd4dee258efb"
    assert load_mqtt_config(env).homeassistant.max_gateways == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("env, message", [
    ({"HA_DISCOVERY": "maybe"}, "Invalid HA_DISCOVERY='maybe': expected true or false"),
    ({"HA_DISCOVERY_PREFIX": "home/#"}, "Invalid HA_DISCOVERY_PREFIX='home/#'"),
    ({"HA_STATE_TOPIC": "a//b"}, "Invalid HA_STATE_TOPIC='a//b'"),
    ({"HA_DISCOVERY": "true", "MQTT_BROKER": " "}, "HA_DISCOVERY=true needs the broker"),
    ({"HA_DISCOVERY": "true", "MQTT_TLS": "true", "MQTT_CA_FILE": "/nonexistent/ca.pem"},
     "Invalid MQTT_CA_FILE='/nonexistent/ca.pem'"),
    ({"METRICS_REGISTERS": "true"}, "METRICS_REGISTERS=true needs METRICS_PORT"),
    ({"METRICS_REGISTERS": "sure", "METRICS_PORT": "9100"}, "Invalid METRICS_REGISTERS='sure'"),
])
def test_bad_values_are_one_clear_error(env, message):
    with pytest.raises(ConfigError) as err:
        load_collector_config({**API, **env})
    assert message in str(err.value)
