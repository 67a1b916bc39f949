"""Raw Scarf exports -> typed polars frames. Pure: no network, no Dagster, no writes.

Event CSVs are scanned lazily with every column as String, then cast; a row whose cast fails,
whose field count is wrong or whose `time` is missing is set aside with the reason and its raw
text instead of failing the file. Nothing here holds a day's rows as Python objects, except for
exports without an `id` column (legacy v1), whose row hashes go through hashlib in batches.
"""

from __future__ import annotations

import bisect
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
_KEY: Final = "__key"
_FILE: Final = "__file"
_ROW: Final = "__row"
_RAGGED: Final = "__wrong_field_count"
_SUFFIX: Final = "__id_suffix"
# Row keys are file position * stride + record index: unique across a day's files.
_FILE_STRIDE: Final = 1 << 40
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
    # when/is_in rather than replace_strict: the streaming engine has no replace, and falls
    # back to materializing the whole day for it.
    word = text.str.strip_chars().str.to_lowercase()
    true_words = [k for k, v in _BOOLEAN_TEXT.items() if v]
    false_words = [k for k, v in _BOOLEAN_TEXT.items() if not v]
    return (
        pl.when(word.is_in(true_words))
        .then(pl.lit(True))
        .when(word.is_in(false_words))
        .then(pl.lit(False))
        .otherwise(pl.lit(None, dtype=pl.Boolean))
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
            low_memory=True,
        )
        .with_row_index(_LINE, offset=1)
        .with_columns(pl.col("text").fill_null("").str.strip_chars_end("\r"))
    )


@dataclass(frozen=True)
class _LineMap:
    """Record index <-> physical line number of one file, from its multi-line records only.

    A record's first line is 2 (after the header) + its index + the embedded newlines of the
    records before it; the records holding newlines are few, so the map stays small and no
    order-dependent running sum over the whole day is needed.
    """

    records: tuple[int, ...]  # sorted indexes of records holding newlines
    newlines: tuple[int, ...]  # their embedded newline counts
    newlines_before: tuple[int, ...]  # total embedded newlines of the records before each

    @classmethod
    def of(cls, multi_line: pl.DataFrame) -> _LineMap:
        pairs = sorted((int(r), int(n)) for r, n in multi_line.iter_rows())
        before = [0]
        for _, count in pairs:
            before.append(before[-1] + count)
        return cls(tuple(r for r, _ in pairs), tuple(n for _, n in pairs), tuple(before[:-1]))

    def first_line(self, record: int) -> int:
        at = bisect.bisect_left(self.records, record)
        shift = self.newlines_before[at] if at < len(self.records) else self._total()
        return 2 + record + shift

    def extra_lines(self, record: int) -> int:
        at = bisect.bisect_left(self.records, record)
        return self.newlines[at] if at < len(self.records) and self.records[at] == record else 0

    def record_on_single_line(self, line: int) -> int | None:
        """The record that is exactly physical line `line`, or None if that line is part of a
        multi-line record."""
        low, high = 0, len(self.records)
        while low < high:  # the last multi-line record starting at or before `line`
            middle = (low + high) // 2
            if self.first_line(self.records[middle]) <= line:
                low = middle + 1
            else:
                high = middle
        if low == 0:
            return line - 2
        start = self.first_line(self.records[low - 1])
        end = start + self.newlines[low - 1]
        if line <= end:
            return None
        return line - 2 - self.newlines_before[low - 1] - self.newlines[low - 1]

    def _total(self) -> int:
        return (self.newlines_before[-1] + self.newlines[-1]) if self.records else 0


