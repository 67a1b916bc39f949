"""`scarf-etl status`: what the warehouse holds, per table: first and last loaded day, the days
missing between them, empty days, rejected rows, and the last run with its result.

It reads the published warehouse read-only (safe beside a running load) and `scarf.loaded_days`,
which tells a day loaded empty (0 rows) from a day never loaded.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb

from scarf_etl.commands.instance import DEFAULT_DAGSTER_HOME
from scarf_etl.commands.summary import format_table
from scarf_etl.schemas import PARTITIONED_TABLES
from scarf_etl.store.warehouse import Warehouse, open_warehouse

# Listed per table in full up to this many; beyond it, ranges are folded.
MAX_DAYS_LISTED = 20


@dataclass
class TableStatus:
    table: str
    loaded: list[dt.date] = field(default_factory=list)
    empty: list[dt.date] = field(default_factory=list)
    rows: int = 0
    rejected: int = 0

    @property
    def first(self) -> dt.date | None:
        return self.loaded[0] if self.loaded else None

    @property
    def last(self) -> dt.date | None:
        return self.loaded[-1] if self.loaded else None

    @property
    def missing(self) -> list[dt.date]:
        if not self.loaded:
            return []
        have = set(self.loaded)
        span = (self.loaded[-1] - self.loaded[0]).days
        days = (self.loaded[0] + dt.timedelta(days=n) for n in range(span + 1))
        return [day for day in days if day not in have]


def table_statuses(warehouse: Warehouse | Path) -> list[TableStatus]:
    """Per partitioned table, from what readers see (read-only)."""
    statuses = {table: TableStatus(table) for table in PARTITIONED_TABLES}
    with open_warehouse(warehouse).reader() as connection:
        rows = connection.execute(
            "SELECT table_name, day, sum(rows), sum(rejected) FROM scarf.loaded_days "
            "GROUP BY ALL ORDER BY table_name, day"
        ).fetchall()
    for table, day, count, rejected in rows:
        status = statuses.get(str(table))
        if status is None:
            continue
        status.loaded.append(day)
        status.rows += int(count)
        status.rejected += int(rejected)
        if int(count) == 0:
            status.empty.append(day)
    return list(statuses.values())


def fold_days(days: Sequence[dt.date]) -> str:
    """2026-11-01..2026-11-03, 2026-11-07"""
    if not days:
        return "none"
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if ranges and (day - ranges[-1][1]).days == 1:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    parts = [f"{a}" if a == b else f"{a}..{b}" for a, b in ranges]
    if len(parts) > MAX_DAYS_LISTED:
        parts = [*parts[:MAX_DAYS_LISTED], f"and {len(parts) - MAX_DAYS_LISTED} more"]
    return ", ".join(parts)


def last_run_line() -> str:
    home = Path(os.environ.get("DAGSTER_HOME", "").strip() or DEFAULT_DAGSTER_HOME).resolve()
    if not (home / "dagster.yaml").is_file():
        return f"last run: none recorded in {home}"
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(limit=1)
        if not records:
            return f"last run: none recorded in {home}"
        record = records[0]
        run = record.dagster_run
        when = record.end_time or record.start_time or record.create_timestamp.timestamp()
        stamp = dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        window = run.tags.get("dagster/asset_partition_range_start")
        days = (
            f" for {window}..{run.tags.get('dagster/asset_partition_range_end')}" if window else ""
        )
        return f"last run: {run.run_id} {run.status.value}{days}, {stamp}"


def status_command(target: Warehouse | Path, report: Callable[[str], None] = print) -> int:
    warehouse = open_warehouse(target)
    if not warehouse.exists():
        report(
            f"no warehouse at {warehouse.describe()} yet: "
            "run `scarf-etl load --from D --to D` first."
        )
        report(last_run_line())
        return 0
    try:
        statuses = table_statuses(warehouse)
    except duckdb.CatalogException:
        report(
            f"{warehouse.describe()} predates scarf.loaded_days: the next load adds it (run any "
            "`scarf-etl load`); until then status cannot tell empty days from missing ones."
        )
        report(last_run_line())
        return 0
    rows = [
        (
            s.table,
            s.first or "-",
            s.last or "-",
            len(s.loaded),
            len(s.missing),
            len(s.empty),
            s.rows,
            s.rejected,
        )
        for s in statuses
    ]
    report(f"warehouse {warehouse.describe()}")
    headers = ["table", "first", "last", "days", "missing", "empty", "rows", "rejected"]
    report(format_table(headers, rows))
    for s in statuses:
        if s.missing:
            report(f"missing days of {s.table}: {fold_days(s.missing)}")
        if s.empty:
            report(f"empty days of {s.table}: {fold_days(s.empty)}")
    report(last_run_line())
    return 0
