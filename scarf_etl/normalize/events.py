"""Raw Scarf event CSVs -> typed polars frames. Pure: no network, no Dagster, no writes.

Event CSVs are scanned lazily with every column as String, then cast; a row whose cast fails,
whose field count is wrong or whose `time` is missing is set aside with the reason and its raw
text instead of failing the file. Nothing here holds a day's rows as Python objects, except for
exports without an `id` column (legacy v1), whose row hashes go through hashlib in batches.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final

import polars as pl

from scarf_etl.normalize._csv_lines import _LineMap, _raw_records, _wrong_field_counts
from scarf_etl.normalize.parsing import _stable_digest, _typed_column, column_name
from scarf_etl.normalize.results import NormalizeError
from scarf_etl.schemas import (
    EVENT_COLUMNS,
    EVENT_TABLE_COLUMNS,
    EVENT_TABLES,
    REJECTED_COLUMNS,
)


@dataclass(frozen=True)
class RawEventFile:
    path: Path
    package_id: str | None  # the package the request named (None for pixel exports)


@dataclass(frozen=True)
class NormalizedEvents:
    """A day's events as lazy plans plus the (small) rejected rows, ready to be written."""

    rows: pl.LazyFrame  # typed, in-window, de-duplicated: the lake partition
    counts: pl.LazyFrame  # one row: rows_in, rejected, out_of_window, kept_before_dedup
    rejected: pl.DataFrame  # REJECTED_COLUMNS
    extra_columns: tuple[str, ...]


# A sentinel column one past the header: holds a value only when a row has too many fields,
# which polars would otherwise truncate silently.
_OVERFLOW: Final = "__overflow"
_REASON: Final = "__reason"
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
