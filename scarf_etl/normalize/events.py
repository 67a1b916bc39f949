"""Raw Scarf event CSVs -> one typed parquet file per day, plus the rejected rows. No network,
no Dagster; writes only the files its caller names.

DuckDB's CSV reader does the heavy part once per file: it parses and types each record and sets
aside, with its byte position and raw text, every record it cannot read (wrong field count,
oversized, unterminated quote, not UTF-8, a value that does not cast). Rows go to a staging
parquet file in file order, already in the partition's columns and compression; duplicates are
then found on the ids alone. A day of one file with nothing to drop (no duplicate, no row outside
the day, no row without an id: most days) keeps its staging file as the partition; any other is
rewritten from the staging files without the dropped rows (row order within a big partition is
not kept). DuckDB runs under a memory limit and spills to the staging folder, so memory stays
flat however big the day.

Reading each raw file into its staging file (and its rejected records) is `_staging`'s job; this
module owns the day: the connection, the de-duplication and the partition.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final

import duckdb
import polars as pl

from scarf_etl.normalize._rejects import RejectedWriter
from scarf_etl.normalize._staging import (
    ID_MISSING,
    EventFile,
    RawEventFile,
    fail_if_records_went_missing,
    planned_files,
    read_event_header,
    stage,
    write_rejected,
)
from scarf_etl.normalize.results import NormalizeError, NormalizeStats
from scarf_etl.schemas import EVENT_COLUMNS, EVENT_TABLE_COLUMNS, EVENT_TABLES, REJECTED_COLUMNS
from scarf_etl.sql_text import sql_literal

__all__ = [
    "DUCKDB_MEMORY_LIMIT",
    "SHARED_CONNECTION_MAX_BYTES",
    "EventNormalizer",
    "NormalizedEvents",
    "RawEventFile",
    "empty_events_frame",
    "normalize_events",
    "read_event_header",
]

# DuckDB's own budget; the process stays under ~0.7 GB with polars and Python around it. Not
# lower: the staging COPY keeps file order by buffering finished row groups, and under a tighter
# budget it falls back to one thread at a time while the other spins (measured at 300 and 400 MB
# on a 2M-row day: 4.8 s wall and 9.4 CPU s against 2.2 s and 4.2 s at 500 MB, the same peak RSS).
DUCKDB_MEMORY_LIMIT: Final = "500MB"
DUCKDB_THREADS: Final = 2
# Row keys are file position * stride + row index in the file's staging parquet.
_FILE_STRIDE: Final = 1 << 40
_PARTITION_ROW_GROUP: Final = 100_000
_SORTED_ROWS_LIMIT: Final = 200_000


@dataclass(frozen=True)
class NormalizedEvents:
    """A day's events held in memory (for tests and small days; the lake streams instead)."""

    rows: pl.LazyFrame  # typed, in-window, de-duplicated: the lake partition
    counts: pl.LazyFrame  # one row: rows_in, rejected, out_of_window, kept
    rejected: pl.DataFrame  # REJECTED_COLUMNS
    extra_columns: tuple[str, ...]


def empty_events_frame(extras: Sequence[str] = ()) -> pl.DataFrame:
    """A zero-row frame with the lake layout of an event partition."""
    schema = dict(EVENT_TABLE_COLUMNS) | {n: pl.String() for n in sorted(extras)}
    return pl.DataFrame(schema=schema)


def _connect(spill: Path | None) -> duckdb.DuckDBPyConnection:
    """A connection under the memory limit, spilling into `spill` (None: never spills, for the
    shared connection of small days: DuckDB cannot move its spill folder once it has used it)."""
    connection = duckdb.connect(
        ":memory:",
        config={
            "memory_limit": DUCKDB_MEMORY_LIMIT,
            "threads": min(DUCKDB_THREADS, os.cpu_count() or 1),
            "temp_directory": "" if spill is None else str(spill),
            "preserve_insertion_order": True,
        },
    )
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET enable_progress_bar = false")
    return connection


