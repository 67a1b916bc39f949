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
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final

import duckdb
import polars as pl

from scarf_etl.normalize._csv_lines import (
    blank_field_records,
    line_numbers_at,
    long_lines,
    record_count,
    record_count_bound,
    record_lines,
    without_spans,
)
from scarf_etl.normalize._rejects import (
    MAX_LINE_BYTES,
    MAX_REJECT_ERRORS,
    READER_BUFFER_BYTES,
    RejectedWriter,
    RejectError,
    rejected_records,
)
from scarf_etl.normalize.parsing import column_name
from scarf_etl.normalize.results import NormalizeError, NormalizeStats
from scarf_etl.schemas import EVENT_COLUMNS, EVENT_TABLE_COLUMNS, EVENT_TABLES, REJECTED_COLUMNS

# DuckDB's own budget; the process stays under ~0.7 GB with polars and Python around it. Not
# lower: the staging COPY keeps file order by buffering finished row groups, and under a tighter
# budget it falls back to one thread at a time while the other spins (measured at 300 and 400 MB
# on a 2M-row day: 4.8 s wall and 9.4 CPU s against 2.2 s and 4.2 s at 500 MB, the same peak RSS).
DUCKDB_MEMORY_LIMIT: Final = "500MB"
DUCKDB_THREADS: Final = 2
# Row keys are file position * stride + row index in the file's staging parquet.
_FILE_STRIDE: Final = 1 << 40
# Small staging row groups keep the order-preserving COPY's buffer of finished groups small.
_STAGING_ROW_GROUP: Final = 30_000
_PARTITION_ROW_GROUP: Final = 100_000
# Staging files are written as the partition is, so one with nothing to drop can become it.
_STAGING_FORMAT: Final = f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {_STAGING_ROW_GROUP}"
_SORTED_ROWS_LIMIT: Final = 200_000
_DUCKDB_TYPES: Final[dict[pl.DataType, str]] = {
    pl.String(): "VARCHAR",
    pl.Float64(): "DOUBLE",
    pl.Boolean(): "BOOLEAN",
    pl.Datetime("us", "UTC"): "TIMESTAMPTZ",
    pl.Date(): "DATE",
}
_KINDS: Final = {
    name: {"DOUBLE": "a number", "BOOLEAN": "a boolean", "TIMESTAMPTZ": "a timestamp"}[kind]
    for name, dtype in EVENT_COLUMNS.items()
    if (kind := _DUCKDB_TYPES[dtype]) != "VARCHAR"
}


@dataclass(frozen=True)
class RawEventFile:
    path: Path
    package_id: str | None  # the package the request named (None for pixel exports)


@dataclass(frozen=True)
class NormalizedEvents:
    """A day's events held in memory (for tests and small days; the lake streams instead)."""

    rows: pl.LazyFrame  # typed, in-window, de-duplicated: the lake partition
    counts: pl.LazyFrame  # one row: rows_in, rejected, out_of_window, kept
    rejected: pl.DataFrame  # REJECTED_COLUMNS
    extra_columns: tuple[str, ...]


def read_event_header(path: Path) -> list[str] | None:
    """The file's column names, or None for an empty file (a valid empty day).

    Raises NormalizeError when the first line is not an event CSV header.
    """
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            first = next(csv.reader(handle), None)
    except csv.Error as error:
        raise NormalizeError(f"{path} is not a Scarf event CSV: line 1: {error}") from error
    if not first:
        return None
    names = [column_name(cell, i) for i, cell in enumerate(first)]
    if "time" not in names:
        preview = ",".join(first)[:80]
        raise NormalizeError(
            f"{path} is not a Scarf event CSV: its first line has no 'time' column ({preview!r})"
        )
    if len(set(names)) != len(names):
        raise NormalizeError(f"{path} has duplicate column names in its header: {names}")
    return names


def empty_events_frame(extras: Sequence[str] = ()) -> pl.DataFrame:
    """A zero-row frame with the lake layout of an event partition."""
    schema = dict(EVENT_TABLE_COLUMNS) | {n: pl.String() for n in sorted(extras)}
    return pl.DataFrame(schema=schema)


