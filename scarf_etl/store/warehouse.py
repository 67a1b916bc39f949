"""The warehouse (schema `scarf`): schema creation, day loads, dimension refreshes, the queries
the asset checks need, and read connections for the report, status and summary.

One interface, two backends (SCARF_WAREHOUSE): the embedded DuckDB file (store/embedded.py: a
private build file published by "copy, update, swap") or DuckLake (store/ducklake.py: a SQLite
or Postgres catalog with snapshot isolation). The SQL here and in store/sql/ is the same for
both. Every write is one transaction; one a concurrent DuckLake writer got in ahead of is
retried with backoff (bounded, and said so), since both runs' days must land.

Every call opens its own connection and closes it before returning.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import duckdb
import polars as pl

from scarf_etl.datasets import dataset
from scarf_etl.schemas import AGGREGATES_TABLE, DIMENSION_TABLES, EVENT_TABLES, PARTITIONED_TABLES
from scarf_etl.settings import DuckLakeWarehouseSpec, EmbeddedWarehouseSpec, WarehouseSpec
from scarf_etl.sql_text import sql_identifier
from scarf_etl.store.embedded import (
    LOCK_WAIT_SECONDS,
    STORAGE_VERSION,
    WAIT_REPORT_INTERVAL_SECONDS,
    EmbeddedBackend,
    WarehouseLockedError,
    build_path_for,
)

__all__ = [
    "DayFiles",
    "Warehouse",
    "WarehouseCommitError",
    "WarehouseLockedError",
    "build_path_for",
]

SCHEMA: Final = "scarf"
REJECTED_TABLE: Final = "rejected_rows"
LOADED_DAYS_TABLE: Final = "loaded_days"
# Version 1: event_id PRIMARY KEY (2026-11). Version 2: no key, loaded_days, v3 aggregates
# columns. Version 3: no stray `date` column in the event tables (see _STRAY_FOLDER_COLUMN).
# ensure_schema() brings any older file to this version.
SCHEMA_VERSION: Final = 3
# Lake partitions built before schema version 3 carry a `date` DATE column that DuckDB took from
# their folder's name (date=YYYY-MM-DD) while reading staging files inside it, and warehouses
# that loaded them gained it too. Unknown export columns are always VARCHAR, so a DATE-typed
# `date` in an event table is that stray column, never data (aggregates have a real `date`):
# loads leave it out and ensure_schema drops it.
_STRAY_FOLDER_COLUMN: Final = ("date", "DATE")
# A write another DuckLake writer got in ahead of is tried again, this many times in all, after
# a jittered exponential backoff: 0.25 s, 0.5 s, 1 s ... capped at 15 s (2 to 4 minutes in all:
# a SQLite catalog stays locked while another load commits a big day).
COMMIT_ATTEMPTS: Final = 20
COMMIT_BACKOFF_INITIAL_SECONDS: Final = 0.25
COMMIT_BACKOFF_MAX_SECONDS: Final = 15.0
_CREATE_TABLES: Final = "create_tables.sql"
_CREATE_EVENT_TABLE: Final = "create_event_table.sql"
_CREATE_VIEWS: Final = "create_views.sql"

T = TypeVar("T")


@dataclass(frozen=True)
class DayFiles:
    """One day's lake files to load: its rows and, if any, its rejected rows."""

    day: date
    parquet: Path
    rejected: Path | None = None


def open_warehouse(target: Warehouse | Path | WarehouseSpec) -> Warehouse:
    """`target` as a Warehouse: readers accept a Warehouse, a DuckDB file's path or a spec."""
    return target if isinstance(target, Warehouse) else Warehouse(target)


class WarehouseCommitError(RuntimeError):
    """A write kept losing to concurrent DuckLake writers for all its attempts."""