# Staging files live in the partition's folder (date=YYYY-MM-DD/.staging-*/): every read of them
# turns hive partitioning off, or DuckDB adds a `date` column taken from the folder's name.
# The staged rows with their file's position (__file), their key in the day (__row) and two
# flags (whether the id is missing, whether the time is in the day), computed, not stored, so a
# staging file keeps the partition's columns. One scan of all the files: a scan per file cost a
# five-package day of one event each 17 ms more (6 s of a year's backfill).
_STAGED_VIEW: Final = """
    CREATE VIEW staged AS
    SELECT * EXCLUDE (file_row_number, __staging_file, __file),
        CASE WHEN __file IN ({id_less}) THEN false
            ELSE {id_missing} END AS __id_missing,
        (time >= TIMESTAMPTZ '{start}' AND time < TIMESTAMPTZ '{end}') AS __in_window,
        __file,
        __file * {stride} + file_row_number AS __row
    FROM (
        SELECT *, CASE __staging_file {positions}
            ELSE error('not a staging file of this day: ' || __staging_file) END AS __file
        FROM read_parquet({paths}, file_row_number = true, filename = '__staging_file',
            hive_partitioning = false)
    )
"""
# Rows that would be kept but for the duplicates: ids are the export's, or for id-less files
# the digest plus "-<ordinal>" among identical rows of the same file (first copy: bare digest).
_KEYED: Final = """
    CREATE TEMP TABLE suffixes AS
    SELECT __row, '-' || ordinal AS suffix FROM (
        SELECT __row, row_number() OVER (PARTITION BY __file, event_id ORDER BY __row) - 1
            AS ordinal
        FROM staged
        WHERE __file IN ({id_less}) AND (__file, event_id) IN (
            SELECT (__file, event_id) FROM staged WHERE __file IN ({id_less})
            GROUP BY __file, event_id HAVING count(*) > 1
        )
    ) WHERE ordinal > 0
"""
_COUNTS: Final = """
    SELECT count(*),
        count(*) FILTER (WHERE __id_missing),
        count(*) FILTER (WHERE NOT __id_missing AND NOT __in_window),
        count(*) FILTER (WHERE NOT __id_missing AND __in_window)
    FROM staged
"""
# Each id's first copy in file order is kept (Scarf exports are at least once). Candidates are
# found on a 64-bit hash of the id, which holds an 8M-row day's ids in a fraction of the memory
# the strings take; the copies are then told apart on the ids themselves, so a hash collision
# costs a few rows in the window, never a row kept or dropped wrongly.
_DROPPED: Final = """
    CREATE TEMP TABLE dropped AS
    SELECT __row FROM (
        SELECT __row, row_number() OVER (PARTITION BY {event_id} ORDER BY __row) AS copy
        FROM staged {suffix_join}
        WHERE __in_window AND NOT __id_missing AND hash({event_id}) IN (
            SELECT hash({event_id}) FROM staged {suffix_join}
            WHERE __in_window AND NOT __id_missing
            GROUP BY ALL HAVING count(*) > 1
        )
    ) WHERE copy > 1
"""
_PARTITION: Final = """
    COPY (
        SELECT {event_id} AS event_id, * EXCLUDE (event_id, __id_missing, __in_window, __file,
            __row{suffix_column})
        FROM staged {suffix_join}
        WHERE __in_window AND NOT __id_missing AND __row NOT IN (SELECT __row FROM dropped)
        {order}
    ) TO {target} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {row_group})
"""


# A day with at most this much CSV shares the normalizer's connection: far under the memory
# limit, it never needs to spill. A bigger day gets a connection of its own.
SHARED_CONNECTION_MAX_BYTES: Final = 32 * 1024 * 1024


class EventNormalizer:
    """Normalizes event days, one after another. Small days share one DuckDB connection: a
    year's backfill of small days spent a quarter of its normalize time opening and closing
    one per day (~10 ms each). Use as a context manager."""

    def __init__(self) -> None:
        self._shared: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> EventNormalizer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def write_day(
        self,
        files: Sequence[RawEventFile],
        *,
        table: str,
        day: date,
        owner: str,
        source_labels: Sequence[str],
        rows_path: Path,
        rejected_path: Path,
        staging: Path,
    ) -> NormalizeStats:
        """Normalize a day's raw event files into `rows_path` and their rejected rows into
        `rejected_path` (zstd parquet both, written in place: the caller makes them atomic) and
        return the counts. `staging` is an empty folder for intermediate files, on the same
        disk. A small day runs on the shared connection, a big one on its own.

        Raises NormalizeError if a file is not an event CSV, ValueError for an unknown table.
        """
        if table not in EVENT_TABLES:
            raise ValueError(f"not an event table: {table!r}")
        present, extras = planned_files(files, source_labels, staging)
        if not present:
            return _write_empty_day(owner, rows_path, rejected_path)
        outputs = _DayOutputs(table, day, owner, rows_path, rejected_path)
        if sum(f.readable.stat().st_size for f in present) > SHARED_CONNECTION_MAX_BYTES:
            connection = _connect(staging / "duckdb-spill")
            try:
                return _normalize_day(connection, present, extras, outputs, staging)
            finally:
                connection.close()
        if self._shared is None:
            self._shared = _connect(None)
        try:
            stats = _normalize_day(self._shared, present, extras, outputs, staging)
            _drop_day_objects(self._shared, present)
        except BaseException:
            self.close()  # never reuse a connection a failure left half-way
            raise
        return stats


