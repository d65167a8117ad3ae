"""No Docker engine here: validate the image and compose file statically."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC_VARS = ["H66_IP", "COLLECTION_INTERVAL", "HEATPUMP_BRAND", "INFLUXDB_URL", "INFLUXDB_TOKEN",
             "INFLUXDB_ORG", "INFLUXDB_BUCKET"]
#: what the compose files add to the spec's collector: the alerts (README "Alerts")
ALERT_VARS = ["NOTIFY_URLS", "LANGUAGE", "TZ"]
#: Home Assistant discovery from the API collector (README "Home Assistant"): the broker it
#: publishes to and the switch, off unless set
HA_VARS = ["MQTT_BROKER", "MQTT_PORT", "MQTT_USERNAME", "MQTT_PASSWORD", "HA_DISCOVERY", "HA_DISCOVERY_PREFIX",
           "HA_STATE_TOPIC"]
#: Prometheus register gauges (README "Prometheus register values"), off unless set
METRICS_VARS = ["METRICS_REGISTERS"]
#: the API collector's environment in both compose files: the spec's, in its order, then ours
API_VARS = SPEC_VARS + ALERT_VARS + HA_VARS + METRICS_VARS


def compose(name="docker-compose.yml"):
    return yaml.safe_load((ROOT / name).read_text())


def env_list(service):
    env = service.get("environment", [])
    if isinstance(env, dict):
        return {k: str(v) for k, v in env.items()}
    return dict(item.split("=", 1) for item in env)


def dockerfile_instructions():
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_compose_services_and_collector_as_in_spec():
    c = compose()
    assert set(c["services"]) >= {"influxdb", "collector", "dashboard"}
    col = c["services"]["collector"]
    build = col["build"]
    context = build if isinstance(build, str) else build["context"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).is_file()
    assert col["command"] == "python3 /app/api_collector.py"
    env = env_list(col)
    assert list(env) == API_VARS  # the spec's, in its order; then the alerts', HA's, Prometheus'
    assert env["INFLUXDB_URL"] == "http://influxdb:8086"
    assert env["INFLUXDB_TOKEN"] == "${INFLUXDB_TOKEN}"
    assert (env["COLLECTION_INTERVAL"], env["HEATPUMP_BRAND"], env["INFLUXDB_ORG"], env["INFLUXDB_BUCKET"]) == (
        "30", "thermia", "thermia", "heatpump")
    assert col["depends_on"]["influxdb"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.both.yml"])
def test_dashboard_service_reads_the_same_bucket(name):
    c = compose(name)
    dash = c["services"]["dashboard"]
    assert dash["command"] == "heatpump-monitor serve"
    env = env_list(dash)
    assert env["DASHBOARD_HOST"] == "0.0.0.0" and "8050:8050" in dash["ports"]
    collector = c["services"].get("collector") or c["services"]["collector-api"]
    for k in ("INFLUXDB_URL", "INFLUXDB_TOKEN", "INFLUXDB_ORG", "INFLUXDB_BUCKET"):
        assert env[k] == env_list(collector)[k]
    assert dash["healthcheck"]["test"] == ["CMD", "heatpump-monitor", "healthcheck", "--url",
                                         "http://127.0.0.1:8050/readyz"]
    from heatpump_monitor.cli import build_parser

    assert build_parser().parse_args(dash["command"].split()[1:]).func.__name__ == "cmd_serve"


def test_influxdb2_initialised_with_same_org_bucket_token():
    db = compose()["services"]["influxdb"]
    assert db["image"].startswith("influxdb:2")
    env = env_list(db)
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert env["DOCKER_INFLUXDB_INIT_ORG"] == "thermia"
    assert env["DOCKER_INFLUXDB_INIT_BUCKET"] == "heatpump"
    assert env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == "${INFLUXDB_TOKEN}"
    assert any(v.endswith(":/var/lib/influxdb2") for v in db["volumes"])


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.both.yml"])
def test_every_compose_variable_is_documented_in_env_example(name):
    text = (ROOT / name).read_text()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    # set, or shown commented out (`# MQTT_PORT=1883`): an optional variable with a compose default
    # stays commented so that `set -a; . ./.env` does not give it an empty value
    documented = set(re.findall(r"^(?:# )?([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    assert used and used <= documented, used - documented


def test_dockerfile_slim_nonroot_healthcheck_and_entry_points():
    ins = dockerfile_instructions()
    # the image is the last stage (the first builds the chart library)
    ins = ins[max(i for i, (word, _) in enumerate(ins) if word == "FROM"):]
    assert ins[0][0] == "FROM" and re.fullmatch(r"python:3\.1[1-9]-slim", ins[0][1])
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(word == "HEALTHCHECK" and "heatpump-monitor" in rest and "healthcheck" in rest for word, rest in ins)
    copies = [rest.split() for word, rest in ins if word == "COPY"]
    assert ["collector/api_collector.py", "/app/api_collector.py"] in copies
    assert ["collector/collector.py", "/app/collector.py"] in copies
    for c in copies:
        if c[0].startswith("--from="):
            continue  # from the build stage (test_image_builds_the_chart_library_in_a_stage_of_its_own)
        for src in c[:-1]:
            assert (ROOT / src).exists(), src
    cmd = [rest for word, rest in ins if word == "CMD"][-1]
    assert cmd == '["python3", "/app/api_collector.py"]'


def test_healthcheck_command_exists_in_cli():
    from heatpump_monitor.cli import build_parser

    args = build_parser().parse_args(["healthcheck"])
    assert args.func.__name__ == "cmd_healthcheck"


def test_both_collectors_side_by_side_option_b():
    c = compose("docker-compose.both.yml")
    assert set(c["services"]) == {"influxdb", "mosquitto", "collector-mqtt", "collector-api", "dashboard", "grafana"}
    api, mqtt = c["services"]["collector-api"], c["services"]["collector-mqtt"]
    assert api["command"] == "python3 /app/api_collector.py"
    assert mqtt["command"] == "python3 /app/collector.py"
    assert list(env_list(api)) == API_VARS
    menv = env_list(mqtt)
    assert menv["MQTT_BROKER"] == "mosquitto" and menv["MQTT_PORT"] == "1883"
    assert menv["MQTT_USERNAME"] == "${MQTT_USERNAME:-}" and menv["MQTT_PASSWORD"] == "${MQTT_PASSWORD:-}"
    # the same gateway name from both collectors, on the same grid, into the same bucket
    assert menv["GATEWAY_NAME"] == env_list(api)["H66_IP"] == "${H66_IP}"
    for k in ("COLLECTION_INTERVAL", "HEATPUMP_BRAND", "INFLUXDB_URL", "INFLUXDB_TOKEN", "INFLUXDB_ORG",
              "INFLUXDB_BUCKET"):
        assert menv[k] == env_list(api)[k]
    mosq = c["services"]["mosquitto"]
    assert mosq["image"].startswith("eclipse-mosquitto:2") and "1883:1883" in mosq["ports"]
    conf_src = mosq["volumes"][0].split(":")[0]
    conf = (ROOT / conf_src).read_text()
    assert "listener 1883" in conf


def test_mqtt_settings_of_the_compose_file_load():
    """The MQTT collector accepts exactly what docker-compose.both.yml gives it."""
    from heatpump_monitor.config import load_mqtt_config

    given = {"H66_MAC": "cd4dee258efa", "H66_IP": "192.168.1.100", "INFLUXDB_TOKEN": "t"}
    env = {k: interpolate(v, given)
           for k, v in env_list(compose("docker-compose.both.yml")["services"]["collector-mqtt"]).items()}
    cfg = load_mqtt_config(env)
    assert (cfg.mqtt.broker, cfg.mqtt.mac, cfg.mqtt.gateway_name, cfg.store.kind) == (
        "mosquitto", "cd4dee258efa", "192.168.1.100", "influxdb2")
    assert cfg.alerts is None  # NOTIFY_URLS empty and no alerts: section: no rules run


def interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's ${VAR} and ${VAR:-default}, with ``given`` as the .env file."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: given.get(m.group(1), m.group(2) or ""), value)


@pytest.mark.parametrize("name,services", [("docker-compose.yml", ["collector"]),
                                           ("docker-compose.both.yml", ["collector-api", "collector-mqtt"])])
def test_collectors_keep_their_spool_on_a_named_volume(name, services):
    c = compose(name)
    seen = set()
    for s in services:
        vols = [v for v in c["services"][s].get("volumes", []) if v.endswith(":/app/data")]
        assert len(vols) == 1, s
        volume = vols[0].split(":")[0]
        assert volume in c["volumes"] and volume not in seen
        seen.add(volume)


def image_env() -> dict[str, str]:
    """The ENV of the image's last stage (what every compose service starts with)."""
    text = (ROOT / "Dockerfile").read_text()
    return dict(re.findall(r"\b([A-Z_]+)=(\S+)", text.split("FROM python")[1].split("WORKDIR")[0]))


