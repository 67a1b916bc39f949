"""`scarf-etl load` end to end against the emulator on each warehouse backend: DuckLake on a
SQLite catalog (parquet in a folder) and on a Postgres catalog (parquet on an S3-compatible
server on 127.0.0.1, moto) hold exactly the tables the embedded file holds, a re-run of the
same days changes nothing, and status, summary and report read DuckLake too."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scarf_etl.analysis.report import build_report
from scarf_etl.commands.status import status_command
from scarf_etl.commands.summary import table_row_counts
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_TOKEN
from scarf_etl.settings import DuckLakeWarehouseSpec, WarehouseSpec
from scarf_etl.store.warehouse import Warehouse
from tests.pipeline_helpers import connection_snapshot
from tests.test_load_command import RUN_TIMEOUT_SECONDS, create_instance, load_env, start_load
from tests.warehouse_backends import make_spec, postgres_server, spec_to_env  # noqa: F401

FIRST, LAST = "2026-11-01", "2026-11-02"


def table_snapshot(warehouse: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of schema scarf as readers see it (see `connection_snapshot`)."""
    with warehouse.reader() as connection:
        return connection_snapshot(connection)


def load(emulator: EmulatorServer, folder: Path, spec: WarehouseSpec) -> str:
    env = {**load_env(emulator, folder), **spec_to_env(spec)}
    create_instance(env)
    run = start_load(env, FIRST, LAST)
    output = run.communicate(timeout=RUN_TIMEOUT_SECONDS)[0]
    assert run.returncode == 0, output
    assert "succeeded" in output and DEMO_TOKEN not in output
    return output


def test_load_on_ducklake_matches_the_embedded_file(
    emulator: EmulatorServer, tmp_path: Path, request: pytest.FixtureRequest, s3_endpoint: str
) -> None:
    embedded = make_spec("embedded", tmp_path / "embedded" / "data", request)
    load(emulator, tmp_path / "embedded", embedded)
    expected = table_snapshot(Warehouse(embedded))
    assert len(expected["package_events"]) > 0 and len(expected["aggregates"]) > 0

    for backend in ("ducklake-sqlite", "ducklake-postgres"):
        spec = make_spec(backend, tmp_path / backend / "lake", request)
        if isinstance(spec, DuckLakeWarehouseSpec) and spec.catalog == "postgres":
            spec = replace(spec, data_path="s3://team-lake/warehouse/")
        output = load(emulator, tmp_path / backend, spec)
        assert "password" not in output
        warehouse = Warehouse(spec)
        assert table_snapshot(warehouse) == expected, backend
        if spec.data_path.startswith("s3://"):
            import boto3

            listed = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
                Bucket="team-lake", Prefix="warehouse/scarf/package_events/"
            )
            assert listed.get("KeyCount", 0) > 0
        # A re-run of the same days replaces them: nothing doubled.
        load(emulator, tmp_path / backend, spec)
        assert table_snapshot(warehouse) == expected, f"{backend} after a re-run"

        # The readers go through the same interface.
        counts = dict(table_row_counts(warehouse))
        assert counts["package_events"] == len(expected["package_events"])
        lines: list[str] = []
        assert status_command(warehouse, lines.append) == 0
        table = next(line for line in lines if line.startswith("table"))
        row = next(row for row in table.splitlines() if row.startswith("package_events"))
        assert row.split()[:4] == ["package_events", FIRST, LAST, "2"]
        report = build_report(warehouse, tmp_path / backend / "report.html")
        assert report.charts > 0
        assert dt.date(2026, 11, 1).isoformat() in report.path.read_text()
