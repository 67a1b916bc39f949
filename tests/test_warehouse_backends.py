"""The warehouse's guarantees under concurrency, on each backend (embedded file, DuckLake on
SQLite, DuckLake on Postgres): two processes loading different days at once both succeed, a
reader process querying throughout sees no error, a day is never doubled, and a write that
loses to another writer is retried (bounded, with a line saying so)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from scarf_etl.settings import DuckLakeWarehouseSpec, WarehouseSpec
from scarf_etl.store.warehouse import DayFiles, Warehouse, WarehouseCommitError
from tests.warehouse_backends import (  # noqa: F401
    make_spec,
    postgres_server,
    spec_to_env,
    warehouse_spec,
)

FIRST_DAY = dt.date(2026, 11, 1)
ROWS_PER_DAY = 3_000
DAYS_PER_WRITER = 3
PROCESS_TIMEOUT_SECONDS = 240

WRITER = textwrap.dedent(
    """
    import datetime as dt, sys
    from pathlib import Path
    from scarf_etl.settings import warehouse_spec
    from scarf_etl.store.warehouse import DayFiles, Warehouse
    folder, days = Path(sys.argv[1]), [dt.date.fromisoformat(d) for d in sys.argv[2:]]
    warehouse = Warehouse(warehouse_spec(), report=lambda line: print(line, file=sys.stderr))
    warehouse.ensure_schema()
    for _ in range(2):  # each day loaded, then re-loaded: a re-run must replace, not double
        for day in days:
            files = [DayFiles(day, folder / f"{day}.parquet")]
            warehouse.load_partitions("package_events", "me", files)
            warehouse.publish()
    print(warehouse.commit_retries)
    """
)

READER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from scarf_etl.settings import warehouse_spec
    from scarf_etl.store.warehouse import Warehouse
    stop = Path(sys.argv[1])
    warehouse = Warehouse(warehouse_spec())
    queries, errors, messages = 0, 0, []
    while not stop.exists():
        try:
            with warehouse.reader() as connection:
                connection.execute(
                    "SELECT event_date, count(*), count(DISTINCT event_id) "
                    "FROM scarf.package_events GROUP BY ALL"
                ).fetchall()
                connection.execute(
                    "SELECT sum(downloads) FROM scarf.downloads_per_package_per_day"
                ).fetchall()
            queries += 1
        except Exception as error:  # counted: the test wants none
            errors += 1
            messages.append(str(error)[:300])
    print(json.dumps({"queries": queries, "errors": errors, "messages": messages[:5]}))
    """
)


def write_day(folder: Path, day: dt.date, rows: int = ROWS_PER_DAY) -> Path:
    path = folder / f"{day}.parquet"
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    pl.DataFrame(
        {
            "event_id": [f"{day}-{n}" for n in range(rows)],
            "event_date": [day] * rows,
            "package_id": ["pk"] * rows,
            "time": [start + dt.timedelta(seconds=n) for n in range(rows)],
            "origin_id": [f"o{n % 97}" for n in range(rows)],
            "owner": ["me"] * rows,
        }
    ).write_parquet(path)
    return path


def test_two_writers_and_a_reader_at_once(
    warehouse_spec: WarehouseSpec,  # noqa: F811
    tmp_path: Path,
) -> None:
    days = [FIRST_DAY + dt.timedelta(days=n) for n in range(2 * DAYS_PER_WRITER)]
    for day in days:
        write_day(tmp_path, day)
    env = {**os.environ, **spec_to_env(warehouse_spec)}
    created = Warehouse(warehouse_spec)
    created.ensure_schema()  # the reader starts on an empty, existing warehouse
    created.publish()
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(stop)], env=env, stdout=subprocess.PIPE, text=True
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), *[str(d) for d in chunk]],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for chunk in (days[:DAYS_PER_WRITER], days[DAYS_PER_WRITER:])
    ]
    try:
        outputs = [writer.communicate(timeout=PROCESS_TIMEOUT_SECONDS) for writer in writers]
    finally:
        stop.touch()
    reader_out, _ = reader.communicate(timeout=60)
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        retries = int(out.strip())
        # Every retried commit said so.
        assert err.count("retrying in") == retries, err
    seen = json.loads(reader_out)
    assert seen["errors"] == 0, seen["messages"]
    assert seen["queries"] > 0
    warehouse = Warehouse(warehouse_spec)
    assert warehouse.count_rows("package_events", days, "me") == dict.fromkeys(days, ROWS_PER_DAY)
    assert warehouse.duplicate_event_ids("package_events", days, "me") == dict.fromkeys(days, 0)
    assert warehouse.query(
        "SELECT count(*) FROM scarf.loaded_days WHERE table_name = 'package_events'"
    ) == [(len(days),)]