def test_image_serves_readiness_on_metrics_port_for_its_healthcheck():
    """The image's HEALTHCHECK (`heatpump-monitor healthcheck`) asks /readyz on METRICS_PORT,
    which the image sets; the data directory is the volume."""
    text = (ROOT / "Dockerfile").read_text()
    env = image_env()
    assert env["METRICS_PORT"] == "8051" and env["METRICS_HOST"] == "0.0.0.0"
    assert env["DATA_DIR"] == "/app/data"
    assert 'VOLUME ["/app/data", "/app/alerts"]' in text and re.search(r"EXPOSE .*8051", text)
    assert env["ALERTS_DIR"] == "/app/alerts" and "chown heatpump /app/data /app/alerts" in text
    from heatpump_monitor.config import load_collector_config

    cfg = load_collector_config({"H66_IP": "h66", "CONFIG_FILE": "", **env})
    assert cfg.metrics_port == 8051 and cfg.spool_path == "/app/data/spool-api.sqlite3"


def test_image_builds_the_chart_library_in_a_stage_of_its_own():
    # no Docker engine here: the stages are read from the Dockerfile
    steps = dockerfile_instructions()
    froms = [rest for word, rest in steps if word == "FROM"]
    assert re.fullmatch(r"node:\d+(-slim)? AS frontend", froms[0], re.I) and froms[-1].startswith("python:3.11")
    node = steps[:[i for i, (w, _) in enumerate(steps) if w == "FROM"][1]]
    runs = [rest for word, rest in node if word == "RUN"]
    assert runs[0].startswith("npm ci") and "npm run build" in runs[-1]  # the lock's pinned version
    copied = " ".join(rest for word, rest in node if word == "COPY")
    assert "frontend/package-lock.json" in copied and "frontend/build.mjs" in copied
    final = steps[[i for i, (w, _) in enumerate(steps) if w == "FROM"][1]:]
    built = [i for i, (w, rest) in enumerate(final) if w == "COPY" and rest.startswith("--from=frontend ")]
    install = [i for i, (w, rest) in enumerate(final) if w == "RUN" and rest.startswith("pip install .")]
    assert built and install and built[0] < install[0], "the built files must be there before pip installs the package"
    src, dest = final[built[0]][1].split()[1:]
    assert src.endswith("src/heatpump_monitor/web/static/build") and dest.endswith("src/heatpump_monitor/web/static/build")
    # the build script writes where the stage copies from: /build/frontend/../src/...
    script = (ROOT / "frontend" / "build.mjs").read_text()
    assert '"..", "src", "heatpump_monitor", "web", "static", "build"' in script
    workdir = [rest for word, rest in node if word == "WORKDIR"][0]
    assert src == str(Path(workdir).parent / "src/heatpump_monitor/web/static/build")


