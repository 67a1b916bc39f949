"""`scarf-etl load`: one Dagster run for a range of days, progress lines, then a summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

from scarf_etl.commands.instance import get_instance
from scarf_etl.commands.preflight import check_access, check_range, check_token_present
from scarf_etl.commands.runs import RunOutcome, run_days
from scarf_etl.commands.status import status_command
from scarf_etl.commands.summary import format_table, table_row_counts
from scarf_etl.settings import PipelineSettings, apply_env_file, load_settings, warehouse_spec
from scarf_etl.store.raw import RawDataMissingError, read_raw_day
from scarf_etl.store.warehouse import Warehouse

Executor = Literal["auto", "in-process", "multiprocess"]
# `auto` runs the steps in the load's own process unless a day may be big: a day's events are
# normalized in memory, and one process holding Dagster, polars and DuckDB together must stay
# well under the memory a step process needs alone. Judged by the largest day already fetched.
IN_PROCESS_MAX_DAY_BYTES: Final = 64 * 1024 * 1024
EVENT_DATASETS: Final = ("package_events", "pixel_events")
# Recent days looked at: enough to see a busy weekday, few enough to read in milliseconds.
RECENT_DAYS_SEEN: Final = 14


def load_command(
    first: dt.date,
    last: dt.date,
    report: Callable[[str], None] = print,
    *,
    allow_drop: bool = False,
    executor: Executor = "auto",
) -> int:
    settings = _configuration(report)
    # Pre-flight, before any run or export (billed) call: fails in seconds, naming the fix.
    check_range(first, last)
    check_access(check_token_present(), settings, report)
    instance = get_instance()
    in_process = runs_in_process(executor, settings.data_dir)
    outcome = run_days(
        instance, first, last, report=report, allow_drop=allow_drop, in_process=in_process
    )
    report(describe_outcome(outcome))
    warehouse = Warehouse(settings.warehouse_spec)
    counts = table_row_counts(warehouse)
    if counts:
        report(f"\nwarehouse {warehouse.describe()}:\n{format_table(['table', 'rows'], counts)}")
    return 0 if outcome.success else 1


def runs_in_process(executor: Executor, data_dir: Path) -> bool:
    """Whether the load's steps run in its own process (see IN_PROCESS_MAX_DAY_BYTES)."""
    if executor != "auto":
        return executor == "in-process"
    return largest_recent_event_day_bytes(data_dir) <= IN_PROCESS_MAX_DAY_BYTES


def largest_recent_event_day_bytes(data_dir: Path) -> int:
    """Raw bytes of the biggest of the last RECENT_DAYS_SEEN fetched days (0 if none)."""
    largest = 0
    for dataset in EVENT_DATASETS:
        folders = sorted((data_dir / "raw" / dataset).glob("date=*"))[-RECENT_DAYS_SEEN:]
        for folder in folders:
            day = dt.date.fromisoformat(folder.name.removeprefix("date="))
            try:
                largest = max(largest, read_raw_day(data_dir, dataset, day).bytes)
            except (RawDataMissingError, ValueError, KeyError, OSError):
                continue  # a day without a readable manifest says nothing about size
    return largest


def _configuration(report: Callable[[str], None]) -> PipelineSettings:
    applied = apply_env_file(Path.cwd())
    if applied:
        report(f"read {', '.join(applied)} from .env")
    return load_settings()  # fails if the configuration is incomplete


def check_command(
    first: dt.date | None, last: dt.date | None, report: Callable[[str], None] = print
) -> int:
    """`scarf-etl check`: the pre-flight of `load`, alone."""
    settings = _configuration(report)
    if first or last:
        check_range(first or last or dt.date.min, last or first or dt.date.max)
        report(f"pre-flight: {first or last}..{last or first} lies within the partitions")
    check_access(check_token_present(), settings, report)
    return 0


def status(report: Callable[[str], None] = print) -> int:
    """`scarf-etl status` on the configured warehouse."""
    apply_env_file(Path.cwd())
    return status_command(Warehouse(warehouse_spec()), report)


def describe_outcome(outcome: RunOutcome) -> str:
    status = "succeeded" if outcome.success else "FAILED"
    lines = [
        f"\nrun {outcome.run_id} {status} in {outcome.seconds:.1f}s: "
        f"{len(outcome.steps_succeeded)} step(s) ok, {len(outcome.steps_failed)} failed"
    ]
    lines += [f"  failure: {failure}" for failure in outcome.failures]
    if outcome.failures:
        lines.append(f"  full traces: the run's event log (Dagster UI, run {outcome.run_id})")
    lines += [f"  check failed: {name}" for name in outcome.checks_failed]
    lines += [f"  check warning: {name}" for name in outcome.checks_warned]
    return "\n".join(lines)
