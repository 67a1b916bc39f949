"""Lake partitions: paths, atomic zstd parquet, stats, re-runs."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from test_normalize import V1_HEADER, V2_HEADER, event, write_csv

from scarf_etl.normalize import EventNormalizer, NormalizeError, RawEventFile
from scarf_etl.normalize import events as normalize_events_module
from scarf_etl.schemas import EVENT_TABLE_COLUMNS
from scarf_etl.store import lake as lake_module
from scarf_etl.store.lake import (
    BUILD_LOCK,
    build_aggregates_partition,
    build_events_partition,
    lake_partition_file,
    read_partition_rows,
    rejected_partition_file,
)

DAY = date(2026, 11, 1)


def test_partition_paths(tmp_path: Path) -> None:
    assert lake_partition_file(tmp_path, "package_events", DAY) == (
        tmp_path / "lake/package_events/date=2026-11-01/part-0.parquet"
    )
    assert rejected_partition_file(tmp_path, "pixel_events", DAY) == (
        tmp_path / "lake/rejected_rows/table=pixel_events/date=2026-11-01/part-0.parquet"
    )


def test_events_partition_stats_files_and_rerun(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    path = write_csv(
        raw / "p.csv",
        V2_HEADER,
        [event(), event(), event(id="late", time="2026-11-02T00:00:01Z"), event(id="x", time="?")],
    )
    files = [RawEventFile(path, "pk")]
    stats = build_events_partition(
        files, table="package_events", day=DAY, owner="me", data_dir=tmp_path
    )
    assert (stats.rows_in, stats.duplicates, stats.out_of_window, stats.rejected) == (4, 1, 1, 1)
    assert stats.rows_out == 1 and stats.extra_columns == ()
    target = lake_partition_file(tmp_path, "package_events", DAY)
    assert read_partition_rows(target) == 1
    assert pq.ParquetFile(target).metadata.row_group(0).column(0).compression == "ZSTD"
    rejected = pl.read_parquet(rejected_partition_file(tmp_path, "package_events", DAY))
    assert rejected["source_file"].to_list() == ["raw/p.csv"]
    first = pl.read_parquet(target)
    # Exactly the lake's columns: none taken from the date=YYYY-MM-DD folder the build stages in.
    assert pq.read_schema(target).names == list(EVENT_TABLE_COLUMNS)

    build_events_partition(files, table="package_events", day=DAY, owner="me", data_dir=tmp_path)
    assert pl.read_parquet(target).equals(first)
    # No temp files: only the partition and its (empty) build lock.
    assert sorted(p.name for p in target.parent.iterdir()) == [BUILD_LOCK, target.name]


@pytest.mark.parametrize("extra", [[], ["new_field"]])
def test_a_day_with_nothing_to_drop_matches_one_that_is_rewritten(
    tmp_path: Path, extra: list[str]
) -> None:
    """A clean one-file day keeps its staging file as the partition; a day with a row to drop
    is rewritten. Both must give the same columns, types, rows and order."""
    header = [*V2_HEADER, *extra]
    clean = [event(id=f"e{i}", time=f"2026-11-01T0{i}:00:00Z", new_field=f"v{i}") for i in range(5)]
    late = event(id="late", time="2026-11-02T00:00:01Z")
    partitions = []
    for name, rows in (("clean", clean), ("with-a-late-row", [*clean[:2], late, *clean[2:]])):
        data_dir = tmp_path / name
        raw = write_csv(tmp_path / f"{name}.csv", header, rows)
        stats = build_events_partition(
            [RawEventFile(raw, "pk")],
            table="package_events",
            day=DAY,
            owner="me",
            data_dir=data_dir,
        )
        assert (stats.rows_out, stats.duplicates, stats.rejected) == (5, 0, 0)
        target = lake_partition_file(data_dir, "package_events", DAY)
        assert pq.ParquetFile(target).metadata.row_group(0).column(0).compression == "ZSTD"
        assert sorted(p.name for p in target.parent.iterdir()) == [BUILD_LOCK, target.name]
        partitions.append(pl.read_parquet(target))
    kept, rewritten = partitions
    assert kept.columns == [*EVENT_TABLE_COLUMNS][:-1] + extra + ["owner"]
    assert kept.equals(rewritten)
    assert kept["event_id"].to_list() == [f"e{i}" for i in range(5)]  # file order


def test_fixed_raw_replaces_the_rejected_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", V2_HEADER, [event(time="?")])
    args = {"table": "pixel_events", "day": DAY, "owner": "me", "data_dir": tmp_path}
    build_events_partition([RawEventFile(path, None)], **args)  # type: ignore[arg-type]
    write_csv(path, V2_HEADER, [event()])
    stats = build_events_partition([RawEventFile(path, None)], **args)  # type: ignore[arg-type]
    assert stats.rejected == 0
    assert read_partition_rows(rejected_partition_file(tmp_path, "pixel_events", DAY)) == 0


def test_no_files_writes_an_empty_typed_partition(tmp_path: Path) -> None:
    stats = build_events_partition([], table="pixel_events", day=DAY, owner="me", data_dir=tmp_path)
    assert stats.rows_out == 0
    frame = pl.read_parquet(lake_partition_file(tmp_path, "pixel_events", DAY))
    assert frame.schema["time"] == pl.Datetime("us", "UTC") and "owner" in frame.columns


def test_aggregates_partition(tmp_path: Path) -> None:
    path = tmp_path / "agg.ndjson"
    path.write_text('{"date":"2026-11-01","package":"p","breakdown":"total","total":3}\n')
    stats = build_aggregates_partition(path, day=DAY, owner="me", data_dir=tmp_path)
    assert stats.rows_out == 1
    frame = pl.read_parquet(lake_partition_file(tmp_path, "aggregates", DAY))
    assert frame.select("date", "package", "total", "owner").row(0) == (DAY, "p", 3, "me")


def test_a_killed_builds_leftovers_are_removed_by_the_next_build(tmp_path: Path) -> None:
    raw = write_csv(tmp_path / "raw.csv", V2_HEADER, [event()])
    target = lake_partition_file(tmp_path, "package_events", DAY)
    target.parent.mkdir(parents=True)
    (target.parent / ".part-0.parquet.dead.tmp").write_bytes(b"half")
    (target.parent / ".staging-dead").mkdir()
    (target.parent / ".staging-dead" / "spill.bin").write_bytes(b"x")
    build_events_partition(
        [RawEventFile(raw, "pk")], table="package_events", day=DAY, owner="me", data_dir=tmp_path
    )
    assert sorted(p.name for p in target.parent.iterdir()) == [BUILD_LOCK, target.name]


_BUILD_REPEATEDLY = """
import sys
from datetime import date
from pathlib import Path
from scarf_etl.normalize import RawEventFile
from scarf_etl.store.lake import build_events_partition
raw, data_dir, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
for _ in range(rounds):
    stats = build_events_partition(
        [RawEventFile(raw, "pk")], table="package_events", day=date(2026, 11, 1), owner="me",
        data_dir=data_dir,
    )
    assert stats.rows_out == 60_000, stats
