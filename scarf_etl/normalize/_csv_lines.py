"""Physical lines of a CSV file: the map between record indexes and line numbers, rows with
a wrong field count, and the raw text of (rejected) records."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

_LINE: Final = "__line_number"
# A quoted CSV field, to count a line's separators outside quotes.
_QUOTED_FIELD: Final = r'"(?:[^"]|"")*"'
# A byte that never appears in CSV text, so polars hands each physical line over whole.
_NO_SEPARATOR: Final = "\x00"


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