def test_the_chart_library_is_pinned_and_not_committed():
    import json
    import subprocess

    package = json.loads((ROOT / "frontend" / "package.json").read_text())
    lock = json.loads((ROOT / "frontend" / "package-lock.json").read_text())
    pinned = package["dependencies"]["uplot"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned)  # an exact version, no range
    assert lock["packages"]["node_modules/uplot"]["version"] == pinned
    assert lock["packages"]["node_modules/uplot"]["integrity"].startswith("sha512-")
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "src/heatpump_monitor/web/static", "frontend"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert not [f for f in tracked if "/build/" in f or "node_modules" in f or "uPlot" in f], tracked
    assert "plotly" not in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("name,services", [("docker-compose.yml", ["collector"]),
                                           ("docker-compose.both.yml", ["collector-api", "collector-mqtt"])])
def test_collectors_and_dashboard_share_the_alerts_volume_and_settings(name, services):
    """The dashboard shows the collectors' alert state files and watches the store itself
    (alerts/watch.py): one `alerts` volume at the image's ALERTS_DIR for all of them, and the
    same NOTIFY_URLS, LANGUAGE and TZ."""
    c = compose(name)
    assert "alerts" in c["volumes"]
    dash = env_list(c["services"]["dashboard"])
    for s in services + ["dashboard"]:
        assert "alerts:/app/alerts" in c["services"][s]["volumes"], s
        env = env_list(c["services"][s])
        assert env["NOTIFY_URLS"] == "${NOTIFY_URLS:-}" and env["LANGUAGE"] == dash["LANGUAGE"] and env["TZ"] == dash["TZ"]
    from heatpump_monitor.config import load_alerts_config

    cfg = load_alerts_config({"CONFIG_FILE": "", "ALERTS_DIR": "/app/alerts", "NOTIFY_URLS": "json://h/x",
                              "LANGUAGE": "en", "TZ": "Europe/Stockholm"})
    assert cfg.on and cfg.directory == "/app/alerts" and cfg.language == "en"


