"""Streamed export bodies: event CSVs (v1 and v2 column orders) and aggregate NDJSON.

Bodies are produced chunk by chunk, one (source, day) frame slice at a time, so memory stays
bounded whatever the window. Body-level faults (duplicates, extra columns, malformed rows,
rows from the end day) are woven in here; refusals and cut-offs belong to the app.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import polars as pl

from scarf_etl.emulator import world
from scarf_etl.emulator.aggregates import aggregate_rows, aggregate_rows_by_day
from scarf_etl.emulator.events import EventCache, EventSource
from scarf_etl.emulator.faults import Faults

CHUNK_ROWS = 50_000
AGGREGATE_CHUNK_BYTES = 64 * 1024
# A huge field is sent in pieces of this size, so it never sits in memory whole.
HUGE_FIELD_PIECE = 1 << 20
_PLACEHOLDER = "HUGEFIELDPLACEHOLDER"

Part = tuple[EventSource, datetime.date]


@dataclass(frozen=True)
class CsvExport:
    """One event CSV: the (source, day) parts in order, the column order, and the faults."""

    cache: EventCache
    parts: Sequence[Part]
    columns: tuple[str, ...]
    end_day: datetime.date
    faults: Faults
    # When > 0, the first row's user_agent is this many bytes long (the huge_field body fault).
    huge_user_agent: int = 0
    # The no_time_column body fault: the header calls `time` "timestamp".
    rename_time: bool = False

    def chunks(self) -> Iterator[bytes]:
        header = [*self.columns, *self.faults.extra_columns]
        if self.rename_time:
            header = ["timestamp" if name == "time" else name for name in header]
        yield _csv_line(header)
        huge_pending = self.huge_user_agent > 0
        duplicates: list[bytes] = []
        wanted_duplicates = self.faults.duplicate_rows
        malformed_sent = self.faults.malformed_rows == 0
        if not huge_pending and not wanted_duplicates and malformed_sent:
            yield from self._fault_free_rows()
            yield from self._end_day_rows()
            return
        template: tuple[pl.DataFrame, EventSource] | None = None
        for source, day in self.parts:
            frame = self.cache.get(source, day)
            for offset in range(0, frame.height, CHUNK_ROWS):
                piece = frame.slice(offset, CHUNK_ROWS)
                if huge_pending:
                    yield from self._huge_row(piece.head(1), source)
                    yield self._render(piece.slice(1), source)
                    huge_pending = False
                else:
                    yield self._render(piece, source)
                if len(duplicates) < wanted_duplicates:
                    extra = piece.head(wanted_duplicates - len(duplicates))
                    duplicates.extend(
                        self._render(extra.slice(i, 1), source) for i in range(extra.height)
                    )
                if template is None:
                    template = (piece.head(1), source)
                if not malformed_sent:
                    yield self._malformed(template)
                    malformed_sent = True
        if not malformed_sent:
            yield self._malformed(template)
        yield from self._end_day_rows()
        # At-least-once delivery: copies come later in the same file, field-identical.
        yield from duplicates

    def _fault_free_rows(self) -> Iterator[bytes]:
        """The parts' rows when no fault touches single rows: the same bytes as rendering each
        part on its own, but consecutive parts of one source (a package's days in a window)
        rendered together, up to CHUNK_ROWS rows a call, so a year of small days costs a few
        hundred CSV writes rather than one per day."""
        self.cache.warm(self.parts)
        pending: list[pl.DataFrame] = []
        pending_rows = 0
        pending_source: EventSource | None = None
        for source, day in self.parts:
            frame = self.cache.get(source, day)
            if pending_source is not None and (
                source != pending_source or pending_rows + frame.height > CHUNK_ROWS
            ):
                yield self._render(pl.concat(pending), pending_source)
                pending, pending_rows = [], 0
            pending_source = source
            if frame.height > CHUNK_ROWS:
                for offset in range(0, frame.height, CHUNK_ROWS):
                    yield self._render(frame.slice(offset, CHUNK_ROWS), source)
                pending_source = None
                continue
            pending.append(frame)
            pending_rows += frame.height
        if pending_source is not None and pending:
            yield self._render(pl.concat(pending), pending_source)

    def _render(self, piece: pl.DataFrame, source: EventSource) -> bytes:
        extra = [
            pl.concat_str([pl.lit(f"{name}:"), pl.col("id").str.slice(0, 8)]).alias(name)
            for name in self.faults.extra_columns
        ]
        out = io.BytesIO()
        piece.select(*self.columns, *extra).write_csv(
            out, include_header=False, datetime_format=source.time_format
        )
        return out.getvalue()

    def _huge_row(self, row: pl.DataFrame, source: EventSource) -> Iterator[bytes]:
        """`row` with a user_agent of `huge_user_agent` bytes, streamed in pieces."""
        rendered = self._render(row.with_columns(pl.lit(_PLACEHOLDER).alias("user_agent")), source)
        before, _, after = rendered.partition(_PLACEHOLDER.encode())
        yield before
        remaining = self.huge_user_agent
        while remaining > 0:
            size = min(remaining, HUGE_FIELD_PIECE)
            yield b"A" * size
            remaining -= size
        yield after

    def _malformed(self, template: tuple[pl.DataFrame, EventSource] | None) -> bytes:
        """Rows no parser should accept: a short row, then a row whose time is not a time."""
        lines = []
        for i in range(self.faults.malformed_rows):
            if i % 2 == 0 or template is None:
                lines.append(_csv_line([world.stable_id("malformed", str(i)), "broken row"]))
            else:
                frame, source = template
                bad = frame.with_columns(
                    pl.lit(world.stable_id("malformed", str(i))).alias("id"),
                    pl.lit("not-a-time").alias("time"),
                )
                lines.append(self._render(bad, source))
        return b"".join(lines)

    def _end_day_rows(self) -> Iterator[bytes]:
        """Rows from the (exclusive) end day, as if the server read endDate as inclusive."""
        remaining = self.faults.out_of_window_rows
        for source in dict.fromkeys(s for s, _ in self.parts):
            if remaining <= 0:
                return
            rows = self.cache.get(source, self.end_day).head(remaining)
            remaining -= rows.height
            if rows.height:
                yield self._render(rows, source)


@dataclass(frozen=True)
class AggregateExport:
    """NDJSON aggregates for (package, day) parts; v2 renames two fields."""

    cache: EventCache
    parts: Sequence[tuple[EventSource, datetime.date]]
    end_day: datetime.date
    faults: Faults
    v2_names: bool = False

    def chunks(self) -> Iterator[bytes]:
        # A year of days is thousands of small parts: sent one by one, each paid a thread hop.
        return _coalesced(self._part_chunks(), AGGREGATE_CHUNK_BYTES)

    def _part_chunks(self) -> Iterator[bytes]:
        rename: Callable[[dict[str, object]], dict[str, object]] = (
            _v2_aggregate if self.v2_names else _same
        )
        duplicates: list[bytes] = []
        self._derive_all()
        for i, (source, day) in enumerate(self.parts):
            lines = [_json_line(rename(row)) for row in self._rows(source, day)]
            if len(duplicates) < self.faults.duplicate_rows:
                duplicates.extend(lines[: self.faults.duplicate_rows - len(duplicates)])
            yield b"".join(lines)
            if i == 0 and self.faults.malformed_rows:
                yield b"".join(
                    b'{"breakdown": "total", "date": \n' for _ in range(self.faults.malformed_rows)
                )
        remaining = self.faults.out_of_window_rows
        for source in dict.fromkeys(s for s, _ in self.parts):
            if remaining <= 0:
                break
            rows = self._rows(source, self.end_day)[:remaining]
            remaining -= len(rows)
            yield b"".join(_json_line(rename(row)) for row in rows)
        yield from duplicates

    def _derive_all(self) -> None:
        """Compute the rows of every part not computed yet, a source's days together."""
        self.cache.derive_all(
            "aggregates_v1",
            self.parts,
            lambda source, frames: aggregate_rows_by_day(frames, source),
        )

    def _rows(self, source: EventSource, day: datetime.date) -> list[dict[str, object]]:
        return self.cache.derived(
            "aggregates_v1", source, day, lambda frame: aggregate_rows(frame, source, day)
        )


def _coalesced(chunks: Iterator[bytes], min_bytes: int) -> Iterator[bytes]:
    """The same bytes in the same order, in chunks of at least `min_bytes` (but the last)."""
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size >= min_bytes:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def _csv_line(values: Sequence[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue().encode()


def _json_line(row: dict[str, object]) -> bytes:
    return (json.dumps(row, ensure_ascii=False) + "\n").encode()


def _same(row: dict[str, object]) -> dict[str, object]:
    return row


def _v2_aggregate(row: dict[str, object]) -> dict[str, object]:
    renamed = {
        "artifact" if k == "package" else "total_unique" if k == "unique_total" else k: v
        for k, v in row.items()
    }
    return renamed
