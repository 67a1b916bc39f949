"""One event day through the lake and into DuckDB, against DuckDB reading the same CSV.

    .venv/bin/python benchmarks/bench_normalize.py [--rows 2000000 4000000 8000000 10000000]
        [--runs 3] [--big-runs 1]

For each size, on the same generated CSV (v2 layout, ids, quoted user agents, ~2% duplicate
rows), in alternation, each run a fresh subprocess:
- ours: `build_events_partition` (normalize + lake write), then the warehouse's own load of
  that partition (`Warehouse.load_partitions`: checks, delete, insert, loaded_days) into a new
  DuckDB warehouse, and its publish (the copy readers open);
- baseline: `CREATE TABLE t AS SELECT * FROM read_csv(<csv>)` into a DuckDB file: the physical
  floor of "CSV text -> typed columns in DuckDB" on this machine; once in DuckDB's default
  storage format (the issue's limit) and once in the format our warehouse files are created in
  (store/embedded.py's STORAGE_VERSION), which loads faster, so ours gets no unshared advantage.
Printed: medians of wall seconds, CPU seconds (the child's own user + system time) and peak RSS
(the child's VmHWM: not ru_maxrss, which Linux carries over from this generator-sized parent
across fork + exec), and ours / baseline for wall and CPU. Ours also prints its peak RSS after
normalize + lake write, before the load.
Sizes of 8M rows and more run `--big-runs` times (1 by default) to keep the session short.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from scarf_etl.schemas import EVENT_COLUMNS
from scarf_etl.store.embedded import STORAGE_VERSION

DAY = "2026-11-01"
BIG_ROWS = 8_000_000
_REPORT = """
import resource
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_utime + usage.ru_stime)
print(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
"""
OURS = (
    """
import sys
from datetime import date
from pathlib import Path
from scarf_etl.store.lake import (
    build_events_partition, lake_partition_file, rejected_partition_file,
)
from scarf_etl.store.warehouse import DayFiles, Warehouse
from scarf_etl.normalize import RawEventFile
data_dir, raw = Path(sys.argv[1]), Path(sys.argv[2])
day = date(2026, 11, 1)
stats = build_events_partition([RawEventFile(raw, "pk")], table="package_events", day=day,
                               owner="bench", data_dir=data_dir)
normalize_peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
warehouse = Warehouse(data_dir / "warehouse.duckdb")
warehouse.ensure_schema()
lake = DayFiles(day, lake_partition_file(data_dir, "package_events", day),
                rejected_partition_file(data_dir, "package_events", day))
loaded = warehouse.load_partitions("package_events", "bench", [lake])[day]
warehouse.publish()
print(f"in {stats.rows_in:,} dup {stats.duplicates:,} rejected {stats.rejected:,} "
      f"out {stats.rows_out:,} loaded {loaded:,}; peak RSS before the load "
      f"{int(normalize_peak) / 1024:,.0f} MiB")
"""
    + _REPORT
)
BASELINE = (
    """
import sys
from pathlib import Path
import duckdb
data_dir, raw, storage = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
data_dir.mkdir(parents=True)
config = {"storage_compatibility_version": storage} if storage else {}
with duckdb.connect(str(data_dir / "warehouse.duckdb"), config=config) as connection:
    connection.execute("SET enable_progress_bar = false")
    connection.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [str(raw)])
    loaded = connection.execute("SELECT count(*) FROM t").fetchone()[0]
