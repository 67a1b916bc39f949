"""An interrupted run never blocks later ones: kill -9 a real `scarf-etl load` (its whole process
group, steps included) while it holds a pool slot, then load again on the same DAGSTER_HOME."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from scarf_etl.defs.recovery import RunWorker, process_started_at, worker_is_gone
from scarf_etl.emulator.faults import Faults
from scarf_etl.emulator.server import EmulatorServer
from tests.pipeline_helpers import table_snapshot
from tests.test_load_command import RUN_TIMEOUT_SECONDS, create_instance, load_env, start_load

FIRST, LAST = "2026-11-01", "2026-11-02"


def wait_for_claimed_api_slot(instance: dg.DagsterInstance, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if instance.event_log_storage.get_concurrency_info("scarf_api").claimed_slots:
            return
        time.sleep(0.2)
    raise AssertionError("the load never claimed a scarf_api slot")


def leftovers(data_dir: Path) -> list[str]:
    return sorted(
        str(path.relative_to(data_dir))
        for path in data_dir.rglob("*")
        if path.name.startswith((".staging-", ".retired-")) or path.name.endswith((".tmp", ".part"))
    )


def test_a_killed_load_is_recovered_by_the_next_one(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = load_env(emulator, tmp_path)
    # Slow exports: the run is inside its raw step, holding the scarf_api slot, when killed.
    emulator.faults = Faults(slow_first_byte=60.0)
    home = Path(env["DAGSTER_HOME"])
    # The instance exists before the load starts, as after any first use: this test opening a
    # fresh SQLite instance while the load creates it is Dagster's own first-run race.
    create_instance(env)
    killed = start_load_in_own_group(env)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        wait_for_claimed_api_slot(instance)
    time.sleep(1.0)  # the export request is on its way, waiting for its slow first byte
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=30)
    emulator.faults = Faults()

    again = start_load(env, FIRST, LAST)
    output = again.communicate(timeout=RUN_TIMEOUT_SECONDS)[0]
    assert again.returncode == 0, output
    assert "was interrupted" in output and "pool slots freed" in output

    # The same warehouse as a clean load of the same days, nothing doubled, no crash litter.
    clean_env = load_env(emulator, tmp_path / "clean")
    clean = start_load(clean_env, FIRST, LAST)
    clean_output = clean.communicate(timeout=RUN_TIMEOUT_SECONDS)[0]
    assert clean.returncode == 0, clean_output
    data_dir = Path(env["SCARF_DATA_DIR"])
    assert table_snapshot(data_dir / "warehouse.duckdb") == table_snapshot(
        Path(clean_env["SCARF_DATA_DIR"]) / "warehouse.duckdb"
    )
    assert leftovers(data_dir) == []

    with dg.DagsterInstance.get() as instance:
        statuses = sorted(r.dagster_run.status.value for r in instance.get_run_records())
        assert statuses == ["FAILURE", "SUCCESS"]
        assert instance.event_log_storage.get_concurrency_run_ids() == set()


def start_load_in_own_group(env: dict[str, str]) -> subprocess.Popen[str]:
    from tests.test_load_command import REPO_ROOT

    return subprocess.Popen(
        [sys.executable, "-m", "scarf_etl.commands.cli", "load", "--from", FIRST, "--to", LAST],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C/kill reaches
    )


def test_a_reused_pid_is_not_mistaken_for_the_runs_process() -> None:
    me = os.getpid()
    started = process_started_at(me)
    assert started is not None
    assert not worker_is_gone(RunWorker(host=None, pid=me, started_at=started + 1))
    # The run started before this process did: the pid was reused, the run's process is gone.
    assert worker_is_gone(RunWorker(host=None, pid=me, started_at=started - 3600))
    # A pid with no process at all.
    assert worker_is_gone(RunWorker(host=None, pid=2**22 + 12345, started_at=time.time()))
