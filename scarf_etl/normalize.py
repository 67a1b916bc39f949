"""Raw Scarf exports -> typed polars frames. Pure: no network, no Dagster, no writes.

Event CSVs are scanned lazily with every column as String, then cast; a row whose cast fails,
whose field count is wrong or whose `time` is missing is set aside with the reason and its raw
text instead of failing the file. Nothing here holds a day's rows as Python objects, except for
exports without an `id` column (legacy v1), whose row hashes go through hashlib in batches.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final

import polars as pl

from scarf_etl.schemas import (
    AGGREGATE_COLUMNS,
    AGGREGATE_FIELD_ALIASES,
    AGGREGATES_TABLE,
    EVENT_COLUMNS,
    EVENT_KEY_COLUMNS,
    EVENT_TABLE_COLUMNS,
    EVENT_TABLES,
    REJECTED_COLUMNS,
)


class NormalizeError(ValueError):
    """A raw file is not the export it claims to be (e.g. an HTML error page saved as CSV)."""


@dataclass(frozen=True)
class RawEventFile:
    path: Path
    package_id: str | None  # the package the request named (None for pixel exports)


@dataclass(frozen=True)
class NormalizeStats:
    rows_in: int
    duplicates: int
    out_of_window: int
    rejected: int
    rows_out: int
    extra_columns: tuple[str, ...]  # unknown columns kept


@dataclass(frozen=True)
class NormalizedEvents:
    """A day's events as lazy plans plus the (small) rejected rows, ready to be written."""

    rows: pl.LazyFrame  # typed, in-window, de-duplicated: the lake partition
    counts: pl.LazyFrame  # one row: rows_in, rejected, out_of_window, kept_before_dedup
    rejected: pl.DataFrame  # REJECTED_COLUMNS
    extra_columns: tuple[str, ...]


@dataclass(frozen=True)
class NormalizedAggregates:
    rows: pl.DataFrame
    rejected: pl.DataFrame
    rows_in: int
    duplicates: int
    out_of_window: int
    extra_columns: tuple[str, ...]


# A sentinel column one past the header: holds a value only when a row has too many fields,
# which polars would otherwise truncate silently.
_OVERFLOW: Final = "__overflow"
_REASON: Final = "__reason"
_LINE: Final = "__line_number"
_NEWLINES: Final = "__newlines"
_SOURCE: Final = "__source_file"
_RECORD: Final = "__record"
_IN_WINDOW: Final = "__in_window"

_BOOLEAN_TEXT: Final = {
    "true": True,
    "t": True,
    "1": True,
    "yes": True,
    "false": False,
    "f": False,
    "0": False,
    "no": False,
}
# Ends of `time` values meaning UTC; any other numeric offset is converted to UTC.
_UTC_SUFFIX: Final = r"(?i)\s*(Z|UTC|GMT)$"
_OFFSET_SUFFIX: Final = r"[+-]\d{2}:?\d{2}$"
# Header cells that would collide with the columns the pipeline adds get this prefix.
_RESERVED_PREFIX: Final = "export_"
# A quoted CSV field, to count a line's separators outside quotes.
_QUOTED_FIELD: Final = r'"(?:[^"]|"")*"'
# A byte that never appears in CSV text, so polars hands each physical line over whole.
_NO_SEPARATOR: Final = "\x00"


def column_name(header_cell: str, position: int) -> str:
    """The snake_case warehouse name of an export header cell."""
    cell = header_cell.strip().lstrip("\ufeff")
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cell).lower()
    name = re.sub(r"[^0-9a-z]+", "_", snake).strip("_")
    if not name:
        return f"column_{position + 1}"
    if name[0].isdigit():
        name = f"c_{name}"
    if name in EVENT_KEY_COLUMNS:
        return _RESERVED_PREFIX + name
    return name


def read_event_header(path: Path) -> list[str] | None:
    """The file's column names, or None for an empty file (a valid empty day).

    Raises NormalizeError when the first line is not an event CSV header.
    """
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        first = next(csv.reader(handle), None)
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


