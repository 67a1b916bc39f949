"""The DuckLake warehouse backend: a catalog in SQLite (several local processes) or Postgres
(many users and machines), data as parquet in a folder or on object storage.

DuckLake gives snapshot isolation: readers see the last committed snapshot and never wait, and
writers commit optimistically. So there is no build file and `publish()` has nothing to do.
Two writers that touch the same catalog at once may find their commit refused ("conflict", or
SQLite's "database is locked"); the Warehouse retries such a transaction with backoff.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

import duckdb

from scarf_etl.settings import DuckLakeWarehouseSpec, redact_dsn
from scarf_etl.sql_text import sql_literal
from scarf_etl.store.embedded import MEMORY_LIMIT
from scarf_etl.store.extensions import CONNECT_CONFIG, enable_s3, load_extensions

# The name the catalog is attached under; `USE` makes `scarf.<table>` resolve inside it.
CATALOG_ALIAS: Final = "warehouse"
METADATA_CATALOG: Final = f"__ducklake_metadata_{CATALOG_ALIAS}"
_SCANNERS: Final = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}
# Messages of a commit another writer got in first: worth another attempt.
_CONFLICT_MARKERS: Final = (
    "conflict",
    "database is locked",
    "failed to commit ducklake transaction",
    "could not serialize",
    "deadlock detected",
    "duplicate key value",  # two commits claiming the same snapshot id in Postgres
)

_DATABASES: dict[tuple[int, DuckLakeWarehouseSpec], duckdb.DuckDBPyConnection] = {}
_DATABASES_LOCK = threading.Lock()


@dataclass(frozen=True)
class MaintenanceResult:
    files_before: int
    files_after: int
    snapshots_expired: int
    files_deleted: int


class DuckLakeBackend:
    """Connections that ATTACH the DuckLake catalog of `spec`."""

    def __init__(self, spec: DuckLakeWarehouseSpec) -> None:
        self.spec = spec

    def describe(self) -> str:
        return self.spec.describe()

    def exists(self) -> bool:
        if self.spec.catalog == "sqlite":
            return Path(self.spec.target).exists()
        return True  # a Postgres catalog: attaching tells

    def is_commit_conflict(self, error: duckdb.Error) -> bool:
        message = str(error).lower()
        return any(marker in message for marker in _CONFLICT_MARKERS)

    def publish(self) -> float:
        """Nothing to do: a commit is what readers see next."""
        return 0.0

    @contextmanager
    def held(self) -> Iterator[None]:
        """Nothing to hold: the catalog's database stays open for the process already."""
        yield

    def upgrade_storage(self) -> str | None:
        """Nothing to do: DuckLake's data files are parquet, its catalog a database."""
        return None

    def _attach_sql(self) -> str:
        options = [f"DATA_PATH {sql_literal(self.spec.data_path)}"]
        target = f"ducklake:{self.spec.catalog}:{self.spec.target}"
        return f"ATTACH {sql_literal(target)} AS {CATALOG_ALIAS} ({', '.join(options)})"

    def _database(self) -> duckdb.DuckDBPyConnection:
        """This process's DuckDB instance with the catalog attached. Loading the extensions
        costs about 0.5 s per instance, so each process keeps one per catalog and hands out
        cursors (each its own connection and transaction). Keyed by pid: never reused across
        a fork."""
        key = (os.getpid(), self.spec)
        with _DATABASES_LOCK:
            database = _DATABASES.get(key)
            if database is not None:
                return database
            if "://" not in self.spec.data_path:
                Path(self.spec.data_path).mkdir(parents=True, exist_ok=True)
            if self.spec.catalog == "sqlite":
                Path(self.spec.target).parent.mkdir(parents=True, exist_ok=True)
            database = duckdb.connect(
                ":memory:",
                config={
                    **CONNECT_CONFIG,
                    "memory_limit": MEMORY_LIMIT,
                    # The instance outlives calls, and a re-run rewrites a day's lake file at
                    # the same path (often within the same second): never serve cached bytes.
                    "enable_external_file_cache": False,
                    # An in-memory database spills to ./.tmp by default: keep it out of the
                    # project, in the temp folder.
                    "temp_directory": str(Path(tempfile.gettempdir()) / "scarf-etl-duckdb-spill"),
                },
            )
            try:
                load_extensions(database, "ducklake", _SCANNERS[self.spec.catalog])
                if self.spec.data_path.startswith("s3://"):
                    enable_s3(database)
                database.execute(self._attach_sql())
            except duckdb.Error as error:
                database.close()
                # DuckDB's message quotes the DSN, password included: never let that out.
                redacted = str(error).replace(self.spec.target, redact_dsn(self.spec.target))
                raise type(error)(redact_dsn(redacted)) from None
            except BaseException:
                database.close()
                raise
            _DATABASES[key] = database
            return database

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection with the catalog in use (`scarf.<table>` resolves), closed on exit.
        Read-only or not, it reads the last committed snapshot and never waits for a writer."""
        connection = self._database().cursor()
        try:
            connection.execute("SET enable_progress_bar = false")
            connection.execute(f"USE {CATALOG_ALIAS}")
            yield connection
        finally:
            connection.close()

    def reader(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return self.connect(read_only=True)

    def maintain(self, keep: timedelta) -> MaintenanceResult:
        """Merge adjacent small files, expire snapshots older than `keep` and delete the files
        no snapshot needs any more."""
        with self.connect() as connection:
            before = self._file_count(connection)
            connection.execute(f"CALL ducklake_merge_adjacent_files({sql_literal(CATALOG_ALIAS)})")
            older_than = f"now() - INTERVAL '{int(keep.total_seconds())} seconds'"
            expired = connection.execute(
                f"SELECT count(*) FROM ducklake_expire_snapshots({sql_literal(CATALOG_ALIAS)}, "
                f"older_than => {older_than})"
            ).fetchone()
            deleted = connection.execute(
                f"SELECT count(*) FROM ducklake_cleanup_old_files({sql_literal(CATALOG_ALIAS)}, "
                f"older_than => {older_than})"
            ).fetchone()
            after = self._file_count(connection)
        return MaintenanceResult(
            files_before=before,
            files_after=after,
            snapshots_expired=int(expired[0]) if expired else 0,
            files_deleted=int(deleted[0]) if deleted else 0,
        )

    @staticmethod
    def _file_count(connection: duckdb.DuckDBPyConnection) -> int:
        """Data and delete files the catalog tracks (current or kept for old snapshots)."""
        row = connection.execute(
            f"SELECT (SELECT count(*) FROM {METADATA_CATALOG}.ducklake_data_file) "
            f"+ (SELECT count(*) FROM {METADATA_CATALOG}.ducklake_delete_file)"
        ).fetchone()
        return int(row[0]) if row else 0