def _literal(value: str | None) -> str:
    """A SQL string literal. DuckDB binds no parameters inside COPY or read_csv options."""
    if value is None:
        return "NULL"
    return "'" + value.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column_type(name: str) -> str:
    return _DUCKDB_TYPES[EVENT_COLUMNS[name]] if name in EVENT_COLUMNS else "VARCHAR"


@dataclass(frozen=True)
class _EventFile:
    raw: RawEventFile
    label: str
    position: int
    names: tuple[str, ...]
    # What the CSV reader reads: the raw file, or a staging copy without its over-long lines.
    readable: Path
    long_records: tuple[tuple[int, str], ...] = ()  # (line, raw text) of those lines

    @property
    def has_id(self) -> bool:
        return "id" in self.names

    @property
    def rejects_table(self) -> str:
        return f"rejects_{self.position}"

    def read_csv(self, *, time_type: str | None = None) -> str:
        """The read_csv call: every column typed by name, bad records set aside. `time_type`
        overrides the type `time` is read as (see `_reject_unreadable_times`)."""
        types = {name: _column_type(name) for name in self.names}
        if time_type is not None:
            types["time"] = time_type
        columns = ", ".join(f"{_literal(name)}: {_literal(kind)}" for name, kind in types.items())
        # force_not_null: an empty `time` reaches the cast as '' and fails it, so a record
        # without a time is rejected with its position like any other bad value.
        return (
            f"read_csv({_literal(str(self.readable))}, header = true, auto_detect = false, "
            f"delim = ',', quote = '\"', escape = '\"', columns = {{{columns}}}, "
            f"strict_mode = true, null_padding = false, force_not_null = ['time'], "
            f"max_line_size = {MAX_LINE_BYTES}, buffer_size = {READER_BUFFER_BYTES}, "
            f"store_rejects = true, rejects_limit = {MAX_REJECT_ERRORS}, "
            f"rejects_table = {_literal(self.rejects_table)}, "
            f"rejects_scan = {_literal(f'scans_{self.position}')})"
        )

    def staged_select(self, extras: Sequence[str], day: date, owner: str) -> str:
        """One row per record read, in the partition's columns (event_id: the event key).
        event_date is the day itself: rows whose time falls outside it never reach the
        partition (and a cast of each time to a date cost ~0.15 CPU s per 2M rows)."""
        present = set(self.names)

        def value(name: str) -> str:
            if name in present:
                return _identifier(name)
            return f"CAST(NULL AS {_column_type(name)})"

        content = [n for n in EVENT_COLUMNS if n != "id"] + list(extras)
        if self.has_id:
            key = "trim(id)"
        else:
            # No id (legacy v1): a digest of the row's typed values in canonical order, so v1
            # and v2 layouts agree; its ordinal among identical rows is added afterwards.
            parts = ", ".join(f"coalesce(CAST({value(n)} AS VARCHAR), '')" for n in content)
            key = f"md5(concat_ws(chr(31), {_literal(self.raw.package_id or '')}, {parts}))"
        return f"""
            SELECT
                {key} AS event_id,
                DATE '{day.isoformat()}' AS event_date,
                CAST({_literal(self.raw.package_id)} AS VARCHAR) AS package_id,
                {", ".join(f"{value(n)} AS {_identifier(n)}" for n in content)},
                CAST({_literal(owner)} AS VARCHAR) AS owner
            FROM {self.read_csv()}
        """


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


def _readable(
    raw: RawEventFile, label: str, position: int, names: list[str], staging: Path
) -> _EventFile:
    """The file as the CSV reader may read it: DuckDB drops a record longer than its buffer
    without a word, so over-long lines are set aside here first, from a copy."""
    spans = long_lines(raw.path)
    if not spans:
        return _EventFile(raw, label, position, tuple(names), raw.path)
    copy = staging / f"file-{position}.csv"
    texts = without_spans(raw.path, spans, copy)
    lines = line_numbers_at(raw.path, (start for start, _ in spans))
    records = tuple((lines[start], text) for (start, _), text in zip(spans, texts, strict=True))
    return _EventFile(raw, label, position, tuple(names), copy, records)


