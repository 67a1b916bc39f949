"""Asset check logic over a window of days: plain functions returning `AssetCheckResult`s.

Each check looks at every day a run loaded and reports the days that fail, so one result
covers a year's backfill as well as a single day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import dagster as dg

from scarf_etl.lake import lake_partition_file, read_partition_rows
from scarf_etl.settings import PipelineSettings
from scarf_etl.warehouse import Warehouse

# Scarf computes aggregates apart from the raw export (and revises both), so a difference is
# reported as a warning, never a failure.

UNIQUE_EVENT_ID = "event_id_unique"
ROWS_MATCH_LAKE = "rows_match_lake"
DAY_NOT_EMPTY = "day_not_empty"
TOTALS_MATCH_EVENTS = "totals_match_events"


def _days_text(days: Sequence[dt.date]) -> str:
    return ", ".join(day.isoformat() for day in days)


def event_id_unique(
    warehouse: Warehouse, table: str, days: Sequence[dt.date], owner: str
) -> dg.AssetCheckResult:
    duplicates = warehouse.duplicate_event_ids(table, days, owner)
    bad = [day for day, count in duplicates.items() if count]
    return dg.AssetCheckResult(
        check_name=UNIQUE_EVENT_ID,
        passed=not bad,
        metadata={
            "duplicate_event_ids": sum(duplicates.values()),
            "days_with_duplicates": _days_text(bad),
        },
    )


def rows_match_lake(
    warehouse: Warehouse,
    settings: PipelineSettings,
    table: str,
    days: Sequence[dt.date],
) -> dg.AssetCheckResult:
    mismatches: list[str] = []
    lake_total = warehouse_total = 0
    warehouse_counts = warehouse.count_rows(table, days, settings.owner)
    for day in days:
        lake_rows = read_partition_rows(lake_partition_file(settings.data_dir, table, day))
        warehouse_rows = warehouse_counts[day]
        lake_total += lake_rows
        warehouse_total += warehouse_rows
        if lake_rows != warehouse_rows:
            mismatches.append(f"{day.isoformat()}: lake {lake_rows}, warehouse {warehouse_rows}")
    return dg.AssetCheckResult(
        check_name=ROWS_MATCH_LAKE,
        passed=not mismatches,
        metadata={
            "lake_rows": lake_total,
            "warehouse_rows": warehouse_total,
            "mismatches": "; ".join(mismatches),
        },
    )


def day_not_empty(
    warehouse: Warehouse, table: str, days: Sequence[dt.date], owner: str
) -> dg.AssetCheckResult:
    # A new package or a quiet day can legitimately have no events: warn, never fail.
    counts = warehouse.count_rows(table, days, owner)
    empty = [day for day in days if counts[day] == 0]
    return dg.AssetCheckResult(
        check_name=DAY_NOT_EMPTY,
        passed=not empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"empty_days": _days_text(empty), "days_checked": len(days)},
    )


def totals_match_events(
    warehouse: Warehouse, days: Sequence[dt.date], owner: str
) -> dg.AssetCheckResult:
    """The aggregates' `total` breakdown per package and day against the loaded events."""
    totals = warehouse.aggregate_totals_by_package(days, owner)
    events = warehouse.event_counts_by_package("package_events", days, owner)
    differences = [
        f"{day.isoformat()} {package}: total {totals.get((day, package), 0)}, "
        f"events {events.get((day, package), 0)}"
        for day, package in sorted(set(totals) | set(events))
        if totals.get((day, package), 0) != events.get((day, package), 0)
    ]
    return dg.AssetCheckResult(
        check_name=TOTALS_MATCH_EVENTS,
        passed=not differences,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"differences": len(differences), "examples": "; ".join(differences[:20])},
    )
