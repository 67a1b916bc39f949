"""Physical lines of a CSV file: line numbers from byte offsets, field counts of raw records,
and the rare records that must be found by reading the file line by line."""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Final

# Bytes read at a time when counting newlines: memory stays flat whatever the file.
_CHUNK_BYTES: Final = 8 << 20
# A rejected record's raw text is kept up to this many characters (an oversized line is the
# reason it was rejected; the warehouse need not hold all of it).
RAW_TEXT_LIMIT: Final = 64 * 1024


def line_numbers_at(path: Path, offsets: Iterable[int]) -> dict[int, int]:
    """Byte offset -> 1-based physical line number, in one forward pass over the file."""
    with path.open("rb") as handle:
        counter = LineCounter(handle)
        return {offset: counter.line_at(offset) for offset in sorted(set(offsets))}


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


def blank_field_records(
    path: Path, field: int, skip_lines: Collection[int]
) -> list[tuple[int, str]]:
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


# Every aligned window of this many bytes is probed for a newline: a physical line of twice
# this length or more always covers a window without one.
_PROBE_WINDOW: Final = 8 << 20
_PROBE_PIECE: Final = 64 * 1024


def _has_newline(handle: BinaryIO, start: int, length: int) -> bool:
    handle.seek(start)
    remaining = length
    while remaining > 0:
        piece = handle.read(min(_PROBE_PIECE, remaining))
        if not piece:
            return True  # the end of the file ends the line
        if b"\n" in piece:
            return True
        remaining -= len(piece)
    return False


def _line_start(handle: BinaryIO, at: int) -> int:
    """The offset just after the last newline before `at` (0 if none)."""
    position = at
    while position > 0:
        begin = max(0, position - _PROBE_PIECE)
        handle.seek(begin)
        piece = handle.read(position - begin)
        found = piece.rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        position = begin
    return 0


def _line_end(handle: BinaryIO, at: int) -> int:
    """The offset of the first newline at or after `at` (the file size if none)."""
    handle.seek(at)
    position = at
    while piece := handle.read(_PROBE_PIECE):
        found = piece.find(b"\n")
        if found >= 0:
            return position + found
        position += len(piece)
    return position


def long_lines(path: Path) -> list[tuple[int, int]]:
    """(start, end) byte spans of physical lines of at least 8 MiB (up to the newline).

    Cheap: one small read per 8 MiB window. Such lines need handling before DuckDB's CSV
    reader, which drops records longer than its buffer without reporting them.
    """
    spans: list[tuple[int, int]] = []
    size = path.stat().st_size
    with path.open("rb") as handle:
        for window in range(0, size, _PROBE_WINDOW):
            if spans and window < spans[-1][1]:
                continue
            if _has_newline(handle, window, min(_PROBE_WINDOW, size - window)):
                continue
            spans.append((_line_start(handle, window), _line_end(handle, window)))
    return spans


def without_spans(path: Path, spans: Sequence[tuple[int, int]], target: Path) -> list[str]:
    """Copy `path` to `target` with each span's bytes removed (its newline kept, so line
    numbers stay the same and the emptied line reads as blank); return each span's text,
    clipped."""
    texts: list[str] = []
    with path.open("rb") as source, target.open("wb") as out:
        position = 0
        for start, end in spans:
            _copy_range(source, out, position, start)
            source.seek(start)
            head = source.read(min(end - start, RAW_TEXT_LIMIT))
            text = head.decode("utf-8", errors="replace").strip("\r\n")
            if end - start > len(head):
                text += f"... [clipped: {end - start:,} bytes in all]"
            texts.append(text)
            position = end
        _copy_range(source, out, position, None)
    return texts


def _copy_range(source: BinaryIO, out: BinaryIO, start: int, end: int | None) -> None:
    source.seek(start)
    remaining = None if end is None else end - start
    while remaining is None or remaining > 0:
        piece = source.read(_CHUNK_BYTES if remaining is None else min(_CHUNK_BYTES, remaining))
        if not piece:
            return
        out.write(piece)
        if remaining is not None:
            remaining -= len(piece)


class LineCounter:
    """1-based physical line numbers of byte offsets asked for in increasing order: one
    forward pass over the file, whatever the number of offsets."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._chunk = b""
        self._chunk_start = 0
        self._newlines_before_chunk = 0

    def line_at(self, offset: int) -> int:
        while offset > self._chunk_start + len(self._chunk):
            if not self._advance():
                break
        inside = max(0, offset - self._chunk_start)
        return 1 + self._newlines_before_chunk + self._chunk[:inside].count(b"\n")

    def _advance(self) -> bool:
        piece = self._handle.read(_CHUNK_BYTES)
        if not piece:
            return False
        self._newlines_before_chunk += self._chunk.count(b"\n")
        self._chunk_start += len(self._chunk)
        self._chunk = piece
        return True