def _wrong_field_counts(path: Path, expected: int, lines: _LineMap) -> dict[int, str]:
    """Record index -> reason, for single-line records whose field count is not `expected`.

    polars fills short rows without a word, so field counts are checked on the physical lines;
    lines of multi-line records are skipped (their too-many-fields case is caught by the
    overflow column).
    """
    text = pl.col("text")
    fields = text.str.replace_all(_QUOTED_FIELD, "").str.count_matches(",", literal=True) + 1
    suspects = (
        _scan_physical_lines(path)
        .filter((pl.col(_LINE) > 1) & (text != ""))
        .select(_LINE, fields.alias("fields"))
        .filter(pl.col("fields") != expected)
        .collect(engine="streaming")
    )
    wrong: dict[int, str] = {}
    for line, count in suspects.iter_rows():
        record = lines.record_on_single_line(int(line))
        if record is not None:
            wrong[record] = f"wrong field count: expected {expected}, got {count}"
    return wrong


def _raw_records(path: Path, spans: Sequence[tuple[int, int]]) -> dict[int, str]:
    """First line number -> the record's raw text, for the (few) rejected records."""
    needed = sorted({start + k for start, extra in spans for k in range(extra + 1)})
    lines = dict(
        _scan_physical_lines(path)
        .filter(pl.col(_LINE).is_in(needed))
        .select(_LINE, "text")
        .collect(engine="streaming")
        .iter_rows()
    )
    return {
        start: "\n".join(lines.get(start + k, "") for k in range(extra + 1))
        for start, extra in spans
    }


@dataclass(frozen=True)
class EventFilePlan:
    """One raw event file, ready to be staged: its typed records as a lazy CSV scan."""

    raw: RawEventFile
    names: tuple[str, ...]
    label: str
    has_id: bool
    staged: pl.LazyFrame  # STAGED layout: typed columns + _KEY, _REASON, _RECORD, _NEWLINES


@dataclass(frozen=True)
class EventDayPlan:
    """A day's event files, planned: what `finish_events` needs besides the staged rows."""

    table: str
    day: date
    owner: str
    files: tuple[EventFilePlan, ...]
    extra_columns: tuple[str, ...]