@dataclass(frozen=True)
class _DayOutputs:
    table: str
    day: date
    owner: str
    rows_path: Path
    rejected_path: Path


def _write_empty_day(owner: str, rows_path: Path, rejected_path: Path) -> NormalizeStats:
    empty_events_frame().with_columns(pl.lit(owner).alias("owner")).write_parquet(
        rows_path, compression="zstd"
    )
    pl.DataFrame(schema=REJECTED_COLUMNS).write_parquet(rejected_path, compression="zstd")
    return NormalizeStats(0, 0, 0, 0, 0, ())


def _drop_day_objects(connection: duckdb.DuckDBPyConnection, present: Sequence[EventFile]) -> None:
    """What a day left in the connection, so the next day starts from nothing."""
    statements = [f"DROP TABLE IF EXISTS {f.rejects_table}" for f in present]
    statements += [f"DROP TABLE IF EXISTS scans_{f.position}" for f in present]
    statements += ["DROP VIEW IF EXISTS staged", "DROP TABLE IF EXISTS suffixes"]
    statements += ["DROP TABLE IF EXISTS dropped"]
    connection.execute("; ".join(statements))  # one call: a small day's cost is its calls


def _fail_if_small_file_ran_out_of_memory(file: EventFile, error: duckdb.Error) -> None:
    """DuckDB's CSV reader runs out of memory on a record of tens of thousands of fields (30,000
    fields, 60 KB, exhaust 500 MB). A file small enough to share a connection never needs that
    memory as an export, so it is the file's fault: say so, not DuckDB's advice on memory."""
    size = file.readable.stat().st_size
    if size > SHARED_CONNECTION_MAX_BYTES:
        return
    raise NormalizeError(
        f"{file.label}: reading this {size:,}-byte file exhausted DuckDB's {DUCKDB_MEMORY_LIMIT} "
        f"memory limit, which no export of its size needs: it likely holds a record of tens of "
        f"thousands of fields (a Scarf event CSV has {len(EVENT_COLUMNS)}). Nothing of this day "
        "was loaded; the raw file is kept: fetch the day again, and if it persists, report it"
    ) from error