"""


def test_two_processes_building_the_same_day_take_turns(tmp_path: Path) -> None:
    """Overlapping runs may build the same day at once: neither removes the other's staging or
    temporary files (each build clears a killed build's leftovers), both succeed, and the
    partition is whole."""
    raw = tmp_path / "raw.csv"
    rows = [event(id=f"e{i}", time=f"2026-11-01T{i % 24:02d}:00:00Z") for i in range(60_000)]
    write_csv(raw, V2_HEADER, rows)
    builders = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILD_REPEATEDLY, str(raw), str(tmp_path), "6"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for builder in builders:
        _, stderr = builder.communicate(timeout=240)
        assert builder.returncode == 0, stderr[-2000:]
    target = lake_partition_file(tmp_path, "package_events", DAY)
    assert read_partition_rows(target) == 60_000
    assert sorted(p.name for p in target.parent.iterdir()) == [BUILD_LOCK, target.name]


_HOLD_LOCK = """
import fcntl, sys, time
with open(sys.argv[1], "a+b") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_build_waits_for_another_runs_build_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another process builds the day (holds its lock), a build waits, says what it
    waits for, then builds once the other is done."""
    monkeypatch.setattr(lake_module, "BUILD_WAIT_REPORT_SECONDS", 0.2)
    raw = write_csv(tmp_path / "raw.csv", V2_HEADER, [event()])
    target = lake_partition_file(tmp_path, "package_events", DAY)
    target.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(target.parent / BUILD_LOCK), "1.0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    heard: list[str] = []
    started = time.monotonic()
    stats = build_events_partition(
        [RawEventFile(raw, "pk")],
        table="package_events",
        day=DAY,
        owner="me",
        data_dir=tmp_path,
        report=heard.append,
    )
    waited = time.monotonic() - started
    holder.communicate(timeout=30)
    assert holder.returncode == 0
    assert stats.rows_out == 1 and read_partition_rows(target) == 1
    assert waited >= 0.5  # it did wait for the holder
    assert len(heard) >= 2
    assert heard[0].startswith("waiting for another run that is building package_events 2026-11-01")


def _window_days(raw: Path) -> list[tuple[date, list[RawEventFile]]]:
    """Four days as a window meets them: bad values and duplicates, a legacy v1 file without
    ids, a file that is not a CSV at all, then a plain day."""
    days = [date(2026, 11, d) for d in (1, 2, 3, 4)]
    first = write_csv(
        raw / "1.csv",
        V2_HEADER,
        [event(), event(), event(id="t", time="?"), event(id="n", origin_latitude="north")],
    )
    v1_row = {k: v for k, v in event(time="2026-11-02T08:00:00Z").items() if k in V1_HEADER}
    second = write_csv(raw / "2.csv", V1_HEADER, [v1_row, v1_row])
    third = raw / "3.csv"
    third.write_text("<html><body>Bad gateway</body></html>\n")
    fourth = write_csv(raw / "4.csv", V2_HEADER, [event(id="d4", time="2026-11-04T01:00:00Z")])
    files = [first, second, third, fourth]
    return [(d, [RawEventFile(f, "pk")]) for d, f in zip(days, files, strict=True)]


def _build(
    days: list[tuple[date, list[RawEventFile]]], data_dir: Path, normalizer: EventNormalizer | None
) -> dict[date, tuple[object, list[dict[str, object]], list[dict[str, object]]] | str]:
    built: dict[date, tuple[object, list[dict[str, object]], list[dict[str, object]]] | str] = {}
    for day, files in days:
        try:
            stats = build_events_partition(
                files,
                table="package_events",
                day=day,
                owner="me",
                data_dir=data_dir,
                normalizer=normalizer,
            )
        except NormalizeError as error:
            built[day] = str(error).split(":")[-1]
            continue
        rows = pl.read_parquet(lake_partition_file(data_dir, "package_events", day))
        rejected = pl.read_parquet(rejected_partition_file(data_dir, "package_events", day))
        built[day] = (stats, rows.sort("event_id").to_dicts(), rejected.to_dicts())
    return built


def test_a_window_shares_one_normalizer_and_each_day_stands_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Days normalized on one shared connection come out as each day does on its own: nothing
    carries over (rejects, staged rows, the v1 ordinals), not even after a day that failed."""
    raw = tmp_path / "raw"
    raw.mkdir()
    days = _window_days(raw)
    alone = _build(days, tmp_path / "alone", None)
    with EventNormalizer() as normalizer:
        shared = _build(days, tmp_path / "shared", normalizer)
        # A day too big to share gets its own connection, and the shared one carries on.
        monkeypatch.setattr(normalize_events_module, "SHARED_CONNECTION_MAX_BYTES", 0)
        big = _build(days[:1], tmp_path / "big", normalizer)
        monkeypatch.undo()
        after = _build(days[1:2], tmp_path / "after", normalizer)
    assert shared == alone
    assert big[days[0][0]] == alone[days[0][0]]
    assert after[days[1][0]] == alone[days[1][0]]
    first = alone[days[0][0]]
    assert isinstance(first, tuple) and len(first[2]) == 2  # the bad time and latitude
    assert isinstance(alone[days[2][0]], str)  # the HTML day failed, alone and shared
    v1 = alone[days[1][0]]
    assert isinstance(v1, tuple) and len(v1[1]) == 2  # identical v1 rows stay two events
