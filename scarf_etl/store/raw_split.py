"""Splitting a multi-day export into the raw layer's one-folder-per-day layout.

Every call to Scarf is billed, so a run asks for whole windows (v3 aggregates: one request per
breakdown for up to 366 days; event CSVs: one per package per SCARF_EXPORT_WINDOW_DAYS) and the
rows are sorted into days here. Every row lands somewhere, byte for byte as the API sent it: in
the day its `date` (NDJSON) or the UTC day of its `time` (CSV) names; a row with no readable date
in the window's first day (where the lake rejects it, with its reason); a row dated outside the
window in the nearest day of the window (where the lake counts it as out of window). Every day
file of a CSV starts with the export's header line.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, Final

from scarf_etl.client import Download

# Day files held open at once while splitting: lines usually come in date order, so a few
# suffice, and a year's range stays far below any open-file limit.
OPEN_DAY_FILES = 16
# An ISO-like `time` as the lake accepts it (see normalize.parsing.parse_utc_time): a date, `T`
# or a space, a time with an optional fraction, then `Z`/`UTC`/`GMT`, an offset, or nothing.
_TIME: Final = re.compile(
    rb"\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?"
    rb"\s*(?:(?i:Z|UTC|GMT)|([+-])(\d{2}):?(\d{2}))?\s*"
)


def consecutive_runs(days: Iterable[dt.date], longest: int) -> list[list[dt.date]]:
    """Sorted distinct `days` cut into runs of consecutive days, each at most `longest` long."""
    runs: list[list[dt.date]] = []
    for day in sorted(set(days)):
        last = runs[-1] if runs else None
        if last and len(last) < longest and day - last[-1] == dt.timedelta(days=1):
            last.append(day)
        else:
            runs.append([day])
    return runs


def split_downloads_by_day(
    downloads: Sequence[Download], folders: Mapping[dt.date, Path]
) -> dict[dt.date, list[Download]]:
    """Write each download's lines into `folders[day] / <its file name>`; every day gets every
    file (empty if the day had no lines). Returns per day one Download per file, pointing at the
    day's file, with the original request, URL and headers (the manifest records them)."""
    days = sorted(folders)
    per_day: dict[dt.date, list[Download]] = {day: [] for day in days}
    for download in downloads:
        name = download.path.name
        for day in days:
            (folders[day] / name).touch()
        rows = dict.fromkeys(days, 0)
        with _DayWriters(folders, name) as writers, download.path.open("rb") as source:
            for line in source:
                if line.strip():
                    ended = line if line.endswith(b"\n") else line + b"\n"
                    day = _line_day(line, days)
                    writers.write(day, ended)
                    rows[day] += 1
        for day in days:
            path = folders[day] / name
            per_day[day].append(
                replace(download, path=path, bytes=path.stat().st_size, rows=rows[day])
            )
    return per_day


def split_csv_downloads_by_day(
    downloads: Sequence[Download], folders: Mapping[dt.date, Path]
) -> dict[dt.date, list[Download]]:
    """Event CSVs: write each download's records into `folders[day] / <its file name>`, each day
    file starting with the header; every day gets every file (header only if the day had no
    rows). Streams record by record, so memory stays flat whatever the window's size. A record
    is the API's bytes up to a newline outside quotes (a quoted field may hold newlines and
    commas). `rows` per day file are counted as the client and the drop guard count them."""
    days = sorted(folders)
    per_day: dict[dt.date, list[Download]] = {day: [] for day in days}
    for download in downloads:
        name = download.path.name
        rows = dict.fromkeys(days, 0)
        with download.path.open("rb") as source:
            records = _csv_records(source)
            header = next(records, b"")
            time_index = _time_column(header)
            for day in days:
                (folders[day] / name).write_bytes(header)
            with _DayWriters(folders, name) as writers:
                for record in records:
                    day = _record_day(record, time_index, days)
                    writers.write(day, record)
                    rows[day] += record.count(b"\n") + (0 if record.endswith(b"\n") else 1)
        for day in days:
            path = folders[day] / name
            per_day[day].append(
                replace(download, path=path, bytes=path.stat().st_size, rows=rows[day])
            )
    return per_day


