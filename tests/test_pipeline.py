"""The pipeline end to end: the real assets against the emulator over 127.0.0.1, real parquet
and a real DuckDB file in tmp_path."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from scarf_etl.commands.summary import run_example_queries
from scarf_etl.emulator.faults import Faults
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG, DEMO_USER, NON_PRO_ORG
from scarf_etl.store.lake import BUILD_LOCK
from scarf_etl.store.raw import raw_day_dir
from tests.pipeline_helpers import configure, materialize_days, scalar, table_snapshot

FIRST = dt.date(2026, 11, 1)
LAST = dt.date(2026, 11, 3)
DAYS = [FIRST + dt.timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
LAKE_AND_WAREHOUSE = dg.AssetSelection.groups("lake", "warehouse")


def expected_package_events(emulator: EmulatorServer, day: dt.date) -> int:
    return sum(
        emulator.expected_events(DEMO_ORG, package_id, day).height
        for package_id in emulator.package_ids(DEMO_ORG)
    )


@pytest.fixture
def warehouse_path(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> Path:
    return configure(monkeypatch, emulator, tmp_path / "data")


def test_three_days_land_in_every_layer(emulator: EmulatorServer, warehouse_path: Path) -> None:
    result = materialize_days(FIRST, LAST)
    assert result.success

    for day in DAYS:
        loaded = scalar(
            warehouse_path,
            "SELECT count(*) FROM scarf.package_events WHERE event_date = ? AND owner = ?",
            [day, DEMO_ORG],
        )
        assert loaded == expected_package_events(emulator, day)
        pixels = scalar(
            warehouse_path,
            "SELECT count(*) FROM scarf.pixel_events WHERE event_date = ?",
            [day],
        )
        assert pixels == emulator.expected_pixel_events(DEMO_ORG, day).height
    # Aggregates agree with the events they summarize, package by package.
    disagreements = scalar(
        warehouse_path,
        """
        SELECT count(*) FROM (
            SELECT a.date, a.package, a.total, count(e.event_id) AS events
            FROM scarf.aggregates a
            LEFT JOIN scarf.package_events e
              ON e.package_id = a.package AND e.event_date = a.date
            WHERE a.breakdown = 'total' AND a.artifact_type = 'package'
            GROUP BY ALL
            HAVING a.total <> count(e.event_id)
        )
        """,
    )
    assert disagreements == 0
    assert scalar(warehouse_path, "SELECT count(DISTINCT date) FROM scarf.aggregates") == 3
    # Types are real types, not text.
    assert (
        scalar(
            warehouse_path,
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'scarf' "
            "AND table_name = 'package_events' AND column_name = 'time'",
        )
        == "TIMESTAMP WITH TIME ZONE"
    )
    assert scalar(warehouse_path, "SELECT count(*) FROM scarf.packages") == len(
        emulator.package_ids(DEMO_ORG)
    )
    assert scalar(warehouse_path, "SELECT count(*) FROM scarf.organizations") == 1
    # Empty strings are NULL in every text column, however the CSV spelled them.
    for table in ("package_events", "pixel_events"):
        empty = scalar(
            warehouse_path,
            "SELECT string_agg(column_name, ', ') FROM information_schema.columns "
            "WHERE table_schema = 'scarf' AND table_name = ? AND data_type = 'VARCHAR'",
            [table],
        )
        conditions = " OR ".join(f"\"{c}\" = ''" for c in empty.split(", "))
        assert scalar(warehouse_path, f"SELECT count(*) FROM scarf.{table} WHERE {conditions}") == 0
    # The demo's example queries answer from these tables.
    answers = run_example_queries(warehouse_path)
    assert "Top companies" in answers
    assert "Downloads per package per day" in answers
    # Every check passed or, for the WARN ones, did not fail.
    evaluations = result.get_asset_check_evaluations()
    assert evaluations
    assert all(e.passed for e in evaluations), [e for e in evaluations if not e.passed]


def test_rerunning_days_gives_identical_tables(warehouse_path: Path) -> None:
    materialize_days(FIRST, LAST)
    first_snapshot = table_snapshot(warehouse_path)
    materialize_days(FIRST, LAST)
    assert table_snapshot(warehouse_path) == first_snapshot
    # Re-loading one day inside the range changes nothing either.
    materialize_days(LAST, LAST)
    assert table_snapshot(warehouse_path) == first_snapshot


def test_lake_and_warehouse_rebuild_without_the_api(
    monkeypatch: pytest.MonkeyPatch,
    emulator_factory: Callable[..., EmulatorServer],
    tmp_path: Path,
) -> None:
    emulator = emulator_factory()
    warehouse_path = configure(monkeypatch, emulator, tmp_path / "data")
    materialize_days(FIRST, LAST)
    before = table_snapshot(warehouse_path)
    emulator.stop()
    # Any call to the API would now fail: the rebuild reads raw files only.
    result = materialize_days(FIRST, LAST, selection=LAKE_AND_WAREHOUSE)
    assert result.success
    assert table_snapshot(warehouse_path) == before


def test_a_day_with_faults_yields_exactly_the_right_rows(
    emulator: EmulatorServer, warehouse_path: Path
) -> None:
    emulator.faults = Faults(
        rate_limit_first=1,
        retry_after="0",
        server_error_first=1,
        server_error_status=503,
        cut_off_first=1,
        duplicate_rows=3,
        extra_columns=("campaign_id",),
        malformed_rows=1,
        out_of_window_rows=2,
    )
    day = FIRST
    result = materialize_days(day, day)
    assert result.success

    assert scalar(
        warehouse_path, "SELECT count(*) FROM scarf.package_events WHERE event_date = ?", [day]
    ) == expected_package_events(emulator, day)
    assert (
        scalar(
            warehouse_path,
            "SELECT count(*) - count(DISTINCT event_id) FROM scarf.package_events",
        )
        == 0
    )
    assert (
        scalar(
            warehouse_path,
            "SELECT count(*) FROM scarf.package_events WHERE event_date <> ?",
            [day],
        )
        == 0
    )
    # The unknown column is kept and typed as text.
    assert (
        scalar(
            warehouse_path,
            "SELECT count(*) FROM scarf.package_events WHERE campaign_id IS NOT NULL",
        )
        > 0
    )
    # Each malformed row is kept aside with its reason and raw text.
    rejected = scalar(
        warehouse_path,
        "SELECT count(*) FROM scarf.rejected_rows WHERE table_name = 'package_events' "
        "AND reason IS NOT NULL AND raw_line IS NOT NULL",
    )
    assert rejected == len(emulator.package_ids(DEMO_ORG))
    lake = result.asset_materializations_for_node("lake__package_events")
    metadata: dict[str, Any] = {k: v.value for k, v in lake[0].metadata.items()}
    assert metadata["duplicates_dropped"] > 0
    assert metadata["out_of_window_dropped"] > 0
    assert metadata["rows_rejected"] == rejected


def test_export_not_on_the_plan_fails_the_run_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    warehouse_path = configure(monkeypatch, emulator, data_dir, owner=NON_PRO_ORG)
    result = materialize_days(FIRST, FIRST, raise_on_error=False)
    assert not result.success
    failures = [
        event.step_failure_data.error.to_string()
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error
    ]
    assert any("not-a-pro-member" in message for message in failures), failures
    for dataset in ("aggregates", "package_events", "pixel_events"):
        assert not raw_day_dir(data_dir, dataset, FIRST).exists()
        assert not list(raw_day_dir(data_dir, dataset, FIRST).parent.glob(".staging-*"))
    if warehouse_path.exists():
        for table in ("aggregates", "package_events", "pixel_events"):
            assert table_snapshot(warehouse_path).get(table, []) == []


def test_raw_manifest_records_every_file_without_the_token(
    emulator: EmulatorServer, warehouse_path: Path
) -> None:
    materialize_days(FIRST, FIRST, selection=dg.AssetSelection.groups("raw"))
    data_dir = warehouse_path.parent
    manifest = json.loads(
        (raw_day_dir(data_dir, "package_events", FIRST) / "_manifest.json").read_text()
    )
    assert sorted(f["package_id"] for f in manifest["files"]) == sorted(
        emulator.package_ids(DEMO_ORG)
    )
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert b"scarf-demo-token" not in path.read_bytes(), path


def test_a_user_account_exports_its_own_packages(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> None:
    warehouse_path = configure(
        monkeypatch, emulator, tmp_path / "data", owner=DEMO_USER, owner_kind="user"
    )
    assert materialize_days(FIRST, FIRST).success
    user_packages = emulator.package_ids(DEMO_USER)
    assert user_packages
    expected = sum(
        emulator.expected_events(DEMO_USER, package_id, FIRST).height
        for package_id in user_packages
    )
    assert (
        scalar(
            warehouse_path, "SELECT count(*) FROM scarf.package_events WHERE owner = ?", [DEMO_USER]
        )
        == expected
    )
    assert scalar(
        warehouse_path,
        "SELECT count(DISTINCT package) FROM scarf.aggregates WHERE owner = ?",
        [DEMO_USER],
    ) == len(user_packages)
    # A user has no organization: those dimensions stay empty rather than failing.
    assert scalar(warehouse_path, "SELECT count(*) FROM scarf.organizations") == 0
    assert scalar(
        warehouse_path, "SELECT count(*) FROM scarf.packages WHERE owner = ?", [DEMO_USER]
    ) == len(user_packages)


def test_each_day_carries_its_own_row_count(emulator: EmulatorServer, warehouse_path: Path) -> None:
    first, last = dt.date(2026, 11, 1), dt.date(2026, 11, 3)
    result = materialize_days(first, last)
    assert result.success
    seen: dict[tuple[str, str], int] = {}
    snapshots: list[str] = []
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.partition is None:
            snapshots.append(materialization.asset_key.to_user_string())
            continue
        row_count = materialization.metadata.get("dagster/row_count")
        if row_count is not None:
            key = (materialization.asset_key.to_user_string(), materialization.partition)
            seen[key] = int(str(row_count.value))
    for table in ("package_events", "pixel_events"):
        counts = {
            day.isoformat(): scalar(
                warehouse_path,
                f"SELECT count(*) FROM scarf.{table} WHERE event_date = ?",
                [day],
            )
            for day in (first, first + dt.timedelta(days=1), last)
        }
        assert len(set(counts.values())) > 1  # the days differ, so a run total would show
        for day, count in counts.items():
            assert seen[(f"scarf/{table}", day)] == count
            assert seen[(f"lake/{table}", day)] == count
    # Only the whole-warehouse snapshots (dimensions, analysis, report) are unpartitioned, and
    # a run records each once, not once per day of its window.
    assert len(snapshots) == len(set(snapshots))
    assert "scarf/packages" in snapshots
    assert not [key for key in snapshots if key.startswith(("raw/", "lake/"))]
    assert not {f"scarf/{table}" for table in ("package_events", "pixel_events")} & set(snapshots)


def test_a_run_lists_the_owners_packages_once(
    emulator: EmulatorServer, warehouse_path: Path
) -> None:
    """Each call to Scarf is billed: the dimension step reuses the raw step's package list."""

    def package_listings() -> int:
        return len(
            [r for r in emulator.requests if r.method == "GET" and r.path.endswith("/packages")]
        )

    emulator.requests.clear()
    assert materialize_days(FIRST, LAST).success
    assert package_listings() == 1
    with_reuse = table_snapshot(warehouse_path)
    # Dimensions alone have no raw step to borrow from: they list the packages themselves,
    # and the snapshot they write is the same.
    emulator.requests.clear()
    assert materialize_days(FIRST, FIRST, selection=dg.AssetSelection.groups("dimensions")).success
    assert package_listings() == 1
    assert table_snapshot(warehouse_path)["packages"] == with_reuse["packages"]
    assert with_reuse["packages"], "the owner has packages"