def _planned_files(
    files: Sequence[RawEventFile], labels: Sequence[str], staging: Path
) -> tuple[list[_EventFile], list[str]]:
    present: list[_EventFile] = []
    for raw, label in zip(files, labels, strict=True):
        names = read_event_header(raw.path)
        if names:
            present.append(_readable(raw, label, len(present), names, staging))
    known = set(EVENT_COLUMNS)
    extras = sorted({n for f in present for n in f.names if n not in known})
    return present, extras


def _stage(
    connection: duckdb.DuckDBPyConnection,
    file: _EventFile,
    extras: Sequence[str],
    day: date,
    owner: str,
    staging: Path,
) -> tuple[Path, int, int]:
    """Stage the file's records; return the staged file, its rows and how many of them have
    no id."""
    target = staging / f"file-{file.position}.parquet"
    select = file.staged_select(extras, day, owner)
    try:
        connection.execute(f"COPY ({select}) TO {_literal(str(target))} ({_STAGING_FORMAT})")
    except duckdb.OutOfMemoryException as error:
        _fail_if_small_file_ran_out_of_memory(file, error)
        raise  # the machine's trouble, not the file's
    except duckdb.IOException:
        raise  # the machine's trouble, not the file's
    except duckdb.Error as error:
        raise NormalizeError(f"{file.label}: cannot be read as an event CSV: {error}") from error
    # One pass over the staged rows for both counts (a small day's cost is its queries).
    id_missing = "event_id IS NULL OR event_id = ''" if file.has_id else "false"
    counted = connection.execute(
        f"SELECT count(*), count(*) FILTER (WHERE time IS NULL), "
        f"count(*) FILTER (WHERE ({id_missing}) AND time IS NOT NULL) "
        f"FROM read_parquet({_literal(str(target))}, hive_partitioning = false)"
    ).fetchone()
    rows, unreadable_times, missing_ids = (int(v) for v in counted) if counted else (0, 0, 0)
    if unreadable_times:
        target = _reject_unreadable_times(connection, file, target, staging, unreadable_times)
    return target, rows - unreadable_times, missing_ids


def _fail_if_small_file_ran_out_of_memory(file: _EventFile, error: duckdb.Error) -> None:
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


def _reject_unreadable_times(
    connection: duckdb.DuckDBPyConnection,
    file: _EventFile,
    staged: Path,
    staging: Path,
    nulls: int,
) -> Path:
    """DuckDB 1.5's CSV reader turns a `time` it cannot read as TIMESTAMPTZ into NULL instead
    of a rejected record (`force_not_null` makes an empty one '' so it is no exception). Such
    rows leave the staged file, and the file is read again with `time` as TIMESTAMP, which
    records them as rejects with their lines: the same texts fail both types, and the second
    read's rejects are a superset of the first's. If the two disagree, the day fails rather
    than lose a row without a word."""
    before = connection.execute(f"SELECT count(DISTINCT line) FROM {file.rejects_table}").fetchone()
    connection.execute(f"DROP TABLE {file.rejects_table}")
    connection.execute(f"DROP TABLE scans_{file.position}")
    # Every column read (a COPY, not a count the optimizer would prune), so every error
    # the first read recorded is recorded again.
    probe = staging / f"file-{file.position}-times.parquet"
    connection.execute(
        f"COPY (SELECT * FROM {file.read_csv(time_type='TIMESTAMP')}) TO {_literal(str(probe))} "
        f"(FORMAT parquet, COMPRESSION lz4_raw)"
    )
    probe.unlink()
    _fail_if_rejects_overflowed(connection, file)
    after = connection.execute(f"SELECT count(DISTINCT line) FROM {file.rejects_table}").fetchone()
    newly_rejected = (after[0] if after else 0) - (before[0] if before else 0)
    if newly_rejected != nulls:
        raise NormalizeError(
            f"{file.label}: {nulls:,} values of `time` cannot be read as timestamps, but "
            f"{newly_rejected:,} records were found for them; the file needs a look"
        )
    kept = staging / f"file-{file.position}-timed.parquet"
    connection.execute(
        f"COPY (SELECT * FROM read_parquet({_literal(str(staged))}, hive_partitioning = false) "
        f"WHERE time IS NOT NULL) TO {_literal(str(kept))} ({_STAGING_FORMAT})"
    )
    staged.unlink()
    return kept