print(f"loaded {loaded:,}")
"""
    + _REPORT
)


def generate(path: Path, rows: int) -> None:
    index = pl.int_range(0, rows, eager=True)
    seconds = (index * 86_399 // max(rows - 1, 1)).cast(pl.Int64)
    base = pl.DataFrame({"i": index, "s": seconds})
    frame = base.select(
        id=pl.format("evt-{}-{}", pl.col("i") % (rows - rows // 50), pl.col("i") * 0),
        type=pl.lit("file-download"),
        package=pl.lit("my-package"),
        pixel=pl.lit(None, dtype=pl.String),
        version=pl.format("1.{}.0", pl.col("i") % 17),
        time=(pl.lit(DAY).str.to_datetime() + pl.duration(seconds=pl.col("s"))).dt.strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        referer=pl.lit("https://example.com/docs"),
        user_agent=pl.format('Mozilla/5.0 (X11; Linux x86_64) "bench", build {}', pl.col("i") % 97),
        platform=pl.lit("linux"),
        variables=pl.lit("os=linux&arch=x86_64"),
        origin_id=pl.format("origin-{}", pl.col("i") % 5003),
        origin_latitude=(pl.col("i") % 180 - 90).cast(pl.String),
        origin_longitude=(pl.col("i") % 360 - 180).cast(pl.String),
        origin_country=pl.lit("FR"),
        origin_city=pl.lit("Paris"),
        origin_postal=pl.lit("75001"),
        origin_connection_type=pl.lit("business"),
        origin_company=pl.format("Company {}", pl.col("i") % 301),
        origin_domain=pl.format("company{}.example", pl.col("i") % 301),
        dnt=pl.lit("false"),
        confidence=pl.lit("0.8"),
        endpoint_id=pl.lit("endpoint-1"),
        origin_state=pl.lit("IDF"),
        mtc_quota_exceeded=pl.lit("false"),
    )
    # Duplicate ids share every field, as Scarf's at-least-once exports do.
    frame = frame.unique(subset="id", keep="first", maintain_order=True)
    frame = pl.concat([frame, frame.head(rows - frame.height)])
    assert list(frame.columns) == list(EVENT_COLUMNS)
    frame.write_csv(path)


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    peak_mib: float
    output: str


def run_child(script: str, data_dir: Path, raw: Path, *extra: str) -> Run:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", script, str(data_dir), str(raw), *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{result.stderr[-3000:]}")
    *lines, cpu, peak_kib = result.stdout.strip().splitlines()
    shutil.rmtree(data_dir, ignore_errors=True)
    return Run(wall, float(cpu), int(peak_kib) / 1024, " ".join(lines))


def measure(rows: int, runs: int, workdir: Path) -> None:
    raw = workdir / f"events-{rows}.csv"
    generate(raw, rows)
    size_mb = raw.stat().st_size / 1e6
    ours: list[Run] = []
    base: list[Run] = []
    same_format: list[Run] = []
    for run in range(runs):
        ours.append(run_child(OURS, workdir / f"ours-{run}", raw))
        base.append(run_child(BASELINE, workdir / f"base-{run}", raw, ""))
        same_format.append(run_child(BASELINE, workdir / f"same-{run}", raw, STORAGE_VERSION))
    raw.unlink()

    def median(values: list[Run], field: str) -> float:
        return statistics.median(getattr(r, field) for r in values)

    wall, cpu, peak = median(ours, "wall"), median(ours, "cpu"), median(ours, "peak_mib")
    base_wall, base_cpu = median(base, "wall"), median(base, "cpu")
    same_wall, same_cpu = median(same_format, "wall"), median(same_format, "cpu")
    print(
        f"{rows:>10,} rows ({size_mb:,.0f} MB CSV), median of {runs}: "
        f"ours {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {peak:,.0f} MiB "
        f"(max {max(r.peak_mib for r in ours):,.0f}) | "
        f"DuckDB read_csv {base_wall:.2f} s wall, {base_cpu:.2f} s CPU, "
        f"peak RSS {median(base, 'peak_mib'):,.0f} MiB | "
        f"ratio wall {wall / base_wall:.2f}x, CPU {cpu / base_cpu:.2f}x | "
        f"DuckDB read_csv into a {STORAGE_VERSION} file {same_wall:.2f} s wall, "
        f"{same_cpu:.2f} s CPU: ratio wall {wall / same_wall:.2f}x, CPU {cpu / same_cpu:.2f}x"
        f"  [{ours[0].output}]",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[2_000_000, 4_000_000, 8_000_000, 10_000_000]
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-runs", type=int, default=1, help=f"runs at >= {BIG_ROWS:,} rows")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scarf-bench-") as workdir:
        for rows in sorted(options.rows):
            runs = options.big_runs if rows >= BIG_ROWS else options.runs
            measure(rows, runs, Path(workdir))


if __name__ == "__main__":
    main()
