"""The whole team stack on this machine, end to end: raw files and the lake in an S3 bucket
(moto on 127.0.0.1), the warehouse on DuckLake with its catalog in Postgres and its parquet in
the same bucket, and Dagster's runs and events in Postgres. `scarf-etl load` there gives exactly
the tables a local embedded load gives; a second machine (its own work folder, the same bucket,
catalog and Dagster database) re-runs a day without doubling anything and sees the first's runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import boto3
import dagster as dg
import pytest

from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_TOKEN
from scarf_etl.settings import DuckLakeWarehouseSpec, EmbeddedWarehouseSpec
from scarf_etl.store.warehouse import Warehouse
from tests.postgres_cluster import PostgresServer, postgres_server
from tests.test_dagster_postgres import TEAM_SETTINGS
from tests.test_load_command import RUN_TIMEOUT_SECONDS, create_instance, load_env, start_load
from tests.test_warehouse_backends_load import table_snapshot
from tests.warehouse_backends import postgres_database, spec_to_env

__all__ = ["postgres_server"]  # the session fixture, used below

FIRST, LAST = "2026-11-01", "2026-11-02"
BUCKET = "team-lake"


def finish(process: subprocess.Popen[str]) -> str:
    output = process.communicate(timeout=RUN_TIMEOUT_SECONDS)[0]
    assert process.returncode == 0, output
    assert DEMO_TOKEN not in output and "test-secret" not in output
    return output


def machine_env(
    emulator: EmulatorServer,
    folder: Path,
    server: PostgresServer,
    dagster_db: str,
    warehouse: DuckLakeWarehouseSpec,
) -> dict[str, str]:
    """One machine of the team: its own work folder and DAGSTER_HOME (holding the team
    dagster.yaml), the shared bucket, catalog and Dagster database."""
    env = load_env(emulator, folder)
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True)
    shutil.copyfile(TEAM_SETTINGS, home / "dagster.yaml")
    env.update(spec_to_env(warehouse))
    env.update(
        {
            "SCARF_DATA_DIR": f"s3://{BUCKET}/data",
            "SCARF_WORK_DIR": str(folder / "work"),
            "DAGSTER_PG_HOST": server.host,
            "DAGSTER_PG_PORT": str(server.port),
            "DAGSTER_PG_USERNAME": server.user,
            "DAGSTER_PG_PASSWORD": "",  # the throwaway cluster trusts local connections
            "DAGSTER_PG_DB": dagster_db,
        }
    )
    return env


def test_a_team_load_matches_a_local_one(
    emulator: EmulatorServer,
    tmp_path: Path,
    postgres_server: PostgresServer,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local_env = load_env(emulator, tmp_path / "local")
    create_instance(local_env)
    finish(start_load(local_env, FIRST, LAST))
    expected = table_snapshot(
        Warehouse(EmbeddedWarehouseSpec(tmp_path / "local" / "data" / "warehouse.duckdb"))
    )
    assert expected["package_events"] and expected["aggregates"]

    warehouse = DuckLakeWarehouseSpec(
        "postgres", postgres_database(postgres_server), f"s3://{BUCKET}/warehouse/"
    )
    dagster_db = postgres_server.create_database(f"dagster_{tmp_path.name}".lower()[:60])
    first = machine_env(emulator, tmp_path / "one", postgres_server, dagster_db, warehouse)
    finish(start_load(first, FIRST, LAST))
    assert table_snapshot(Warehouse(warehouse)) == expected

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert any(k.startswith("data/raw/package_events/") for k in keys)
    assert any(k.startswith("data/lake/package_events/") for k in keys)
    assert any(k.startswith("warehouse/") and k.endswith(".parquet") for k in keys)
    assert not (tmp_path / "one" / "data").exists(), "nothing local but the work folder"

    # A second machine re-runs the last day: the same tables, nothing doubled.
    second = machine_env(emulator, tmp_path / "two", postgres_server, dagster_db, warehouse)
    finish(start_load(second, LAST, LAST))
    assert table_snapshot(Warehouse(warehouse)) == expected

    # Both machines' runs are in the one Dagster database.
    for name in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME"):
        monkeypatch.setenv(name, second[name])
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
    monkeypatch.setenv("DAGSTER_PG_DB", dagster_db)
    with dg.DagsterInstance.get() as instance:
        statuses = [record.dagster_run.status for record in instance.get_run_records()]
    assert statuses == [dg.DagsterRunStatus.SUCCESS] * 2