class WarehouseBackend(Protocol):
    """Where the warehouse lives: connections for the pipeline and for readers."""

    def describe(self) -> str: ...
    def exists(self) -> bool: ...
    def connect(
        self, *, read_only: bool = False
    ) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...
    def reader(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...
    def held(self) -> AbstractContextManager[None]: ...
    def publish(self) -> float: ...
    def upgrade_storage(self) -> str | None: ...
    def is_commit_conflict(self, error: duckdb.Error) -> bool: ...


def _sql(name: str) -> str:
    return resources.files("scarf_etl.store.sql").joinpath(name).read_text(encoding="utf-8")


def _describe(
    connection: duckdb.DuckDBPyConnection, sql: str, params: list[object]
) -> list[tuple[Any, ...]]:
    """DESCRIBE's rows for a query: (column name, type, ...)."""
    return connection.execute(f"DESCRIBE {sql}", params).fetchall()


def _backend_for(
    target: Path | WarehouseSpec,
    lock_wait_seconds: float,
    report: Callable[[str], None] | None,
    wait_report_interval: float,
) -> WarehouseBackend:
    if isinstance(target, DuckLakeWarehouseSpec):
        from scarf_etl.store.ducklake import DuckLakeBackend  # needs the `team` extra's packages

        return DuckLakeBackend(target)
    path = target.path if isinstance(target, EmbeddedWarehouseSpec) else target
    return EmbeddedBackend(
        path,
        lock_wait_seconds=lock_wait_seconds,
        report=report,
        wait_report_interval=wait_report_interval,
    )


class Warehouse:
    """The warehouse at `target`: a DuckDB file's path (or its spec) or a DuckLake spec. Table
    names only ever come from the closed sets in schemas.py; values are bound as parameters.

    The pipeline's reads and writes go through `connect`; users' reads through `reader()`;
    `publish()` makes the pipeline's writes visible to new readers (a no-op on DuckLake).
    """

    def __init__(
        self,
        target: Path | WarehouseSpec,
        *,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
        report: Callable[[str], None] | None = None,
        wait_report_interval: float = WAIT_REPORT_INTERVAL_SECONDS,
        commit_attempts: int = COMMIT_ATTEMPTS,
    ) -> None:
        self.backend = _backend_for(target, lock_wait_seconds, report, wait_report_interval)
        self.commit_attempts = commit_attempts
        self._report = report or (lambda message: None)
        self.commit_retries = 0  # conflicts retried by this object, for benchmarks and tests

    def __repr__(self) -> str:
        return f"Warehouse({self.backend.describe()!r})"

    def describe(self) -> str:
        """Where the warehouse is, fit for a log line (no password)."""
        return self.backend.describe()

    def exists(self) -> bool:
        """Whether there is anything to read yet."""
        return self.backend.exists()

    @property
    def published_path(self) -> Path:
        """The embedded file users open (TypeError on DuckLake)."""
        return self._embedded().published_path

    @property
    def build_path(self) -> Path:
        """The embedded backend's private build file (TypeError on DuckLake)."""
        return self._embedded().build_path

    def _embedded(self) -> EmbeddedBackend:
        if not isinstance(self.backend, EmbeddedBackend):
            raise TypeError(f"{self.describe()} is not an embedded DuckDB file")
        return self.backend

    @contextmanager
    def session(self) -> Iterator[Warehouse]:
        """This warehouse, kept open for the block's calls (one opening of the file instead of
        one per call); for one step's work inside the warehouse pool, since the file stays
        locked until the block ends.

        Raises WarehouseLockedError when another process holds the file past the lock wait.
        """
        with self.backend.held():
            yield self

    def publish(self) -> float:
        """Make the pipeline's writes visible to new readers; returns the seconds it took."""
        return self.backend.publish()

    def reader(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A read-only connection to what users see (the published file, or DuckLake's last
        snapshot), with `scarf.<table>` resolving; closed on exit. Never blocks a load."""
        return self.backend.reader()

    def _connect(
        self, *, read_only: bool = False
    ) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return self.backend.connect(read_only=read_only)

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        with self._connect() as connection:
            connection.begin()
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    def transaction(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A connection inside one transaction, committed on success and rolled back on error
        (not retried: prefer `write` where a concurrent DuckLake writer is possible)."""
        return self._transaction()

    def write(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `work` in one transaction and commit; on a commit conflict with another writer,
        roll back, wait (jittered exponential backoff, with a line saying so) and run it again.

        Raises WarehouseCommitError after `commit_attempts` conflicts; other errors at once.
        """
        delay = COMMIT_BACKOFF_INITIAL_SECONDS
        for attempt in range(1, self.commit_attempts + 1):
            try:
                with self._transaction() as connection:
                    return work(connection)
            except duckdb.Error as error:
                if not self.backend.is_commit_conflict(error):
                    raise
                if attempt == self.commit_attempts:
                    raise WarehouseCommitError(
                        f"{self.describe()}: the commit conflicted with other writers "
                        f"{attempt} times in a row; giving up. Another load is writing the "
                        "same tables heavily: run this one again when it has finished. "
                        f"({str(error).splitlines()[-1]})"
                    ) from error
                self.commit_retries += 1
                wait = min(delay, COMMIT_BACKOFF_MAX_SECONDS) * random.uniform(0.5, 1.0)
                self._report(
                    f"warehouse commit conflicted with another writer (attempt {attempt} of "
                    f"{self.commit_attempts}); retrying in {wait:.2f}s: "
                    f"{str(error).splitlines()[-1]}"
                )
                time.sleep(wait)
                delay *= 2
        raise AssertionError("unreachable")  # the loop returns or raises

    def ensure_schema(self) -> None:
        """Create the schema, tables and views that do not exist yet (idempotent), after
        rewriting a file of an older DuckDB storage format in the current one (once)."""
        started = time.monotonic()
        old_format = self.backend.upgrade_storage()
        if old_format:
            self._report(
                f"{self.describe()}: rewrote the file from DuckDB storage format {old_format} "
                f"to {STORAGE_VERSION} (once; loads into it are faster) in "
                f"{time.monotonic() - started:.1f} s"
            )

        def work(connection: duckdb.DuckDBPyConnection) -> None:
            connection.execute(_sql(_CREATE_TABLES))
            for table in EVENT_TABLES:  # a closed set: safe to format into the statement
                connection.execute(_sql(_CREATE_EVENT_TABLE).format(name=f"{SCHEMA}.{table}"))
                self._drop_primary_key(connection, table)
                self._drop_stray_folder_column(connection, table)
            connection.execute(_sql(_CREATE_VIEWS))
            current = connection.execute(
                f"SELECT max(version) FROM {SCHEMA}.schema_version"
            ).fetchone()
            if not current or current[0] is None or current[0] < SCHEMA_VERSION:
                connection.execute(
                    f"INSERT INTO {SCHEMA}.schema_version (version) VALUES (?)", [SCHEMA_VERSION]
                )

        self.write(work)

    def schema_version(self) -> int | None:
        """The build file's schema version (None before ensure_schema ran)."""
        try:
            rows = self.query(f"SELECT max(version) FROM {SCHEMA}.schema_version")
        except duckdb.CatalogException:
            return None
        value = rows[0][0] if rows else None
        return int(str(value)) if value is not None else None

    def _drop_primary_key(self, connection: duckdb.DuckDBPyConnection, table: str) -> None:
        """Rebuild an event table created with `event_id PRIMARY KEY` (schema of 2026-11) without
        the key. DuckDB cannot drop a key in place, so the rows move to a new table."""
        keyed = connection.execute(
            "SELECT count(*) FROM duckdb_constraints() WHERE schema_name = ? AND table_name = ? "
            "AND constraint_type = 'PRIMARY KEY'",
            [SCHEMA, table],
        ).fetchone()
        if not keyed or not keyed[0]:
            return
        rebuilt = f"{table}__without_key"
        connection.execute(_sql(_CREATE_EVENT_TABLE).format(name=f"{SCHEMA}.{rebuilt}"))
        described = _describe(connection, f"SELECT * FROM {SCHEMA}.{table}", [])
        self._add_missing_columns(connection, rebuilt, described)
        connection.execute(f"INSERT INTO {SCHEMA}.{rebuilt} BY NAME SELECT * FROM {SCHEMA}.{table}")
        connection.execute(f"DROP TABLE {SCHEMA}.{table}")
        connection.execute(f"ALTER TABLE {SCHEMA}.{rebuilt} RENAME TO {table}")

    def _drop_stray_folder_column(self, connection: duckdb.DuckDBPyConnection, table: str) -> None:
        name, kind = _STRAY_FOLDER_COLUMN
        stray = connection.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? AND column_name = ? AND data_type = ?",
            [SCHEMA, table, name, kind],
        ).fetchone()
        if stray and stray[0]:
            connection.execute(f"ALTER TABLE {SCHEMA}.{table} DROP COLUMN {sql_identifier(name)}")

    def _table_columns(self, connection: duckdb.DuckDBPyConnection, table: str) -> set[str]:
        rows = connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [SCHEMA, table],
        ).fetchall()
        return {str(row[0]) for row in rows}

    def _add_missing_columns(
        self,
        connection: duckdb.DuckDBPyConnection,
        table: str,
        described: Sequence[tuple[Any, ...]],
    ) -> list[str]:
        """ALTER TABLE ADD COLUMN for each column (DESCRIBE's rows) the table lacks."""
        existing = self._table_columns(connection, table)
        added: list[str] = []
        for column_name, column_type, *_ in described:
            if column_name in existing:
                continue
            # A column that is null in every source row has no real type yet; text is safe.
            sql_type = "VARCHAR" if column_type == '"NULL"' else str(column_type)
            connection.execute(
                f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN {sql_identifier(column_name)} {sql_type}"
            )
            added.append(str(column_name))
        return added

    def load_partition(
        self, table: str, day: date, owner: str, parquet: Path, rejected: Path | None = None
    ) -> int:
        """Replace the (day, owner) rows of `table` with the parquet's (see load_partitions).
        Returns the rows inserted."""
        return self.load_partitions(table, owner, [DayFiles(day, parquet, rejected)])[day]

    def load_partitions(self, table: str, owner: str, days: Sequence[DayFiles]) -> dict[date, int]:
        """Replace the (day, owner) rows of `table` for every day of `days` with its parquet's,
        all in one transaction (a year's backfill pays for a transaction per batch of days, not
        per day).

        Also replaces those days' rows of scarf.rejected_rows with their rejected files (where
        given) and records each day in scarf.loaded_days. Returns the rows inserted per day.
        Raises ValueError for a table outside the closed set or a parquet holding rows of
        another day or owner; any DuckDB error rolls back, leaving the table as it was.
        """
        if table not in PARTITIONED_TABLES:
            raise ValueError(f"not a partitioned warehouse table: {table!r}")
        if not days:
            return {}
        date_column = dataset(table).date_column
        files = [str(d.parquet) for d in days]
        dates = [d.day for d in days]
        # Days may carry different unknown columns: union them by name.
        read = "read_parquet(?, hive_partitioning = false, union_by_name = true)"

        def work(connection: duckdb.DuckDBPyConnection) -> dict[date, int]:
            described = _describe(connection, f"SELECT * FROM {read}", [files])
            stray_in_files = any(tuple(row[:2]) == _STRAY_FOLDER_COLUMN for row in described)
            if table in EVENT_TABLES and stray_in_files:  # aggregates have a real `date`
                stray = sql_identifier(_STRAY_FOLDER_COLUMN[0])
                described = [row for row in described if tuple(row[:2]) != _STRAY_FOLDER_COLUMN]
                select = f"SELECT * EXCLUDE ({stray}) FROM {read}"
            else:
                select = f"SELECT * FROM {read}"
            self._add_missing_columns(connection, table, described)
            foreign = connection.execute(
                f"SELECT parse_filename(p.filename), count(*) FROM "
                f"read_parquet(?, hive_partitioning = false, union_by_name = true, "
                "filename = true) AS p "
                "JOIN (SELECT unnest(?) AS file, unnest(?) AS day) AS expected "
                "ON p.filename = expected.file "
                f"WHERE p.{date_column} IS DISTINCT FROM expected.day "
                "OR p.owner IS DISTINCT FROM ? GROUP BY ALL",
                [files, files, dates, owner],
            ).fetchall()
            if foreign:
                name, count = foreign[0]
                raise ValueError(f"{name} holds {count} rows outside its {table} day for {owner!r}")
            connection.execute(
                f"DELETE FROM {SCHEMA}.{table} WHERE list_contains(?, {date_column}) AND owner = ?",
                [dates, owner],
            )
            # Table row order means nothing here; keeping it would buffer the whole insert.
            # The setting is the database's, not the connection's: reset for the calls after.
            connection.execute("SET preserve_insertion_order = false")
            connection.execute(f"INSERT INTO {SCHEMA}.{table} BY NAME {select}", [files])
            connection.execute("RESET preserve_insertion_order")
            rows = self._counts_by_day(
                connection,
                f"SELECT {date_column}, count(*) FROM {SCHEMA}.{table} "
                f"WHERE list_contains(?, {date_column}) AND owner = ? GROUP BY ALL",
                [dates, owner],
                dates,
            )
            connection.execute(
                f"DELETE FROM {SCHEMA}.{REJECTED_TABLE} "
                "WHERE table_name = ? AND list_contains(?, partition_date) AND owner = ?",
                [table, dates, owner],
            )
            rejected_files = [str(d.rejected) for d in days if d.rejected is not None]
            if rejected_files:
                connection.execute(
                    f"INSERT INTO {SCHEMA}.{REJECTED_TABLE} BY NAME "
                    f"SELECT * FROM {read} "
                    "WHERE table_name = ? AND list_contains(?, partition_date) AND owner = ?",
                    [rejected_files, table, dates, owner],
                )
            rejected = self._counts_by_day(
                connection,
                f"SELECT partition_date, count(*) FROM {SCHEMA}.{REJECTED_TABLE} "
                "WHERE table_name = ? AND list_contains(?, partition_date) AND owner = ? "
                "GROUP BY ALL",
                [table, dates, owner],
                dates,
            )
            connection.execute(
                f"DELETE FROM {SCHEMA}.{LOADED_DAYS_TABLE} "
                "WHERE table_name = ? AND list_contains(?, day) AND owner = ?",
                [table, dates, owner],
            )
            connection.executemany(
                f"INSERT INTO {SCHEMA}.{LOADED_DAYS_TABLE} "
                "(table_name, day, owner, rows, rejected) VALUES (?, ?, ?, ?, ?)",
                [[table, day, owner, rows[day], rejected[day]] for day in dates],
            )
            return rows

        return self.write(work)

    @staticmethod
    def _counts_by_day(
        connection: duckdb.DuckDBPyConnection,
        sql: str,
        params: list[object],
        days: Sequence[date],
    ) -> dict[date, int]:
        counts = dict.fromkeys(days, 0)
        counts.update({day: int(n) for day, n in connection.execute(sql, params).fetchall()})
        return counts

    def replace_dimension(
        self, table: str, frame: pl.DataFrame, *, owner: str | None = None
    ) -> int:
        """Replace the owner's rows of a dimension table with `frame`, in one transaction.

        The owner is `owner` or the frame's single `owner` value (needed to empty a dimension
        with an empty frame). Creates the table from the frame if missing and adds new columns.
        Returns the rows inserted. Raises ValueError for an unknown table or an unclear owner.
        """
        if table not in DIMENSION_TABLES:
            raise ValueError(f"not a dimension table: {table!r}")
        owners = set(frame["owner"].unique().to_list()) if "owner" in frame.columns else set()
        if owner is None:
            if len(owners) != 1:
                raise ValueError(f"{table}: the frame must hold exactly one owner, got {owners}")
            owner = str(next(iter(owners)))
        elif owners - {owner}:
            raise ValueError(f"{table}: the frame holds rows of other owners than {owner!r}")
        if "owner" not in frame.columns:
            frame = frame.with_columns(pl.lit(owner).alias("owner"))

        def work(connection: duckdb.DuckDBPyConnection) -> int:
            connection.register("incoming", frame.to_arrow())
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} AS SELECT * FROM incoming LIMIT 0"
            )
            described = _describe(connection, "SELECT * FROM incoming", [])
            self._add_missing_columns(connection, table, described)
            connection.execute(f"DELETE FROM {SCHEMA}.{table} WHERE owner = ?", [owner])
            inserted = connection.execute(
                f"INSERT INTO {SCHEMA}.{table} BY NAME SELECT * FROM incoming"
            ).fetchone()
            return int(inserted[0]) if inserted else 0

        return self.write(work)

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run a read-only query on the pipeline's copy and return all rows."""
        delay = COMMIT_BACKOFF_INITIAL_SECONDS
        for attempt in range(1, self.commit_attempts + 1):
            try:
                with self._connect(read_only=True) as connection:
                    return [tuple(row) for row in connection.execute(sql, list(params)).fetchall()]
            except duckdb.Error as error:
                # A SQLite catalog can be briefly locked by a writer's commit.
                if not self.backend.is_commit_conflict(error) or attempt == self.commit_attempts:
                    raise
                time.sleep(min(delay, COMMIT_BACKOFF_MAX_SECONDS) * random.uniform(0.5, 1.0))
                delay *= 2
        raise AssertionError("unreachable")

    def _event_table(self, table: str) -> str:
        if table not in EVENT_TABLES:
            raise ValueError(f"not an event table: {table!r}")
        return table

    def count_rows(self, table: str, days: Sequence[date], owner: str) -> dict[date, int]:
        """Rows of `table` per day of `days` for `owner` (0 for a day without rows), in one
        query. Raises ValueError for an unknown table."""
        if table not in PARTITIONED_TABLES:
            raise ValueError(f"not a partitioned warehouse table: {table!r}")
        column = dataset(table).date_column
        rows = self._window_query(
            f"SELECT {column}, count(*) FROM {SCHEMA}.{table} "
            f"WHERE {column} BETWEEN ? AND ? AND owner = ? GROUP BY ALL",
            days,
            owner,
        )
        counts = dict.fromkeys(days, 0)
        counts.update({day: int(str(count)) for day, count in rows if day in counts})
        return counts

    def duplicate_event_ids(self, table: str, days: Sequence[date], owner: str) -> dict[date, int]:
        """Rows beyond the first per event_id, per day of `days` (0 when ids are unique)."""
        rows = self._window_query(
            f"SELECT event_date, count(*) - count(DISTINCT event_id) "
            f"FROM {SCHEMA}.{self._event_table(table)} "
            "WHERE event_date BETWEEN ? AND ? AND owner = ? GROUP BY ALL",
            days,
            owner,
        )
        duplicates = dict.fromkeys(days, 0)
        duplicates.update({day: int(str(count)) for day, count in rows if day in duplicates})
        return duplicates

    def event_counts_by_package(
        self, table: str, days: Sequence[date], owner: str
    ) -> dict[tuple[date, str], int]:
        """Events per (day, package uuid; the package name where no uuid was requested)."""
        rows = self._window_query(
            f"SELECT event_date, coalesce(package_id, package, ''), count(*) "
            f"FROM {SCHEMA}.{self._event_table(table)} "
            "WHERE event_date BETWEEN ? AND ? AND owner = ? GROUP BY ALL",
            days,
            owner,
        )
        wanted = set(days)
        return {(day, str(key)): int(str(n)) for day, key, n in rows if day in wanted}

    def aggregate_totals_by_package(
        self, days: Sequence[date], owner: str
    ) -> dict[tuple[date, str], int]:
        """The `total` breakdown's total per (day, package uuid); v3's tracking pixels are left
        out (rows loaded before `artifact_type` existed are packages)."""
        rows = self._window_query(
            f"SELECT date, package, sum(total) FROM {SCHEMA}.{AGGREGATES_TABLE} "
            "WHERE date BETWEEN ? AND ? AND owner = ? AND breakdown = 'total' "
            "AND coalesce(artifact_type, 'package') = 'package' GROUP BY ALL",
            days,
            owner,
        )
        wanted = set(days)
        return {(day, str(key)): int(str(n)) for day, key, n in rows if day in wanted}

    def _window_query(self, sql: str, days: Sequence[date], owner: str) -> list[tuple[Any, ...]]:
        """`sql` with (first day, last day, owner) bound: one query for a run's whole window.
        Rows start with the day (a `date`)."""
        if not days:
            return []
        return self.query(sql, [min(days), max(days), owner])
