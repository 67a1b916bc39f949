"""Time normalize + parquet write + DuckDB load of one day, and its peak memory.

    .venv/bin/python benchmarks/bench_normalize.py [--rows 100000 1000000 2000000] [--runs 3]

Each measured run is a fresh subprocess that reports its own peak RSS (VmHWM, Linux). Not
ru_maxrss: Linux carries it over from the parent across fork + exec, so a child of this
(generator-sized) process would report at least the parent's size.
The CSVs are generated with polars (v2 layout, ids, quoted user agents, ~2% duplicates).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from scarf_etl.schemas import EVENT_COLUMNS

DAY = "2026-11-01"
RUN_ONE = """
import sys
from datetime import date
from pathlib import Path
from scarf_etl.lake import build_events_partition, lake_partition_file, rejected_partition_file
from scarf_etl.normalize import RawEventFile
from scarf_etl.warehouse import Warehouse
data_dir, raw = Path(sys.argv[1]), Path(sys.argv[2])
day = date(2026, 11, 1)
stats = build_events_partition([RawEventFile(raw, "pk")], table="package_events", day=day,
                               owner="bench", data_dir=data_dir)
warehouse = Warehouse(data_dir / "warehouse.duckdb")
warehouse.ensure_schema()
loaded = warehouse.load_partition("package_events", day, "bench",
                                  lake_partition_file(data_dir, "package_events", day),
                                  rejected_partition_file(data_dir, "package_events", day))
print(stats.rows_in, stats.duplicates, stats.rows_out, loaded)
print(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
"""


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


def measure(rows: int, runs: int, workdir: Path) -> None:
    raw = workdir / f"events-{rows}.csv"
    generate(raw, rows)
    size_mb = raw.stat().st_size / 1e6
    seconds: list[float] = []
    peaks: list[float] = []
    for run in range(runs):
        data_dir = workdir / f"data-{rows}-{run}"
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", RUN_ONE, str(data_dir), str(raw)],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds.append(time.perf_counter() - started)
        *lines, peak_kib = result.stdout.strip().splitlines()
        peaks.append(int(peak_kib) / 1024)
        output = " ".join(lines)
        shutil.rmtree(data_dir)
    print(
        f"{rows:>9,} rows ({size_mb:,.0f} MB CSV): median {statistics.median(seconds):.2f} s "
        f"over {runs} runs, peak RSS median {statistics.median(peaks):,.0f} MB "
        f"(max {max(peaks):,.0f})  [rows_in dup out loaded: {output}]",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 2_000_000])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scarf-bench-") as workdir:
        for rows in sorted(options.rows):
            measure(rows, options.runs, Path(workdir))


if __name__ == "__main__":
    main()