# The reader's errors in file order; a record's errors are adjacent. A sort, not a GROUP BY:
# it spills to disk, so a day whose every row is bad still fits the memory limit. The reader
# records one "too many columns" error per extra field, each with the record's text: only the
# last is read (its message holds the record's field count), or a record of 30,000 fields
# sorts 300 MB of copies of itself.
_REJECT_ERRORS: Final = """
    SELECT line, column_idx, column_name, error_type, csv_line, error_message
    FROM {rejects}
    WHERE error_type <> 'TOO MANY COLUMNS' OR (line, column_idx) IN (
        SELECT (line, max(column_idx)) FROM {rejects}
        WHERE error_type = 'TOO MANY COLUMNS' GROUP BY line
    )
    ORDER BY line, column_idx
"""
_REJECT_BATCH: Final = 10_000


def _fail_if_rejects_overflowed(connection: duckdb.DuckDBPyConnection, file: _EventFile) -> int:
    """Past MAX_REJECT_ERRORS the reader stops recording errors (and would drop rows silently):
    the file is not the export it claims to be. Returns the errors the reader recorded."""
    counted = connection.execute(f"SELECT count(*), min(line) FROM {file.rejects_table}").fetchone()
    if counted is None or counted[0] < MAX_REJECT_ERRORS:
        return int(counted[0]) if counted else 0
    first = connection.execute(
        f"SELECT error_type, column_name, error_message FROM {file.rejects_table} "
        f"WHERE line = ? LIMIT 1",
        [counted[1]],
    ).fetchone()
    raise NormalizeError(
        f"{file.label}: {MAX_REJECT_ERRORS:,} or more values cannot be read; is it a Scarf event "
        f"CSV? The first is its record {counted[1]}: {first}"
    )


def _fail_if_records_went_missing(file: _EventFile, accounted: int) -> None:
    """DuckDB 1.5's CSV reader can lose records outright (neither read nor set aside) in a file
    whose bad rows come in a dense run, e.g. 45,000 bad rows after 300,000 good ones lost
    11,570 of them. So where the reader set any record aside, the records it read and set
    aside must add up to the file's: counted from its lines (fast), or where that cannot settle
    it (records over several lines, blank lines), with the csv module (slow, rare). If they do
    not, the day fails loudly rather than lose rows without a word."""
    if accounted >= record_count_bound(file.readable):
        return
    expected = record_count(file.readable)
    if accounted >= expected:
        return
    raise NormalizeError(
        f"{file.label}: DuckDB's CSV reader accounted for {accounted:,} of its {expected:,} "
        f"records; {expected - accounted:,} were neither read nor set aside as rejected (a "
        "fault of the reader on files with many bad rows). Nothing of this day was loaded. "
        "Fetch the day again; if it persists, the export itself is damaged: keep the file "
        "and report it"
    )