def _normalize_day(
    connection: duckdb.DuckDBPyConnection,
    present: Sequence[EventFile],
    extras: Sequence[str],
    outputs: _DayOutputs,
    staging: Path,
) -> NormalizeStats:
    day, owner = outputs.day, outputs.owner
    rejected = RejectedWriter(outputs.rejected_path, outputs.table, day, owner)
    try:
        staged_files = []
        for file in present:
            try:
                staged_files.append(stage(connection, file, extras, day, owner, staging))
            except duckdb.OutOfMemoryException as error:
                _fail_if_small_file_ran_out_of_memory(file, error)
                raise
        staged = [path for path, _, _ in staged_files]
        read_rejects = 0
        for file, (_, rows, missing) in zip(present, staged_files, strict=True):
            file_rejects = write_rejected(connection, file, missing, rejected)
            if file_rejects:
                fail_if_records_went_missing(file, rows + file_rejects)
            read_rejects += file_rejects
        rejected.close()
        start = datetime.combine(day, time(), tzinfo=UTC)
        end = start + timedelta(days=1)
        id_less = [str(f.position) for f in present if not f.has_id]
        connection.execute(
            _STAGED_VIEW.format(
                id_less=", ".join(id_less) or "NULL",
                id_missing=ID_MISSING,
                start=start.isoformat(),
                end=end.isoformat(),
                stride=_FILE_STRIDE,
                positions=" ".join(
                    f"WHEN {sql_literal(str(path))} THEN CAST({f.position} AS BIGINT)"
                    for f, path in zip(present, staged, strict=True)
                ),
                paths="[" + ", ".join(sql_literal(str(path)) for path in staged) + "]",
            )
        )
        if id_less:
            connection.execute(_KEYED.format(id_less=", ".join(id_less)))
            event_id = "event_id || coalesce(suffix, '')"
            suffix_join, suffix_column = "LEFT JOIN suffixes USING (__row)", ", suffix"
        else:
            event_id, suffix_join, suffix_column = "event_id", "", ""
        counted = connection.execute(_COUNTS).fetchone()
        assert counted is not None
        staged_rows, missing_ids, out_of_window, kept = (int(v) for v in counted)
        connection.execute(_DROPPED.format(event_id=event_id, suffix_join=suffix_join))
        dropped = connection.execute("SELECT count(*) FROM dropped").fetchone()
        if len(staged) == 1 and not id_less and kept == staged_rows and dropped == (0,):
            # Nothing to drop: the staging file, in file order, is the partition already.
            os.replace(staged[0], outputs.rows_path)
            rows_out = staged_rows
        else:
            in_file_order = staged_rows <= _SORTED_ROWS_LIMIT
            rows_out = _write_partition(
                connection,
                _PARTITION.format(
                    event_id=event_id,
                    suffix_join=suffix_join,
                    suffix_column=suffix_column,
                    target=sql_literal(str(outputs.rows_path)),
                    row_group=_PARTITION_ROW_GROUP,
                    order="ORDER BY __row" if in_file_order else "",
                ),
                in_file_order=in_file_order,
            )
    finally:
        rejected.close()
    long_lines_set_aside = sum(len(f.long_records) for f in present)
    return NormalizeStats(
        rows_in=staged_rows + read_rejects + long_lines_set_aside,
        duplicates=kept - rows_out,
        out_of_window=out_of_window,
        rejected=read_rejects + long_lines_set_aside + missing_ids,
        rows_out=rows_out,
        extra_columns=tuple(extras),
    )


def _write_partition(
    connection: duckdb.DuckDBPyConnection, copy: str, *, in_file_order: bool
) -> int:
    """Run the partition's COPY and return the rows it wrote. File order is kept for small
    days (a re-run writes the same file) and given up for big ones, where it costs a sort or
    the ordered writer's buffering (0.2 s of a 2M-row day's 1.2 s rewrite): row order is not
    part of the partition's contract, and which copy of a duplicate is kept was decided on the
    rows' file positions before."""
    if not in_file_order:
        connection.execute("SET preserve_insertion_order = false")
    try:
        written = connection.execute(copy).fetchone()
    finally:
        if not in_file_order:  # the connection's setting: back for the next day
            connection.execute("SET preserve_insertion_order = true")
    return int(written[0]) if written else 0


def normalize_events(
    files: Sequence[RawEventFile],
    *,
    table: str,
    day: date,
    owner: str,
    source_labels: Sequence[str],
) -> NormalizedEvents:
    """A day's partition held in memory: written into a temporary folder, read back.
    For tests and small days; the lake writes the partition file directly.

    Raises NormalizeError if a file is not an event CSV, ValueError for an unknown table.
    """
    with tempfile.TemporaryDirectory(prefix="scarf-normalize-") as folder:
        rows_path = Path(folder) / "rows.parquet"
        rejected_path = Path(folder) / "rejected.parquet"
        with EventNormalizer() as normalizer:
            stats = normalizer.write_day(
                files,
                table=table,
                day=day,
                owner=owner,
                source_labels=source_labels,
                rows_path=rows_path,
                rejected_path=rejected_path,
                staging=Path(folder),
            )
        rows = pl.read_parquet(rows_path)
        rejected = pl.read_parquet(rejected_path).sort("source_file", "line_number")
    counts = pl.LazyFrame(
        {
            "rows_in": [stats.rows_in],
            "rejected": [stats.rejected],
            "out_of_window": [stats.out_of_window],
            "kept": [stats.rows_out + stats.duplicates],
        }
    )
    return NormalizedEvents(rows.lazy(), counts, rejected, stats.extra_columns)
