"""Log formats (text, JSON lines) and the last-line-of-defence secret masking."""

import io
import json
import logging

import pytest

from heatpump_monitor import config, logs


@pytest.fixture
def capture():
    buf = io.StringIO()
    yield buf
    for h in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(h)


def test_json_lines_have_time_level_logger_message(capture):
    logs.setup_logging("INFO", fmt="json", stream=capture)
    logging.getLogger("heatpump_monitor.collector").warning("Gateway %s answers again", "h66")
    doc = json.loads(capture.getvalue())
    assert doc["level"] == "WARNING" and doc["logger"] == "heatpump_monitor.collector"
    assert doc["message"] == "Gateway h66 answers again" and doc["time"].endswith("Z")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_masked_in_arguments_and_tracebacks(capture, fmt):
    secret = "s3cret-token-abc"
    logs.setup_logging("INFO", secrets=[secret, ""], fmt=fmt, stream=capture)
    log = logging.getLogger("x")
    log.error("url %s", f"http://u:{secret}@db")
    try:
        raise ValueError(f"bad token {secret}")
    except ValueError:
        log.exception("failed")
    out = capture.getvalue()
    assert secret not in out and out.count("***") >= 2 and "ValueError" in out
    if fmt == "json":
        assert len([json.loads(line) for line in out.splitlines()]) == 2


def test_env_secrets_names_every_password_variable(monkeypatch):
    import base64

    for var in config.SECRET_VARS:
        monkeypatch.setenv(var, f"value-of-{var}")
    for user, _ in config.BASIC_AUTH_VARS:
        monkeypatch.setenv(user, f"user-{user}")
    masked = config.env_secrets().mask(" ".join(f"value-of-{v}" for v in (
        "INFLUXDB_TOKEN", "INFLUXDB_PASSWORD", "MQTT_PASSWORD", "DASHBOARD_PASSWORD")))
    assert masked == "*** *** *** ***"
    basic = base64.b64encode(b"user-INFLUXDB_USERNAME:value-of-INFLUXDB_PASSWORD").decode()
    assert config.env_secrets().mask(f"echo {basic} end") == "echo *** end"


def test_env_secrets_reads_a_given_mapping_only(monkeypatch):
    monkeypatch.setenv("INFLUXDB_TOKEN", "from-the-environment")
    secrets = config.env_secrets({"INFLUXDB_TOKEN": "given-token"})
    assert secrets.mask("given-token from-the-environment") == "*** from-the-environment"