def test_duplicate_event_id_makes_the_check_fail(
    warehouse_spec: WarehouseSpec,  # noqa: F811
    tmp_path: Path,
) -> None:
    from scarf_etl.defs import checks

    warehouse = Warehouse(warehouse_spec)
    warehouse.ensure_schema()
    path = write_day(tmp_path, FIRST_DAY, rows=10)
    warehouse.load_partitions("package_events", "me", [DayFiles(FIRST_DAY, path)])
    assert checks.event_id_unique(warehouse, "package_events", [FIRST_DAY], "me").passed
    # No backend has a key to refuse it (DuckLake has none at all): the check must catch it.
    doubled = pl.concat([pl.read_parquet(path), pl.read_parquet(path).head(1)])
    doubled.write_parquet(path)
    warehouse.load_partitions("package_events", "me", [DayFiles(FIRST_DAY, path)])
    result = checks.event_id_unique(warehouse, "package_events", [FIRST_DAY], "me")
    assert not result.passed
    assert warehouse.duplicate_event_ids("package_events", [FIRST_DAY], "me") == {FIRST_DAY: 1}


def test_a_write_that_loses_to_another_writer_is_retried(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Another writer commits the same rows while this write's transaction is open: DuckLake
    refuses the later commit as a conflict, and the write runs again (saying so) and lands.
    (On a SQLite catalog the open transaction locks the catalog instead; the two-process test
    above covers that the other writer then waits and retries.)"""
    spec = make_spec("ducklake-postgres", tmp_path / "wh", request)
    assert isinstance(spec, DuckLakeWarehouseSpec)
    lines: list[str] = []
    warehouse = Warehouse(spec, report=lines.append, commit_attempts=3)
    warehouse.ensure_schema()
    frame = pl.DataFrame({"uuid": ["a"], "owner": ["me"], "name": ["A"]})
    warehouse.replace_dimension("packages", frame)
    other_lines: list[str] = []
    other = Warehouse(spec, report=other_lines.append, commit_attempts=2)
    attempts: list[float] = []
    other_outcome: list[object] = []

    def rename(connection: duckdb.DuckDBPyConnection) -> None:
        attempts.append(time.monotonic())
        connection.execute("UPDATE scarf.packages SET name = 'mine' WHERE owner = 'me'")
        if len(attempts) == 1:  # another writer changes the same rows meanwhile
            try:
                other.replace_dimension("packages", frame.with_columns(name=pl.lit("theirs")))
                other_outcome.append("committed")
            except WarehouseCommitError as error:
                other_outcome.append(error)

    warehouse.write(rename)
    assert warehouse.query("SELECT name FROM scarf.packages") == [("mine",)]
    assert other_outcome == ["committed"] and other_lines == []
    assert len(attempts) == 2 and warehouse.commit_retries == 1
    assert len(lines) == 1 and "conflicted with another writer" in lines[0]


def test_a_write_that_keeps_conflicting_gives_up_naming_the_cause(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    spec = make_spec("ducklake-postgres", tmp_path / "wh", request)
    lines: list[str] = []
    warehouse = Warehouse(spec, report=lines.append, commit_attempts=2)
    warehouse.ensure_schema()
    frame = pl.DataFrame({"uuid": ["a"], "owner": ["me"], "name": ["A"]})
    warehouse.replace_dimension("packages", frame)
    other = Warehouse(spec)

    def always_loses(connection: duckdb.DuckDBPyConnection) -> None:
        connection.execute("UPDATE scarf.packages SET name = 'mine' WHERE owner = 'me'")
        other.replace_dimension("packages", frame)  # gets in first, every time

    with pytest.raises(WarehouseCommitError, match="conflicted with other writers 2 times"):
        warehouse.write(always_loses)
    assert len(lines) == 1 and "retrying in" in lines[0]
    assert warehouse.query("SELECT name FROM scarf.packages") == [("A",)]


def test_maintenance_merges_small_files_on_ducklake_and_skips_the_file(
    warehouse_spec: WarehouseSpec,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dagster as dg

    from scarf_etl.defs.maintenance import MAINTENANCE_KEY, ducklake_maintenance
    from scarf_etl.defs.resources import default_resources

    warehouse = Warehouse(warehouse_spec)
    warehouse.ensure_schema()
    days = [FIRST_DAY + dt.timedelta(days=n) for n in range(4)]
    for day in days:  # a file per day, then a re-run of each: delete files too
        write_day(tmp_path, day, rows=50)
        warehouse.load_partitions(
            "package_events", "me", [DayFiles(day, tmp_path / f"{day}.parquet")]
        )
    for day in days:
        warehouse.load_partitions(
            "package_events", "me", [DayFiles(day, tmp_path / f"{day}.parquet")]
        )
    before = warehouse.query("SELECT * FROM scarf.package_events ORDER BY ALL")
    monkeypatch.setenv("SCARF_OWNER", "me")
    for name, value in spec_to_env(warehouse_spec).items():
        monkeypatch.setenv(name, value)
    result = dg.materialize(
        [ducklake_maintenance],
        resources=default_resources(),
        partition_key=str(FIRST_DAY),
        run_config={"ops": {"scarf__ducklake_maintenance": {"config": {"keep_days": 0}}}},
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("scarf__ducklake_maintenance")
    assert materialization.asset_key == MAINTENANCE_KEY
    metadata = materialization.metadata
    if isinstance(warehouse_spec, DuckLakeWarehouseSpec):
        before_files = metadata["files_before"].value
        after_files = metadata["files_after"].value
        assert isinstance(before_files, int) and isinstance(after_files, int)
        assert before_files > after_files >= 1
    else:
        assert metadata["skipped"].value is True
    assert warehouse.query("SELECT * FROM scarf.package_events ORDER BY ALL") == before


def test_the_warehouse_setting_selects_the_backend(tmp_path: Path) -> None:
    from scarf_etl import settings
    from scarf_etl.settings import EmbeddedWarehouseSpec, SettingsError

    parse = settings.warehouse_spec
    data = str(tmp_path / "data")
    assert parse({"SCARF_DATA_DIR": data}) == EmbeddedWarehouseSpec(
        tmp_path / "data" / "warehouse.duckdb"
    )
    assert parse({"SCARF_WAREHOUSE": "duckdb", "SCARF_DUCKDB_PATH": "w.duckdb"}) == (
        EmbeddedWarehouseSpec(Path("w.duckdb"))
    )
    lake = parse({"SCARF_DATA_DIR": data, "SCARF_WAREHOUSE": "ducklake:sqlite:c.db"})
    assert lake == DuckLakeWarehouseSpec("sqlite", "c.db", f"{data}/ducklake/")
    dsn = "host=db user=etl password='s3 cret' dbname=scarf"
    pg = parse(
        {
            "SCARF_WAREHOUSE": f"ducklake:postgres:{dsn}",
            "SCARF_DUCKLAKE_DATA_PATH": "s3://bucket/lake",
        }
    )
    assert pg == DuckLakeWarehouseSpec("postgres", dsn, "s3://bucket/lake/")
    assert "s3 cret" not in pg.describe() and "s3 cret" not in repr(pg)
    uri = parse({"SCARF_WAREHOUSE": "ducklake:postgres:postgresql://etl:pw@db/scarf"})
    assert uri.describe().startswith("ducklake:postgres:postgresql://etl:***@db/scarf")
    for bad in ("ducklake", "ducklake:mysql:x", "ducklake:sqlite:", "sqlite:c.db"):
        with pytest.raises(SettingsError, match="SCARF_WAREHOUSE must be"):
            parse({"SCARF_WAREHOUSE": bad})
    with pytest.raises(SettingsError, match="SCARF_DUCKLAKE_DATA_PATH"):
        parse({"SCARF_WAREHOUSE": "ducklake:sqlite:c.db", "SCARF_DATA_DIR": "s3://b/p"})


def test_a_catalog_that_cannot_be_reached_never_shows_its_password(tmp_path: Path) -> None:
    dsn = "host=127.0.0.1 port=1 user=etl password=hunter2 dbname=x connect_timeout=2"
    warehouse = Warehouse(DuckLakeWarehouseSpec("postgres", dsn, f"{tmp_path}/"))
    with pytest.raises(duckdb.Error) as raised:
        warehouse.query("SELECT 1")
    assert "hunter2" not in str(raised.value) and "password=***" in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_extensions_load_from_their_packages_never_downloaded() -> None:
    from scarf_etl.store.extensions import CONNECT_CONFIG, extension_file, load_extensions

    for name in ("ducklake", "httpfs", "sqlite_scanner", "postgres_scanner"):
        path = extension_file(name)
        assert path.is_file() and f"v{duckdb.__version__}" in str(path)
    with pytest.raises(ValueError, match="not an extension"):
        extension_file("spatial")
    with duckdb.connect(config=dict(CONNECT_CONFIG)) as connection:
        # Autoloading is off: a statement needing an extension not loaded is an error, not a
        # download.
        with pytest.raises(duckdb.Error):
            connection.execute("ATTACH 'ducklake:sqlite:/nonexistent/x.db' AS x")
        load_extensions(connection, "ducklake", "sqlite_scanner")
        loaded = connection.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
        ).fetchall()
        assert {("ducklake",), ("sqlite_scanner",)} <= set(loaded)


def test_the_storage_resource_shows_a_postgres_dsn_only_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dagster as dg

    from scarf_etl.defs.resources import ScarfStorageResource

    monkeypatch.setenv("SCARF_WAREHOUSE", "ducklake:postgres:host=db password=hunter2 dbname=x")
    resource = ScarfStorageResource.from_environment(os.environ)
    assert isinstance(resource.warehouse_backend, dg.EnvVar)
    assert "hunter2" not in repr(resource)
    sqlite = {"SCARF_WAREHOUSE": "ducklake:sqlite:/srv/catalog.db"}
    assert (
        ScarfStorageResource.from_environment(sqlite).warehouse_backend == sqlite["SCARF_WAREHOUSE"]
    )


def test_ducklake_on_postgres_with_its_data_on_s3(
    tmp_path: Path, request: pytest.FixtureRequest, s3_endpoint: str
) -> None:
    """The catalog in Postgres, the parquet on an S3-compatible server on 127.0.0.1 (moto):
    loads, a re-run and a reader work as on a folder; the credentials come from the standard
    AWS variables only."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    local = make_spec("ducklake-postgres", tmp_path / "wh", request)
    assert isinstance(local, DuckLakeWarehouseSpec)
    spec = DuckLakeWarehouseSpec("postgres", local.target, "s3://team-lake/warehouse/")
    warehouse = Warehouse(spec)
    warehouse.ensure_schema()
    days = [FIRST_DAY, FIRST_DAY + dt.timedelta(days=1)]
    files = [DayFiles(day, write_day(tmp_path, day, rows=500)) for day in days]
    assert warehouse.load_partitions("package_events", "me", files) == dict.fromkeys(days, 500)
    assert warehouse.load_partitions("package_events", "me", files[:1]) == {FIRST_DAY: 500}
    with warehouse.reader() as connection:
        rows = connection.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM scarf.package_events"
        ).fetchall()
    assert rows == [(1000, 1000)]
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="team-lake")["Contents"]]
    assert keys and all(key.startswith("warehouse/") for key in keys)
    assert not (tmp_path / "wh" / "ducklake").exists()  # nothing written locally