def parse_utc_time(text: pl.Expr) -> pl.Expr:
    """ISO-like timestamp text -> Datetime(us, UTC); null where it does not parse.

    Accepts `T` or a space, an optional fraction, `Z`, `+00:00`, ` UTC` or no zone (UTC), and
    converts other offsets to UTC.
    """
    cleaned = (
        text.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[T ]", "${1} ")
        .str.replace(_UTC_SUFFIX, "+00:00")
    )
    with_zone = (
        pl.when(cleaned.str.contains(_OFFSET_SUFFIX)).then(cleaned).otherwise(cleaned + "+00:00")
    )
    return with_zone.str.to_datetime(
        "%Y-%m-%d %H:%M:%S%.f%z", time_unit="us", time_zone="UTC", strict=False
    )


def _parse_boolean(text: pl.Expr) -> pl.Expr:
    return (
        text.str.strip_chars()
        .str.to_lowercase()
        .replace_strict(_BOOLEAN_TEXT, default=None, return_dtype=pl.Boolean)
    )


def _typed_column(name: str, text: pl.Expr) -> tuple[pl.Expr, pl.Expr | None]:
    """(typed value, reason expression or None) for one known export column."""
    dtype = EVENT_COLUMNS[name]
    if name == "time":
        parsed = parse_utc_time(text)
        reason = (
            pl.when(text.is_null())
            .then(pl.lit("time: missing"))
            .when(parsed.is_null())
            .then(pl.lit("time: not a timestamp"))
        )
        return parsed, reason
    if dtype == pl.Float64:
        parsed = text.str.strip_chars().cast(pl.Float64, strict=False)
    elif dtype == pl.Boolean:
        parsed = _parse_boolean(text)
    else:
        return text, None
    kind = "a number" if dtype == pl.Float64 else "a boolean"
    return parsed, pl.when(text.is_not_null() & parsed.is_null()).then(
        pl.lit(f"{name}: not {kind}")
    )


def _stable_digest(series: pl.Series) -> pl.Series:
    # polars' own hash is not stable across versions; event ids must be.
    return pl.Series(
        [hashlib.blake2b(value.encode(), digest_size=16).hexdigest() for value in series],
        dtype=pl.String,
    )


def _scan_physical_lines(path: Path) -> pl.LazyFrame:
    """Each physical line of the file with its 1-based number (CR of CRLF removed)."""
    return (
        pl.scan_csv(
            path,
            has_header=False,
            separator=_NO_SEPARATOR,
            quote_char=None,
            schema={"text": pl.String},
            truncate_ragged_lines=True,
            empty_string_is_null=False,
            encoding="utf8-lossy",
        )
        .with_row_index(_LINE, offset=1)
        .with_columns(pl.col("text").fill_null("").str.strip_chars_end("\r"))
    )


def _wrong_field_counts(path: Path, expected: int) -> dict[int, str]:
    """Line number -> reason, for single-line records whose field count is not `expected`.

    polars fills short rows with nulls without a word, so field counts are checked on the
    physical lines; lines that open or continue a quoted multi-line field are skipped (their
    too-many-fields case is caught by the overflow column).
    """
    text = pl.col("text")
    odd_quotes = (text.str.count_matches('"', literal=True) % 2 == 1).cast(pl.Int64)
    inside_quote = (odd_quotes.cum_sum() - odd_quotes) % 2 == 1
    fields = text.str.replace_all(_QUOTED_FIELD, "").str.count_matches(",", literal=True) + 1
    bad = (
        _scan_physical_lines(path)
        .with_columns(fields=fields, single=(odd_quotes == 0) & ~inside_quote)
        .filter(
            (pl.col(_LINE) > 1) & (text != "") & pl.col("single") & (pl.col("fields") != expected)
        )
        .select(_LINE, "fields")
        .collect(engine="streaming")
    )
    return {
        line: f"wrong field count: expected {expected}, got {count}"
        for line, count in bad.iter_rows()
    }