#: the least .env that starts the compose files (no HA, no Prometheus register values)
DOT_ENV = {"H66_IP": "192.168.1.100", "H66_MAC": "cd4dee258efa", "INFLUXDB_TOKEN": "t"}


def service_config(name: str, service: str, dot_env: dict[str, str]):
    """The collector's configuration as the container would load it: the image's ENV, then the
    service's environment interpolated with ``dot_env`` as the .env file."""
    from heatpump_monitor.config import load_collector_config, load_mqtt_config

    env = {**image_env(), "CONFIG_FILE": "",
           **{k: interpolate(v, dot_env) for k, v in env_list(compose(name)["services"][service]).items()}}
    return (load_mqtt_config if service == "collector-mqtt" else load_collector_config)(env)


API_COLLECTORS = [("docker-compose.yml", "collector"), ("docker-compose.both.yml", "collector-api")]
ALL_COLLECTORS = [*API_COLLECTORS, ("docker-compose.both.yml", "collector-mqtt")]


@pytest.mark.parametrize("name,service", ALL_COLLECTORS)
def test_home_assistant_and_register_values_are_off_by_default(name, service):
    cfg = service_config(name, service, DOT_ENV)
    assert cfg.homeassistant is None and cfg.metrics_registers is False
    assert cfg.metrics_port == 8051  # the image's: where METRICS_REGISTERS=true would serve them


@pytest.mark.parametrize("name,service", ALL_COLLECTORS)
def test_metrics_registers_reaches_every_collector(name, service):
    cfg = service_config(name, service, {**DOT_ENV, "METRICS_REGISTERS": "true"})
    assert cfg.metrics_registers is True and cfg.homeassistant is None


@pytest.mark.parametrize("name,service", API_COLLECTORS)
def test_home_assistant_discovery_reaches_the_api_collector_with_its_broker(name, service):
    given = {**DOT_ENV, "HA_DISCOVERY": "true", "MQTT_BROKER": "ha.lan", "MQTT_PORT": "8883",
             "MQTT_USERNAME": "hass", "MQTT_PASSWORD": "pw", "HA_DISCOVERY_PREFIX": "ha", "HA_STATE_TOPIC": "hp"}
    ha = service_config(name, service, given).homeassistant
    assert ha is not None
    assert (ha.broker, ha.port, ha.username, ha.password.get_secret_value(), ha.discovery_prefix, ha.state_base) == (
        "ha.lan", 8883, "hass", "pw", "ha", "hp")
    # the defaults of the .env-less variables are the settings' own
    ha = service_config(name, service, {**DOT_ENV, "HA_DISCOVERY": "true", "MQTT_BROKER": "ha.lan"}).homeassistant
    assert ha is not None and (ha.port, ha.username, ha.password.get_secret_value(), ha.discovery_prefix,
                               ha.state_base) == (1883, "", "", "homeassistant", "heatpump-monitor")