def _csv_records(source: BinaryIO) -> Iterator[bytes]:
    """The file's CSV records as bytes, newlines included: lines joined while a quote is open
    (quotes in a field are doubled, so an odd running count means one is open)."""
    pending: list[bytes] = []
    quotes = 0
    for line in source:
        pending.append(line)
        quotes += line.count(b'"')
        if quotes % 2 == 0:
            yield b"".join(pending)
            pending.clear()
            quotes = 0
    if pending:  # a body cut inside a quoted field: kept whole, the lake rejects it
        yield b"".join(pending)


def _fields(record: bytes) -> list[str]:
    text = record.decode("utf-8", errors="replace").lstrip("\ufeff")
    return next(csv.reader(io.StringIO(text, newline="")), [])


def _time_column(header: bytes) -> int | None:
    for position, name in enumerate(_fields(header)):
        if name.strip().lower() == "time":
            return position
    return None


def _record_day(record: bytes, time_index: int | None, days: Sequence[dt.date]) -> dt.date:
    """The window day a CSV record belongs in (see the module docstring)."""
    if time_index is None:
        return days[0]
    if b'"' in record:
        cells = _fields(record)
        value = cells[time_index].encode() if time_index < len(cells) else b""
    else:
        cells_bytes = record.rstrip(b"\r\n").split(b",", time_index + 1)
        value = cells_bytes[time_index] if time_index < len(cells_bytes) else b""
    day = utc_day(value)
    if day is None:
        return days[0]
    return min(max(day, days[0]), days[-1])


def utc_day(value: bytes) -> dt.date | None:
    """The UTC date of a `time` value, or None if it is not one the lake reads."""
    match = _TIME.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, sign, off_hours, off_minutes = match.groups()
    try:
        moment = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None
    if sign is not None:
        offset = dt.timedelta(hours=int(off_hours), minutes=int(off_minutes))
        moment -= offset if sign == b"+" else -offset
    return moment.date()


def _line_day(line: bytes, days: Sequence[dt.date]) -> dt.date:
    """The range day a line belongs in (see the module docstring)."""
    try:
        value = json.loads(line)["date"]
        day = dt.date.fromisoformat(str(value)[:10])
    except (ValueError, TypeError, KeyError):
        return days[0]
    return min(max(day, days[0]), days[-1])


class _DayWriters:
    """Append handles on one file name across day folders, at most OPEN_DAY_FILES open."""

    def __init__(self, folders: Mapping[dt.date, Path], name: str) -> None:
        self._folders = folders
        self._name = name
        self._open: OrderedDict[dt.date, BinaryIO] = OrderedDict()

    def __enter__(self) -> _DayWriters:
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()

    def write(self, day: dt.date, line: bytes) -> None:
        handle = self._open.get(day)
        if handle is None:
            if len(self._open) >= OPEN_DAY_FILES:
                _, oldest = self._open.popitem(last=False)
                oldest.close()
            handle = (self._folders[day] / self._name).open("ab")
            self._open[day] = handle
        else:
            self._open.move_to_end(day)
        handle.write(line)


def uncovered_day_warnings(downloads: Sequence[Download]) -> list[str]:
    """Messages for downloads whose server-reported window (v3's X-Scarf-Effective-* headers)
    is narrower than asked, naming the days not covered; one per distinct gap."""
    gaps: dict[tuple[str, tuple[dt.date, ...]], list[str]] = {}
    messages: list[str] = []
    for download in downloads:
        request = download.request
        try:
            effective = download.effective_window
        except ValueError:
            messages.append(
                f"{request.describe()}: the X-Scarf-Effective-* headers are not dates "
                f"({dict(download.scarf_headers)}); the window served is unknown."
            )
            continue
        if effective is None:
            continue
        start, end = effective
        span = (request.end - request.start).days
        asked = [request.start + dt.timedelta(days=n) for n in range(span)]
        missing = tuple(day for day in asked if not start <= day < end)
        if missing:
            served = f"[{start}, {end}) of [{request.start}, {request.end})"
            gaps.setdefault((served, missing), []).append(request.breakdown or request.kind)
    for (served, missing), breakdowns in gaps.items():
        messages.append(
            f"Scarf served only {served} for aggregates {', '.join(breakdowns)}: these days are "
            f"not covered and have no rows: {_day_ranges(missing)}. Re-load them once Scarf "
            "has their data."
        )
    return messages


def _day_ranges(days: Sequence[dt.date]) -> str:
    """`2026-01-01..2026-01-03, 2026-02-05` for a sorted list of days."""
    parts = []
    for run in consecutive_runs(days, len(days)):
        parts.append(f"{run[0]}..{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(parts)
