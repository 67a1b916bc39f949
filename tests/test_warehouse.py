"""The DuckDB warehouse on real files in tmp_path: loads, idempotency, rollback, locks."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from test_normalize import V2_HEADER, event, write_csv

from scarf_etl.normalize import RawEventFile
from scarf_etl.schemas import EVENT_TABLE_COLUMNS
from scarf_etl.settings import WarehouseSpec
from scarf_etl.store.lake import (
    build_events_partition,
    lake_partition_file,
    rejected_partition_file,
)
from scarf_etl.store.warehouse import SCHEMA_VERSION, DayFiles, Warehouse
from tests.warehouse_backends import postgres_server, warehouse_spec  # noqa: F401

DAY = date(2026, 11, 1)


def build_day(data_dir: Path, rows: list[dict[str, str]], header: list[str] = V2_HEADER) -> None:
    raw = write_csv(data_dir / "raw.csv", header, rows)
    build_events_partition(
        [RawEventFile(raw, "pk")], table="package_events", day=DAY, owner="me", data_dir=data_dir
    )


def load_day(warehouse: Warehouse, data_dir: Path) -> int:
    return warehouse.load_partition(
        "package_events",
        DAY,
        "me",
        lake_partition_file(data_dir, "package_events", DAY),
        rejected_partition_file(data_dir, "package_events", DAY),
    )


@pytest.fixture
def warehouse(warehouse_spec: WarehouseSpec) -> Warehouse:  # noqa: F811
    """An empty warehouse on each backend in turn (embedded, DuckLake on SQLite and Postgres)."""
    created = Warehouse(warehouse_spec)
    created.ensure_schema()
    created.ensure_schema()  # idempotent
    return created


@pytest.fixture
def embedded_warehouse(tmp_path: Path) -> Warehouse:
    created = Warehouse(tmp_path / "wh" / "warehouse.duckdb")
    created.ensure_schema()
    return created


def test_load_types_nulls_and_rejected_rows(warehouse: Warehouse, tmp_path: Path) -> None:
    build_day(tmp_path, [event(referer=""), event(id="bad", time="never")])
    assert load_day(warehouse, tmp_path) == 1
    types = dict(
        warehouse.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'scarf' AND table_name = 'package_events'"
        )
    )
    assert types["time"] == "TIMESTAMP WITH TIME ZONE" and types["dnt"] == "BOOLEAN"
    assert types["origin_latitude"] == "DOUBLE" and types["event_date"] == "DATE"
    row = warehouse.query("SELECT event_id, referer, origin_latitude FROM scarf.package_events")
    assert row == [("e1", None, 48.8)]
    rejected = warehouse.query(
        "SELECT table_name, partition_date, line_number, reason, raw_line IS NOT NULL "
        "FROM scarf.rejected_rows"
    )
    assert rejected == [("package_events", DAY, 3, "time: not a timestamp", True)]


def test_loading_twice_gives_the_same_rows(warehouse: Warehouse, tmp_path: Path) -> None:
    build_day(tmp_path, [event(), event(id="e2"), event(id="bad", time="?")])
    load_day(warehouse, tmp_path)
    snapshot = warehouse.query("SELECT * FROM scarf.package_events ORDER BY event_id")
    assert load_day(warehouse, tmp_path) == 2
    assert warehouse.query("SELECT * FROM scarf.package_events ORDER BY event_id") == snapshot
    assert warehouse.query("SELECT count(*) FROM scarf.rejected_rows") == [(1,)]
    assert warehouse.count_rows("package_events", [DAY], "me") == {DAY: 2}
    assert warehouse.duplicate_event_ids("package_events", [DAY], "me") == {DAY: 0}
    assert warehouse.event_counts_by_package("package_events", [DAY], "me") == {(DAY, "pk"): 2}


def test_unknown_column_is_added_by_alter(warehouse: Warehouse, tmp_path: Path) -> None:
    build_day(tmp_path, [event(new_field="hello")], [*V2_HEADER, "new_field"])
    load_day(warehouse, tmp_path)
    assert warehouse.query("SELECT new_field FROM scarf.package_events") == [("hello",)]


def event_table_columns(warehouse: Warehouse) -> list[str]:
    rows = warehouse.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'scarf' AND table_name = 'package_events' ORDER BY ordinal_position"
    )
    return [str(name) for (name,) in rows]


def test_a_load_adds_only_the_exports_own_columns(warehouse: Warehouse, tmp_path: Path) -> None:
    build_day(tmp_path, [event(new_field="hello")], [*V2_HEADER, "new_field"])
    load_day(warehouse, tmp_path)
    assert event_table_columns(warehouse) == [*EVENT_TABLE_COLUMNS, "new_field"]


def test_the_stray_date_column_of_older_builds_is_dropped_and_never_loaded(
    embedded_warehouse: Warehouse, tmp_path: Path
) -> None:
    """Builds before schema version 3 wrote a `date` DATE column taken from the partition's
    folder name into the lake, and the warehouse took it over."""
    build_day(tmp_path, [event(), event(id="e2")])
    partition = lake_partition_file(tmp_path, "package_events", DAY)
    pl.read_parquet(partition).with_columns(date=pl.col("event_date")).write_parquet(partition)
    with embedded_warehouse.transaction() as connection:
        connection.execute("ALTER TABLE scarf.package_events ADD COLUMN date DATE")
        connection.execute("DELETE FROM scarf.schema_version")
        connection.execute("INSERT INTO scarf.schema_version (version) VALUES (2)")

    embedded_warehouse.ensure_schema()
    assert "date" not in event_table_columns(embedded_warehouse)
    assert embedded_warehouse.schema_version() == SCHEMA_VERSION == 3
    assert load_day(embedded_warehouse, tmp_path) == 2
    assert event_table_columns(embedded_warehouse) == list(EVENT_TABLE_COLUMNS)


def test_failed_load_leaves_the_table_as_it_was(warehouse: Warehouse, tmp_path: Path) -> None:
    build_day(tmp_path, [event(), event(id="e2")])
    load_day(warehouse, tmp_path)
    before = warehouse.query("SELECT * FROM scarf.package_events ORDER BY event_id")
    columns_before = warehouse.query("DESCRIBE scarf.package_events")

    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(duckdb.Error):
        warehouse.load_partition("package_events", DAY, "me", corrupt)

    # A type conflict after a new column was added: the ALTER is rolled back too.
    conflicting = tmp_path / "conflict.parquet"
    pl.read_parquet(lake_partition_file(tmp_path, "package_events", DAY)).with_columns(
        origin_latitude=pl.lit("north"), brand_new=pl.lit("x")
    ).write_parquet(conflicting)
    with pytest.raises(duckdb.Error):
        warehouse.load_partition("package_events", DAY, "me", conflicting)

    assert warehouse.query("SELECT * FROM scarf.package_events ORDER BY event_id") == before
    assert warehouse.query("DESCRIBE scarf.package_events") == columns_before


def test_parquet_of_another_day_is_refused(warehouse: Warehouse, tmp_path: Path) -> None:
    build_day(tmp_path, [event()])
    with pytest.raises(ValueError, match="outside"):
        warehouse.load_partition(
            "package_events",
            date(2026, 11, 2),
            "me",
            lake_partition_file(tmp_path, "package_events", DAY),
        )


@pytest.mark.parametrize("table", ["packages", "scarf.package_events; DROP TABLE x", ""])
def test_table_outside_the_closed_set_is_refused(
    warehouse: Warehouse, tmp_path: Path, table: str
) -> None:
    with pytest.raises(ValueError, match="not a partitioned"):
        warehouse.load_partition(table, DAY, "me", tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="not a dimension"):
        warehouse.replace_dimension(
            "package_events" if table == "packages" else table, pl.DataFrame({"owner": ["me"]})
        )


def test_dimension_replace_per_owner(warehouse: Warehouse) -> None:
    first = pl.DataFrame({"uuid": ["a", "b"], "owner": ["me", "me"], "name": ["A", "B"]})
    other = pl.DataFrame({"uuid": ["z"], "owner": ["them"], "name": ["Z"]})
    assert warehouse.replace_dimension("packages", first) == 2
    warehouse.replace_dimension("packages", other)
    second = pl.DataFrame({"uuid": ["c"], "owner": ["me"], "name": ["C"], "stars": [5]})
    assert warehouse.replace_dimension("packages", second) == 1
    rows = warehouse.query("SELECT owner, uuid, stars FROM scarf.packages ORDER BY uuid")
    assert rows == [("me", "c", 5), ("them", "z", None)]
    warehouse.replace_dimension("packages", second.clear(), owner="me")
    assert warehouse.query("SELECT owner FROM scarf.packages") == [("them",)]


def test_views_answer_everyday_questions(warehouse: Warehouse, tmp_path: Path) -> None:
    build_day(tmp_path, [event(), event(id="e2", origin_company="UNKNOWN"), event(id="e3")])
    load_day(warehouse, tmp_path)
    warehouse.replace_dimension(
        "packages", pl.DataFrame({"uuid": ["pk"], "owner": ["me"], "name": ["Nice"]})
    )
    assert warehouse.query(
        "SELECT event_date, package_name, downloads FROM scarf.downloads_per_package_per_day"
    ) == [(DAY, "Nice", 3)]
    assert warehouse.query("SELECT company, events FROM scarf.top_companies") == [("Acme", 2)]


def test_aggregate_totals_by_package(warehouse: Warehouse, tmp_path: Path) -> None:
    parquet = tmp_path / "agg.parquet"
    pl.DataFrame(
        {
            "date": [DAY, DAY, DAY],
            "package": ["p", "p", "q"],
            "breakdown": ["total", "country", "total"],
            "total": [5, 3, 2],
            "owner": ["me"] * 3,
        }
    ).write_parquet(parquet)
    assert warehouse.load_partition("aggregates", DAY, "me", parquet) == 3
    assert warehouse.aggregate_totals_by_package([DAY], "me") == {(DAY, "p"): 5, (DAY, "q"): 2}


LOADER = textwrap.dedent(
    """
    import sys, time
    from datetime import date
    from pathlib import Path
    import duckdb
    from scarf_etl.store.warehouse import Warehouse, build_path_for
    path, parquet, hold = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    if hold:
        # Hold the build file's write lock for a while, as a long load in another process would.
        connection = duckdb.connect(str(build_path_for(path)))
        print("locked", flush=True)
        time.sleep(hold)
        connection.close()
    print(Warehouse(path).load_partition("package_events", date(2026, 11, 1), "me", parquet))
    """
)


def test_a_second_process_waits_for_the_lock(embedded_warehouse: Warehouse, tmp_path: Path) -> None:
    warehouse = embedded_warehouse  # DuckLake has no file lock: see test_warehouse_backends.py
    build_day(tmp_path, [event(), event(id="e2")])
    parquet = lake_partition_file(tmp_path, "package_events", DAY)
    args = [sys.executable, "-c", LOADER, str(warehouse.published_path), str(parquet)]
    holder = subprocess.Popen([*args, "1.5"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    waiter = subprocess.run([*args, "0"], capture_output=True, text=True, timeout=60)
    holder_out, _ = holder.communicate(timeout=60)
    assert waiter.returncode == 0, waiter.stderr
    assert holder.returncode == 0 and holder_out.strip() == "2"
    assert waiter.stdout.strip() == "2"
    assert warehouse.count_rows("package_events", [DAY], "me") == {DAY: 2}


def test_several_days_load_in_one_transaction_or_not_at_all(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    day_two = date(2026, 11, 2)
    first = tmp_path / "first.parquet"
    second = tmp_path / "second.parquet"
    good_time = dt.datetime(2026, 11, 1, 1, tzinfo=dt.UTC)
    pl.DataFrame(
        {"event_id": ["a"], "event_date": [DAY], "time": [good_time], "owner": ["me"]}
    ).write_parquet(first)
    pl.DataFrame(
        {"event_id": ["b"], "event_date": [day_two], "time": [None], "owner": ["me"]}
    ).cast({"time": pl.Datetime("us", "UTC")}).write_parquet(second)
    # The first day alone loads:
    assert warehouse.load_partitions("package_events", "me", [DayFiles(DAY, first)]) == {DAY: 1}
    # `time` is NOT NULL: the second day's row fails, and the first day must not be loaded.
    with pytest.raises(duckdb.Error):
        warehouse.load_partitions(
            "package_events", "me", [DayFiles(DAY, first), DayFiles(day_two, second)]
        )
    # ...and stays as it was (1 row) when a batch with a bad second day rolls back.
    assert warehouse.count_rows("package_events", [DAY, day_two], "me") == {DAY: 1, day_two: 0}

    # Each day's file must hold that day only.
    with pytest.raises(ValueError, match="outside"):
        warehouse.load_partitions(
            "package_events", "me", [DayFiles(day_two, first), DayFiles(DAY, second)]
        )


def test_several_days_with_different_new_columns(warehouse: Warehouse, tmp_path: Path) -> None:
    day_two = date(2026, 11, 2)
    paths = []
    for day, event_id, extra in ((DAY, "a", "campaign"), (day_two, "b", "medium")):
        path = tmp_path / f"{event_id}.parquet"
        pl.DataFrame(
            {
                "event_id": [event_id],
                "event_date": [day],
                "time": [dt.datetime(2026, 11, day.day, 1, tzinfo=dt.UTC)],
                "owner": ["me"],
                extra: ["value"],
            }
        ).write_parquet(path)
        paths.append(DayFiles(day, path))
    assert warehouse.load_partitions("package_events", "me", paths) == {DAY: 1, day_two: 1}
    assert warehouse.query(
        "SELECT event_id, campaign, medium FROM scarf.package_events ORDER BY 1"
    ) == [("a", "value", None), ("b", None, "value")]
    assert warehouse.query(
        "SELECT day, rows FROM scarf.loaded_days WHERE table_name = 'package_events' ORDER BY 1"
    ) == [(DAY, 1), (day_two, 1)]
