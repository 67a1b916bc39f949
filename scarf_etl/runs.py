"""Run the daily job for a range of days as a real Dagster run, reporting steps as they finish.

Runs go through the instance under `$DAGSTER_HOME`, so they appear in the UI and take slots in
the instance's concurrency pools exactly like runs launched from the UI.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.events import DagsterEventType
from dagster._core.execution.api import execute_run_iterator

from scarf_etl.schedules import DAILY_JOB_NAME, partition_range_tags

DEFINITIONS_MODULE = "scarf_etl.definitions"
DEFINITIONS_ATTRIBUTE = "defs"
# The console shows our one line per step; Dagster's own event lines still go to the event log
# the UI reads, and warnings and errors still reach the console.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    seconds: float
    steps_succeeded: list[str] = field(default_factory=list)
    steps_failed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    checks_failed: list[str] = field(default_factory=list)
    checks_warned: list[str] = field(default_factory=list)


def daily_job_reconstructable() -> ReconstructableJob:
    repository = ReconstructableRepository.for_module(
        DEFINITIONS_MODULE, DEFINITIONS_ATTRIBUTE, working_directory=os.getcwd()
    )
    return ReconstructableJob(repository=repository, job_name=DAILY_JOB_NAME)


def run_days(
    instance: dg.DagsterInstance,
    first: dt.date,
    last: dt.date,
    report: Callable[[str], None] = print,
) -> RunOutcome:
    """Materialize every asset for the days `first..last` (inclusive) in one run."""
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    recon_job = daily_job_reconstructable()
    job_def = recon_job.get_definition()
    dagster_run = instance.create_run_for_job(
        job_def=job_def,
        tags=partition_range_tags(first, last),
        run_config=QUIET_CONSOLE,
        job_code_origin=recon_job.get_python_origin(),
    )
    outcome = RunOutcome(run_id=dagster_run.run_id, success=False, seconds=0.0)
    started = time.monotonic()
    report(f"run {dagster_run.run_id} for {first}..{last} (DAGSTER_HOME={instance.root_directory})")
    for event in execute_run_iterator(recon_job, dagster_run, instance):
        _record(event, outcome, started, report)
    outcome.seconds = time.monotonic() - started
    final = instance.get_run_by_id(dagster_run.run_id)
    outcome.success = final is not None and final.status == dg.DagsterRunStatus.SUCCESS
    return outcome


def _record(
    event: dg.DagsterEvent,
    outcome: RunOutcome,
    started: float,
    report: Callable[[str], None],
) -> None:
    elapsed = f"{time.monotonic() - started:7.1f}s"
    step = event.step_key or ""
    if event.event_type == DagsterEventType.STEP_SUCCESS:
        outcome.steps_succeeded.append(step)
        report(f"{elapsed}  ok      {step}")
    elif event.event_type == DagsterEventType.STEP_FAILURE:
        outcome.steps_failed.append(step)
        error = event.step_failure_data.error if event.step_failure_data else None
        message = error.message.strip() if error else event.message or "failed"
        outcome.failures.append(f"{step}: {message}")
        report(f"{elapsed}  FAILED  {step}: {message}")
    elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = event.asset_check_evaluation_data
        if not evaluation.passed:
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            if evaluation.severity == dg.AssetCheckSeverity.WARN:
                outcome.checks_warned.append(name)
                report(f"{elapsed}  warn    check {name}")
            else:
                outcome.checks_failed.append(name)
                report(f"{elapsed}  FAILED  check {name}")
