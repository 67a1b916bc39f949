"""`make bench`: every pipeline figure beside its limit, measured in the same run, in one table.

    .venv/bin/python benchmarks/run_all.py [--runs 3] [--big] [--year-days 365]

Rows (figure | value | limit | ratio = value / limit):
- small day: `scarf-etl load` of one day (median of --runs fresh loads) against the 8 s target,
  and against the steps' own work in the same runs (Dagster's step start to step end, summed);
- year backfill: one `scarf-etl load` of --year-days days at small volume against the 60 s
  target, and against the emulator serving the same export requests (curl, same URLs); once
  from a fresh emulator (which generates each day's data when first asked: as slow as the
  pipeline's own work) and once from an emulator whose data is generated beforehand, as Scarf
  serves stored data; and the materializations Dagster records for it;
- calls to Scarf per package-year against the fewest possible (one per 31-day window);
- a whole day at volume (--events-per-day; `--big`: 400,000 per package, about 2M package
  events) through `scarf-etl load` against curl of the same export URLs plus DuckDB's own
  `read_csv` of those files into a table; its largest process's peak RSS against 0.7 GB; the
  warehouse's MB per million events against DuckDB's own table of the same rows;
- lake + warehouse of a generated day (benchmarks/bench_normalize.py's file) against DuckDB
  `read_csv` of the same file into a table, wall and CPU.

The emulator runs in this process (threads) so its request log counts the calls; loads run as
`scarf-etl load` subprocesses with a fresh data folder and DAGSTER_HOME each. The machine is
shared: figures are medians where runs > 1, and every limit is measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pipeline_day import TreeMemory

from scarf_etl.client.exports import V3_BREAKDOWNS
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN
from scarf_etl.store.embedded import STORAGE_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
SMALL_DAY_TARGET_SECONDS = 8.0
YEAR_TARGET_SECONDS = 60.0
PEAK_RSS_LIMIT_MIB = 0.7e9 / 2**20
DEFAULT_WINDOW_DAYS = 31
SMALL_EVENTS_PER_DAY = 20
FIRST_DAY = dt.date(2026, 1, 1)
# Loads refuse days Scarf has not closed yet: the year ends well in the past.
YEAR_LAST_DAY = dt.date(2026, 10, 31)


@dataclass(frozen=True)
class Row:
    figure: str
    value: float
    unit: str
    limit: float
    limit_name: str

    @property
    def ratio(self) -> float:
        return self.value / self.limit if self.limit else math.inf


@dataclass(frozen=True)
class Load:
    seconds: float
    peak_mib: float
    data_dir: Path
    dagster_home: Path
    output: str


def load(server: EmulatorServer, scratch: Path, first: dt.date, last: dt.date) -> Load:
    """`scarf-etl load --from first --to last` in a fresh data folder and DAGSTER_HOME."""
    data_dir, home = scratch / "data", scratch / "dagster_home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SCARF_", "DAGSTER_"))},
        "SCARF_API_TOKEN": DEMO_TOKEN,
        "SCARF_OWNER": DEMO_ORG,
        "SCARF_API_URL": server.v1_url,
        "SCARF_API_V2_URL": server.v2_url,
        "SCARF_API_V3_URL": server.v3_url,
        "SCARF_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(home),
    }
    command = [sys.executable, "-m", "scarf_etl.commands.cli", "load", "--from", str(first), "--to"]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, str(last)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    memory = TreeMemory(process.pid)
    output = process.communicate()[0]
    memory.stop()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"scarf-etl load {first}..{last} failed:\n{output}")
    return Load(seconds, memory.largest_process_kib / 1024, data_dir, home, output)


def steps_own_seconds(dagster_home: Path) -> float:
    """The run's steps, start to end, summed: the work Dagster schedules, without start-up."""
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        with dg.DagsterInstance.get() as instance:
            (record,) = instance.get_run_records()
            stats = instance.get_run_step_stats(record.dagster_run.run_id)
            return sum((s.end_time or 0.0) - (s.start_time or 0.0) for s in stats)
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def export_urls(server: EmulatorServer, first: dt.date, last: dt.date) -> list[str]:
    """The export URLs a load of `first..last` asks for: events per package and window (the
    default window), pixels per window, v3 aggregates per breakdown."""
    urls = []
    start = first
    while start <= last:
        end = min(start + dt.timedelta(days=DEFAULT_WINDOW_DAYS), last + dt.timedelta(days=1))
        window = f"start_date={start}&end_date={end}"
        urls += [
            f"{server.v2_url}/packages/{DEMO_ORG}/{package}/events?{window}"
            for package in server.package_ids(DEMO_ORG)
        ]
        urls.append(f"{server.v2_url}/tracking-pixels/{DEMO_ORG}/events?{window}")
        start = end
    window = f"start_date={first}&end_date={last + dt.timedelta(days=1)}"
    urls += [
        f"{server.v3_url}/insights/{DEMO_ORG}/aggregations/export?{window}&rollup=daily"
        f"&breakdown={breakdown}&format=ndjson"
        for breakdown in V3_BREAKDOWNS
    ]
    return urls


