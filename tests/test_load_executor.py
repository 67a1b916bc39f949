"""How `scarf-etl load` runs its steps: in its own process for small loads (seconds faster),
one process per step once days are big (memory returned after each step), and Dagster's event
writes kept cheap. Real loads under a real DAGSTER_HOME against the emulator."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from scarf_etl.client import ClientSettings, ScarfClient
from scarf_etl.commands.event_log_speed import PLAN_SUBSETS_VARIABLE, WalKeeper, fast_event_writes
from scarf_etl.commands.load import (
    IN_PROCESS_MAX_DAY_BYTES,
    largest_recent_event_day_bytes,
    runs_in_process,
)
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN
from scarf_etl.store.raw import MANIFEST_NAME, FetchPlan, fetch_days, raw_day_dir, read_raw_day
from tests.pipeline_helpers import scalar
from tests.test_load_command import REPO_ROOT, RUN_TIMEOUT_SECONDS, load_env

DAY = dt.date(2026, 11, 1)


def engine_messages(dagster_home: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        (record,) = instance.get_run_records()
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        return [entry.user_message for entry in instance.all_logs(record.dagster_run.run_id)]


def load(env: dict[str, str], *extra: str) -> str:
    """`scarf-etl load --from DAY --to DAY [extra...]`, as a user runs it; its output."""
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scarf_etl.commands.cli",
            "load",
            "--from",
            str(DAY),
            "--to",
            str(DAY),
            *extra,
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = run.communicate(timeout=RUN_TIMEOUT_SECONDS)[0]
    assert run.returncode == 0, output
    return output


@pytest.mark.parametrize(
    ("extra", "in_process"), [((), True), (("--executor", "multiprocess"), False)]
)
def test_a_small_load_runs_in_process_unless_told_otherwise(
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: tuple[str, ...],
    in_process: bool,
) -> None:
    env = load_env(emulator, tmp_path)
    output = load(env, *extra)
    assert "ok      scarf__package_events" in output
    assert "step(s) ok, 0 failed" in output
    messages = engine_messages(Path(env["DAGSTER_HOME"]), monkeypatch)
    assert any(m.startswith("Executing steps in process") for m in messages) == in_process
    assert any("multiprocess executor" in m for m in messages) != in_process
    warehouse = Path(env["SCARF_DATA_DIR"]) / "warehouse.duckdb"
    loaded = scalar(warehouse, "SELECT count(*) FROM scarf.package_events")
    expected = sum(
        len(emulator.expected_events(DEMO_ORG, package, DAY))
        for package in emulator.package_ids(DEMO_ORG)
    )
    assert loaded == expected


def fetch_pixel_day(emulator: EmulatorServer, data_dir: Path) -> None:
    settings = ClientSettings(
        v1_url=emulator.v1_url, v2_url=emulator.v2_url, v3_url=emulator.v3_url, max_attempts=2
    )
    with ScarfClient(DEMO_TOKEN, settings) as client:
        fetch_days(client, FetchPlan("pixel_events", DEMO_ORG, "organization"), [DAY], data_dir)


def test_auto_runs_steps_in_their_own_processes_once_a_recent_day_is_big(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    assert largest_recent_event_day_bytes(tmp_path) == 0
    assert runs_in_process("auto", tmp_path)  # nothing fetched yet: a first small load
    fetch_pixel_day(emulator, tmp_path)
    fetched = read_raw_day(tmp_path, "pixel_events", DAY).bytes
    assert largest_recent_event_day_bytes(tmp_path) == fetched > 0
    assert runs_in_process("auto", tmp_path)

    # The same day, as if Scarf had sent a big one: its manifest records the bytes.
    manifest_path = raw_day_dir(tmp_path, "pixel_events", DAY) / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][0]["bytes"] = IN_PROCESS_MAX_DAY_BYTES + 1
    manifest_path.write_text(json.dumps(manifest))
    assert not runs_in_process("auto", tmp_path)
    assert runs_in_process("in-process", tmp_path)
    assert not runs_in_process("multiprocess", Path(tmp_path / "nothing"))


def test_the_wal_keeper_keeps_a_databases_wal_between_connections(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (x)")
    setup.close()
    wal = Path(f"{path}-wal")
    keeper = WalKeeper([path, tmp_path / "never.db"])
    keeper.start()
    try:
        deadline = time.monotonic() + 10
        while not keeper._connections and time.monotonic() < deadline:
            time.sleep(0.01)
        writer = sqlite3.connect(path)
        writer.execute("INSERT INTO t VALUES (1)")
        writer.commit()
        writer.close()
        # Without the keeper, closing the last connection checkpoints and deletes the WAL.
        assert wal.exists()
    finally:
        keeper.stop()
    writer = sqlite3.connect(path)
    assert writer.execute("SELECT count(*) FROM t").fetchone() == (1,)
    writer.close()
    assert not wal.exists()


def test_long_ranges_are_planned_per_asset_and_the_setting_is_restored(tmp_path: Path) -> None:
    assert PLAN_SUBSETS_VARIABLE not in os.environ
    with fast_event_writes(tmp_path, days=1):
        assert PLAN_SUBSETS_VARIABLE not in os.environ
    with fast_event_writes(tmp_path, days=365):
        assert os.environ[PLAN_SUBSETS_VARIABLE] == "true"
    assert PLAN_SUBSETS_VARIABLE not in os.environ
