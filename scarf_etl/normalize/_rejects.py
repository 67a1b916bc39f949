"""The CSV reader's rejected records -> one reason per record, in the project's own words, and
the parquet file they are appended to."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import polars as pl
import pyarrow.parquet as pq

from scarf_etl.normalize._csv_lines import clip_raw_text, count_fields
from scarf_etl.schemas import REJECTED_COLUMNS

# Longest physical record the reader accepts; longer ones are rejected rows, not failures.
MAX_LINE_BYTES: Final = 2 * 1024 * 1024
# The reader holds its rejected records in memory, outside its memory limit: past this many
# errors in one file, the file fails (naming its first bad line) rather than the machine.
MAX_REJECT_ERRORS: Final = 50_000
_CAST_VALUE: Final = re.compile(r'Could not convert string "(.*)" to', re.DOTALL)
# Structural reasons come before per-column ones: they explain them.
_STRUCTURAL: Final = ("LINE SIZE OVER MAXIMUM", "TOO MANY COLUMNS", "MISSING COLUMNS")
_FOUND_FIELDS: Final = re.compile(r"Expected Number of Columns: \d+ Found: (\d+)")


@dataclass(frozen=True)
class RejectError:
    """One row of DuckDB's reject_errors table."""

    record: int  # the reader's record number (1 = the header): groups a record's errors
    column_index: int | None
    column_name: str | None
    error_type: str
    csv_line: str
    message: str


@dataclass(frozen=True)
class RejectedRecord:
    record: int  # the reader's record number (1 = the header)
    reason: str
    raw_text: str


def _value_reason(column: str, message: str, kinds: Mapping[str, str]) -> str:
    match = _CAST_VALUE.search(message)
    # An empty value: DuckDB quotes it as "" or, reading `time` as TIMESTAMP, names none.
    if column == "time" and (match is None or not match.group(1).strip()):
        return "time: missing"
    return f"{column}: not {kinds.get(column, 'a valid value')}"


def _reason(error: RejectError, expected_fields: int, kinds: Mapping[str, str]) -> str:
    kind = error.error_type
    if kind == "CAST" and error.column_name:
        return _value_reason(error.column_name, error.message, kinds)
    if kind in ("TOO MANY COLUMNS", "MISSING COLUMNS"):
        # The reader's own count ("... Found: 30000"): the text it keeps may be clipped.
        found = _FOUND_FIELDS.search(error.message or "")
        got = int(found.group(1)) if found else count_fields(error.csv_line)
        counted = f", got {got}" if got is not None else ""
        return f"wrong field count: expected {expected_fields}{counted}"
    if kind == "LINE SIZE OVER MAXIMUM":
        return f"record longer than {MAX_LINE_BYTES:,} bytes"
    if kind == "UNQUOTED VALUE":
        return "malformed CSV: a quoted field is not closed (file cut off?)"
    if kind == "INVALID ENCODING":
        return "not UTF-8 text"
    return f"malformed CSV: {error.message}"


def rejected_records(
    errors: Iterable[RejectError], expected_fields: int, kinds: Mapping[str, str]
) -> list[RejectedRecord]:
    """One entry per rejected record, its reasons joined with "; " (structural first, then by
    column), in file order. `kinds` names what each typed column should hold ("a number")."""
    by_record: dict[int, list[RejectError]] = {}
    for error in errors:
        by_record.setdefault(error.record, []).append(error)
    records: list[RejectedRecord] = []
    for record in sorted(by_record):
        found = by_record[record]
        found.sort(
            key=lambda e: (
                e.error_type not in _STRUCTURAL,
                e.column_index if e.column_index is not None else -1,
            )
        )
        reasons = list(dict.fromkeys(_reason(e, expected_fields, kinds) for e in found))
        first = found[0]
        records.append(
            RejectedRecord(
                record=record,
                reason="; ".join(reasons),
                raw_text=clip_raw_text(first.csv_line),
            )
        )
    return records


class RejectedWriter:
    """Rejected rows, appended batch by batch to one zstd parquet file: a day whose every row
    is bad holds one batch in memory, not the day."""

    def __init__(self, path: Path, table: str, day: date, owner: str) -> None:
        self._path, self._table, self._day, self._owner = path, table, day, owner
        self._schema = pl.DataFrame(schema=REJECTED_COLUMNS).to_arrow().schema
        self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")
        self._open = True
        self.rows = 0

    def write(self, label: str, found: Sequence[tuple[int, str, str]]) -> None:
        if not found:
            return
        frame = pl.DataFrame(
            {
                "table_name": [self._table] * len(found),
                "partition_date": [self._day] * len(found),
                "owner": [self._owner] * len(found),
                "source_file": [label] * len(found),
                "line_number": [line for line, _, _ in found],
                "reason": [reason for _, reason, _ in found],
                "raw_line": [raw for _, _, raw in found],
            },
            schema=REJECTED_COLUMNS,
        )
        self._writer.write_table(frame.to_arrow().cast(self._schema))
        self.rows += len(found)

    def close(self) -> None:
        if self._open:
            self._writer.close()
            self._open = False
