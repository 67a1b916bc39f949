"""`scarf-etl load`: one Dagster run for a range of days, progress lines, then a summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from scarf_etl.commands.instance import get_instance
from scarf_etl.commands.preflight import check_access, check_range, check_token_present
from scarf_etl.commands.runs import RunOutcome, run_days
from scarf_etl.commands.status import status_command
from scarf_etl.commands.summary import format_table, table_row_counts
from scarf_etl.settings import PipelineSettings, apply_env_file, load_settings


def load_command(
    first: dt.date,
    last: dt.date,
    report: Callable[[str], None] = print,
    *,
    allow_drop: bool = False,
) -> int:
    settings = _configuration(report)
    # Pre-flight, before any run or export (billed) call: fails in seconds, naming the fix.
    check_range(first, last)
    check_access(check_token_present(), settings, report)
    instance = get_instance()
    outcome = run_days(instance, first, last, report=report, allow_drop=allow_drop)
    report(describe_outcome(outcome))
    counts = table_row_counts(settings.duckdb_path)
    if counts:
        report(f"\nwarehouse {settings.duckdb_path}:\n{format_table(['table', 'rows'], counts)}")
    return 0 if outcome.success else 1


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
    return status_command(load_settings().duckdb_path, report)


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
