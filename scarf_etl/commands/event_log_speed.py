"""Cheaper Dagster event writes for `scarf-etl load` on the default SQLite instance storage.

A run writes a few events per asset and per day (planned, materialized): about 11,000 for a
year's backfill. Dagster's SQLite storage opens a connection per write and closes it; the
storage is in WAL mode, and SQLite checkpoints the WAL and deletes it whenever the *last*
connection to a database closes, which costs several fsyncs per event (30-50 ms here). So, for
the run's duration, in the process that runs `scarf-etl load`:
- one idle connection is held open to each of the run's databases, which keeps the WAL alive
  between writes (the connection takes no lock and reads nothing);
- SQLite connections this process opens use `synchronous=NORMAL`, SQLite's recommended setting
  for WAL: a commit no longer waits for the disk, and a killed process still loses nothing
  (only a power cut can drop the last commits of the run history; the pipeline's own data is
  in files and DuckDB, untouched by this).
Together a few ms per event instead of 30-50; same events, same data.

Where the instance does not use SQLite files under `$DAGSTER_HOME/history` (Postgres, another
layout), there is nothing to hold and this does nothing.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.engine import Engine

# The default SQLite instance storage's files (dagster.yaml leaves storage at its default).
HISTORY_DIR: Final = "history"
RUN_STORAGE: Final = "runs.db"
EVENT_INDEX: Final = "runs/index.db"
POLL_SECONDS: Final = 0.01
MAX_POLL_SECONDS: Final = 1.0
# One range of days plans an event per asset and day unless Dagster is told to plan a range per
# asset; beyond this many days the per-day planned events cost more than they show (a failed
# run then leaves its days "missing" rather than "failed" in the UI; the failure itself, its
# steps and its cause are recorded as always).
PLAN_DAYS_ONE_BY_ONE_UP_TO: Final = 7
PLAN_SUBSETS_VARIABLE: Final = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


class WalKeeper:
    """Idle connections to SQLite files in WAL mode, opened as each file appears."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = paths
        self._added: list[Path] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._connections: list[sqlite3.Connection] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._hold_all, name="scarf-wal-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def hold(self, path: Path) -> None:
        """Also keep `path` (a file known only later, such as a run's event log) once it
        appears."""
        with self._lock:
            self._added.append(path)
        self._wake.set()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join(timeout=5)
        for connection in self._connections:
            connection.close()
        self._connections.clear()

    def _hold_all(self) -> None:
        waiting = list(self._paths)
        pause = POLL_SECONDS
        while not self._stopped.is_set():
            self._wake.clear()  # before looking: a file named from now on wakes the wait below
            with self._lock:
                if self._added:
                    waiting += self._added
                    self._added.clear()
                    pause = POLL_SECONDS  # a new file appears soon after it is named
            waiting = [path for path in waiting if not self._hold(path)]
            # Quick while the run starts (its files appear then), then rarely: a storage
            # that never shows a WAL file here is not SQLite, and costs nothing to watch.
            self._wake.wait(pause if waiting else None)
            pause = min(pause * 1.5, MAX_POLL_SECONDS)

    def _hold(self, path: Path) -> bool:
        """True once `path` is held: an open connection to it in WAL mode."""
        if not path.is_file():
            return False
        try:
            connection = sqlite3.connect(path, timeout=0.1, check_same_thread=False)
        except sqlite3.Error:
            return False
        try:
            mode = connection.execute("PRAGMA journal_mode").fetchone()
        except sqlite3.Error:  # being created by Dagster right now: try again shortly
            connection.close()
            return False
        if not mode or str(mode[0]).lower() != "wal":  # Dagster switches it once it has tables
            connection.close()
            return False
        self._connections.append(connection)
        return True


def run_event_log(dagster_home: Path, run_id: str) -> Path:
    """The SQLite file holding the events of run `run_id` in the default storage."""
    return dagster_home / HISTORY_DIR / "runs" / f"{run_id}.db"


@contextmanager
def fast_event_writes(dagster_home: Path, days: int) -> Iterator[WalKeeper]:
    """While a run of `days` days is created and executed: keep the instance's SQLite files'
    WAL alive, and plan long ranges per asset rather than per day (see the constants). The
    run's own event log is added with `hold(run_event_log(...))` once its id is known."""
    keeper = WalKeeper(
        [dagster_home / HISTORY_DIR / RUN_STORAGE, dagster_home / HISTORY_DIR / EVENT_INDEX]
    )
    keeper.start()
    event.listen(Engine, "connect", _commit_without_waiting_for_disk)
    previous = os.environ.get(PLAN_SUBSETS_VARIABLE)
    if days > PLAN_DAYS_ONE_BY_ONE_UP_TO and previous is None:
        os.environ[PLAN_SUBSETS_VARIABLE] = "true"
    try:
        yield keeper
    finally:
        if previous is None:
            os.environ.pop(PLAN_SUBSETS_VARIABLE, None)
        event.remove(Engine, "connect", _commit_without_waiting_for_disk)
        keeper.stop()


def _commit_without_waiting_for_disk(dbapi_connection: Any, _record: Any) -> None:
    """Every new SQLite connection of any engine (Dagster's storage is the only SQLAlchemy user
    in the process): WAL's recommended `synchronous=NORMAL`."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
