"""`scarf-etl load` as a user runs it: real Dagster runs under DAGSTER_HOME, in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN, NON_PRO_ORG
from tests.pipeline_helpers import scalar

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_SECONDS = 300


def load_env(emulator: EmulatorServer, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCARF_", "DAGSTER_"))}
    env.update(
        {
            "SCARF_API_TOKEN": DEMO_TOKEN,
            "SCARF_OWNER": DEMO_ORG,
            "SCARF_API_URL": emulator.v1_url,
            "SCARF_API_V2_URL": emulator.v2_url,
            "SCARF_API_V3_URL": emulator.v3_url,
            "SCARF_DATA_DIR": str(tmp_path / "data"),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        }
    )
    return env


def create_instance(env: dict[str, str]) -> None:
    """Create the Dagster instance under env's DAGSTER_HOME in a process of its own, as any
    first use does: two processes creating a fresh SQLite instance at the same moment is
    Dagster's own first-run race, which tests starting loads together must not meet."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from scarf_etl.commands.instance import get_instance; get_instance()",
        ],
        env=env,
        check=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )


def start_load(env: dict[str, str], first: str, last: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "scarf_etl.commands.cli", "load", "--from", first, "--to", last],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def start_dagster_materialize(env: dict[str, str], first: str, last: str) -> subprocess.Popen[str]:
    """The contract's headless command, through Dagster's own CLI."""
    dagster = Path(sys.executable).parent / "dagster"
    return subprocess.Popen(
        [
            str(dagster),
            "asset",
            "materialize",
            "-m",
            "scarf_etl.definitions",
            "--select",
            "*",
            "--partition-range",
            f"{first}...{last}",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_overlapping_loads_both_succeed_and_show_in_the_instance(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = load_env(emulator, tmp_path)
    # Two runs over overlapping days, started together: the warehouse pool (limit 1) makes the
    # second wait for the DuckDB file instead of failing on its lock.
    # The instance exists before the race, as after any first use: two processes creating a
    # fresh SQLite instance at the same moment is Dagster's own first-run race, not ours.
    create_instance(env)
    # One is `scarf-etl load`, the other the contract's `dagster asset materialize` command.
    runs = [
        start_load(env, "2026-11-01", "2026-11-02"),
        start_dagster_materialize(env, "2026-11-02", "2026-11-03"),
    ]
    outputs = [run.communicate(timeout=RUN_TIMEOUT_SECONDS)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
        assert DEMO_TOKEN not in output
    assert "succeeded" in outputs[0]
    assert "ok      scarf__package_events" in outputs[0]
    assert "scarf.package_events 2026-11-03" in outputs[1]  # the asset's own log line

    warehouse = tmp_path / "data" / "warehouse.duckdb"
    assert scalar(warehouse, "SELECT count(DISTINCT event_date) FROM scarf.package_events") == 3
    assert (
        scalar(warehouse, "SELECT count(*) - count(DISTINCT event_id) FROM scarf.package_events")
        == 0
    )

    # The runs are recorded in the instance the UI reads.
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records()
        assert len(records) == 2, [
            (r.dagster_run.run_id, r.dagster_run.status, r.dagster_run.tags) for r in records
        ]
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
        assert all(DEMO_TOKEN not in str(r.dagster_run.run_config) for r in records)
        # The warehouse pool (limit 1) kept the writers apart: no warehouse step of one run
        # ran while one of the other's did (whether they happened to meet depends on timing).
        spans = [warehouse_step_spans(instance, r.dagster_run.run_id) for r in records]
        assert spans[0] and spans[1]
        for start, end in spans[0]:
            for other_start, other_end in spans[1]:
                assert end <= other_start or other_end <= start, (spans[0], spans[1])


def warehouse_step_spans(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, float]]:
    """(start, end) of each step of `run_id` that writes the warehouse (pool scarf_warehouse)."""
    writers = {"scarf__package_events", "scarf__pixel_events", "scarf__aggregates"}
    writers |= {"scarf_dimensions", "scarf__user_agents", "scarf_analysis_views"}
    started: dict[str, float] = {}
    spans = []
    for entry in instance.all_logs(run_id):
        event, step = entry.dagster_event, entry.step_key
        if event is None or step not in writers:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[step] = entry.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            spans.append((started[step], entry.timestamp))
    return spans


def test_load_without_an_owner_says_what_to_set(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = load_env(emulator, tmp_path)
    del env["SCARF_OWNER"]
    run = start_load(env, "2026-11-01", "2026-11-01")
    output = run.communicate(timeout=RUN_TIMEOUT_SECONDS)[0]
    assert run.returncode != 0
    assert "SCARF_OWNER is not set" in output


@pytest.mark.parametrize("bad", [["--from", "2026-13-01", "--to", "2026-11-01"]])
def test_bad_dates_are_refused_by_the_parser(bad: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "scarf_etl.commands.cli", "load", *bad],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 2
    assert "expected a date like" in run.stderr


def test_a_failed_load_ends_with_the_real_cause(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = load_env(emulator, tmp_path)
    # The token and the owner pass pre-flight; the exports then fail inside the run.
    env["SCARF_OWNER"] = NON_PRO_ORG
    run = start_load(env, "2026-11-01", "2026-11-01")
    output = run.communicate(timeout=RUN_TIMEOUT_SECONDS)[0]
    assert run.returncode == 1, output
    # The last lines a user reads name the failed step and the project's own message, not
    # Dagster's wrapper; the trace stays in the run's event log.
    tail = output.strip().splitlines()[-5:]
    failures = [line for line in tail if line.strip().startswith("failure:")]
    assert failures, output
    assert all("not-a-pro-member" in line or "plan" in line for line in failures), tail
    assert "DagsterExecutionStepExecutionError" not in output
    assert "Traceback" not in output
    assert DEMO_TOKEN not in output
