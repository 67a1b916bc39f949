"""Fixtures that give a test the same warehouse on each backend: the embedded DuckDB file, DuckLake
on a SQLite catalog, DuckLake on a Postgres catalog (a throwaway cluster on 127.0.0.1).

Test modules import the fixtures they use from here (`from warehouse_backends import ...`).
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql.executors import PostgreSQLExecutor

from scarf_etl.settings import DuckLakeWarehouseSpec, EmbeddedWarehouseSpec, WarehouseSpec

BACKENDS = ("embedded", "ducklake-sqlite", "ducklake-postgres")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_START_TIMEOUT_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pg_ctl(folder: Path) -> str:
    """pg_ctl, or as root (initdb and postgres refuse root) a wrapper running it as `postgres`."""
    found = shutil.which("pg_ctl") or str(PG_BIN / "pg_ctl")
    if not Path(found).exists():
        pytest.fail("PostgreSQL's pg_ctl is not installed: apt-get install postgresql")
    if os.geteuid() != 0:
        return found
    wrapper = folder / "pg_ctl_as_postgres"
    wrapper.write_text(f'#!/bin/sh\nexec runuser -u postgres -- "{found}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(wrapper)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgreSQLExecutor]:
    """A throwaway PostgreSQL 15 cluster on 127.0.0.1 for the whole session (pytest-postgresql's
    executor; run as the `postgres` user when the tests run as root)."""
    folder = Path(tempfile.mkdtemp(prefix="scarf-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    executor = PostgreSQLExecutor(
        executable=_pg_ctl(folder),
        host="127.0.0.1",
        port=_free_port(),
        datadir=str(folder / "data"),
        unixsocketdir=str(folder),
        logfile=str(folder / "postgres.log"),
        startparams="-w",
        dbname="postgres",
        timeout=PG_START_TIMEOUT_SECONDS,
        user="postgres",
    )
    executor.start()
    executor.wait_for_postgres()
    try:
        yield executor
    finally:
        executor.stop()
        shutil.rmtree(folder, ignore_errors=True)


def postgres_database(server: PostgreSQLExecutor) -> str:
    """A new empty database on `server`; returns its libpq DSN."""
    name = f"scarf_{uuid.uuid4().hex[:12]}"
    base = f"host={server.host} port={server.port} user={server.user}"
    with psycopg.connect(f"{base} dbname=postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{base} dbname={name}"


def make_spec(backend: str, folder: Path, request: pytest.FixtureRequest) -> WarehouseSpec:
    """A fresh, empty warehouse of `backend` under `folder` (Postgres: a new database)."""
    if backend == "embedded":
        return EmbeddedWarehouseSpec(folder / "warehouse.duckdb")
    data_path = f"{folder / 'ducklake'}/"
    if backend == "ducklake-sqlite":
        return DuckLakeWarehouseSpec("sqlite", str(folder / "catalog.sqlite"), data_path)
    server: PostgreSQLExecutor = request.getfixturevalue("postgres_server")
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
