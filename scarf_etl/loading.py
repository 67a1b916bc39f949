"""`scarf-etl load`: one Dagster run for a range of days, progress lines, then a summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from scarf_etl.instance import get_instance
from scarf_etl.runs import RunOutcome, run_days
from scarf_etl.settings import apply_env_file, load_settings
from scarf_etl.summary import format_table, table_row_counts


def load_command(
    first: dt.date,
    last: dt.date,
    report: Callable[[str], None] = print,
    *,
    allow_drop: bool = False,
) -> int:
    applied = apply_env_file(Path.cwd())
    if applied:
        report(f"read {', '.join(applied)} from .env")
    settings = load_settings()  # fail before starting a run if the configuration is incomplete
    instance = get_instance()
    outcome = run_days(instance, first, last, report=report, allow_drop=allow_drop)
    report(describe_outcome(outcome))
    counts = table_row_counts(settings.duckdb_path)
    if counts:
        report(f"\nwarehouse {settings.duckdb_path}:\n{format_table(['table', 'rows'], counts)}")
    return 0 if outcome.success else 1


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
