"""The container deployment files fit together (no Docker daemon, compose or helm here, so
they are checked as files): the Dockerfile copies what exists and its command serves
scarf_etl.definitions for real; compose services, volumes, networks and variables reference
each other; the Helm values use only keys of the official chart."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((REPO_ROOT / "deploy" / "docker-compose.yaml").read_text())
DOCKER_SETTINGS = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.docker.yaml").read_text())
WORKSPACE = yaml.safe_load((REPO_ROOT / "deploy" / "workspace.docker.yaml").read_text())
SERVER_START_SECONDS = 120


def dockerfile_command() -> list[str]:
    match = re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.MULTILINE)
    assert match, "the Dockerfile's CMD must be in JSON form"
    command: list[str] = json.loads(match.group(1))
    return command


def test_the_dockerfile_copies_only_what_exists_and_never_a_token() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.MULTILINE):
        *sources, _target = line.split()
        for source in sources:
            assert (REPO_ROOT / source).exists(), source
            assert source not in ignored, f"{source} is left out of the build context"
    assert "uv sync --frozen --no-dev --extra team" in DOCKERFILE
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.MULTILINE)
    assert "SCARF_API_TOKEN" not in DOCKERFILE
    assert ".env" in ignored


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_images_command_serves_the_definitions(tmp_path: Path) -> None:
    """The CMD itself, with this install's dagster, on 127.0.0.1: the gRPC health check passes
    and the server lists the scarf_etl job."""
    command = dockerfile_command()
    assert command[:3] == ["dagster", "code-server", "start"]
    assert command[command.index("-m") + 1] == "scarf_etl.definitions"
    port = free_port()
    bin_dir = Path(sys.executable).parent
    command[0] = str(bin_dir / "dagster")
    command[command.index("-h") + 1] = "127.0.0.1"
    command[command.index("-p") + 1] = str(port)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCARF_", "DAGSTER_"))}
    env["DAGSTER_HOME"] = str(tmp_path)
    server = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        healthy = False
        while time.monotonic() < deadline and server.poll() is None:
            check = subprocess.run(
                [str(bin_dir / "dagster"), "api", "grpc-health-check", "-p", str(port)],
                env=env,
                capture_output=True,
                timeout=60,
                check=False,
            )
            if check.returncode == 0:
                healthy = True
                break
            time.sleep(1)
        assert healthy, "the code server never answered its health check"
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Traceback" not in output, output


def test_compose_services_volumes_and_networks_fit_together() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "code-location", "webserver", "daemon"}
    image = services["code-location"]["image"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for network in service.get("networks", []):
            assert network in COMPOSE["networks"], (name, network)
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            assert source.startswith("/") or source in COMPOSE["volumes"], (name, mount)
    assert services["webserver"]["image"] == services["daemon"]["image"] == image
    assert services["code-location"]["environment"]["DAGSTER_CURRENT_IMAGE"] == image
    # The workspace reaches the code location by its service name and the image's port.
    (location,) = WORKSPACE["load_from"]
    command = dockerfile_command()
    assert location["grpc_server"]["host"] == "code-location"
    assert str(location["grpc_server"]["port"]) == command[command.index("-p") + 1]
    for role in ("webserver", "daemon"):
        assert services[role]["command"][-1] == "workspace.yaml"  # the image's copy of it


def test_run_containers_get_the_network_volume_and_variables_the_compose_file_defines() -> None:
    services = COMPOSE["services"]
    launcher = DOCKER_SETTINGS["run_launcher"]["config"]
    assert COMPOSE["networks"]["scarf-etl"]["name"] == launcher["network"]
    data_volume = next(v for v in COMPOSE["volumes"].values() if v and "name" in v)
    (mounted,) = launcher["container_kwargs"]["volumes"]
    assert mounted == data_volume["name"]
    bind = launcher["container_kwargs"]["volumes"][mounted]["bind"]
    assert f"scarf-data:{bind}" in services["code-location"]["volumes"]
    # Every variable the daemon passes to runs is set on the daemon.
    daemon_env = services["daemon"]["environment"]
    assert set(launcher["env_vars"]) - {"SCARF_OWNER_KIND"} <= set(daemon_env)
    assert daemon_env["SCARF_DATA_DIR"] == bind
    # Secrets are references to deploy/.env, never values; the webserver holds no token.
    for service in services.values():
        for name, value in service.get("environment", {}).items():
            if "TOKEN" in name or "PASSWORD" in name:
                assert str(value).startswith("${"), name
    assert "SCARF_API_TOKEN" not in services["webserver"]["environment"]
    assert "SCARF_API_TOKEN" not in services["code-location"]["environment"]
    # Postgres is created with the user and database the instance connects as.
    postgres_env = services["postgres"]["environment"]
    storage_env = services["daemon"]["environment"]
    assert postgres_env["POSTGRES_USER"] == storage_env["DAGSTER_PG_USERNAME"]
    assert postgres_env["POSTGRES_DB"] == storage_env["DAGSTER_PG_DB"]
    assert storage_env["DAGSTER_PG_HOST"] == "postgres"


# The official chart's values (dagster-io/dagster, helm/dagster): the keys this project's values
# use, as the chart's schema declares them (helm/dagster/schema/schema/charts/dagster/values.py
# and its subschema/ modules: global_.py, run_launcher.py, daemon.py, concurrency.py,
# postgresql.py, python_logs.py, telemetry.py, and
# charts/dagster_user_deployments/subschema/user_deployments.py). "*" accepts any mapping
# (env variables); a list's entries are checked against the list's one element.
DEPLOYMENT = {
    "name": None,
    "image": {"repository": None, "tag": None, "pullPolicy": None},
    "dagsterApiGrpcArgs": None,
    "codeServerArgs": None,
    "port": None,
    "env": "*",
    "envConfigMaps": [{"name": None}],
    "envSecrets": [{"name": None}],
    "resources": "*",
    "volumeMounts": "*",
    "volumes": "*",
    "labels": "*",
}
CHART_VALUES: dict[str, Any] = {
    "global": {"postgresqlSecretName": None, "dagsterHome": None, "serviceAccountName": None},
    "generatePostgresqlPasswordSecret": None,
    "dagster-user-deployments": {
        "enabled": None,
        "enableSubchart": None,
        "imagePullSecrets": "*",
        "deployments": [DEPLOYMENT],
    },
    "runLauncher": {
        "type": None,
        "config": {
            "k8sRunLauncher": {
                "image": "*",
                "imagePullPolicy": None,
                "jobNamespace": None,
                "loadInclusterConfig": None,
                "kubeconfigFile": None,
                "envConfigMaps": [{"name": None}],
                "envSecrets": [{"name": None}],
                "envVars": None,
                "volumeMounts": "*",
                "volumes": "*",
                "labels": "*",
                "resources": "*",
                "runK8sConfig": "*",
            }
        },
    },
    "dagsterDaemon": {
        "enabled": None,
        "runCoordinator": {
            "enabled": None,
            "type": None,
            "config": {
                "queuedRunCoordinator": {
                    "maxConcurrentRuns": None,
                    "tagConcurrencyLimits": "*",
                    "dequeueIntervalSeconds": None,
                }
            },
        },
        "runMonitoring": {
            "enabled": None,
            "startTimeoutSeconds": None,
            "cancelTimeoutSeconds": None,
            "maxResumeRunAttempts": None,
            "pollIntervalSeconds": None,
            "freeSlotsAfterRunEndSeconds": None,
        },
        "env": "*",
        "envSecrets": [{"name": None}],
    },
    "concurrency": {
        "enabled": None,
        "pools": {"defaultLimit": None, "granularity": None, "opGranularityRunBuffer": None},
        "runs": {"maxConcurrentRuns": None, "tagConcurrencyLimits": "*"},
    },
    "postgresql": {
        "enabled": None,
        "image": "*",
        "postgresqlHost": None,
        "postgresqlUsername": None,
        "postgresqlPassword": None,
        "postgresqlDatabase": None,
        "postgresqlParams": "*",
        "postgresqlScheme": None,
        "service": {"port": None},
    },
    "pythonLogs": {
        "pythonLogLevel": None,
        "managedPythonLoggers": None,
        "dagsterHandlerConfig": "*",
    },
    "telemetry": {"enabled": None},
}


def unknown_keys(values: Any, allowed: Any, path: str = "") -> list[str]:
    if allowed == "*" or allowed is None:
        return [] if allowed == "*" or not isinstance(values, dict) else [f"{path} (a mapping)"]
    if isinstance(allowed, list):
        assert isinstance(values, list), path
        return [key for item in values for key in unknown_keys(item, allowed[0], f"{path}[]")]
    assert isinstance(values, dict), path
    found = []
    for key, value in values.items():
        if key not in allowed:
            found.append(f"{path}.{key}")
        else:
            found += unknown_keys(value, allowed[key], f"{path}.{key}")
    return found


def test_helm_values_use_only_the_official_charts_keys() -> None:
    values = yaml.safe_load((REPO_ROOT / "deploy" / "helm" / "values.yaml").read_text())
    assert unknown_keys(values, CHART_VALUES) == []
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["codeServerArgs"] == ["-m", "scarf_etl.definitions"]
    assert str(deployment["port"]) == dockerfile_command()[-3]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    token_secret = {"name": "scarf-etl-token"}
    assert token_secret in deployment["envSecrets"]
    assert token_secret in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    assert "SCARF_API_TOKEN" not in json.dumps(deployment.get("env", {}))
    assert "postgresqlPassword" not in values["postgresql"]
    # Pools as in the team dagster.yaml; the run limit in one place only (Dagster refuses
    # max_concurrent_runs in both the coordinator and `concurrency`).
    team = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.postgres.yaml").read_text())
    pools = values["concurrency"]["pools"]
    assert (pools["defaultLimit"], pools["granularity"]) == (
        team["concurrency"]["pools"]["default_limit"],
        team["concurrency"]["pools"]["granularity"],
    )
    coordinator = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert "maxConcurrentRuns" not in coordinator


def test_the_key_check_catches_a_misspelt_key() -> None:
    assert unknown_keys({"dagsterDaemon": {"runMonitoring": {"enable": True}}}, CHART_VALUES) == [
        ".dagsterDaemon.runMonitoring.enable"
    ]