def curl(urls: Sequence[str], folder: Path) -> float:
    """Seconds for curl to fetch `urls` into `folder`, four at a time (the client's default)."""
    folder.mkdir(parents=True, exist_ok=True)
    arguments = [
        "curl",
        "-sS",
        "--no-progress-meter",
        "--fail",
        "--parallel",
        "--parallel-max",
        "4",
    ]
    arguments += ["-H", f"Authorization: Bearer {DEMO_TOKEN}"]
    for number, url in enumerate(urls):
        suffix = "ndjson" if "/v3/" in url else "csv"
        arguments += ["-o", str(folder / f"{number:05d}.{suffix}"), url]
    started = time.perf_counter()
    subprocess.run(arguments, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


DUCKDB_LOAD = """
import sys, duckdb
folder, database, aggregates = sys.argv[1], sys.argv[2], sys.argv[3] == "aggregates"
storage = sys.argv[4] if len(sys.argv) > 4 else ""
config = {"storage_compatibility_version": storage} if storage else {}
with duckdb.connect(database, config=config) as connection:
    connection.execute("SET enable_progress_bar = false")  # 1.5 draws it on stdout
    connection.execute(
        f"CREATE TABLE events AS SELECT * FROM read_csv('{folder}/*.csv', union_by_name = true)"
    )
    if aggregates:
        connection.execute(
            f"CREATE TABLE aggregates AS SELECT * FROM read_json_auto('{folder}/*.ndjson')"
        )
    print(connection.execute("SELECT count(*) FROM events").fetchone()[0])
"""


def duckdb_load(folder: Path, database: Path, storage: str = "") -> tuple[float, int]:
    """DuckDB's own load of the files; `storage`: the file's storage format (its default if
    empty)."""
    database.unlink(missing_ok=True)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", DUCKDB_LOAD, str(folder), str(database), "aggregates", storage],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started, int(result.stdout.strip())


def small_day(runs: int, scratch: Path) -> list[Row]:
    walls, steps = [], []
    with EmulatorServer(seed=0, events_per_day=SMALL_EVENTS_PER_DAY) as server:
        for run in range(runs):
            day = FIRST_DAY + dt.timedelta(days=run)
            result = load(server, scratch / f"small-{run}", day, day)
            walls.append(result.seconds)
            steps.append(steps_own_seconds(result.dagster_home))
    wall = statistics.median(walls)
    name = f"small day: scarf-etl load, s (median of {runs})"
    return [
        Row(name, wall, "s", SMALL_DAY_TARGET_SECONDS, "8 s target"),
        Row(name, wall, "s", statistics.median(steps), "its steps' own work, s"),
    ]


def materializations(dagster_home: Path) -> int:
    """The asset materializations the run recorded (Dagster writes each to its SQLite event
    log and index shard: a fixed cost per day and partitioned asset)."""
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        with dg.DagsterInstance.get() as instance:
            (record,) = instance.get_run_records()
            stats = instance.get_run_stats(record.dagster_run.run_id)
            return int(stats.materializations)
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def year(days: int, scratch: Path) -> list[Row]:
    """The backfill twice: against a fresh emulator, which generates each day's data as it is
    first asked for (as slow as the pipeline's own work here), and against one whose data is
    already generated (a curl of the same URLs first), as Scarf serves stored data."""
    last = YEAR_LAST_DAY
    first = last - dt.timedelta(days=days - 1)
    with EmulatorServer(seed=0, events_per_day=1) as server:
        server.requests.clear()
        cold = load(server, scratch / "year", first, last)
        package_calls = sum(
            1
            for r in server.requests
            if r.path.startswith(f"/v2/packages/{DEMO_ORG}/") and r.path.endswith("/events")
        )
        packages = len(server.package_ids(DEMO_ORG))
    # The same URLs from a fresh emulator (its caches cold, as the load had them): generation
    # and HTTP, the part of the load's time no pipeline change can remove.
    with EmulatorServer(seed=0, events_per_day=1) as fresh:
        urls = export_urls(fresh, first, last)
        served_cold = curl(urls, scratch / "year-curl-cold")
        served_warm = curl(urls, scratch / "year-curl-warm")
        warm = load(fresh, scratch / "year-warm", first, last)
    per_package_year = package_calls / packages * 365 / days
    fewest = math.ceil(365 / DEFAULT_WINDOW_DAYS)
    name = f"year backfill ({days} days, 1 event/package/day): scarf-etl load, s"
    warm_name = "year backfill, emulator data generated beforehand: scarf-etl load, s"
    recorded = materializations(warm.dagster_home)
    return [
        Row(name, cold.seconds, "s", YEAR_TARGET_SECONDS, "60 s target"),
        Row(name, cold.seconds, "s", served_cold, "emulator serving its URLs (curl), s"),
        Row(warm_name, warm.seconds, "s", YEAR_TARGET_SECONDS, "60 s target"),
        Row(warm_name, warm.seconds, "s", served_warm, "emulator serving its URLs (curl), s"),
        Row("asset materializations Dagster records, year", recorded, "", recorded, "(count)"),
        Row("package event calls per package-year", per_package_year, "", fewest, "1 per 31 days"),
    ]


def day_at_volume(events_per_day: int, scratch: Path) -> list[Row]:
    day = FIRST_DAY + dt.timedelta(days=40)
    with EmulatorServer(seed=0, events_per_day=events_per_day) as server:
        urls = export_urls(server, day, day)
        fetched = curl(urls, scratch / "volume-curl")  # also warms the emulator's cache
        fetched = curl(urls, scratch / "volume-curl")
        loaded_seconds, duckdb_rows = duckdb_load(scratch / "volume-curl", scratch / "duck.db")
        same_format_seconds, _ = duckdb_load(
            scratch / "volume-curl", scratch / "duck-same-format.db", STORAGE_VERSION
        )
        result = load(server, scratch / "volume", day, day)
    warehouse = result.data_dir / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        row = connection.execute(
            "SELECT (SELECT count(*) FROM scarf.package_events)"
            " + (SELECT count(*) FROM scarf.pixel_events)"
        ).fetchone()
    events = int(row[0]) if row else 0
    per_million = 1e6 / max(events, 1)
    warehouse_mb = warehouse.stat().st_size / 1e6 * per_million
    duckdb_mb = (scratch / "duck.db").stat().st_size / 1e6 * 1e6 / max(duckdb_rows, 1)
    name = f"a day of {events:,} events: scarf-etl load"
    return [
        Row(f"{name}, s", result.seconds, "s", fetched + loaded_seconds, "curl + DuckDB, s"),
        Row(
            f"{name}, s",
            result.seconds,
            "s",
            fetched + same_format_seconds,
            f"curl + DuckDB into a {STORAGE_VERSION} file, s",
        ),
        Row(f"{name}, peak RSS MiB", result.peak_mib, "MiB", PEAK_RSS_LIMIT_MIB, "0.7 GB"),
        Row("warehouse MB per million events", warehouse_mb, "MB", duckdb_mb, "DuckDB table"),
    ]


def lake_and_warehouse(rows: int, scratch: Path) -> list[Row]:
    try:
        from bench_normalize import OURS, generate
    except ImportError as error:
        print(f"(lake row skipped: {error})")
        return []
    raw = scratch / "generated.csv"
    generate(raw, rows)
    ours = timed([sys.executable, "-c", OURS, str(scratch / "lake-data"), str(raw)])
    folder = scratch / "generated"
    folder.mkdir()
    (folder / "events.csv").symlink_to(raw)
    database = scratch / "generated.db"
    theirs = timed([sys.executable, "-c", DUCKDB_LOAD, str(folder), str(database), "events"])
    database.unlink()
    same = timed(
        [sys.executable, "-c", DUCKDB_LOAD, str(folder), str(database), "events", STORAGE_VERSION]
    )
    name = f"lake + warehouse of a {rows:,}-row day"
    same_name = f"DuckDB read_csv into a {STORAGE_VERSION} file"
    return [
        Row(f"{name}, wall s", ours[0], "s", theirs[0], "DuckDB read_csv, s"),
        Row(f"{name}, CPU s", ours[1], "s", theirs[1], "DuckDB read_csv, CPU s"),
        Row(f"{name}, wall s", ours[0], "s", same[0], f"{same_name}, s"),
        Row(f"{name}, CPU s", ours[1], "s", same[1], f"{same_name}, CPU s"),
    ]


def timed(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def print_table(rows: Sequence[Row]) -> None:
    width = max(len(row.figure) for row in rows)
    limit_width = max(len(row.limit_name) for row in rows)
    print(f"\n{'figure':<{width}}  {'value':>9}  {'limit':>9} {'':<{limit_width}}  {'ratio':>6}")
    for row in rows:
        print(
            f"{row.figure:<{width}}  {row.value:>9.2f}  {row.limit:>9.2f} "
            f"{row.limit_name:<{limit_width}}  {row.ratio:>6.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="small-day loads (median)")
    parser.add_argument("--year-days", type=int, default=365)
    parser.add_argument("--events-per-day", type=int, default=20_000, help="the day at volume")
    parser.add_argument("--lake-rows", type=int, default=200_000)
    parser.add_argument(
        "--big", action="store_true", help="2M-event day and lake rows (adds ~10 minutes)"
    )
    parser.add_argument("--only", nargs="+", choices=("small", "year", "volume", "lake"))
    args = parser.parse_args()
    if args.big:
        args.events_per_day, args.lake_rows = 400_000, 2_000_000
    parts = args.only or ["small", "year", "volume", "lake"]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="scarf-bench-") as tmp:
        scratch = Path(tmp)
        for part in parts:
            started = time.perf_counter()
            folder = scratch / part
            folder.mkdir()
            if part == "small":
                rows += small_day(args.runs, folder)
            elif part == "year":
                rows += year(args.year_days, folder)
            elif part == "volume":
                rows += day_at_volume(args.events_per_day, folder)
            else:
                rows += lake_and_warehouse(args.lake_rows, folder)
            print(f"{part}: measured in {time.perf_counter() - started:.0f} s", flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
