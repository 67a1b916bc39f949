"""Fixtures that give a test the same warehouse on each backend: the embedded DuckDB file, DuckLake
on a SQLite catalog, DuckLake on a Postgres catalog (a database of the session's throwaway
cluster on 127.0.0.1, tests/postgres_cluster.py).

Test modules import the fixtures they use from here (`from tests.warehouse_backends import ...`).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from scarf_etl.settings import DuckLakeWarehouseSpec, EmbeddedWarehouseSpec, WarehouseSpec
from tests.postgres_cluster import PostgresServer, postgres_server

__all__ = ["BACKENDS", "make_spec", "postgres_server", "spec_to_env", "warehouse_spec"]

BACKENDS = ("embedded", "ducklake-sqlite", "ducklake-postgres")


def postgres_database(server: PostgresServer) -> str:
    """A new empty database on `server`; returns its libpq DSN."""
    name = server.create_database(f"scarf_{uuid.uuid4().hex[:12]}")
    return f"host={server.host} port={server.port} user={server.user} dbname={name}"


def make_spec(backend: str, folder: Path, request: pytest.FixtureRequest) -> WarehouseSpec:
    """A fresh, empty warehouse of `backend` under `folder` (Postgres: a new database)."""
    if backend == "embedded":
        return EmbeddedWarehouseSpec(folder / "warehouse.duckdb")
    data_path = f"{folder / 'ducklake'}/"
    if backend == "ducklake-sqlite":
        return DuckLakeWarehouseSpec("sqlite", str(folder / "catalog.sqlite"), data_path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return DuckLakeWarehouseSpec("postgres", postgres_database(server), data_path)


def spec_to_env(spec: WarehouseSpec) -> dict[str, str]:
    """The variables that select `spec` (SCARF_WAREHOUSE and friends)."""
    if isinstance(spec, EmbeddedWarehouseSpec):
        return {"SCARF_WAREHOUSE": "duckdb", "SCARF_DUCKDB_PATH": str(spec.path)}
    return {
        "SCARF_WAREHOUSE": f"ducklake:{spec.catalog}:{spec.target}",
        "SCARF_DUCKLAKE_DATA_PATH": spec.data_path,
    }


@pytest.fixture(params=BACKENDS)
def warehouse_spec(request: pytest.FixtureRequest, tmp_path: Path) -> WarehouseSpec:
    """The same tests on each backend."""
    return make_spec(str(request.param), tmp_path / "wh", request)