def test_home_assistant_broker_default_per_compose_file():
    """docker-compose.yml has no broker: HA_DISCOVERY=true alone stops the collector with one
    line naming MQTT_BROKER; docker-compose.both.yml publishes to its mosquitto service."""
    from heatpump_monitor.config import ConfigError

    with pytest.raises(ConfigError, match="MQTT_BROKER"):
        service_config("docker-compose.yml", "collector", {**DOT_ENV, "HA_DISCOVERY": "true"})
    ha = service_config("docker-compose.both.yml", "collector-api", {**DOT_ENV, "HA_DISCOVERY": "true"}).homeassistant
    assert ha is not None and (ha.broker, ha.port) == ("mosquitto", 1883)


def test_only_the_api_collector_publishes_to_home_assistant_side_by_side():
    # both collectors write the same gateway name (GATEWAY_NAME=${H66_IP}): two publishers would
    # fight over the same entities and state topic
    c = compose("docker-compose.both.yml")
    assert "HA_DISCOVERY" not in env_list(c["services"]["collector-mqtt"])
    cfg = service_config("docker-compose.both.yml", "collector-mqtt", {**DOT_ENV, "HA_DISCOVERY": "true"})
    assert cfg.homeassistant is None


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.both.yml"])
def test_no_secret_has_a_default(name):
    """A password or token comes from .env or is empty: never a value written in the compose file."""
    text = (ROOT / name).read_text()
    secrets = [(var, default) for var, default in re.findall(r"\$\{(\w+)(?::-([^}]*))?\}", text)
               if re.search(r"PASSWORD|TOKEN|SECRET|NOTIFY_URLS", var)]
    assert {"MQTT_PASSWORD", "INFLUXDB_TOKEN"} <= {var for var, _ in secrets}
    assert all(default == "" for _, default in secrets), secrets
    for service in compose(name)["services"].values():
        for key, value in env_list(service).items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key):
                assert value.startswith("${") and value.endswith("}"), (key, value)


COMPOSE_FILES = sorted(p.relative_to(ROOT).as_posix()
                       for p in [*ROOT.glob("docker-compose*.yml"), *ROOT.glob("deploy/**/docker-compose*.yml")])


def test_the_glob_finds_the_compose_files():
    # any further compose file (also under deploy/) gets the grafana checks below
    assert {"docker-compose.yml", "docker-compose.both.yml"} <= set(COMPOSE_FILES)


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_grafana_service_pinned_read_only_provisioning_and_off_by_default(name):
    """README "Grafana": deploy/grafana/ provisions the data source and the dashboard; the
    service starts only with the grafana profile (COMPOSE_PROFILES=grafana in .env)."""
    c = compose(name)
    assert list(c["services"])[-1] == "grafana"
    g = c["services"]["grafana"]
    assert re.fullmatch(r"grafana/grafana-oss:\d+\.\d+\.\d+", g["image"])  # a version, never latest
    assert g["profiles"] == ["grafana"] and "3000:3000" in g["ports"]
    assert g["depends_on"]["influxdb"]["condition"] == "service_healthy"
    env = env_list(g)
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD}"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    # the data source reads the bucket the collectors write, with the same URL and token
    collector = env_list(c["services"].get("collector") or c["services"]["collector-api"])
    assert env["INFLUXDB_URL"] == collector["INFLUXDB_URL"] and env["INFLUXDB_TOKEN"] == collector["INFLUXDB_TOKEN"]
    assert env["INFLUXDB_BUCKET"] == collector["INFLUXDB_BUCKET"]
    binds = [v for v in g["volumes"] if v.startswith("./")]
    assert {v.split(":")[1] for v in binds} == {"/etc/grafana/provisioning/datasources",
                                                "/etc/grafana/provisioning/dashboards"}
    for v in binds:
        src, _, mode = v.split(":")
        assert mode == "ro" and (ROOT / src).is_dir(), v
    assert "grafana-data:/var/lib/grafana" in g["volumes"] and "grafana-data" in c["volumes"]
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in binds}
    assert (ROOT / mounts[str(Path(home).parent)] / Path(home).name).is_file()
