"""Shared steps for the pipeline tests: configure the environment for an emulator, run the
real assets for a range of days, and read the warehouse back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from scarf_etl.defs.assets import ALL_ASSETS
from scarf_etl.defs.resources import ScarfApiResource, ScarfStorageResource, default_resources
from scarf_etl.defs.schedules import partition_range_tags
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN

# Columns whose value is the moment of loading, not the data: left out when comparing runs.
LOAD_TIME_COLUMNS = ("refreshed_at", "rejected_at", "loaded_at", "applied_at")


def configure(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    data_dir: Path,
    owner: str = DEMO_ORG,
    token: str = DEMO_TOKEN,
    owner_kind: str = "organization",
) -> Path:
    """Point the pipeline at `emulator`, exactly as a user sets the variables. Returns the
    warehouse path."""
    monkeypatch.setenv("SCARF_API_TOKEN", token)
    monkeypatch.setenv("SCARF_OWNER", owner)
    monkeypatch.setenv("SCARF_OWNER_KIND", owner_kind)
    monkeypatch.setenv("SCARF_API_URL", emulator.v1_url)
    monkeypatch.setenv("SCARF_API_V2_URL", emulator.v2_url)
    monkeypatch.setenv("SCARF_API_V3_URL", emulator.v3_url)
    monkeypatch.setenv("SCARF_DATA_DIR", str(data_dir))
    monkeypatch.delenv("SCARF_DUCKDB_PATH", raising=False)
    return data_dir / "warehouse.duckdb"


def pipeline_resources(
    emulator: EmulatorServer,
    data_dir: Path,
    *,
    owner: str = DEMO_ORG,
    token: str = DEMO_TOKEN,
    backoff_initial_seconds: float | None = None,
    **storage: Any,
) -> dict[str, object]:
    """The resources for `emulator`, built directly: no SCARF_* variable involved."""
    api = ScarfApiResource(
        token=token,
        api_url=emulator.v1_url,
        api_v2_url=emulator.v2_url,
        api_v3_url=emulator.v3_url,
        **(
            {}
            if backoff_initial_seconds is None
            else {"backoff_initial_seconds": backoff_initial_seconds}
        ),
    )
    return {
        "scarf_api": api,
        "scarf_storage": ScarfStorageResource(owner=owner, data_dir=str(data_dir), **storage),
    }


def materialize_days(
    first: dt.date,
    last: dt.date,
    selection: Any = None,
    raise_on_error: bool = True,
    resources: dict[str, object] | None = None,
) -> dg.ExecuteInProcessResult:
    """One in-process run of the real assets over `first..last`, as the daily job does; the
    resources are the code location's (from the variables `configure` set) unless given."""
    return dg.materialize(
        ALL_ASSETS,
        resources=default_resources() if resources is None else resources,
        tags=partition_range_tags(first, last),
        selection=selection,
        raise_on_error=raise_on_error,
    )


def table_snapshot(duckdb_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of schema scarf in the file, rows sorted, load-time columns left out."""
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        return connection_snapshot(connection)


def connection_snapshot(
    connection: duckdb.DuckDBPyConnection, *, as_text: bool = False
) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of schema scarf in the connection's current database (a DuckLake catalog
    when attached as such), rows sorted, columns by name, load-time columns left out.
    `as_text`: values as DuckDB's own text, the same whatever Python types a release hands out."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    tables = connection.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'scarf' "
        "AND table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY 1"
    ).fetchall()
    for (table,) in tables:
        columns = sorted(
            name
            for (name,) in connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "'scarf' AND table_name = ? AND table_catalog = current_database()",
                [table],
            ).fetchall()
            if name not in LOAD_TIME_COLUMNS
        )
        select = ", ".join(f'CAST("{c}" AS VARCHAR)' if as_text else f'"{c}"' for c in columns)
        snapshot[table] = connection.execute(
            f'SELECT {select} FROM scarf."{table}" ORDER BY ALL'
        ).fetchall()
    return snapshot


def scalar(duckdb_path: Path, sql: str, params: list[Any] | None = None) -> Any:
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        row = connection.execute(sql, params or []).fetchone()
    assert row is not None
    return row[0]