def test_a_bad_day_in_a_window_fails_the_lake_step_and_leaves_no_litter(
    emulator: EmulatorServer, warehouse_path: Path
) -> None:
    """The lake builds small days two at a time: a day that is not a CSV fails the step naming
    its file, the days around it leave no temporary files, and once the day is fetched again
    the window builds."""
    first, last = dt.date(2026, 11, 1), dt.date(2026, 11, 6)
    raw = [dg.AssetKey(["raw", "package_events"])]
    lake = [dg.AssetKey(["lake", "package_events"])]
    assert materialize_days(first, last, selection=raw).success
    data_dir = warehouse_path.parent
    broken_day = dt.date(2026, 11, 3)
    broken = sorted(raw_day_dir(data_dir, "package_events", broken_day).glob("*.csv"))[0]
    good_bytes = broken.read_bytes()
    broken.write_text("<html><body>502 Bad Gateway</body></html>\n")

    result = materialize_days(first, last, selection=lake, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error)
    assert broken.name in message and "not a Scarf event CSV" in message
    lake_folder = data_dir / "lake" / "package_events"
    litter = [p for p in lake_folder.rglob("*") if p.name.startswith(".") and p.name != BUILD_LOCK]
    assert litter == []

    broken.write_bytes(good_bytes)
    assert materialize_days(first, last, selection=lake).success
    built = sorted(p.parent.name for p in lake_folder.glob("date=*/part-0.parquet"))
    assert built == [f"date=2026-11-0{d}" for d in range(1, 7)]
