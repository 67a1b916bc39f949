"""Aggregates: one small NDJSON file per day (a few thousand lines at most), parsed line by
line so one bad line is set aside instead of failing the file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import polars as pl

from scarf_etl.normalize.parsing import column_name
from scarf_etl.normalize.results import NormalizeError
from scarf_etl.schemas import (
    AGGREGATE_COLUMNS,
    AGGREGATE_FIELD_ALIASES,
    AGGREGATES_TABLE,
    REJECTED_COLUMNS,
)


@dataclass(frozen=True)
class NormalizedAggregates:
    rows: pl.DataFrame
    rejected: pl.DataFrame
    rows_in: int
    duplicates: int
    out_of_window: int
    extra_columns: tuple[str, ...]


_REQUIRED_AGGREGATE_FIELDS: Final = ("date", "package", "breakdown", "total")
_INTEGER_AGGREGATE_FIELDS: Final = ("total", "unique_total")


def _aggregate_date(value: object) -> date:
    if not isinstance(value, str):
        raise ValueError("date: not a string")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ValueError("date: not a date") from None


def _aggregate_integer(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name}: not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"{name}: not an integer")


def _aggregate_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _aggregate_record(line: str, owner: str) -> dict[str, object]:
    """One NDJSON line -> a typed record; raises ValueError with the reason."""
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(parsed, dict):
        raise ValueError("not a JSON object")
    fields = {
        column_name(AGGREGATE_FIELD_ALIASES.get(str(key), str(key)), i): value
        for i, (key, value) in enumerate(parsed.items())
    }
    missing = [f for f in _REQUIRED_AGGREGATE_FIELDS if fields.get(f) in (None, "")]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    record: dict[str, object] = {}
    for key, value in fields.items():
        if key == "date":
            record[key] = _aggregate_date(value)
        elif key in _INTEGER_AGGREGATE_FIELDS:
            record[key] = _aggregate_integer(key, value)
        elif key != "owner":
            record[key] = _aggregate_text(value)
    record["owner"] = owner
    return record


def normalize_aggregates(path: Path, *, day: date, owner: str, label: str) -> NormalizedAggregates:
    """A day's AggregateV1 NDJSON -> typed rows for that date, plus rejected lines.

    Raises NormalizeError when no line of a non-empty file is JSON (e.g. an HTML error page).
    """
    records: list[dict[str, object]] = []
    rejected: list[dict[str, object]] = []
    rows_in = out_of_window = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, raw_line in enumerate(handle, start=1):
            line = raw_line.rstrip("\r\n")
            if not line.strip():
                continue
            rows_in += 1
            try:
                record = _aggregate_record(line, owner)
            except ValueError as error:
                rejected.append({"line_number": number, "reason": str(error), "raw_line": line})
                continue
            if record["date"] != day:
                out_of_window += 1
                continue
            records.append(record)
    if rows_in and len(rejected) == rows_in and all(r["reason"] == "not JSON" for r in rejected):
        raise NormalizeError(f"{path} is not NDJSON: no line parses as JSON")

    extras = sorted({k for r in records for k in r if k not in AGGREGATE_COLUMNS})
    schema = dict(AGGREGATE_COLUMNS) | {n: pl.String() for n in extras}
    frame = pl.DataFrame(records, schema=schema)
    deduplicated = frame.unique(maintain_order=True)
    rejected_frame = pl.DataFrame(
        [
            {
                "table_name": AGGREGATES_TABLE,
                "partition_date": day,
                "owner": owner,
                "source_file": label,
                **r,
            }
            for r in rejected
        ],
        schema=REJECTED_COLUMNS,
    )
    return NormalizedAggregates(
        rows=deduplicated,
        rejected=rejected_frame,
        rows_in=rows_in,
        duplicates=frame.height - deduplicated.height,
        out_of_window=out_of_window,
        extra_columns=tuple(extras),
    )
