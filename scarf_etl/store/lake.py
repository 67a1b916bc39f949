"""The parquet lake: partition paths and atomic (temp file + os.replace) zstd writes.

A partition is built under its build lock (`.build.lock` in its folder), so two runs building
the same day take turns and each can safely clear a killed build's leftovers.

With the data in a bucket, a partition is built in the local cache as on disk, then its rows and
rejected-rows files are uploaded to temporary keys and only then copied onto their keys (the
layout is the local one, one object per file, so a reader listing the lake never sees two
copies of a day). Readers take the partition files through `local_partition_files`, which
copies them into the cache unless the cached copy has the object's ETag.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Final

import polars as pl
import pyarrow.parquet as pq

from scarf_etl.normalize import (
    EventNormalizer,
    NormalizeStats,
    RawEventFile,
    normalize_aggregate_files,
)
from scarf_etl.schemas import AGGREGATES_TABLE, EVENT_TABLES
from scarf_etl.store.location import TEMP_SUFFIX, DataLocation, S3Data, as_location

LAKE_DIR: Final = "lake"
REJECTED_DIR: Final = "rejected_rows"
PARTITION_FILE: Final = "part-0.parquet"
# Beside a cached partition file: the ETag of the object it is a copy of.
ETAG_SUFFIX: Final = ".etag"
# In a partition folder: held by the build of that partition (see `_building`).
BUILD_LOCK: Final = ".build.lock"
BUILD_LOCK_POLL_SECONDS: Final = 0.1
BUILD_WAIT_REPORT_SECONDS: Final = 15.0
STAGING_PREFIX: Final = ".staging-"


def lake_partition_file(data_dir: Path, table: str, day: date) -> Path:
    """data_dir/lake/<table>/date=YYYY-MM-DD/part-0.parquet"""
    return data_dir / LAKE_DIR / table / f"date={day.isoformat()}" / PARTITION_FILE


def rejected_partition_file(data_dir: Path, table: str, day: date) -> Path:
    """data_dir/lake/rejected_rows/table=<table>/date=YYYY-MM-DD/part-0.parquet"""
    return (
        data_dir / LAKE_DIR / REJECTED_DIR / f"table={table}" / f"date={day.isoformat()}"
    ) / PARTITION_FILE


def _temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")


@contextlib.contextmanager
def _building(
    target: Path, rejected_target: Path, report: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the partition's build lock while it is (re)built, then clear what a killed build
    left in its folders.

    Two runs may build the same day at once (overlapping loads, a UI re-run beside the
    schedule). The lock makes them take turns, so a build never removes another's live
    temporary files, and whatever such files are found once the lock is held belong to a
    build that died. The OS releases the lock with its process, kill -9 included; the lock
    file itself stays, empty, since removing it would race with a build waiting on it.
    While it waits, `report` hears so every BUILD_WAIT_REPORT_SECONDS.
    """
    for folder in (target.parent, rejected_target.parent):
        folder.mkdir(parents=True, exist_ok=True)
    with open(target.parent / BUILD_LOCK, "a+b") as lock:
        _wait_for_lock(lock.fileno(), target.parent, report)
        for folder in (target.parent, rejected_target.parent):
            _remove_crash_leftovers(folder)
        yield


def _wait_for_lock(fd: int, partition: Path, report: Callable[[str], None] | None) -> None:
    started = time.monotonic()
    next_report = started
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            now = time.monotonic()
            if report is not None and now >= next_report:
                report(
                    f"waiting for another run that is building {partition.parent.name} "
                    f"{partition.name.removeprefix('date=')} ({now - started:.0f} s so far); "
                    "it goes on once that build ends"
                )
                next_report = now + BUILD_WAIT_REPORT_SECONDS
            time.sleep(BUILD_LOCK_POLL_SECONDS)