def _staged_event_file(raw: RawEventFile, names: list[str], extras: list[str]) -> pl.LazyFrame:
    """One raw file -> one row per non-blank record: typed columns in the canonical order,
    the event key (the export's id, or a content hash), the cast/parse reasons, the record
    index and its embedded newline count. Streams: nothing here depends on row order."""
    schema = {name: pl.String() for name in names} | {_OVERFLOW: pl.String()}
    scanned = pl.scan_csv(
        raw.path,
        has_header=False,
        skip_rows=1,
        schema=schema,
        missing_columns="insert",
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
        low_memory=True,
    ).with_row_index(_RECORD)
    # A blank line parses as an all-null record; it is not an event.
    scanned = scanned.filter(~pl.all_horizontal([pl.col(n).is_null() for n in names]))
    # polars reads a quoted empty field ("") as an empty string; the warehouse wants NULL for
    # both spellings of an empty value.
    scanned = scanned.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in names)

    reasons: list[pl.Expr] = [
        pl.when(pl.col(_OVERFLOW).is_not_null()).then(
            pl.lit(f"too many fields: expected {len(names)}")
        ),
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
        key = pl.col("id").str.strip_chars()
        reasons.append(pl.when(key.is_null() | (key == "")).then(pl.lit("id: missing")))
    else:
        # No id: a hash of the row's text (canonical column order, so v1 and v2 layouts agree);
        # its ordinal among identical rows is added in finish_events.
        content_columns = [n for n in EVENT_COLUMNS if n != "id"] + sorted(extras)
        content = pl.concat_str(
            [pl.lit(raw.package_id or "")]
            + [pl.col(n).fill_null("") if n in names else pl.lit("") for n in content_columns],
            separator="\x1f",
        )
        key = content.map_batches(_stable_digest, return_dtype=pl.String, is_elementwise=True)

    newlines = pl.sum_horizontal(
        [pl.col(n).str.count_matches("\n", literal=True).fill_null(0) for n in names]
    )
    return scanned.select(
        key.alias(_KEY),
        typed["time"].dt.date().alias("event_date"),
        pl.lit(raw.package_id, dtype=pl.String).alias("package_id"),
        *[typed[n].alias(n) for n in EVENT_COLUMNS if n != "id"],
        *[
            (pl.col(n) if n in names else pl.lit(None, dtype=pl.String)).alias(n)
            for n in sorted(extras)
        ],
        pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias(_REASON),
        pl.col(_RECORD).cast(pl.Int64),
        newlines.cast(pl.Int64).alias(_NEWLINES),
    )


def empty_events_frame(extras: Sequence[str] = ()) -> pl.DataFrame:
    """A zero-row frame with the lake layout of an event partition."""
    schema = dict(EVENT_TABLE_COLUMNS) | {n: pl.String() for n in sorted(extras)}
    return pl.DataFrame(schema=schema)


def plan_events(
    files: Sequence[RawEventFile],
    *,
    table: str,
    day: date,
    owner: str,
    source_labels: Sequence[str],
) -> EventDayPlan:
    """Read the headers of a day's raw event files and plan their staged (typed) rows.

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
    planned = tuple(
        EventFilePlan(
            raw=raw,
            names=tuple(names),
            label=label,
            has_id="id" in names,
            staged=_staged_event_file(raw, names, extras),
        )
        for raw, names, label in present
    )
    return EventDayPlan(table, day, owner, planned, tuple(extras))


def _key_ordinals(staged: pl.LazyFrame) -> dict[int, str]:
    """Record index -> "-<ordinal>" suffix, for id-less records repeating an earlier record's
    content hash in the same file (the first copy keeps the bare hash)."""
    keys = staged.select(_RECORD, _KEY).collect(engine="streaming")
    repeats = keys.with_columns(ordinal=pl.int_range(pl.len()).over(_KEY)).filter(
        pl.col("ordinal") > 0
    )
    return {int(r): f"-{o}" for r, o in repeats.select(_RECORD, "ordinal").iter_rows()}


def _record_lookup(ragged: dict[int, str], suffixes: dict[int, str]) -> pl.LazyFrame | None:
    """The (few) records with a field-count reason or an id suffix, as a frame to left-join on
    the record index (a join streams; replace/replace_strict would not)."""
    records = sorted(ragged.keys() | suffixes.keys())
    if not records:
        return None
    return pl.LazyFrame(
        {
            _RECORD: records,
            _RAGGED: [ragged.get(r) for r in records],
            _SUFFIX: [suffixes.get(r) for r in records],
        },
        schema={_RECORD: pl.Int64(), _RAGGED: pl.String(), _SUFFIX: pl.String()},
    )


def finish_events(plan: EventDayPlan, staged: Sequence[pl.LazyFrame]) -> NormalizedEvents:
    """The day's partition plan, counts and rejected rows from each file's staged rows (the
    plan's own lazy CSV scans, or those rows written to parquet first).

    Only small things are materialized: multi-line records, rejected rows, repeated keys and
    the ids of kept rows (to find the duplicates to drop, keeping each id's first copy).
    """
    if not plan.files:
        empty = empty_events_frame().with_columns(pl.lit(plan.owner).alias("owner")).lazy()
        zero = pl.LazyFrame({"rows_in": [0], "rejected": [0], "out_of_window": [0], "kept": [0]})
        return NormalizedEvents(empty, zero, pl.DataFrame(schema=REJECTED_COLUMNS), ())
    start = datetime.combine(plan.day, time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    line_maps: list[_LineMap] = []
    frames: list[pl.LazyFrame] = []
    for position, (file, rows) in enumerate(zip(plan.files, staged, strict=True)):
        multi_line = (
            rows.filter(pl.col(_NEWLINES) > 0)
            .select(_RECORD, _NEWLINES)
            .collect(engine="streaming")
        )
        lines = _LineMap.of(multi_line)
        line_maps.append(lines)
        ragged = _wrong_field_counts(file.raw.path, len(file.names), lines)
        suffixes = {} if file.has_id else _key_ordinals(rows)
        lookup = _record_lookup(ragged, suffixes)
        if lookup is None:
            rows = rows.with_columns(
                pl.lit(None, dtype=pl.String).alias(_RAGGED),
                pl.lit(None, dtype=pl.String).alias(_SUFFIX),
            )
        else:
            rows = rows.join(lookup, on=_RECORD, how="left", maintain_order="left")
        reason, wrong_count, suffix = pl.col(_REASON), pl.col(_RAGGED), pl.col(_SUFFIX)
        frames.append(
            rows.with_columns(
                pl.when(suffix.is_null())
                .then(pl.col(_KEY))
                .otherwise(pl.col(_KEY) + suffix)
                .alias("event_id"),
                pl.when(wrong_count.is_null())
                .then(reason)
                .when(reason == "")
                .then(wrong_count)
                .otherwise(wrong_count + "; " + reason)
                .alias(_REASON),
                pl.lit(position, dtype=pl.Int64).alias(_FILE),
            ).with_columns(
                ((pl.col("time") >= start) & (pl.col("time") < end)).alias(_IN_WINDOW),
                (pl.col(_FILE) * _FILE_STRIDE + pl.col(_RECORD)).alias(_ROW),
            )
        )
    everything = pl.concat(frames, how="vertical")
    valid = pl.col(_REASON) == ""
    kept = valid & pl.col(_IN_WINDOW)

    # Duplicates (Scarf exports are at least once): keep each id's first copy in file order.
    kept_ids = everything.filter(kept).select(_ROW, "event_id").collect(engine="streaming")
    dropped = kept_ids.filter(~pl.col("event_id").is_first_distinct())[_ROW]
    del kept_ids
    unique_kept = kept & ~pl.col(_ROW).is_in(dropped.implode())

    output_columns = [n for n in EVENT_TABLE_COLUMNS if n != "owner"] + list(plan.extra_columns)
    rows_out = everything.filter(unique_kept).select(
        *output_columns, pl.lit(plan.owner).alias("owner")
    )
    counts = everything.select(
        pl.len().cast(pl.Int64).alias("rows_in"),
        (~valid).sum().cast(pl.Int64).alias("rejected"),
        (valid & ~pl.col(_IN_WINDOW)).sum().cast(pl.Int64).alias("out_of_window"),
        kept.sum().cast(pl.Int64).alias("kept"),
    )
    rejected = _rejected_events(everything.filter(~valid), plan, line_maps)
    return NormalizedEvents(rows_out, counts, rejected, plan.extra_columns)


def normalize_events(
    files: Sequence[RawEventFile],
    *,
    table: str,
    day: date,
    owner: str,
    source_labels: Sequence[str],
) -> NormalizedEvents:
    """Plan a day's event partition straight from its raw files; only small parts (rejected
    rows, duplicate ids) are materialized.

    Raises NormalizeError if a file is not an event CSV, ValueError for an unknown table.
    """
    plan = plan_events(files, table=table, day=day, owner=owner, source_labels=source_labels)
    return finish_events(plan, [file.staged for file in plan.files])


def _rejected_events(
    rejects: pl.LazyFrame, plan: EventDayPlan, line_maps: Sequence[_LineMap]
) -> pl.DataFrame:
    found = rejects.select(_FILE, _RECORD, _REASON).collect(engine="streaming")
    parts: list[pl.DataFrame] = []
    for position, (file, lines) in enumerate(zip(plan.files, line_maps, strict=True)):
        mine = found.filter(pl.col(_FILE) == position)
        if mine.is_empty():
            continue
        records = [int(r) for r in mine[_RECORD]]
        first_lines = [lines.first_line(r) for r in records]
        spans = [(line, lines.extra_lines(r)) for line, r in zip(first_lines, records, strict=True)]
        texts = _raw_records(file.raw.path, spans)
        parts.append(
            pl.DataFrame(
                {
                    "table_name": [plan.table] * len(records),
                    "partition_date": [plan.day] * len(records),
                    "owner": [plan.owner] * len(records),
                    "source_file": [file.label] * len(records),
                    "line_number": first_lines,
                    "reason": mine[_REASON],
                    "raw_line": [texts[line] for line in first_lines],
                },
                schema=REJECTED_COLUMNS,
            )
        )
    if not parts:
        return pl.DataFrame(schema=REJECTED_COLUMNS)
    return pl.concat(parts)


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
