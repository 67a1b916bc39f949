"""The DuckDB warehouse (schema `scarf`): schema creation, day loads, dimension refreshes, the
queries the asset checks need, and publishing the file users open.

DuckDB lets a file have one writing process or many readers, never both, and users keep the
warehouse open in notebooks, BI tools and the DuckDB CLI. So the pipeline never writes the file
users open ("published"): it writes a private build file beside it and, after each step,
publishes a copy of it by atomic rename ("copy, update, swap"). A reader that holds the
published file keeps its (now unlinked) copy and keeps working; a new connection sees the new
data. Only scarf-etl's own steps open the build file, one at a time (Dagster's pool); a step
that still finds it locked waits, bounded, and says so every 15 s.

Every call opens its own connection and closes it before returning, so no process keeps the
build file locked between steps.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Final

import duckdb
import polars as pl

from scarf_etl.datasets import dataset
from scarf_etl.schemas import AGGREGATES_TABLE, DIMENSION_TABLES, EVENT_TABLES, PARTITIONED_TABLES

SCHEMA: Final = "scarf"
REJECTED_TABLE: Final = "rejected_rows"
LOADED_DAYS_TABLE: Final = "loaded_days"
# Version 1: event_id PRIMARY KEY (2026-11). Version 2: no key, loaded_days, v3 aggregates
# columns. ensure_schema() brings any older file to this version.
SCHEMA_VERSION: Final = 2
# How long a call waits for another process to release the file before giving up.
LOCK_WAIT_SECONDS: Final = 120.0
LOCK_RETRY_INTERVAL_SECONDS: Final = 0.2
# A wait longer than this prints a line saying what it waits for, and again after each interval.
WAIT_REPORT_INTERVAL_SECONDS: Final = 15.0
BUILD_SUFFIX: Final = ".build"
PUBLISH_TMP_INFIX: Final = ".publish-"
# A day's load runs in the same process as its normalization; without a cap DuckDB sizes its
# buffer pool from the machine's RAM and a 2M-event insert peaks near 0.9 GB. Beyond the cap it
# spills to a temp directory next to the file, so this bounds memory, not what can be loaded.
MEMORY_LIMIT: Final = "256MB"
_CREATE_TABLES: Final = "create_tables.sql"
_CREATE_EVENT_TABLE: Final = "create_event_table.sql"
_CREATE_VIEWS: Final = "create_views.sql"


@dataclass(frozen=True)
class DayFiles:
    """One day's lake files to load: its rows and, if any, its rejected rows."""

    day: date
    parquet: Path
    rejected: Path | None = None


class WarehouseLockedError(RuntimeError):
    """Another process held the DuckDB file for longer than the lock wait."""


def build_path_for(published: Path) -> Path:
    """The private file the pipeline writes: a hidden sibling, so publishing is a same-folder
    rename. data/warehouse.duckdb -> data/.warehouse.duckdb.build"""
    return published.with_name(f".{published.name}{BUILD_SUFFIX}")


