"""Dagster at team scale: the team dagster.yaml (deploy/dagster.postgres.yaml) keeps run
history, event logs and asset materializations in a real PostgreSQL server, and a later run in
another process sees the earlier run's history there."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_TOKEN
from tests.postgres_cluster import PostgresServer, postgres_server
from tests.test_load_command import (
    REPO_ROOT,
    RUN_TIMEOUT_SECONDS,
    load_env,
    start_dagster_materialize,
    start_load,
)

__all__ = ["postgres_server"]  # the session fixture, used below

TEAM_SETTINGS = REPO_ROOT / "deploy" / "dagster.postgres.yaml"
PACKAGE_EVENTS = dg.AssetKey(["scarf", "package_events"])
FIRST_DAY, SECOND_DAY = "2026-11-01", "2026-11-02"


@pytest.fixture
def team_env(
    emulator: EmulatorServer,
    tmp_path: Path,
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """A DAGSTER_HOME holding the team dagster.yaml, its own database on the test server, and
    the variables that dagster.yaml reads, set for the loads and for this process."""
    database = postgres_server.create_database(f"dagster_{tmp_path.name}".lower()[:60])
    env = load_env(emulator, tmp_path)
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True)
    shutil.copyfile(TEAM_SETTINGS, home / "dagster.yaml")
    env.update(
        {
            "DAGSTER_PG_HOST": postgres_server.host,
            "DAGSTER_PG_PORT": str(postgres_server.port),
            "DAGSTER_PG_USERNAME": postgres_server.user,
            "DAGSTER_PG_PASSWORD": "",  # the throwaway cluster trusts local connections
            "DAGSTER_PG_DB": database,
        }
    )
    for name in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
    monkeypatch.setenv("DAGSTER_PG_DB", database)
    yield env


def finish(process: subprocess.Popen[str]) -> str:
    output = process.communicate(timeout=RUN_TIMEOUT_SECONDS)[0]
    assert process.returncode == 0, output
    assert DEMO_TOKEN not in output
    return output


def test_runs_and_materializations_live_in_postgres(
    team_env: dict[str, str], postgres_server: PostgresServer
) -> None:
    # First run: `scarf-etl load`, in a process of its own.
    finish(start_load(team_env, FIRST_DAY, FIRST_DAY))
    with dg.DagsterInstance.get() as instance:
        first_runs = [record.dagster_run for record in instance.get_run_records()]
    assert [run.status for run in first_runs] == [dg.DagsterRunStatus.SUCCESS]

    # Second run: Dagster's own CLI, another process, the next day.
    finish(start_dagster_materialize(team_env, SECOND_DAY, SECOND_DAY))

    with dg.DagsterInstance.get() as instance:
        # The storage really is Postgres: nothing fell back to SQLite files in DAGSTER_HOME.
        assert type(instance.run_storage).__module__.startswith("dagster_postgres")
        assert type(instance.event_log_storage).__module__.startswith("dagster_postgres")
        records = instance.get_run_records()
        assert len(records) == 2
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
        # The second run's process found the first's history and added to it.
        run_ids = {r.dagster_run.run_id for r in records}
        assert first_runs[0].run_id in run_ids
        materializations = instance.fetch_materializations(PACKAGE_EVENTS, limit=100).records
        by_day = {m.partition_key: m.run_id for m in materializations}
        assert set(by_day) >= {FIRST_DAY, SECOND_DAY}
        assert by_day[FIRST_DAY] == first_runs[0].run_id
        assert by_day[SECOND_DAY] in run_ids - {first_runs[0].run_id}
        assert instance.get_materialized_partitions(PACKAGE_EVENTS) >= {FIRST_DAY, SECOND_DAY}
        # Pools hold in the shared instance: the project's limits are set and nothing is
        # left claimed after the runs.
        assert instance.event_log_storage.get_concurrency_run_ids() == set()

    assert not (Path(team_env["DAGSTER_HOME"]) / "history").exists()
    with psycopg.connect(
        host=postgres_server.host,
        port=postgres_server.port,
        user=postgres_server.user,
        dbname=team_env["DAGSTER_PG_DB"],
    ) as connection:
        rows = connection.execute("SELECT count(*) FROM runs").fetchone()
    assert rows == (2,)


def test_the_team_settings_load_as_a_dagster_instance(team_env: dict[str, str]) -> None:
    """Every section of the file is valid for this Dagster (a typo in a key fails here)."""
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_monitoring_enabled
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    assert sys.executable  # the loads above ran with this interpreter's install