def _remove_crash_leftovers(folder: Path) -> None:
    for leftover in folder.glob(f".*{TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)
    for leftover in folder.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def write_parquet_atomic(frame: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
    """Write (or stream, for a LazyFrame) to zstd parquet; readers never see a partial file.
    The caller holds the partition's build lock (`_building`)."""
    temporary = _temporary_sibling(path)
    try:
        if isinstance(frame, pl.LazyFrame):
            frame.sink_parquet(temporary, compression="zstd", engine="streaming")
        else:
            frame.write_parquet(temporary, compression="zstd")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_partition_rows(path: Path) -> int:
    """Row count from the parquet footer, without reading the data."""
    return int(pq.ParquetFile(path).metadata.num_rows)


def _source_label(path: Path, data_dir: Path) -> str:
    # Relative to the data dir, so the warehouse holds no machine-specific paths.
    try:
        return path.resolve().relative_to(data_dir.resolve()).as_posix()
    except ValueError:
        return path.name


def build_events_partition(
    files: Sequence[RawEventFile],
    *,
    table: str,
    day: date,
    owner: str,
    data_dir: Path | DataLocation,
    normalizer: EventNormalizer | None = None,
    report: Callable[[str], None] | None = None,
) -> NormalizeStats:
    """Normalize a day's raw event files into one lake partition and its rejected-rows file.
    Days of a window pass the same `normalizer`, so small days share its connection; `report`
    hears about a wait for another run building the same partition.

    Each raw file is read once, by DuckDB under a memory limit (spilling to a staging folder
    next to the partition), so memory stays flat however big the day.
    Both files are (re)written on every call, even when empty, so a re-run replaces them.
    Raises NormalizeError for a file that is not an event CSV, ValueError for an unknown table.
    """
    if table not in EVENT_TABLES:
        raise ValueError(f"not an event table: {table!r}")
    location = as_location(data_dir)
    data_dir = location.root
    labels = [_source_label(f.path, data_dir) for f in files]
    target = lake_partition_file(data_dir, table, day)
    rejected_target = rejected_partition_file(data_dir, table, day)
    temporary, rejected_temporary = _temporary_sibling(target), _temporary_sibling(rejected_target)
    with _building(target, rejected_target, report):
        try:
            with (
                tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=target.parent) as staging,
                contextlib.nullcontext(normalizer) if normalizer else EventNormalizer() as used,
            ):
                stats = used.write_day(
                    files,
                    table=table,
                    day=day,
                    owner=owner,
                    source_labels=labels,
                    rows_path=temporary,
                    rejected_path=rejected_temporary,
                    staging=Path(staging),
                )
            os.replace(temporary, target)
            os.replace(rejected_temporary, rejected_target)
        finally:
            temporary.unlink(missing_ok=True)
            rejected_temporary.unlink(missing_ok=True)
        publish_partition(location, target, rejected_target)
    return stats


def build_aggregates_partition(
    files: Path | Sequence[Path],
    *,
    day: date,
    owner: str,
    data_dir: Path | DataLocation,
    report: Callable[[str], None] | None = None,
) -> NormalizeStats:
    """Normalize a day's aggregates NDJSON (v3: a file per breakdown) into its lake partition
    and rejected-rows file.

    Raises NormalizeError when a file is not NDJSON at all.
    """
    paths = [files] if isinstance(files, Path) else list(files)
    location = as_location(data_dir)
    data_dir = location.root
    normalized = normalize_aggregate_files(
        [(path, _source_label(path, data_dir)) for path in paths], day=day, owner=owner
    )
    target = lake_partition_file(data_dir, AGGREGATES_TABLE, day)
    rejected_target = rejected_partition_file(data_dir, AGGREGATES_TABLE, day)
    with _building(target, rejected_target, report):
        write_parquet_atomic(normalized.rows, target)
        write_parquet_atomic(normalized.rejected, rejected_target)
        publish_partition(location, target, rejected_target)
    return NormalizeStats(
        rows_in=normalized.rows_in,
        duplicates=normalized.duplicates,
        out_of_window=normalized.out_of_window,
        rejected=normalized.rejected.height,
        rows_out=normalized.rows.height,
        extra_columns=normalized.extra_columns,
    )


def publish_partition(location: DataLocation, *files: Path) -> None:
    """Upload a partition's freshly written files (rows, rejected rows) to the bucket, none
    replaced unless all uploaded (see the module docstring); nothing to do on local disk.
    Temporary keys a killed upload left in these partitions are removed first."""
    if not isinstance(location, S3Data):
        return
    for folder in {file.parent for file in files}:
        location.delete(
            path
            for path in location.list_files(folder)
            if path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)
        )
    for file in files:
        _etag_file(file).unlink(missing_ok=True)
    etags = location.replace_all([(file, file) for file in files])
    for file, etag in zip(files, etags, strict=True):
        _etag_file(file).write_text(etag, encoding="utf-8")


def local_partition_files(location: DataLocation, table: str, day: date) -> tuple[Path, Path]:
    """(rows, rejected rows) of a lake partition as local files. From a bucket they are copied
    into the cache unless the cached copy has the object's ETag; a file the bucket does not
    have is removed from the cache too, so it reads as missing, as it would on disk."""
    files = (
        lake_partition_file(location.root, table, day),
        rejected_partition_file(location.root, table, day),
    )
    if isinstance(location, S3Data):
        for file in files:
            _refresh_cached(location, file)
    return files


def _refresh_cached(location: S3Data, file: Path) -> None:
    etag_file = _etag_file(file)
    etag = location.etag(file)
    try:
        cached = etag_file.read_text(encoding="utf-8") if file.is_file() else None
    except FileNotFoundError:
        cached = None
    if etag is not None and cached == etag:
        return
    etag_file.unlink(missing_ok=True)
    if etag is None:
        file.unlink(missing_ok=True)
        return
    try:
        location.download(file, file)
    except FileNotFoundError:  # deleted since the look-up
        file.unlink(missing_ok=True)
        return
    etag_file.write_text(etag, encoding="utf-8")


def _etag_file(file: Path) -> Path:
    return file.with_name(f".{file.name}{ETAG_SUFFIX}")