def _raw_records(path: Path, spans: pl.DataFrame) -> dict[int, str]:
    """First line number -> the record's raw text, for the (few) rejected records."""
    needed = sorted(
        {start + k for start, extra in spans.iter_rows() for k in range(int(extra) + 1)}
    )
    lines = dict(
        _scan_physical_lines(path)
        .filter(pl.col(_LINE).is_in(needed))
        .select(_LINE, "text")
        .collect(engine="streaming")
        .iter_rows()
    )
    return {
        start: "\n".join(lines.get(start + k, "") for k in range(int(extra) + 1))
        for start, extra in spans.iter_rows()
    }


def _event_file_frame(
    raw: RawEventFile, names: list[str], extras: list[str], label: str
) -> pl.LazyFrame:
    """One raw file -> typed rows in the canonical column order plus bookkeeping columns."""
    schema = {name: pl.String() for name in names} | {_OVERFLOW: pl.String()}
    scanned = pl.scan_csv(
        raw.path,
        has_header=False,
        skip_rows=1,
        schema=schema,
        missing_columns="insert",
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
    ).with_row_index(_RECORD)
    newlines = pl.sum_horizontal(
        [pl.col(n).str.count_matches("\n", literal=True).fill_null(0) for n in names]
    )
    # A record's first physical line: header line + records before + their embedded newlines.
    scanned = scanned.with_columns(_NEWLINES=newlines).with_columns(
        (2 + pl.col(_RECORD) + pl.col("_NEWLINES").cum_sum() - pl.col("_NEWLINES"))
        .cast(pl.Int64)
        .alias(_LINE)
    )
    scanned = scanned.rename({"_NEWLINES": _NEWLINES})
    # A blank line parses as an all-null record; it is not an event.
    scanned = scanned.filter(~pl.all_horizontal([pl.col(n).is_null() for n in names]))

    ragged = _wrong_field_counts(raw.path, len(names))
    reasons: list[pl.Expr] = [
        pl.when(pl.col(_OVERFLOW).is_not_null()).then(
            pl.lit(f"too many fields: expected {len(names)}")
        ),
        pl.col(_LINE).replace_strict(ragged, default=None, return_dtype=pl.String),
    ]
    typed: dict[str, pl.Expr] = {}
    for name in EVENT_COLUMNS:
        if name not in names:
            typed[name] = pl.lit(None, dtype=EVENT_COLUMNS[name])
            continue
        value, reason = _typed_column(name, pl.col(name))
        typed[name] = value
        if reason is not None:
            reasons.append(reason)

    if "id" in names:
        event_id = pl.col("id").str.strip_chars()
        reasons.append(pl.when(event_id.is_null() | (event_id == "")).then(pl.lit("id: missing")))
    else:
        # No id: a hash of the row's text (canonical column order, so v1 and v2 layouts agree)
        # plus its ordinal among identical rows, so identical events stay distinct and stable.
        content_columns = [n for n in EVENT_COLUMNS if n != "id"] + sorted(extras)
        content = pl.concat_str(
            [pl.lit(raw.package_id or "")]
            + [pl.col(n).fill_null("") if n in names else pl.lit("") for n in content_columns],
            separator="\x1f",
        )
        digest = content.map_batches(_stable_digest, return_dtype=pl.String, is_elementwise=True)
        ordinal = pl.int_range(pl.len()).over(digest)
        event_id = pl.when(ordinal == 0).then(digest).otherwise(digest + "-" + ordinal.cast(str))

    row_time = typed["time"]
    return scanned.select(
        event_id.alias("event_id"),
        row_time.dt.date().alias("event_date"),
        pl.lit(raw.package_id, dtype=pl.String).alias("package_id"),
        *[typed[n].alias(n) for n in EVENT_COLUMNS if n != "id"],
        *[
            (pl.col(n) if n in names else pl.lit(None, dtype=pl.String)).alias(n)
            for n in sorted(extras)
        ],
        pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias(_REASON),
        pl.lit(label).alias(_SOURCE),
        _LINE,
        _NEWLINES,
    )


