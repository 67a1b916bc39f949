"""Run the daily job for a range of days as a real Dagster run, reporting steps as they finish.

Runs go through the instance under `$DAGSTER_HOME`, so they appear in the UI and take slots in
the instance's concurrency pools exactly like runs launched from the UI.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import dagster as dg

from scarf_etl.commands.event_log_speed import WalKeeper, fast_event_writes, run_event_log
from scarf_etl.commands.failures import root_cause
from scarf_etl.defs.recovery import launcher_tags, recover_interrupted_runs
from scarf_etl.defs.schedules import DAILY_JOB_NAME, partition_range_tags

# A tag unique to each `run_days` call: how the log tail finds the run `dg.execute_job` creates.
LAUNCH_TAG: Final = "scarf_etl/launch_id"
# The console shows our lines (one per step, the steps' own progress and the real cause of a
# failure); Dagster's own event lines and full traces go to the event log the UI reads.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# Silence longer than this prints a line saying what the run waits for.
QUIET_LIMIT_SECONDS: Final = 15.0
TAIL_POLL_SECONDS: Final = 1.0
# Until the run exists, the tail looks for it often: its first events should not wait a second.
FIND_RUN_POLL_SECONDS: Final = 0.02
POOLS: Final = ("scarf_api", "scarf_warehouse")


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


def run_config(*, allow_drop: bool, in_process: bool = False) -> dict[str, object]:
    config: dict[str, object] = dict(QUIET_CONSOLE)
    if allow_drop:
        config["resources"] = {"scarf_storage": {"config": {"allow_drop": True}}}
    if in_process:
        config["execution"] = {"config": {"in_process": True}}
    return config


def daily_job() -> dg.JobDefinition:
    """The daily job as the code location defines it: what `dg.reconstructable` points the run,
    and each step process, at (they import this module and call this function)."""
    from scarf_etl.definitions import defs  # the code location, loaded where the run executes

    return defs.resolve_job_def(DAILY_JOB_NAME)


def daily_job_reconstructable() -> dg.ReconstructableJob:
    with warnings.catch_warnings():
        # Every asset uses BackfillPolicy.single_run() (the design); Dagster calls that
        # parameter beta on each load of the definitions, a line that would lead the output.
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
        return dg.reconstructable(daily_job)


def run_days(
    instance: dg.DagsterInstance,
    first: dt.date,
    last: dt.date,
    report: Callable[[str], None] = print,
    *,
    allow_drop: bool = False,
    in_process: bool = False,
) -> RunOutcome:
    """Materialize every asset for the days `first..last` (inclusive) in one run.

    `allow_drop` lets days whose new fetch has far fewer rows replace the old (the guard's
    override, recorded in the run's config). `in_process` runs the steps in this process
    instead of one process each (recorded in the run's config too); pools apply either way.
    """
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    # A run killed earlier (Ctrl-C, kill -9) still holds its pool slots: free them first, or
    # this run would wait for them forever.
    recover_interrupted_runs(instance, report=report)
    recon_job = daily_job_reconstructable()
    launch_id = str(uuid.uuid4())
    days = (last - first).days + 1
    started = time.monotonic()
    outcome = RunOutcome(run_id="", success=False, seconds=0.0)
    with fast_event_writes(Path(instance.root_directory), days) as wal_keeper:
        tail = RunLogTail(
            instance,
            launch_id,
            started,
            report,
            on_event=lambda event: _record(event, outcome, started, report),
            on_run_found=lambda run_id: _announce(
                run_id, first, last, instance, report, wal_keeper
            ),
        )
        tail.start()
        try:
            # The run's own process executes it (steps in-process or in step processes, as its
            # config says); the tail reports its events from the event log meanwhile.
            result = dg.execute_job(
                recon_job,
                instance=instance,
                run_config=run_config(allow_drop=allow_drop, in_process=in_process),
                tags={
                    **partition_range_tags(first, last),
                    **launcher_tags(),
                    LAUNCH_TAG: launch_id,
                },
            )
        finally:
            tail.stop()
    outcome.run_id = result.run_id
    outcome.seconds = time.monotonic() - started
    final = instance.get_run_by_id(result.run_id)
    outcome.success = final is not None and final.status == dg.DagsterRunStatus.SUCCESS
    return outcome


def _announce(
    run_id: str,
    first: dt.date,
    last: dt.date,
    instance: dg.DagsterInstance,
    report: Callable[[str], None],
    wal_keeper: WalKeeper,
) -> None:
    wal_keeper.hold(run_event_log(Path(instance.root_directory), run_id))
    report(f"run {run_id} for {first}..{last} (DAGSTER_HOME={instance.root_directory})")


def _record(
    event: dg.DagsterEvent,
    outcome: RunOutcome,
    started: float,
    report: Callable[[str], None],
) -> None:
    elapsed = f"{time.monotonic() - started:7.1f}s"
    step = event.step_key or ""
    if event.event_type == dg.DagsterEventType.STEP_SUCCESS:
        outcome.steps_succeeded.append(step)
        report(f"{elapsed}  ok      {step}")
    elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
        outcome.steps_failed.append(step)
        error = event.step_failure_data.error if event.step_failure_data else None
        message = root_cause(error) if error else event.message or "failed"
        outcome.failures.append(f"{step}: {message}")
        report(f"{elapsed}  FAILED  {step}: {message}")
    elif event.event_type == dg.DagsterEventType.RUN_FAILURE and not outcome.steps_failed:
        # A failure outside any step (the run could not start, a resource failed).
        failure = event.job_failure_data
        message = (
            root_cause(failure.error)
            if failure and failure.error
            else event.message or "the run failed"
        )
        outcome.failures.append(f"run: {message}")
        report(f"{elapsed}  FAILED  run: {message}")
    elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = event.asset_check_evaluation_data
        if not evaluation.passed:
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            if evaluation.severity == dg.AssetCheckSeverity.WARN:
                outcome.checks_warned.append(name)
                report(f"{elapsed}  warn    check {name}")
            else:
                outcome.checks_failed.append(name)
                report(f"{elapsed}  FAILED  check {name}")


class RunLogTail:
    """Reports what lands in the run's event log as it lands: the steps' own lines (progress,
    waits) and each Dagster event (to `on_event`), plus a line saying what the run waits for
    whenever it has been silent for QUIET_LIMIT_SECONDS.

    The run is found by its launch tag once `dg.execute_job` has created it (`on_run_found` is
    told its id). Steps may run in other processes; their lines and events reach this process
    only through the instance's event log, which this thread polls.
    """

    def __init__(
        self,
        instance: dg.DagsterInstance,
        launch_id: str,
        started: float,
        report: Callable[[str], None],
        *,
        on_event: Callable[[dg.DagsterEvent], None] = lambda event: None,
        on_run_found: Callable[[str], None] = lambda run_id: None,
    ) -> None:
        self._instance = instance
        self._launch_id = launch_id
        self._run_id: str | None = None
        self._started = started
        self._report = report
        self._on_event = on_event
        self._on_run_found = on_run_found
        self._cursor: str | None = None
        self._lock = threading.Lock()
        self._last_activity = time.monotonic()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scarf-run-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)
        self.flush()  # what landed since the last poll

    def flush(self) -> None:
        """Report everything logged so far."""
        with self._lock:
            if self._run_id is None:
                self._find_run()
            if self._run_id is not None:
                self._report_new_records(self._run_id)

    def mark_activity(self) -> None:
        self._last_activity = time.monotonic()

    def _loop(self) -> None:
        while not self._stopped.wait(
            TAIL_POLL_SECONDS if self._run_id is not None else FIND_RUN_POLL_SECONDS
        ):
            try:
                self.flush()
                if self._run_id is None:
                    continue
                if time.monotonic() - self._last_activity >= QUIET_LIMIT_SECONDS:
                    self._report(f"{self._elapsed()}  waiting {self._what_we_wait_for()}")
                    self.mark_activity()
            except Exception as error:  # noqa: BLE001 - reporting must never break the run
                self._report(f"(progress unavailable: {error})")
                return

    def _find_run(self) -> None:
        records = self._instance.get_run_records(
            filters=dg.RunsFilter(tags={LAUNCH_TAG: self._launch_id}), limit=1
        )
        if records:
            self._run_id = records[0].dagster_run.run_id
            self._on_run_found(self._run_id)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self._started:7.1f}s"

    def _report_new_records(self, run_id: str) -> None:
        connection = self._instance.get_records_for_run(run_id, cursor=self._cursor)
        self._cursor = connection.cursor
        for record in connection.records:
            entry = record.event_log_entry
            if entry.dagster_event is not None:
                self.mark_activity()
                self._on_event(entry.dagster_event)
                continue
            level = entry.level if isinstance(entry.level, int) else logging.INFO
            if level < logging.INFO:  # our lines, INFO and up
                continue
            step = entry.step_key or "run"
            self._report(f"{self._elapsed()}  ...     {step}: {entry.user_message}")
            self.mark_activity()

    def _what_we_wait_for(self) -> str:
        storage = self._instance.event_log_storage
        waits: list[str] = []
        if storage.supports_global_concurrency_limits:
            for pool in POOLS:
                info = storage.get_concurrency_info(pool)
                ours = sorted(
                    step.step_key
                    for step in info.pending_steps
                    if step.run_id == self._run_id and step.assigned_timestamp is None
                )
                holders = sorted({slot.run_id for slot in info.claimed_slots} - {self._run_id})
                if ours:
                    held = f"held by run {', '.join(holders)}" if holders else "all slots taken"
                    waits.append(f"{', '.join(ours)} for a slot of pool {pool} ({held})")
        if waits:
            return "; ".join(waits)
        return "for the running steps (no new log line for 15 s)"
