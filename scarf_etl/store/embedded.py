"""The embedded warehouse backend: one DuckDB file ("copy, update, swap").

DuckDB lets a file have one writing process or many readers, never both, and users keep the
warehouse open in notebooks, BI tools and the DuckDB CLI. So the pipeline never writes the file
users open ("published"): it writes a private build file beside it and, after each step,
publishes a copy of it by atomic rename. A reader that holds the published file keeps its (now
unlinked) copy and keeps working; a new connection sees the new data. Only scarf-etl's own steps
open the build file, one at a time (Dagster's pool); a step that still finds it locked waits,
bounded, and says so every 15 s.

Every connection is closed before its call returns, so no process keeps the build file locked
between steps. Within a step, `held()` keeps one opening of the file for all its calls.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import duckdb

from scarf_etl.client.transport import fsync_directory
from scarf_etl.sql_text import sql_identifier, sql_literal

# How long a call waits for another process to release the file before giving up.
LOCK_WAIT_SECONDS: Final = 120.0
LOCK_RETRY_INTERVAL_SECONDS: Final = 0.2
# A wait longer than this prints a line saying what it waits for, and again after each interval.
WAIT_REPORT_INTERVAL_SECONDS: Final = 15.0
BUILD_SUFFIX: Final = ".build"
PUBLISH_TMP_INFIX: Final = ".publish-"
# A day's load runs in the same process as its normalization; without a cap DuckDB sizes its
# buffer pool from the machine's RAM and a 2M-event insert peaks near 0.9 GB. Beyond the cap it
# spills to a temp directory, so this bounds memory, not what can be loaded.
MEMORY_LIMIT: Final = "256MB"
# The storage format a new warehouse file is created in (an existing file keeps its own). DuckDB
# creates files readable by v1.0 by default, without the DICT_FSST string compression of v1.3:
# there it analyses every string segment for both dictionary and FSST, and a 2M-event day's
# insert took 2.9 s wall / 5.6 CPU s against 2.1 s / 4.0 s in this format, at the same size.
# Files in it open in DuckDB 1.3 (May 2025) and later. A file created in an older format is
# rewritten in this one once (upgrade_storage).
STORAGE_VERSION: Final = "v1.3.0"
UPGRADE_TMP_INFIX: Final = ".upgrade-"
_CONFIG: Final = {"memory_limit": MEMORY_LIMIT, "storage_compatibility_version": STORAGE_VERSION}


class WarehouseLockedError(RuntimeError):
    """Another process held the DuckDB file for longer than the lock wait."""


def build_path_for(published: Path) -> Path:
    """The private file the pipeline writes: a hidden sibling, so publishing is a same-folder
    rename. data/warehouse.duckdb -> data/.warehouse.duckdb.build"""
    return published.with_name(f".{published.name}{BUILD_SUFFIX}")


def _version_tuple(version: str) -> tuple[int, ...]:
    """'v1.3.0' or DuckDB's 'v1.0.0+' -> (1, 3, 0)."""
    return tuple(int(part) for part in version.strip("v+").split("."))


def _is_lock_error(error: duckdb.Error) -> bool:
    return "lock" in str(error).lower()