def empty_events_frame(extras: Sequence[str] = ()) -> pl.DataFrame:
    """A zero-row frame with the lake layout of an event partition."""
    schema = dict(EVENT_TABLE_COLUMNS) | {n: pl.String() for n in sorted(extras)}
    return pl.DataFrame(schema=schema)


def normalize_events(
    files: Sequence[RawEventFile],
    *,
    table: str,
    day: date,
    owner: str,
    source_labels: Sequence[str],
) -> NormalizedEvents:
    """Plan a day's event partition from its raw files; only rejected rows are materialized.

    Raises NormalizeError if a file is not an event CSV, ValueError for an unknown table.
    """
    if table not in EVENT_TABLES:
        raise ValueError(f"not an event table: {table!r}")
    headers = [
        (raw, read_event_header(raw.path), label)
        for raw, label in zip(files, source_labels, strict=True)
    ]
    present = [(raw, names, label) for raw, names, label in headers if names]
    known = set(EVENT_COLUMNS)
    extras = sorted({n for _, names, _ in present for n in names if n not in known})
    if not present:
        empty = empty_events_frame().with_columns(pl.lit(owner).alias("owner")).lazy()
        zero = pl.LazyFrame({"rows_in": [0], "rejected": [0], "out_of_window": [0], "kept": [0]})
        return NormalizedEvents(empty, zero, pl.DataFrame(schema=REJECTED_COLUMNS), ())

    frames = [_event_file_frame(raw, names, extras, label) for raw, names, label in present]
    everything = pl.concat(frames, how="diagonal")
    start = datetime.combine(day, time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    in_window = (pl.col("time") >= start) & (pl.col("time") < end)
    valid = pl.col(_REASON) == ""
    everything = everything.with_columns(_IN_WINDOW=in_window)

    output_columns = [n for n in EVENT_TABLE_COLUMNS if n != "owner"] + extras
    rows = (
        everything.filter(valid & pl.col("_IN_WINDOW"))
        .unique(subset="event_id", keep="first", maintain_order=True)
        .select(*output_columns, pl.lit(owner).alias("owner"))
    )
    counts = everything.select(
        pl.len().cast(pl.Int64).alias("rows_in"),
        (~valid).sum().cast(pl.Int64).alias("rejected"),
        (valid & ~pl.col("_IN_WINDOW")).sum().cast(pl.Int64).alias("out_of_window"),
        (valid & pl.col("_IN_WINDOW")).sum().cast(pl.Int64).alias("kept"),
    )
    rejected = _rejected_events(everything.filter(~valid), present, table, day, owner)
    return NormalizedEvents(rows, counts, rejected, tuple(extras))


def _rejected_events(
    rejects: pl.LazyFrame,
    present: Sequence[tuple[RawEventFile, list[str], str]],
    table: str,
    day: date,
    owner: str,
) -> pl.DataFrame:
    found = rejects.select(_SOURCE, _LINE, _NEWLINES, _REASON).collect(engine="streaming")
    parts: list[pl.DataFrame] = []
    for raw, _, label in present:
        mine = found.filter(pl.col(_SOURCE) == label)
        if mine.is_empty():
            continue
        texts = _raw_records(raw.path, mine.select(_LINE, _NEWLINES))
        parts.append(
            mine.select(
                pl.lit(table).alias("table_name"),
                pl.lit(day).alias("partition_date"),
                pl.lit(owner).alias("owner"),
                pl.col(_SOURCE).alias("source_file"),
                pl.col(_LINE).alias("line_number"),
                pl.col(_REASON).alias("reason"),
                pl.col(_LINE).replace_strict(texts, return_dtype=pl.String).alias("raw_line"),
            )
        )
    if not parts:
        return pl.DataFrame(schema=REJECTED_COLUMNS)
    return pl.concat(parts).cast(REJECTED_COLUMNS)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Aggregates: one small NDJSON file per day (a few thousand lines at most), parsed line by line
# so one bad line is set aside instead of failing the file.

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
