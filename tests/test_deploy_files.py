"""The production files stay runnable: systemd units start commands this install has, with the
workspace that exists, and the Postgres instance settings keep the project's pools and run
monitoring (a drift would silently let two writers at the warehouse)."""

from __future__ import annotations

import configparser
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((REPO_ROOT / "deploy" / "systemd").glob("*.service"))


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_units_start_commands_this_install_has(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit)
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    service = parser["Service"]
    command = shlex.split(service["ExecStart"])
    executable = Path(sys.executable).parent / Path(command[0]).name
    assert executable.is_file(), f"{unit.name} starts {command[0]}, not installed here"
    assert command[command.index("-w") + 1] == "workspace.yaml"
    assert (REPO_ROOT / "workspace.yaml").is_file()
    assert "DAGSTER_HOME=" in service["Environment"]
    assert service["EnvironmentFile"].endswith(".env")


def test_two_units_a_webserver_and_a_daemon() -> None:
    commands = {
        Path(shlex.split(configparser_exec(u))[0]).name for u in UNITS
    }  # fmt: skip
    assert commands == {"dagster-webserver", "dagster-daemon"}


def configparser_exec(unit: Path) -> str:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(unit)
    return parser["Service"]["ExecStart"]


def test_postgres_settings_keep_the_projects_pools_and_monitoring() -> None:
    project = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    postgres = load_yaml("deploy/dagster.postgres.yaml")
    for section in ("python_logs", "run_monitoring", "telemetry"):
        assert postgres[section] == project[section], section
    assert postgres["concurrency"]["pools"] == project["concurrency"]["pools"]
    assert postgres["run_coordinator"]["class"] == "QueuedRunCoordinator"
    database = postgres["storage"]["postgres"]["postgres_db"]
    # Credentials come from the environment, never written in the file.
    for field in ("hostname", "port", "username", "password", "db_name"):
        assert set(database[field]) == {"env"}


def test_the_docker_variant_is_the_postgres_one_plus_the_docker_launcher() -> None:
    postgres = load_yaml("deploy/dagster.postgres.yaml")
    docker = load_yaml("deploy/dagster.docker.yaml")
    launcher = docker.pop("run_launcher")
    assert docker == postgres
    # dagster-docker is not installed here: its config is checked against the fields that
    # DockerRunLauncher documents (docs.dagster.io/api/libraries/dagster-docker: image,
    # registry, env_vars, network, networks, container_kwargs).
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    assert set(launcher["config"]) <= DOCKER_LAUNCHER_FIELDS
    passed = set(launcher["config"]["env_vars"])
    assert env_names(docker["storage"]) <= passed  # each run reaches the instance's storage
    assert {"SCARF_API_TOKEN", "SCARF_OWNER", "SCARF_DATA_DIR"} <= passed
    assert all("=" not in name for name in passed)  # names only: values never in the file


DOCKER_LAUNCHER_FIELDS = {
    "image", "registry", "env_vars", "network", "networks", "container_kwargs"
}  # fmt: skip


def load_yaml(relative: str) -> Any:
    return yaml.safe_load((REPO_ROOT / relative).read_text())


def env_names(tree: Any) -> set[str]:
    """The variables a Dagster config tree reads through `{env: NAME}`."""
    if isinstance(tree, dict):
        if set(tree) == {"env"}:
            return {tree["env"]}
        return set().union(*(env_names(value) for value in tree.values()))
    if isinstance(tree, list):
        return set().union(*(env_names(value) for value in tree))
    return set()
