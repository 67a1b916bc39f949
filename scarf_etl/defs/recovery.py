"""Runs whose process is gone (Ctrl-C, kill -9, a reboot) are found, marked failed, and their
concurrency-pool slots freed, so they never block the runs after them.

Dagster keeps a run STARTED, and its `scarf_api` / `scarf_warehouse` slots claimed, until the
run itself reports its end: a killed run never does, and every later run then waits for the
slot forever. Dagster's own run monitoring only detects dead run workers for launchers that
support health checks (Docker, Kubernetes), not the default launcher `dagster dev` uses.

How a run's process is known:
- `scarf-etl load` tags its runs with the host, pid and start time of the process running them;
- runs the UI, the schedule or the daemon launch through Dagster's default launcher record the
  run worker's pid in their "Started process for run (pid: N)" engine event.
A pid is alive only if a process with that pid started no later than the run did: a pid reused
by a newer process is not mistaken for the run's.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import dagster as dg

HOST_TAG: Final = "scarf_etl/host"
PID_TAG: Final = "scarf_etl/pid"
PID_STARTED_TAG: Final = "scarf_etl/pid_started_at"
ACTIVE_STATUSES: Final = (
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
_WORKER_STARTED_PREFIX: Final = "Started process for run (pid:"
# /proc start times are in clock ticks since boot; allow for rounding to a tick and the clock.
_START_TIME_SLACK_SECONDS: Final = 2.0


@dataclass(frozen=True)
class RunWorker:
    """The process that executes a run: its host, pid, and when it (or the run) started."""

    host: str | None  # None: the default launcher's worker, on the instance's own machine
    pid: int
    started_at: float  # epoch seconds; the process cannot have started later than this


@dataclass(frozen=True)
class RecoveredRun:
    run_id: str
    pid: int


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def process_started_at(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), or None if there is no such live process.

    A zombie (killed, not yet reaped) counts as gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _started_without_proc(pid)
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    state, start_ticks = fields[0], int(fields[19])
    if state in ("Z", "X"):
        return None
    boot = _boot_time()
    if boot is None:
        return 0.0
    return boot + start_ticks / os.sysconf("SC_CLK_TCK")


def _started_without_proc(pid: int) -> float | None:
    # Without /proc (macOS): alive or not is all we can tell; 0.0 means "started long ago".
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return 0.0
    return 0.0


def launcher_tags() -> dict[str, str]:
    """Tags naming this process as the one executing a run (for `scarf-etl load`)."""
    pid = os.getpid()
    started = process_started_at(pid)
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        PID_STARTED_TAG: f"{started if started is not None else time.time():.2f}",
    }


def _worker_from_tags(run: dg.DagsterRun) -> RunWorker | None:
    tags = run.tags
    if PID_TAG not in tags:
        return None
    try:
        return RunWorker(
            host=tags.get(HOST_TAG),
            pid=int(tags[PID_TAG]),
            started_at=float(tags.get(PID_STARTED_TAG, "0")) + _START_TIME_SLACK_SECONDS,
        )
    except ValueError:
        return None


def _worker_from_events(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunWorker | None:
    if not isinstance(instance.run_launcher, dg.DefaultRunLauncher):
        # Other launchers run workers elsewhere (containers, pods) and check their health
        # themselves through Dagster's run monitoring.
        return None
    worker: RunWorker | None = None
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if not entry.user_message.startswith(_WORKER_STARTED_PREFIX):
            continue
        pid_text = entry.user_message[len(_WORKER_STARTED_PREFIX) :].strip(" ).")
        if pid_text.isdigit():
            # The newest one wins: a resumed run has a new worker.
            worker = RunWorker(
                host=None,
                pid=int(pid_text),
                started_at=entry.timestamp + _START_TIME_SLACK_SECONDS,
            )
    return worker


def run_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunWorker | None:
    """The process executing `run`, when it can be known from this machine."""
    return _worker_from_tags(run) or _worker_from_events(instance, run)


def worker_is_gone(worker: RunWorker) -> bool:
    if worker.host is not None and worker.host != socket.gethostname():
        return False  # another machine's process: not ours to judge
    started = process_started_at(worker.pid)
    return started is None or started > worker.started_at


def recover_interrupted_runs(
    instance: dg.DagsterInstance,
    *,
    report: Callable[[str], None] = lambda message: None,
    skip_run_ids: frozenset[str] = frozenset(),
) -> list[RecoveredRun]:
    """Mark failed every active run whose process is gone and free its pool slots; also free
    slots still held by runs that have ended. Returns the runs marked failed."""
    recovered: list[RecoveredRun] = []
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=list(ACTIVE_STATUSES)))
    for record in records:
        run = record.dagster_run
        if run.run_id in skip_run_ids:
            continue
        worker = run_worker(instance, run)
        if worker is None or not worker_is_gone(worker):
            continue
        instance.report_run_failed(
            run,
            f"scarf-etl: the process running this run (pid {worker.pid}) is gone, interrupted "
            "or killed; marked failed and its pool slots freed so later runs can start. "
            "Re-run its days: loading a day replaces it, so nothing is doubled.",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(RecoveredRun(run_id=run.run_id, pid=worker.pid))
        report(
            f"run {run.run_id} was interrupted (its process {worker.pid} is gone): "
            "marked failed, its pool slots freed"
        )
    _free_slots_of_ended_runs(instance, skip_run_ids)
    return recovered


def _free_slots_of_ended_runs(instance: dg.DagsterInstance, skip_run_ids: frozenset[str]) -> None:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    for run_id in storage.get_concurrency_run_ids() - skip_run_ids:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
