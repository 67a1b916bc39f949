"""The one daily partitioning every scarf-etl asset shares: UTC days from a fixed start.

A partition is a complete UTC day, so the newest one is yesterday. The start date is fixed in
code (the earliest day users usually have data for); `SCARF_PARTITIONS_START` moves it. It is
read when the code location loads, because Dagster needs the partition set to draw the UI.
"""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

DEFAULT_PARTITIONS_START = "2024-01-01"
PARTITION_DATE_FORMAT = "%Y-%m-%d"


def partitions_start() -> str:
    start = os.environ.get("SCARF_PARTITIONS_START", "").strip() or DEFAULT_PARTITIONS_START
    try:
        dt.date.fromisoformat(start)
    except ValueError as error:
        raise ValueError(
            f"SCARF_PARTITIONS_START must be a date like 2024-01-01, not {start!r}"
        ) from error
    return start


daily_partitions = dg.DailyPartitionsDefinition(start_date=partitions_start(), timezone="UTC")


def partition_day(key: str) -> dt.date:
    return dt.datetime.strptime(key, PARTITION_DATE_FORMAT).replace(tzinfo=dt.UTC).date()


def day_key(day: dt.date) -> str:
    return day.strftime(PARTITION_DATE_FORMAT)


def days_in_window(window: dg.TimeWindow) -> list[dt.date]:
    """The UTC days of a partition time window `[start, end)`, in order."""
    first = window.start.astimezone(dt.UTC).date()
    last = window.end.astimezone(dt.UTC).date()
    return [first + dt.timedelta(days=offset) for offset in range((last - first).days)]
