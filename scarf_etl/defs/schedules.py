"""The daily job and its schedule: load yesterday and re-load the recent days Scarf revises."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from scarf_etl.defs.partitions import day_key, partition_day, partitions_start

DAILY_JOB_NAME = "scarf_daily_job"
# 06:00 UTC: Scarf's UTC day has closed and its late events have had a few hours to arrive.
DAILY_CRON = "0 6 * * *"
DEFAULT_REFRESH_DAYS = 3
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

daily_job = dg.define_asset_job(
    name=DAILY_JOB_NAME,
    # Maintenance (DuckLake small files) runs on its own weekly schedule, not per day.
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("maintenance"),
    description="Every scarf-etl asset for a range of days, in one run.",
)


def refresh_days() -> int:
    """How many days before yesterday each daily run re-loads (`SCARF_REFRESH_DAYS`)."""
    text = os.environ.get("SCARF_REFRESH_DAYS", "").strip()
    if not text:
        return DEFAULT_REFRESH_DAYS
    if not text.isdigit():
        raise ValueError(f"SCARF_REFRESH_DAYS must be a whole number of days, not {text!r}")
    return int(text)


def partition_range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    """Run tags that make one run cover the partitions `first..last` (both inclusive)."""
    return {RANGE_START_TAG: day_key(first), RANGE_END_TAG: day_key(last)}


def daily_window(scheduled_for: dt.datetime, trailing_days: int) -> tuple[dt.date, dt.date]:
    yesterday = scheduled_for.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    first = max(yesterday - dt.timedelta(days=trailing_days), partition_day(partitions_start()))
    return first, yesterday


@dg.schedule(
    job=daily_job,
    cron_schedule=DAILY_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Loads yesterday and re-loads the SCARF_REFRESH_DAYS (default 3) days before it, "
        "which Scarf revises, in one run."
    ),
)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled_for = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    first, last = daily_window(scheduled_for, refresh_days())
    return dg.RunRequest(
        run_key=f"daily-{day_key(last)}",
        tags=partition_range_tags(first, last),
    )
