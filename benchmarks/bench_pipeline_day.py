"""Days through the real pipeline (`scarf-etl load`, one real Dagster run), at scale.

Two questions, one script: how a big day behaves (`--events-per-day 400000`: about 2M package
events) and how a long backfill behaves (`--days 365 --events-per-day 20`).

The emulator runs in its own process with `--events-per-day K` (per package: the demo owner has
five packages and two pixels, so a day is about 5*K package events and 2*K pixel events). Each
load runs in a fresh data folder and DAGSTER_HOME, under a small wrapper process whose
RUSAGE_CHILDREN peak RSS is the largest single process of that load: with Dagster's multiprocess
executor, the heaviest step. A small day is measured in the same session as the baseline.

    .venv/bin/python benchmarks/bench_pipeline_day.py [--events-per-day 400000] [--runs 3]
    .venv/bin/python benchmarks/bench_pipeline_day.py --days 365 --events-per-day 20 \
        --baseline-events-per-day 20 --runs 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE_EVENTS_PER_DAY = 20_000
FIRST_DAY = dt.date(2026, 10, 1)
# Runs the load and prints the peak RSS (KiB on Linux) of its largest descendant process.
MEASURE = (
    "import resource, subprocess, sys;"
    "code = subprocess.run(sys.argv[1:]).returncode;"
    "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
    "sys.exit(code)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(events_per_day: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scarf_etl.cli",
            "emulator",
            "--port",
            str(port),
            "--events-per-day",
            str(events_per_day),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the emulator did not start within 60 s")


def load_days(port: int, first: dt.date, days: int) -> tuple[float, float, int]:
    """Seconds, peak RSS (MiB) and package events loaded for `days` days from `first`."""
    last = first + dt.timedelta(days=days - 1)
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SCARF_", "DAGSTER_"))},
            "SCARF_API_TOKEN": DEMO_TOKEN,
            "SCARF_OWNER": DEMO_ORG,
            "SCARF_API_URL": f"http://127.0.0.1:{port}/api/v1",
            "SCARF_API_V2_URL": f"http://127.0.0.1:{port}/v2",
            "SCARF_DATA_DIR": str(Path(scratch) / "data"),
            "DAGSTER_HOME": str(Path(scratch) / "dagster_home"),
        }
        started = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                MEASURE,
                sys.executable,
                "-m",
                "scarf_etl.cli",
                "load",
                "--from",
                first.isoformat(),
                "--to",
                last.isoformat(),
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"load failed:\n{result.stdout}\n{result.stderr}")
        peak_kib = int(result.stdout.rsplit("PEAK_KIB", 1)[1].split()[0])
        warehouse = Path(scratch) / "data" / "warehouse.duckdb"
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            row = connection.execute("SELECT count(*) FROM scarf.package_events").fetchone()
        return seconds, peak_kib / 1024, int(row[0]) if row else 0


def measure(events_per_day: int, days: int, runs: int) -> tuple[float, float, int]:
    emulator, port = start_emulator(events_per_day)
    try:
        # Each run loads other days, so no run is served from the emulator's cache of another.
        results = [
            load_days(port, FIRST_DAY + dt.timedelta(days=n * days), days) for n in range(runs)
        ]
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    return (
        statistics.median(r[0] for r in results),
        statistics.median(r[1] for r in results),
        int(statistics.median(r[2] for r in results)),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events-per-day", type=int, default=400_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--baseline-events-per-day", type=int, default=BASELINE_EVENTS_PER_DAY)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    base_s, base_mib, base_rows = measure(args.baseline_events_per_day, 1, args.runs)
    big_s, big_mib, big_rows = measure(args.events_per_day, args.days, args.runs)
    print(f"median of {args.runs} run(s), `scarf-etl load` end to end, one Dagster run each")
    print(f"{'days':>5} {'package events':>15} {'seconds':>9} {'peak RSS MiB':>13} {'us/event':>9}")
    for days, rows, seconds, mib in (
        (1, base_rows, base_s, base_mib),
        (args.days, big_rows, big_s, big_mib),
    ):
        print(f"{days:>5} {rows:>15,} {seconds:>9.1f} {mib:>13.0f} {seconds / rows * 1e6:>9.1f}")
    print(
        f"ratio to the 1-day baseline: time {big_s / base_s:.1f}x "
        f"for {big_rows / base_rows:.1f}x events over {args.days}x days"
    )


if __name__ == "__main__":
    main()
