"""Readers never block loads, and loads never break readers: a notebook, a BI tool or the DuckDB
CLI holding the published warehouse file in another process, read-only or read-write, while the
real pipeline loads more days."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.store.embedded import STORAGE_VERSION
from scarf_etl.store.warehouse import SCHEMA_VERSION, Warehouse, build_path_for
from tests.pipeline_helpers import configure, materialize_days, scalar, table_snapshot

FIRST_DAY = dt.date(2026, 11, 2)
SECOND_DAY = dt.date(2026, 11, 3)
COUNT = "SELECT count(*) FROM scarf.package_events"

# A reader as a notebook is one: it opens the file once and keeps querying on that connection.
READER = textwrap.dedent(
    """
    import sys
    import duckdb
    path, read_only = sys.argv[1], sys.argv[2] == "ro"
    connection = duckdb.connect(path, read_only=read_only)
    for command in sys.stdin:
        count = connection.execute("SELECT count(*) FROM scarf.package_events").fetchone()[0]
        print(count, flush=True)
    connection.close()
    """
)


class Reader:
    def __init__(self, path: Path, mode: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", READER, str(path), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def count(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, self.process.stderr.read() if self.process.stderr else "reader died"
        return int(line)

    def close(self) -> None:
        _, errors = self.process.communicate(timeout=30)  # closes stdin: the reader ends
        assert self.process.returncode == 0, errors


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_a_reader_holding_the_warehouse_neither_blocks_nor_breaks(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path, mode: str
) -> None:
    warehouse_path = configure(monkeypatch, emulator, tmp_path / "data")
    assert materialize_days(FIRST_DAY, FIRST_DAY).success
    first_count = scalar(warehouse_path, COUNT)
    assert first_count > 0

    reader = Reader(warehouse_path, mode)
    try:
        assert reader.count() == first_count
        started = time.monotonic()
        assert materialize_days(SECOND_DAY, SECOND_DAY).success
        # Nothing waited for the reader's lock (the old design waited 120 s, then failed).
        assert time.monotonic() - started < 60
        # The reader's open connection keeps working, on the data it had.
        assert reader.count() == first_count
        # A new connection sees the new day.
        assert scalar(warehouse_path, COUNT) > first_count
    finally:
        reader.close()
    assert scalar(warehouse_path, COUNT) > first_count


def test_publish_replaces_the_file_atomically_and_cleans_leftovers(tmp_path: Path) -> None:
    published = tmp_path / "warehouse.duckdb"
    warehouse = Warehouse(published)
    warehouse.ensure_schema()
    # The leftover of a publish killed mid-copy.
    leftover = tmp_path / ".warehouse.duckdb.publish-dead.tmp"
    leftover.write_bytes(b"half a file")
    warehouse.publish()
    assert not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [published.name, build_path_for(published).name]
    )
    assert scalar(published, "SELECT count(*) FROM scarf.package_events") == 0


def test_a_warehouse_from_before_the_build_file_is_adopted(tmp_path: Path) -> None:
    import duckdb

    published = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(published)) as connection:
        # The schema of 2026-11: event_id was a PRIMARY KEY.
        connection.execute("CREATE SCHEMA scarf")
        connection.execute(
            "CREATE TABLE scarf.package_events (event_id VARCHAR PRIMARY KEY, "
            "event_date DATE NOT NULL, time TIMESTAMPTZ NOT NULL, owner VARCHAR NOT NULL, "
            "custom_field VARCHAR)"
        )
        connection.execute(
            "INSERT INTO scarf.package_events VALUES "
            "('e1', DATE '2026-11-01', TIMESTAMPTZ '2026-11-01 10:00:00+00', 'me', 'kept')"
        )
    warehouse = Warehouse(published)
    warehouse.ensure_schema()
    assert warehouse.schema_version() == SCHEMA_VERSION
    warehouse.publish()
    assert scalar(published, "SELECT custom_field FROM scarf.package_events") == "kept"
    assert scalar(published, "SELECT max(version) FROM scarf.schema_version") == SCHEMA_VERSION
    assert (
        scalar(
            published,
            "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'",
        )
        == 0
    )


def storage_version(path: Path) -> str:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as connection:
        row = connection.execute(
            "SELECT tags['storage_version'] FROM duckdb_databases() "
            "WHERE database_name = current_database()"
        ).fetchone()
    assert row is not None
    return str(row[0])


def views(path: Path) -> dict[str, list[tuple[object, ...]]]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as connection:
        names = connection.execute(
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'scarf' ORDER BY 1"
        ).fetchall()
        return {
            name: connection.execute(f'SELECT * FROM scarf."{name}" ORDER BY ALL').fetchall()
            for (name,) in names
        }


def test_a_warehouse_in_an_older_storage_format_is_rewritten_once_losing_nothing(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> None:
    import duckdb

    warehouse_path = configure(monkeypatch, emulator, tmp_path / "data")
    assert materialize_days(FIRST_DAY, FIRST_DAY).success
    build = build_path_for(warehouse_path)
    # A warehouse as DuckDB creates files by default (storage format v1.0), with real content.
    older = build.with_name("older.duckdb")
    with duckdb.connect() as connection:
        connection.execute(f"ATTACH '{build}' AS current (READ_ONLY)")
        connection.execute(f"ATTACH '{older}' AS older (STORAGE_VERSION 'v1.0.0')")
        connection.execute("COPY FROM DATABASE current TO older")
    older.replace(build)
    assert storage_version(build) == "v1.0.0+"
    tables, answers = table_snapshot(build), views(build)
    assert tables["package_events"] and answers

    heard: list[str] = []
    warehouse = Warehouse(warehouse_path, report=heard.append)
    # As a step does it: in a session, whose open file the rewrite replaces. A write after it
    # must land in the new file, not in the replaced one the session held.
    with warehouse.session():
        warehouse.ensure_schema()
        warehouse.write(
            lambda c: c.execute("CREATE TABLE main.written_after_upgrade AS SELECT 42 AS answer")
        )
    assert scalar(build, "SELECT answer FROM main.written_after_upgrade") == 42
    assert storage_version(build) == f"{STORAGE_VERSION}+"
    assert len(heard) == 1 and "v1.0.0+" in heard[0] and STORAGE_VERSION in heard[0], heard
    assert table_snapshot(build) == tables  # every table, every row
    assert views(build) == answers  # and every view, answering the same
    warehouse.ensure_schema()  # once: nothing more to do
    assert len(heard) == 1
    assert sorted(p.name for p in build.parent.iterdir() if "warehouse" in p.name) == sorted(
        [warehouse_path.name, build.name]
    )
    # The pipeline goes on with it: another day loads and is published.
    assert materialize_days(SECOND_DAY, SECOND_DAY).success
    assert scalar(warehouse_path, COUNT) > len(tables["package_events"])
    assert storage_version(warehouse_path) == f"{STORAGE_VERSION}+"


OPEN_BUILD_FILE = "import sys, duckdb; duckdb.connect(sys.argv[1]).close()"


def test_a_session_holds_the_build_file_for_its_block_only(tmp_path: Path) -> None:
    warehouse_path = tmp_path / "warehouse.duckdb"
    warehouse = Warehouse(warehouse_path)
    warehouse.ensure_schema()
    build = build_path_for(warehouse_path)

    def open_elsewhere() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", OPEN_BUILD_FILE, str(build)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    with warehouse.session():
        warehouse.ensure_schema()
        # Read-only calls share the session's opening (DuckDB opens a file one way a process).
        assert warehouse.query(COUNT) == [(0,)]
        elsewhere = open_elsewhere()
        assert elsewhere.returncode != 0 and "lock" in elsewhere.stderr.lower(), elsewhere.stderr
        with warehouse.session():  # re-entrant: the inner block leaves the file held
            warehouse.publish()
        assert open_elsewhere().returncode != 0
    assert scalar(warehouse_path, COUNT) == 0  # published from inside the session
    elsewhere = open_elsewhere()
    assert elsewhere.returncode == 0, elsewhere.stderr
