"""A throwaway PostgreSQL cluster on 127.0.0.1 for the tests, through pytest-postgresql.

Debian's server refuses to run as root (tests run as root on CI): then pg_ctl runs as the
`postgres` system user through `runuser`, with the cluster in a fresh folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from port_for import get_port
from pytest_postgresql.executors import PostgreSQLExecutor

PG_CTL = Path("/usr/lib/postgresql/15/bin/pg_ctl")
SERVER_USER = "postgres"
START_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def create_database(self, name: str) -> str:
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name


def _pg_ctl() -> str:
    found = shutil.which("pg_ctl") or (str(PG_CTL) if PG_CTL.is_file() else None)
    if found is None:
        pytest.skip("PostgreSQL's server (pg_ctl) is not installed: apt-get install postgresql")
    return found


def _as_server_user(pg_ctl: str, folder: Path) -> str:
    """A pg_ctl that runs as SERVER_USER (for root), written into `folder`."""
    account = pwd.getpwnam(SERVER_USER)
    os.chown(folder, account.pw_uid, account.pw_gid)
    wrapper = folder / "pg_ctl"
    wrapper.write_text(f'#!/bin/sh\nexec runuser -u {SERVER_USER} -- {pg_ctl} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(wrapper)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    pg_ctl = _pg_ctl()
    folder = Path(tempfile.mkdtemp(prefix="scarf-etl-postgres-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        pg_ctl = _as_server_user(pg_ctl, folder)
    port = get_port(None)
    assert port is not None
    executor = PostgreSQLExecutor(
        executable=pg_ctl,
        host="127.0.0.1",
        port=port,
        datadir=str(folder / "data"),
        unixsocketdir=str(folder),
        logfile=str(folder / "server.log"),
        startparams="-w",
        dbname="tests",
        user="postgres",
        timeout=START_TIMEOUT_SECONDS,
    )
    try:
        with executor:
            executor.wait_for_postgres()
            yield PostgresServer(host="127.0.0.1", port=port, user="postgres")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