class EmbeddedBackend:
    """The file users open at `published_path`, built in `build_path`."""

    def __init__(
        self,
        published_path: Path,
        *,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
        report: Callable[[str], None] | None = None,
        wait_report_interval: float = WAIT_REPORT_INTERVAL_SECONDS,
    ) -> None:
        self.published_path = published_path
        self.build_path = build_path_for(published_path)
        self.lock_wait_seconds = lock_wait_seconds
        self.wait_report_interval = wait_report_interval
        self._report = report or (lambda message: None)
        self._held: duckdb.DuckDBPyConnection | None = None

    def describe(self) -> str:
        return str(self.published_path)

    def exists(self) -> bool:
        return self.published_path.exists()

    def is_commit_conflict(self, error: duckdb.Error) -> bool:
        """Never: one writer at a time holds the file (the lock wait happens at connect)."""
        return False

    def _adopt_published(self) -> None:
        """A warehouse from before the build file existed (or a build file lost): start the
        build from the published copy, so history is kept."""
        if self.build_path.exists() or not self.published_path.exists():
            return
        temporary = self.build_path.with_name(f"{self.build_path.name}.adopt-{uuid.uuid4().hex}")
        try:
            shutil.copyfile(self.published_path, temporary)
            os.replace(temporary, self.build_path)
        finally:
            temporary.unlink(missing_ok=True)

    def upgrade_storage(self) -> str | None:
        """Rewrite a build file created in a storage format older than STORAGE_VERSION in it,
        once: every schema, table, view and row, by DuckDB's COPY FROM DATABASE into a new
        file that then replaces it by atomic rename. The old file stays locked by this
        connection until then, so no other writer can change it mid-copy. Returns the old
        format when it rewrote the file, None when there was nothing to do.
        """
        with self.connect() as connection:
            database = connection.execute("SELECT current_database()").fetchone()
            found = connection.execute(
                "SELECT tags['storage_version'] FROM duckdb_databases() "
                "WHERE database_name = current_database()"
            ).fetchone()
            if not database or not found or not found[0]:
                return None
            old = str(found[0])
            if _version_tuple(old) >= _version_tuple(STORAGE_VERSION):
                return None
            folder = self.build_path.parent
            for leftover in folder.glob(f"{self.build_path.name}{UPGRADE_TMP_INFIX}*"):
                leftover.unlink(missing_ok=True)  # a crash mid-upgrade
            temporary = folder / f"{self.build_path.name}{UPGRADE_TMP_INFIX}{uuid.uuid4().hex}"
            try:
                connection.execute(
                    f"ATTACH {sql_literal(str(temporary))} AS scarf_upgraded "
                    f"(STORAGE_VERSION '{STORAGE_VERSION}')"
                )
                connection.execute(
                    f"COPY FROM DATABASE {sql_identifier(str(database[0]))} TO scarf_upgraded"
                )
                connection.execute("DETACH scarf_upgraded")
                with open(temporary, "rb+") as copied:
                    os.fsync(copied.fileno())
                os.replace(temporary, self.build_path)
            finally:
                temporary.unlink(missing_ok=True)
                temporary.with_name(f"{temporary.name}.wal").unlink(missing_ok=True)
        fsync_directory(folder)
        self._hold_again()  # a held connection has the replaced file open
        return old

    def publish(self) -> float:
        """Make the build visible at `published_path`: checkpoint, copy, atomic rename.

        Returns the seconds it took. Readers holding the old file keep it until they close it.
        """
        started = time.monotonic()
        # The copy is made while this connection holds the build file: no other process can
        # write it mid-copy or publish at the same time (and remove this one's temporary file
        # as a leftover), outside Dagster's pool too.
        with self.connect() as connection:
            connection.execute("CHECKPOINT")  # everything in the main file, the WAL emptied
            folder = self.published_path.parent
            for leftover in folder.glob(f".{self.published_path.name}{PUBLISH_TMP_INFIX}*"):
                leftover.unlink(missing_ok=True)  # a crash mid-publish
            temporary = folder / (
                f".{self.published_path.name}{PUBLISH_TMP_INFIX}{uuid.uuid4().hex}.tmp"
            )
            try:
                shutil.copyfile(self.build_path, temporary)
                with open(temporary, "rb+") as copied:
                    os.fsync(copied.fileno())
                os.replace(temporary, self.published_path)
            finally:
                temporary.unlink(missing_ok=True)
        fsync_directory(folder)
        # Closing the copy's read of the build file dropped this process's lock on it (POSIX
        # locks go with any close of the file): a held connection takes it again.
        self._hold_again()
        return time.monotonic() - started

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the published file (what users see), closed on exit.
        Under the same memory limit as the pipeline's: the report step reads every loaded
        event in the run's process (a 2.7M-event warehouse: 541 -> 388 MiB peak)."""
        with duckdb.connect(
            str(self.published_path), read_only=True, config={"memory_limit": MEMORY_LIMIT}
        ) as connection:
            yield connection

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keep the build file open across the enclosed calls, which then share that one
        opening: opening the file costs 8 ms and closing it 3 ms, against 0.3 ms for one more
        connection to an open file, and a step made up to 12 calls (0.4 s of a run). The file
        stays locked for the whole block: hold it around one step's work, inside the warehouse
        pool, never across steps. Re-entrant.

        Raises WarehouseLockedError when the file stays locked past the lock wait.
        """
        if self._held is not None:
            yield
            return
        self._held = self._open(read_only=False)
        try:
            yield
        finally:
            held, self._held = self._held, None
            if held is not None:  # None if holding again failed
                held.close()

    def _hold_again(self) -> None:
        """Close and reopen the held connection (if any), for a file replaced under it or a
        lock lost. If reopening fails, nothing stays held: the block's later calls open the
        file afresh (and wait for it) rather than use a closed connection."""
        held, self._held = self._held, None
        if held is not None:
            held.close()
            self._held = self._open(read_only=False)

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the build file, closed on exit: a fresh opening of the file, or one
        more connection to it while `held` (writable then even when `read_only` is asked:
        DuckDB opens a file one way per process). Waits while another process holds the file.

        Raises WarehouseLockedError when the file stays locked past the lock wait.
        """
        if self._held is not None:
            connection = self._held.cursor()
        else:
            connection = self._open(read_only=read_only)
        try:
            # DuckDB draws a progress bar on stdout for long statements (a big day's insert);
            # it is a session setting, not accepted at connect time.
            connection.execute("SET enable_progress_bar = false")
            yield connection
        finally:
            connection.close()

    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Open the build file, waiting (bounded, saying so) while another process holds it."""
        if not read_only:
            self.build_path.parent.mkdir(parents=True, exist_ok=True)
            self._adopt_published()
        started = time.monotonic()
        deadline = started + self.lock_wait_seconds
        next_report = started + self.wait_report_interval
        while True:
            try:
                return duckdb.connect(
                    str(self.build_path), read_only=read_only, config=dict(_CONFIG)
                )
            except duckdb.IOException as error:
                if not _is_lock_error(error):
                    raise
                now = time.monotonic()
                if now >= deadline:
                    raise WarehouseLockedError(
                        f"{self.build_path} stayed locked by another process for "
                        f"{self.lock_wait_seconds:.0f} s. Only scarf-etl writes this file: "
                        "another load is still running (or hung). Wait for it to finish, or "
                        f"stop it. ({error})"
                    ) from error
                if now >= next_report:
                    self._report(
                        f"waiting for {self.build_path.name}: another process is writing it "
                        f"({now - started:.0f} s so far, giving up after "
                        f"{self.lock_wait_seconds:.0f} s)"
                    )
                    next_report = now + self.wait_report_interval
                time.sleep(LOCK_RETRY_INTERVAL_SECONDS)
