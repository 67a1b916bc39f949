"""A bad response never replaces good data: after a day is loaded, an empty, HTML, JSON-error,
header-less or truncated answer for it fails the run (or is refused by the drop guard) and leaves
the raw files, the lake partition and the warehouse day as they were. Hostile package ids fail
the run and write nothing outside the data folder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from scarf_etl.commands.failures import root_cause
from scarf_etl.defs.assets import ALL_ASSETS
from scarf_etl.defs.resources import ALLOW_DROP_TAG
from scarf_etl.defs.schedules import partition_range_tags
from scarf_etl.emulator.faults import BodyFault, Faults
from scarf_etl.emulator.server import EmulatorServer
from tests.pipeline_helpers import pipeline_resources, table_snapshot

DAY = dt.date(2026, 11, 2)


def run_day(
    emulator: EmulatorServer, data_dir: Path, *, allow_drop: bool = False
) -> dg.ExecuteInProcessResult:
    """The real assets for DAY, with fast retries so the refused attempts take little time.
    `allow_drop` is given as the run's tag, the way `scarf-etl load --allow-drop` and the
    launchpad give it, over resources configured without it."""
    return dg.materialize(
        ALL_ASSETS,
        resources=pipeline_resources(emulator, data_dir, backoff_initial_seconds=0.01),
        tags={**partition_range_tags(DAY, DAY), **({ALLOW_DROP_TAG: "true"} if allow_drop else {})},
        raise_on_error=False,
    )


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def failure_causes(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        root_cause(event.step_failure_data.error)
        for event in result.all_events
        if event.is_step_failure
        and event.step_failure_data is not None
        and event.step_failure_data.error is not None
    ]


def state(
    data_dir: Path, *, events_only: bool = False
) -> tuple[dict[str, bytes], dict[str, bytes], dict[str, Any]]:
    """Raw files, lake files and warehouse rows; `events_only` leaves the aggregates out (a
    fault that only event CSVs can have lets the aggregates be fetched again, correctly)."""

    def keep(name: str) -> bool:
        return not (events_only and "aggregates" in name)

    raw = {k: v for k, v in files_under(data_dir / "raw").items() if keep(k)}
    lake = {k: v for k, v in files_under(data_dir / "lake").items() if keep(k)}
    tables = {k: v for k, v in table_snapshot(data_dir / "warehouse.duckdb").items() if keep(k)}
    return raw, lake, tables


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("empty", "the body is empty"),
        ("html", "HTML"),
        ("json_error", "JSON"),
        ("no_time_column", "time"),
        ("truncated", "rows ->"),  # well-formed but short: the drop guard refuses it
    ],
)
def test_a_bad_answer_leaves_the_loaded_day_intact(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    tmp_path: Path,
    fault: BodyFault,
    expected: str,
) -> None:
    data_dir = tmp_path / "data"
    assert run_day(emulator, data_dir).success
    events_only = fault == "no_time_column"
    before = state(data_dir, events_only=events_only)

    emulator.faults = Faults(body_fault=fault, body_fault_always=True)
    result = run_day(emulator, data_dir)
    assert not result.success
    causes = failure_causes(result)
    assert causes and any(expected in cause for cause in causes), causes
    assert state(data_dir, events_only=events_only) == before


def test_the_drop_guard_can_be_overridden(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    warehouse = data_dir / "warehouse.duckdb"
    assert run_day(emulator, data_dir).success
    rows_before = table_snapshot(warehouse)["package_events"]

    emulator.faults = Faults(body_fault="truncated", body_fault_always=True)
    refused = run_day(emulator, data_dir)
    assert not refused.success
    assert any("--allow-drop" in cause for cause in failure_causes(refused))
    assert table_snapshot(warehouse)["package_events"] == rows_before

    assert run_day(emulator, data_dir, allow_drop=True).success
    rows_after = table_snapshot(warehouse)["package_events"]
    assert 0 < len(rows_after) < len(rows_before)


def test_hostile_package_ids_write_nothing_outside_the_data_folder(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "sandbox" / "deep" / "data"
    outside = tmp_path / "abs-escape"
    emulator.faults = Faults(hostile_package_ids=("../../../../escape", str(outside)))
    result = run_day(emulator, data_dir)
    assert not result.success
    causes = failure_causes(result)
    assert any("'../../../../escape'" in cause and "not a UUID" in cause for cause in causes)
    written_outside = [
        path
        for path in tmp_path.rglob("*")
        if not path.is_relative_to(data_dir) and path not in data_dir.parents
    ]
    assert written_outside == []
    assert not outside.exists()


def test_a_50_mb_field_is_kept_aside_and_the_rest_of_the_day_loads(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    warehouse = data_dir / "warehouse.duckdb"
    assert run_day(emulator, data_dir).success
    before = table_snapshot(warehouse)

    # One export of the day has a row whose user_agent is 50 MB long.
    emulator.faults = Faults(body_fault="huge_field", body_fault_first=1)
    assert run_day(emulator, data_dir).success
    after = table_snapshot(warehouse)
    events = len(before["package_events"]) + len(before["pixel_events"])
    assert len(after["package_events"]) + len(after["pixel_events"]) == events - 1
    rejected = [row for row in after["rejected_rows"] if DAY in row]
    assert len(rejected) == 1
    reason = str(rejected[0])
    assert "longer than" in reason and ".csv" in reason  # the reason and the file it came from
