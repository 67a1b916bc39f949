"""Aggregates: a day's small NDJSON files (a few thousand lines at most), parsed line by line
so one bad line is set aside instead of failing the file.

Every API generation lands in one shape (`schemas.AGGREGATE_COLUMNS`), so `scarf.aggregates`
reads the same whichever API served a day:

| column             | v1 (AggregateV1)           | v3 (aggregations/export)                    |
|--------------------|----------------------------|---------------------------------------------|
| `date`             | `date`                     | `date` (the daily bucket)                   |
| `package`          | `package` (package uuid)   | `artifact` (package or pixel uuid)          |
| `breakdown`        | `total`, `country`, ...    | `by-total` -> `total`, `by-country` ->      |
|                    |                            | `country`, `by-company` -> `company`,       |
|                    |                            | `by-cloudprovider` -> `cloud_provider`,     |
|                    |                            | `by-platform`/`-version`/`-client`/         |
|                    |                            | `-variable` -> `platform`/`version`/...     |
| `total`            | `total`                    | `total`                                     |
| `unique_total`     | `unique_total` (total row) | null                                        |
| `unique_origins`   | null                       | `unique_origins`                            |
| `unique_endpoints` | null                       | `unique_endpoints`                          |
| breakdown fields   | `country`, `company_name`, | the same names (`country`,                  |
|                    | `cloud_provider_name`, ... | `cloud_provider_name`, `company_name`, ...) |
| `artifact_type`    | `package` (v1 counts       | `artifact_type`: `package` or               |
|                    | package events only)       | `tracking-pixel`                            |
| `artifact_name`    | null                       | `artifact_name`                             |
| `api_version`      | `v1`                       | `v3`                                        |
| `owner`            | the configured owner       | the configured owner                        |

v2's spellings (`artifact`, `total_unique`) land in `package` / `unique_total` with
`api_version` `v2`. A row's generation is read from its fields: v3 rows carry
`unique_origins`, `unique_endpoints` or `artifact_type`, or a `by-` breakdown. Fields no
generation above names are kept as extra text columns. The distinct counts (`unique_*`) are
approximate and not additive: never sum them across rows, packages or days.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
_INTEGER_AGGREGATE_FIELDS: Final = ("total", "unique_total", "unique_origins", "unique_endpoints")
# Fields only v3 rows carry (before renaming); `artifact` alone is v2's spelling too.
_V3_MARKERS: Final = ("unique_origins", "unique_endpoints", "artifact_type")
_V2_MARKERS: Final = ("artifact", "total_unique")
# v3 breakdown names whose v1 name is not just the name without `by-`.
_V3_BREAKDOWN_NAMES: Final = {"by-cloudprovider": "cloud_provider"}


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
    api_version = _api_version(parsed)
    fields = {
        column_name(AGGREGATE_FIELD_ALIASES.get(str(key), str(key)), i): value
        for i, (key, value) in enumerate(parsed.items())
    }
    if isinstance(fields.get("breakdown"), str):
        fields["breakdown"] = v1_breakdown(str(fields["breakdown"]))
    missing = [f for f in _REQUIRED_AGGREGATE_FIELDS if fields.get(f) in (None, "")]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    record: dict[str, object] = {}
    for key, value in fields.items():
        if key == "date":
            record[key] = _aggregate_date(value)
        elif key in _INTEGER_AGGREGATE_FIELDS:
            record[key] = _aggregate_integer(key, value)
        elif key not in ("owner", "api_version"):
            record[key] = _aggregate_text(value)
    record.setdefault("artifact_type", "package")  # v1 and v2 count package events only
    record["api_version"] = api_version
    record["owner"] = owner
    return record


def _api_version(parsed: dict[str, object]) -> str:
    breakdown = parsed.get("breakdown")
    if any(k in parsed for k in _V3_MARKERS) or str(breakdown).startswith("by-"):
        return "v3"
    if any(k in parsed for k in _V2_MARKERS):
        return "v2"
    return "v1"


def v1_breakdown(name: str) -> str:
    """The v1 name of a breakdown: `by-country` -> `country`, `by-cloudprovider` ->
    `cloud_provider`; v1 names pass through."""
    if name in _V3_BREAKDOWN_NAMES:
        return _V3_BREAKDOWN_NAMES[name]
    return name.removeprefix("by-").replace("-", "_")


def normalize_aggregates(path: Path, *, day: date, owner: str, label: str) -> NormalizedAggregates:
    """A day's aggregates NDJSON (v1, v2 or v3) -> typed rows for that date, plus rejected lines.

    Raises NormalizeError when no line of a non-empty file is JSON (e.g. an HTML error page).
    """
    return normalize_aggregate_files([(path, label)], day=day, owner=owner)


def normalize_aggregate_files(
    files: Sequence[tuple[Path, str]], *, day: date, owner: str
) -> NormalizedAggregates:
    """A day's aggregates files, each `(path, label)` (v3: one per breakdown) -> one frame.

    Raises NormalizeError naming the file when no line of a non-empty file is JSON.
    """
    records: list[dict[str, object]] = []
    rejected: list[dict[str, object]] = []
    rows_in = out_of_window = 0
    for path, label in files:
        file_rows = file_rejected = 0
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, raw_line in enumerate(handle, start=1):
                line = raw_line.rstrip("\r\n")
                if not line.strip():
                    continue
                file_rows += 1
                try:
                    record = _aggregate_record(line, owner)
                except ValueError as error:
                    reason = str(error)
                    file_rejected += reason == "not JSON"
                    rejected.append(
                        {"line_number": number, "reason": reason, "raw_line": line, "label": label}
                    )
                    continue
                if record["date"] != day:
                    out_of_window += 1
                    continue
                records.append(record)
        if file_rows and file_rejected == file_rows:
            raise NormalizeError(f"{path} is not NDJSON: no line parses as JSON")
        rows_in += file_rows

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
                "source_file": r["label"],
                **{k: v for k, v in r.items() if k != "label"},
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
