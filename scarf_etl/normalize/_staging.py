"""One raw event CSV -> its staging parquet file and its rejected records, by DuckDB's CSV
reader, with the checks around it: over-long lines set aside first (the reader drops them
without a word), unreadable times read again to find their lines, rejected records given a
reason and their line, and the records read and rejected counted against the file's.

The staging file holds the lake partition's columns; events.py de-duplicates a day's staging
files into the partition.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import duckdb
import polars as pl

from scarf_etl.normalize._csv_lines import (
    READER_BUFFER_BYTES,
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
    RejectedWriter,
    RejectError,
    rejected_records,
)
from scarf_etl.normalize.parsing import column_name
from scarf_etl.normalize.results import NormalizeError
from scarf_etl.schemas import EVENT_COLUMNS
from scarf_etl.sql_text import sql_identifier, sql_literal

# Small staging row groups keep the order-preserving COPY's buffer of finished groups small.
_STAGING_ROW_GROUP: Final = 30_000


# Staging files are written as the partition is, so one with nothing to drop can become it.
_STAGING_FORMAT: Final = f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {_STAGING_ROW_GROUP}"
# A staged row of a file with ids that has none (set aside as rejected, never in the partition).
ID_MISSING: Final = "(event_id IS NULL OR event_id = '')"


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


def _column_type(name: str) -> str:
    return _DUCKDB_TYPES[EVENT_COLUMNS[name]] if name in EVENT_COLUMNS else "VARCHAR"


@dataclass(frozen=True)
class EventFile:
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
        columns = ", ".join(
            f"{sql_literal(name)}: {sql_literal(kind)}" for name, kind in types.items()
        )
        # force_not_null: an empty `time` reaches the cast as '' and fails it, so a record
        # without a time is rejected with its position like any other bad value.
        return (
            f"read_csv({sql_literal(str(self.readable))}, header = true, auto_detect = false, "
            f"delim = ',', quote = '\"', escape = '\"', columns = {{{columns}}}, "
            f"strict_mode = true, null_padding = false, force_not_null = ['time'], "
            f"max_line_size = {MAX_LINE_BYTES}, buffer_size = {READER_BUFFER_BYTES}, "
            f"store_rejects = true, rejects_limit = {MAX_REJECT_ERRORS}, "
            f"rejects_table = {sql_literal(self.rejects_table)}, "
            f"rejects_scan = {sql_literal(f'scans_{self.position}')})"
        )

    def staged_select(self, extras: Sequence[str], day: date, owner: str) -> str:
        """One row per record read, in the partition's columns (event_id: the event key).
        event_date is the day itself: rows whose time falls outside it never reach the
        partition (and a cast of each time to a date cost ~0.15 CPU s per 2M rows)."""
        present = set(self.names)

        def value(name: str) -> str:
            if name in present:
                return sql_identifier(name)
            return f"CAST(NULL AS {_column_type(name)})"

        content = [n for n in EVENT_COLUMNS if n != "id"] + list(extras)
        if self.has_id:
            key = "trim(id)"
        else:
            # No id (legacy v1): a digest of the row's typed values in canonical order, so v1
            # and v2 layouts agree; its ordinal among identical rows is added afterwards.
            parts = ", ".join(f"coalesce(CAST({value(n)} AS VARCHAR), '')" for n in content)
            key = f"md5(concat_ws(chr(31), {sql_literal(self.raw.package_id or '')}, {parts}))"
        return f"""
            SELECT
                {key} AS event_id,
                DATE '{day.isoformat()}' AS event_date,
                CAST({sql_literal(self.raw.package_id)} AS VARCHAR) AS package_id,
                {", ".join(f"{value(n)} AS {sql_identifier(n)}" for n in content)},
                CAST({sql_literal(owner)} AS VARCHAR) AS owner
            FROM {self.read_csv()}
        """


def _readable(
    raw: RawEventFile, label: str, position: int, names: list[str], staging: Path
) -> EventFile:
    """The file as the CSV reader may read it: DuckDB drops a record longer than its buffer
    without a word, so over-long lines are set aside here first, from a copy."""
    spans = long_lines(raw.path)
    if not spans:
        return EventFile(raw, label, position, tuple(names), raw.path)
    copy = staging / f"file-{position}.csv"
    texts = without_spans(raw.path, spans, copy)
    lines = line_numbers_at(raw.path, (start for start, _ in spans))
    records = tuple((lines[start], text) for (start, _), text in zip(spans, texts, strict=True))
    return EventFile(raw, label, position, tuple(names), copy, records)


def planned_files(
    files: Sequence[RawEventFile], labels: Sequence[str], staging: Path
) -> tuple[list[EventFile], list[str]]:
    present: list[EventFile] = []
    for raw, label in zip(files, labels, strict=True):
        names = read_event_header(raw.path)
        if names:
            present.append(_readable(raw, label, len(present), names, staging))
    known = set(EVENT_COLUMNS)
    extras = sorted({n for f in present for n in f.names if n not in known})
    return present, extras


def stage(
    connection: duckdb.DuckDBPyConnection,
    file: EventFile,
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
        connection.execute(f"COPY ({select}) TO {sql_literal(str(target))} ({_STAGING_FORMAT})")
    except (duckdb.OutOfMemoryException, duckdb.IOException):
        raise  # the machine's trouble, unless the caller knows better (see events.py)
    except duckdb.Error as error:
        raise NormalizeError(f"{file.label}: cannot be read as an event CSV: {error}") from error
    # One pass over the staged rows for both counts (a small day's cost is its queries).
    id_missing = ID_MISSING if file.has_id else "false"
    counted = connection.execute(
        f"SELECT count(*), count(*) FILTER (WHERE time IS NULL), "
        f"count(*) FILTER (WHERE ({id_missing}) AND time IS NOT NULL) "
        f"FROM read_parquet({sql_literal(str(target))}, hive_partitioning = false)"
    ).fetchone()
    rows, unreadable_times, missing_ids = (int(v) for v in counted) if counted else (0, 0, 0)
    if unreadable_times:
        target = _reject_unreadable_times(connection, file, target, staging, unreadable_times)
    return target, rows - unreadable_times, missing_ids


def _reject_unreadable_times(
    connection: duckdb.DuckDBPyConnection,
    file: EventFile,
    staged: Path,
    staging: Path,
    nulls: int,
) -> Path:
    """DuckDB 1.5's CSV reader turns a `time` it cannot read as TIMESTAMPTZ into NULL instead
    of a rejected record (`force_not_null` makes an empty one '' so it is no exception). Such
    rows leave the staged file, and the file is read again with `time` as TIMESTAMP, which
    records them as rejects with their lines: the same texts fail both types, and the second
    read's rejects are a superset of the first's. If the two disagree, the day fails rather
    than lose a row without a word; so does a file with MAX_REJECT_ERRORS unreadable times or
    more, at once (past that the reader stops recording them)."""
    if nulls >= MAX_REJECT_ERRORS:
        raise NormalizeError(
            f"{file.label}: {MAX_REJECT_ERRORS:,} or more values cannot be read ({nulls:,} values "
            "of `time` are not timestamps); is it a Scarf event CSV?"
        )
    before = connection.execute(f"SELECT count(DISTINCT line) FROM {file.rejects_table}").fetchone()
    connection.execute(f"DROP TABLE {file.rejects_table}")
    connection.execute(f"DROP TABLE scans_{file.position}")
    # Every column read (a COPY, not a count the optimizer would prune), so every error
    # the first read recorded is recorded again.
    probe = staging / f"file-{file.position}-times.parquet"
    connection.execute(
        f"COPY (SELECT * FROM {file.read_csv(time_type='TIMESTAMP')}) TO {sql_literal(str(probe))} "
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
        f"COPY (SELECT * FROM read_parquet({sql_literal(str(staged))}, hive_partitioning = false) "
        f"WHERE time IS NOT NULL) TO {sql_literal(str(kept))} ({_STAGING_FORMAT})"
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


def _fail_if_rejects_overflowed(connection: duckdb.DuckDBPyConnection, file: EventFile) -> int:
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


def fail_if_records_went_missing(file: EventFile, accounted: int) -> None:
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


def write_rejected(
    connection: duckdb.DuckDBPyConnection,
    file: EventFile,
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