def _write_rejected(
    connection: duckdb.DuckDBPyConnection,
    file: _EventFile,
    missing_ids: int,
    writer: RejectedWriter,
) -> int:
    """Write the file's rejected records; return how many of them the CSV reader read (the
    others are over-long lines and records without an id, set aside around it)."""
    recorded = _fail_if_rejects_overflowed(connection, file)
    rejected_lines: set[int] = set()
    read = 0
    if recorded:  # no query for the errors of a file without any
        result = connection.execute(_REJECT_ERRORS.format(rejects=file.rejects_table))
        pending: list[RejectError] = []  # the errors of a record the batch may cut in two
        while True:
            batch = result.fetchmany(_REJECT_BATCH)
            errors = pending + [RejectError(*row) for row in batch]
            pending = []
            if batch and errors:
                last = errors[-1].record
                pending = [e for e in errors if e.record == last]
                errors = [e for e in errors if e.record != last]
            records = rejected_records(errors, len(file.names), _KINDS)
            starts = record_lines(file.readable, [r.raw_text for r in records])
            # A record whose text is not found (bytes the reader replaced) keeps the reader's
            # number.
            found = [
                (line or r.record, r.reason, r.raw_text)
                for line, r in zip(starts, records, strict=True)
            ]
            writer.write(file.label, found)
            read += len(found)
            if missing_ids:
                rejected_lines.update(line for line, _, _ in found)
            if not batch:
                break
    too_long = f"record longer than {MAX_LINE_BYTES:,} bytes"
    writer.write(file.label, [(line, too_long, raw) for line, raw in file.long_records])
    if missing_ids:
        blank = blank_field_records(file.readable, file.names.index("id"), rejected_lines)
        writer.write(file.label, [(line, "id: missing", raw) for line, raw in blank])
    return read


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
            ELSE event_id IS NULL OR event_id = '' END AS __id_missing,
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
        present, extras = _planned_files(files, source_labels, staging)
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


def _drop_day_objects(connection: duckdb.DuckDBPyConnection, present: Sequence[_EventFile]) -> None:
    """What a day left in the connection, so the next day starts from nothing."""
    statements = [f"DROP TABLE IF EXISTS {f.rejects_table}" for f in present]
    statements += [f"DROP TABLE IF EXISTS scans_{f.position}" for f in present]
    statements += ["DROP VIEW IF EXISTS staged", "DROP TABLE IF EXISTS suffixes"]
    statements += ["DROP TABLE IF EXISTS dropped"]
    connection.execute("; ".join(statements))  # one call: a small day's cost is its calls


def _normalize_day(
    connection: duckdb.DuckDBPyConnection,
    present: Sequence[_EventFile],
    extras: Sequence[str],
    outputs: _DayOutputs,
    staging: Path,
) -> NormalizeStats:
    day, owner = outputs.day, outputs.owner
    rejected = RejectedWriter(outputs.rejected_path, outputs.table, day, owner)
    try:
        staged_files = [_stage(connection, f, extras, day, owner, staging) for f in present]
        staged = [path for path, _, _ in staged_files]
        read_rejects = 0
        for file, (_, rows, missing) in zip(present, staged_files, strict=True):
            file_rejects = _write_rejected(connection, file, missing, rejected)
            if file_rejects:
                _fail_if_records_went_missing(file, rows + file_rejects)
            read_rejects += file_rejects
        rejected.close()
        start = datetime.combine(day, time(), tzinfo=UTC)
        end = start + timedelta(days=1)
        id_less = [str(f.position) for f in present if not f.has_id]
        connection.execute(
            _STAGED_VIEW.format(
                id_less=", ".join(id_less) or "NULL",
                start=start.isoformat(),
                end=end.isoformat(),
                stride=_FILE_STRIDE,
                positions=" ".join(
                    f"WHEN {_literal(str(path))} THEN CAST({f.position} AS BIGINT)"
                    for f, path in zip(present, staged, strict=True)
                ),
                paths="[" + ", ".join(_literal(str(path)) for path in staged) + "]",
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
            written = connection.execute(
                _PARTITION.format(
                    event_id=event_id,
                    suffix_join=suffix_join,
                    suffix_column=suffix_column,
                    target=_literal(str(outputs.rows_path)),
                    row_group=_PARTITION_ROW_GROUP,
                    # File order costs a sort: kept for small days (re-runs give the same
                    # file), not for big ones (row order is not part of the partition's
                    # contract).
                    order="ORDER BY __row" if staged_rows <= _SORTED_ROWS_LIMIT else "",
                )
            ).fetchone()
            rows_out = int(written[0]) if written else 0
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
