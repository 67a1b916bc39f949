"""Physical lines of a CSV file: line numbers from byte offsets, field counts of raw records,
and the rare records that must be found by reading the file line by line."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final

# Bytes read at a time when counting newlines: memory stays flat whatever the file.
_CHUNK_BYTES: Final = 8 << 20
# A rejected record's raw text is kept up to this many characters (an oversized line is the
# reason it was rejected; the warehouse need not hold all of it).
RAW_TEXT_LIMIT: Final = 64 * 1024


def line_numbers_at(path: Path, offsets: Iterable[int]) -> dict[int, int]:
    """Byte offset -> 1-based physical line number, counting newlines in one streaming pass
    that stops at the largest offset asked for."""
    wanted = sorted(set(offsets))
    found: dict[int, int] = {}
    if not wanted:
        return found
    newlines, position, at = 0, 0, 0
    with path.open("rb") as handle:
        while at < len(wanted):
            chunk = handle.read(_CHUNK_BYTES)
            end = position + len(chunk)
            while at < len(wanted) and (wanted[at] <= end or not chunk):
                found[wanted[at]] = 1 + newlines + chunk[: wanted[at] - position].count(b"\n")
                at += 1
            if not chunk:
                break
            newlines += chunk.count(b"\n")
            position = end
    return found


def clip_raw_text(text: str) -> str:
    """A record's raw text without its line ending, clipped to RAW_TEXT_LIMIT characters."""
    text = text.strip("\r\n")
    if len(text) <= RAW_TEXT_LIMIT:
        return text
    return f"{text[:RAW_TEXT_LIMIT]}... [clipped: {len(text):,} characters in all]"


def count_fields(raw: str) -> int | None:
    """How many fields a raw CSV record holds, or None if it does not parse as one record."""
    try:
        rows = list(csv.reader([raw.strip("\r\n")], strict=True))
    except csv.Error:
        return None
    return len(rows[0]) if len(rows) == 1 else None


def _records(lines: Iterable[str], consumed: list[str]) -> Iterator[list[str]]:
    """csv.reader over `lines`, leaving in `consumed` the physical lines of the last record
    (csv.reader pulls a line at a time, and more only inside a quoted field)."""

    def tracked() -> Iterator[str]:
        for line in lines:
            consumed.append(line)
            yield line

    return csv.reader(tracked())


def blank_field_records(path: Path, field: int, skip_lines: Sequence[int]) -> list[tuple[int, str]]:
    """(first line, raw text) of each record after the header whose `field` is blank, except
    records starting on a line in `skip_lines` (already set aside for another reason).

    Reads the whole file in Python: called only when such records are known to exist.
    """
    skipped = set(skip_lines)
    found: list[tuple[int, str]] = []
    consumed: list[str] = []
    line = 1
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        records = _records(handle, consumed)
        index = -1
        while True:
            index += 1
            try:
                fields = next(records)
            except StopIteration:
                break
            except csv.Error:
                # A record the csv module cannot read (e.g. a field over its size limit): the
                # CSV reader set it aside already.
                fields = []
            first, text = line, "".join(consumed)
            line += len(consumed)
            consumed.clear()
            if index == 0 or not fields or first in skipped:
                continue
            if field >= len(fields) or not fields[field].strip():
                found.append((first, clip_raw_text(text)))
    return found
