"""Physical lines of a CSV file: line numbers from byte offsets, field counts of raw records,
and the rare records that must be found by reading the file line by line."""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np
import numpy.typing as npt

# Bytes read at a time when counting newlines: memory stays flat whatever the file.
_CHUNK_BYTES: Final = 8 << 20
# A rejected record's raw text is kept up to this many characters (an oversized line is the
# reason it was rejected; the warehouse need not hold all of it).
RAW_TEXT_LIMIT: Final = 64 * 1024


def line_numbers_at(path: Path, offsets: Iterable[int]) -> dict[int, int]:
    """Byte offset -> 1-based physical line number, in one streaming pass over the file."""
    wanted = sorted(set(offsets))
    found: dict[int, int] = {}
    newlines, position = 0, 0
    with path.open("rb") as handle:
        for offset in wanted:
            while position < offset and (
                piece := handle.read(min(_CHUNK_BYTES, offset - position))
            ):
                newlines += piece.count(b"\n")
                position += len(piece)
            found[offset] = newlines + 1
    return found


def record_count_bound(path: Path) -> int:
    """At least the number of data records after the header: the physical lines, counted in
    chunks (exact unless records span lines or lines are blank; `record_count` is exact but
    slow)."""
    newlines, last = 0, b""
    with path.open("rb") as handle:
        while piece := handle.read(_CHUNK_BYTES):
            newlines += piece.count(b"\n")
            last = piece[-1:]
    lines = newlines + (1 if last and last != b"\n" else 0)
    return max(lines - 1, 0)


def record_count(path: Path) -> int:
    """Data records after the header, as the csv module reads them (blank lines are none; a
    record it cannot read counts as one). Reads the whole file in Python: for the rare check
    that the fast bound cannot settle."""
    count = 0
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        records = csv.reader(handle)
        while True:
            try:
                fields = next(records)
            except StopIteration:
                break
            except csv.Error:
                fields = [""]
            count += 1 if fields else 0
    return max(count - 1, 0)


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


# DuckDB's CSV reader buffer (its `buffer_size`). The reader drops a record longer than its
# buffer without a word, so long lines are taken out before it reads a file (long_lines). It
# holds a few buffers per thread, most of its memory: 16 MiB rather than 32 MiB took a 2M-row
# file's staging from 380-440 to 250-330 MiB peak RSS at the same speed (8 MiB: 220-240 MiB,
# 5% slower).
READER_BUFFER_BYTES: Final = 16 << 20
# Every aligned window of this many bytes is probed for a newline: a physical line of twice
# this length or more always covers a window without one, so a line the probe lets through is
# under half the reader's buffer.
PROBE_WINDOW_BYTES: Final = READER_BUFFER_BYTES // 4
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
    """(start, end) byte spans of physical lines of at least 2 * PROBE_WINDOW_BYTES (8 MiB; some
    shorter ones too), up to the newline.

    Cheap: one small read per window. Such lines need handling before DuckDB's CSV
    reader, which drops records longer than its buffer without reporting them.
    """
    spans: list[tuple[int, int]] = []
    size = path.stat().st_size
    with path.open("rb") as handle:
        for window in range(0, size, PROBE_WINDOW_BYTES):
            if spans and window < spans[-1][1]:
                continue
            if _has_newline(handle, window, min(PROBE_WINDOW_BYTES, size - window)):
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


_PREFIX_BYTES: Final = 16
_COMPARED_BYTES: Final = 4096
_NEWLINE: Final = ord("\n")
_RETURN: Final = ord("\r")


def _line_head(text: bytes) -> bytes:
    """A record's first bytes, up to its first line end, padded: its key among the records."""
    head = text[:_PREFIX_BYTES]
    for end in (b"\n", b"\r"):
        head = head.split(end, 1)[0]
    return head.ljust(_PREFIX_BYTES, b"\0")


def _line_heads(body: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64]) -> npt.NDArray[np.void]:
    padded = np.concatenate((body, np.zeros(_PREFIX_BYTES, dtype=np.uint8)))
    heads = padded[starts[:, None] + np.arange(_PREFIX_BYTES)]
    ended = np.cumsum((heads == _NEWLINE) | (heads == _RETURN), axis=1) > 0
    heads[ended] = 0
    return np.ascontiguousarray(heads).view(f"V{_PREFIX_BYTES}").ravel()


def record_lines(path: Path, texts: Sequence[str]) -> list[int | None]:
    """The physical line where each record starts, for records given by their raw text in file
    order (the CSV reader's own line numbers drift across its buffers). One forward,
    vectorized pass over the file, stopping after the last record found; None for a text not
    found (e.g. one whose invalid bytes the reader replaced)."""
    # The first bytes suffice to tell records apart, and survive the clipping of long texts.
    wanted = [t.lstrip("\r\n").encode("utf-8")[:_COMPARED_BYTES] for t in texts]
    found: list[int | None] = [None] * len(wanted)
    if not wanted:
        return found
    keys = np.array(sorted({_line_head(w) for w in wanted}), dtype=f"V{_PREFIX_BYTES}")
    at, newlines, in_quotes, at_start, carry = 0, 0, np.uint8(0), True, b""
    with path.open("rb") as handle:
        while at < len(wanted):
            fresh = handle.read(_CHUNK_BYTES)
            data = carry + fresh
            cut = len(data) if not fresh else data.rfind(b"\n") + 1  # whole lines only
            body_bytes, carry = data[:cut], data[cut:]
            if not body_bytes:
                if not fresh:
                    break
                continue
            body = np.frombuffer(body_bytes, dtype=np.uint8)
            inside = np.bitwise_xor.accumulate(body == ord('"'), dtype=np.uint8) ^ in_quotes
            newline_at = np.flatnonzero(body == _NEWLINE)
            separators = newline_at[inside[newline_at] == 0]
            starts = separators.astype(np.int64) + 1
            if at_start:
                starts = np.concatenate((np.zeros(1, dtype=np.int64), starts))
            starts = starts[starts < len(body)]
            lines = newlines + np.searchsorted(newline_at, starts) + 1
            for index in np.flatnonzero(np.isin(_line_heads(body, starts), keys)):
                start = int(starts[index])
                if body_bytes[start : start + len(wanted[at])] == wanted[at][: len(body) - start]:
                    found[at] = int(lines[index])
                    at += 1
                    if at == len(wanted):
                        break
            newlines += len(newline_at)
            in_quotes = np.uint8(inside[-1])
            at_start = bool(len(separators)) and int(separators[-1]) == len(body) - 1
            if not fresh:
                break
    return found