def _fsync_directory(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sql(name: str) -> str:
    return resources.files("scarf_etl.store.sql").joinpath(name).read_text(encoding="utf-8")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_lock_error(error: duckdb.Error) -> bool:
    return "lock" in str(error).lower()


class Warehouse:
    """The warehouse users open at `published_path`, built in `build_path`. Table names only
    ever come from the closed sets in schemas.py; values are bound as parameters.

    Reads and writes go to the build file; `publish()` makes them visible at `published_path`.
    """

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

    def __repr__(self) -> str:
        return f"Warehouse({str(self.published_path)!r})"

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

    def publish(self) -> float:
        """Make the build visible at `published_path`: checkpoint, copy, atomic rename.

        Returns the seconds it took. Readers holding the old file keep it until they close it.
        """
        started = time.monotonic()
        with self._connect() as connection:
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
        _fsync_directory(folder)
        return time.monotonic() - started

    @contextmanager
    def _connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh connection, closed on exit; waits while another process holds the file.

        Raises WarehouseLockedError when the file stays locked past the lock wait.
        """
        if not read_only:
            self.build_path.parent.mkdir(parents=True, exist_ok=True)
            self._adopt_published()
        started = time.monotonic()
        deadline = started + self.lock_wait_seconds
        next_report = started + self.wait_report_interval
        while True:
            try:
                connection = duckdb.connect(
                    str(self.build_path),
                    read_only=read_only,
                    config={"memory_limit": MEMORY_LIMIT},
                )
                break
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
        try:
            # DuckDB draws a progress bar on stdout for long statements (a big day's insert);
            # it is a session setting, not accepted at connect time.
            connection.execute("SET enable_progress_bar = false")
            yield connection
        finally:
            connection.close()

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
        """A connection to the build file inside one transaction, committed on success and
        rolled back on error: for steps that keep their own tables and views (analysis/)."""
        return self._transaction()

    def ensure_schema(self) -> None:
        """Create the schema, tables and views that do not exist yet (idempotent)."""
        with self._transaction() as connection:
            connection.execute(_sql(_CREATE_TABLES))
            for table in EVENT_TABLES:  # a closed set: safe to format into the statement
                connection.execute(_sql(_CREATE_EVENT_TABLE).format(name=f"{SCHEMA}.{table}"))
                self._drop_primary_key(connection, table)
            connection.execute(_sql(_CREATE_VIEWS))
            current = connection.execute(
                f"SELECT max(version) FROM {SCHEMA}.schema_version"
            ).fetchone()
            if not current or current[0] is None or current[0] < SCHEMA_VERSION:
                connection.execute(
                    f"INSERT INTO {SCHEMA}.schema_version (version) VALUES (?)", [SCHEMA_VERSION]
                )

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
        self._add_missing_columns(connection, rebuilt, f"SELECT * FROM {SCHEMA}.{table}", [])
        connection.execute(f"INSERT INTO {SCHEMA}.{rebuilt} BY NAME SELECT * FROM {SCHEMA}.{table}")
        connection.execute(f"DROP TABLE {SCHEMA}.{table}")
        connection.execute(f"ALTER TABLE {SCHEMA}.{rebuilt} RENAME TO {table}")

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
        source_sql: str,
        params: list[object],
    ) -> list[str]:
        """ALTER TABLE ADD COLUMN for each column of `source_sql` the table lacks."""
        existing = self._table_columns(connection, table)
        described = connection.execute(f"DESCRIBE {source_sql}", params).fetchall()
        added: list[str] = []
        for column_name, column_type, *_ in described:
            if column_name in existing:
                continue
            # A column that is null in every source row has no real type yet; text is safe.
            sql_type = "VARCHAR" if column_type == '"NULL"' else str(column_type)
            connection.execute(
                f"ALTER TABLE {SCHEMA}.{table} ADD COLUMN {_identifier(column_name)} {sql_type}"
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
        with self._transaction() as connection:
            # Table row order means nothing here; keeping it would buffer the whole insert.
            connection.execute("SET preserve_insertion_order = false")
            self._add_missing_columns(connection, table, f"SELECT * FROM {read}", [files])
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
            connection.execute(
                f"INSERT INTO {SCHEMA}.{table} BY NAME SELECT * FROM {read}", [files]
            )
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
        with self._transaction() as connection:
            connection.register("incoming", frame.to_arrow())
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{table} AS SELECT * FROM incoming LIMIT 0"
            )
            self._add_missing_columns(connection, table, "SELECT * FROM incoming", [])
            connection.execute(f"DELETE FROM {SCHEMA}.{table} WHERE owner = ?", [owner])
            inserted = connection.execute(
                f"INSERT INTO {SCHEMA}.{table} BY NAME SELECT * FROM incoming"
            ).fetchone()
        return int(inserted[0]) if inserted else 0

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """Run a read-only query and return all rows."""
        with self._connect(read_only=True) as connection:
            return [tuple(row) for row in connection.execute(sql, list(params)).fetchall()]

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
