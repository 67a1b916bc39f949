"""Line numbers of rejected rows in a file bigger than the CSV reader's buffers, with records
holding newlines and blank lines along the way: each must name the line where its record
starts."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import polars as pl
from test_normalize import V2_HEADER, event

from scarf_etl.normalize import RawEventFile
from scarf_etl.store.lake import build_events_partition, rejected_partition_file

DAY = date(2026, 11, 1)
ROWS = 200_000  # about 55 MB: more than one 32 MiB reader buffer, and many 8 MiB scan chunks
MULTI_LINE_EVERY = 997  # records holding a newline


def test_rejected_line_numbers_hold_across_buffers(tmp_path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(V2_HEADER)
    line = 2
    expected: dict[int, str] = {}
    for i in range(ROWS):
        fields = {"id": f"e{i}"}
        if MULTI_LINE_EVERY and i % MULTI_LINE_EVERY == 0:
            fields["user_agent"] = "first line\nsecond line"
        if i % 20_011 == 5:
            fields["time"] = "not-a-time"
            expected[line] = f"e{i}"
        writer.writerow([event(**fields).get(name, "") for name in V2_HEADER])
        line += 1 + fields.get("user_agent", "").count("\n")
        if i % 5_003 == 7:
            buffer.write("\n")
            line += 1
    path = tmp_path / "big.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")

    stats = build_events_partition(
        [RawEventFile(path, None)], table="pixel_events", day=DAY, owner="me", data_dir=tmp_path
    )
    assert stats.rejected == len(expected) and stats.rows_in == ROWS
    assert stats.rows_out == ROWS - len(expected)
    rejected = pl.read_parquet(rejected_partition_file(tmp_path, "pixel_events", DAY))
    found = {
        line: raw.split(",", 1)[0]
        for line, raw in zip(rejected["line_number"], rejected["raw_line"], strict=True)
    }
    assert found == expected
