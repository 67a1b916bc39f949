"""The drop guard: a day's new fetch may not silently shrink a day that had rows.

An API answer can be well-formed and still wrong: an empty body for a busy day, a body cut at a
row boundary, a partial export. Replacing the raw copy with it would delete loaded rows on the
next lake and warehouse steps. So a day whose row count falls to zero, or by more than
`max_drop` (a share), is refused and its previous fetch kept, unless the user says the drop is
real (`allow_drop`), e.g. after Scarf revised the day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from scarf_etl.settings import DEFAULT_MAX_DROP

_CHUNK: Final = 1 << 20


class DayShrankError(RuntimeError):
    """New fetches would replace days that had rows with far fewer; the message lists them."""


@dataclass(frozen=True)
class DropGuard:
    max_drop: float = DEFAULT_MAX_DROP  # refuse when rows fall by more than this share
    allow_drop: bool = False  # the user's override

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_drop <= 1.0:
            raise ValueError(f"max_drop must be a share between 0 and 1, not {self.max_drop}")

    def refusal(self, dataset: str, day: dt.date, before: int, after: int) -> str | None:
        """Why `after` rows may not replace `before` for the day, or None if they may."""
        if self.allow_drop or before == 0 or after >= before:
            return None
        if after > 0 and (before - after) / before <= self.max_drop:
            return None
        share = (before - after) / before
        return f"{dataset} {day.isoformat()}: {before} rows -> {after} (-{share:.0%})"


def count_file_rows(path: Path) -> int:
    """Data rows of a raw file, counted as the client counts them: an event CSV's lines after
    the header, an NDJSON file's non-blank lines."""
    if path.suffix == ".csv":
        lines, size, last = _count_lines(path)
        if size == 0:
            return 0
        return max(lines + (0 if last == b"\n" else 1) - 1, 0)
    rows = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                rows += 1
    return rows


def _count_lines(path: Path) -> tuple[int, int, bytes]:
    lines = size = 0
    last = b""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    return lines, size, last


def refusal_message(refusals: list[str]) -> str:
    return (
        "Scarf's answer would shrink days that had rows, so their previous fetch is kept "
        "(raw files, lake and warehouse untouched): "
        + "; ".join(refusals)
        + ". This is usually an incomplete answer: re-run later. If the drop is real (Scarf "
        "revised the day), re-run with `scarf-etl load --allow-drop`, or set "
        "SCARF_ALLOW_DROP=1, or in the Dagster launchpad add the run tag "
        "scarf_etl/allow_drop=true; SCARF_MAX_DAY_DROP sets the share of rows a day may "
        "lose silently "
        f"(default {DEFAULT_MAX_DROP})."
    )
