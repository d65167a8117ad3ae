"""No Docker engine here: validate the image and compose file statically."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC_VARS = ["H66_IP", "COLLECTION_INTERVAL", "HEATPUMP_BRAND", "INFLUXDB_URL", "INFLUXDB_TOKEN",
             "INFLUXDB_ORG", "INFLUXDB_BUCKET"]


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


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
    assert set(c["services"]) >= {"influxdb", "collector"}
    col = c["services"]["collector"]
    build = col["build"]
    context = build if isinstance(build, str) else build["context"]
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).is_file()
    assert col["command"] == "python3 /app/api_collector.py"
    env = env_list(col)
    assert list(env) == SPEC_VARS
    assert env["INFLUXDB_URL"] == "http://influxdb:8086"
    assert env["INFLUXDB_TOKEN"] == "${INFLUXDB_TOKEN}"
    assert (env["COLLECTION_INTERVAL"], env["HEATPUMP_BRAND"], env["INFLUXDB_ORG"], env["INFLUXDB_BUCKET"]) == (
        "30", "thermia", "thermia", "heatpump")
    assert col["depends_on"]["influxdb"]["condition"] == "service_healthy"


def test_influxdb2_initialised_with_same_org_bucket_token():
    db = compose()["services"]["influxdb"]
    assert db["image"].startswith("influxdb:2")
    env = env_list(db)
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert env["DOCKER_INFLUXDB_INIT_ORG"] == "thermia"
    assert env["DOCKER_INFLUXDB_INIT_BUCKET"] == "heatpump"
    assert env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == "${INFLUXDB_TOKEN}"
    assert any(v.endswith(":/var/lib/influxdb2") for v in db["volumes"])


def test_every_compose_variable_is_documented_in_env_example():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert used and used <= set(example), used - set(example)


def test_dockerfile_slim_nonroot_healthcheck_and_entry_points():
    ins = dockerfile_instructions()
    assert ins[0][0] == "FROM" and re.fullmatch(r"python:3\.1[1-9]-slim", ins[0][1])
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(word == "HEALTHCHECK" and "heatpump-monitor" in rest and "healthcheck" in rest for word, rest in ins)
    copies = [rest.split() for word, rest in ins if word == "COPY"]
    assert ["collector/api_collector.py", "/app/api_collector.py"] in copies
    for c in copies:
        for src in c[:-1]:
            assert (ROOT / src).exists(), src
    cmd = [rest for word, rest in ins if word == "CMD"][-1]
    assert cmd == '["python3", "/app/api_collector.py"]'


def test_healthcheck_command_exists_in_cli():
    from heatpump_monitor.cli import build_parser

    args = build_parser().parse_args(["healthcheck"])
    assert args.func.__name__ == "cmd_healthcheck"
