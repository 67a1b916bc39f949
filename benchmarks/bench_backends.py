"""The warehouse backends side by side: the embedded DuckDB file, DuckLake on a SQLite catalog,
DuckLake on a Postgres catalog (a throwaway PostgreSQL 15 cluster on 127.0.0.1).

1. A big day's load (`--events`, default 2M package events, generated like bench_publish.py's
   warehouse): seconds and peak RSS of a fresh process doing ensure_schema + load_partitions +
   publish, median of `--runs`, as a ratio to the embedded file; beside the physical floor
   measured in the same run (DuckDB rewriting the same parquet to a new file: read + write).
   Peak RSS is the loading process's VmHWM (its own high-water mark).
2. Two writers and three readers at once for `--seconds`: the writers load their own days
   (`--small-events` each, re-loading them in turn), the readers query the views; commits,
   conflicts retried, reader queries and reader errors (want 0).

    .venv/bin/python benchmarks/bench_backends.py [--events 2000000] [--runs 3] [--seconds 30]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 11, 1)
PG_CTL = Path("/usr/lib/postgresql/15/bin/pg_ctl")

# The columns bench_publish.py fills, for one day.
DAY_PARQUET = """
COPY (
    SELECT md5(i::VARCHAR || ?) AS event_id, ?::DATE AS event_date, 'pkg-' || (i % 5) AS package_id,
        'download' AS type, 'pkg' AS package, '1.' || (i % 40) AS version,
        ?::TIMESTAMPTZ + to_seconds(i % 86400) AS time,
        'pip/24.' || (i % 3) || ' CPython/3.12' AS user_agent,
        md5((i % 50000)::VARCHAR) AS origin_id, 'US' AS origin_country,
        'Company ' || (i % 700) AS origin_company, 'me' AS owner
    FROM range(?) t(i)
) TO '{path}' (FORMAT parquet)
"""

LOADER = """
import json, sys, time, datetime as dt
from pathlib import Path
from scarf_etl.settings import warehouse_spec
from scarf_etl.store.warehouse import DayFiles, Warehouse
day, parquet = dt.date.fromisoformat(sys.argv[1]), Path(sys.argv[2])
started = time.perf_counter()
warehouse = Warehouse(warehouse_spec())
warehouse.ensure_schema()
rows = warehouse.load_partitions("package_events", "me", [DayFiles(day, parquet)])
warehouse.publish()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec (the parent's peak would show).
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows[day],
    "peak_mib": int(hwm) / 1024}))
"""

WRITER = """
import json, sys, time, datetime as dt
from pathlib import Path
from scarf_etl.settings import warehouse_spec
from scarf_etl.store.warehouse import DayFiles, Warehouse
folder, seconds, days = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
warehouse = Warehouse(warehouse_spec(), report=lambda line: print(line, file=sys.stderr))
deadline, commits, n = time.monotonic() + seconds, 0, 0
while time.monotonic() < deadline:
    day = dt.date.fromisoformat(days[n % len(days)])
    warehouse.load_partitions("package_events", "me", [DayFiles(day, folder / f"{day}.parquet")])
    warehouse.publish()
    commits, n = commits + 1, n + 1
print(json.dumps({"commits": commits, "retries": warehouse.commit_retries}))
"""

READER = """
import json, sys, time
from scarf_etl.settings import warehouse_spec
from scarf_etl.store.warehouse import Warehouse
deadline = time.monotonic() + float(sys.argv[1])
warehouse = Warehouse(warehouse_spec())
queries, errors, messages = 0, 0, []
while time.monotonic() < deadline:
    try:
        with warehouse.reader() as connection:
            connection.execute(
                "SELECT event_date, count(*) FROM scarf.package_events GROUP BY ALL"
            ).fetchall()
            connection.execute(
                "SELECT sum(downloads) FROM scarf.downloads_per_package_per_day"
            ).fetchall()
        queries += 1
    except Exception as error:
        errors += 1
        messages.append(str(error)[:200])
print(json.dumps({"queries": queries, "errors": errors, "messages": messages[:3]}))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A throwaway cluster on 127.0.0.1 (as the `postgres` user when run as root, since initdb
    refuses root); yields the DSN of its `postgres` database."""
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    subprocess.run(
        [*as_user, str(PG_CTL), "initdb", "-D", str(data), "-o", "--auth=trust -U postgres"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-p {port} -h 127.0.0.1 -k {folder}"
    subprocess.run(
        [
            *as_user,
            str(PG_CTL),
            "start",
            "-w",
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "log"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield f"host=127.0.0.1 port={port} user=postgres"
    finally:
        subprocess.run(
            [*as_user, str(PG_CTL), "stop", "-D", str(data), "-m", "fast"],
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(folder, ignore_errors=True)


def fresh_env(backend: str, folder: Path, pg_base: str | None, n: int) -> dict[str, str]:
    """The environment selecting a new, empty warehouse of `backend`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCARF_")}
    target = folder / f"{backend}-{n}"
    if backend == "embedded":
        env.update(SCARF_WAREHOUSE="duckdb", SCARF_DUCKDB_PATH=str(target / "warehouse.duckdb"))
        return env
    env["SCARF_DUCKLAKE_DATA_PATH"] = str(target / "data") + "/"
    if backend == "ducklake-sqlite":
        env["SCARF_WAREHOUSE"] = f"ducklake:sqlite:{target / 'catalog.sqlite'}"
        return env
    assert pg_base is not None
    name = f"bench_{n}_{int(time.time() * 1000)}"
    with psycopg.connect(f"{pg_base} dbname=postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    env["SCARF_WAREHOUSE"] = f"ducklake:postgres:{pg_base} dbname={name}"
    return env


def run_json(args: list[str], env: dict[str, str], timeout: float) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"failed: {done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["log_lines"] = done.stderr.count("retrying in")
    return result


def write_day(path: Path, day: dt.date, events: int) -> None:
    with duckdb.connect() as connection:
        connection.execute(
            DAY_PARQUET.format(path=str(path).replace("'", "''")),
            [str(day), day, f"{day} 00:00:00+00", events],
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--small-events", type=int, default=20_000)
    parser.add_argument(
        "--backends",
        default="embedded,ducklake-sqlite,ducklake-postgres",
    )
    args = parser.parse_args()
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as temporary:
        folder = Path(temporary)
        big = folder / "big.parquet"
        write_day(big, DAY, args.events)
        floors = []
        for n in range(args.runs):
            started = time.perf_counter()
            with duckdb.connect() as connection:
                copy = folder / f"floor{n}.parquet"
                connection.execute(
                    f"COPY (SELECT * FROM read_parquet('{big}')) TO '{copy}' (FORMAT parquet)"
                )
            floors.append(time.perf_counter() - started)
        floor = statistics.median(floors)
        small_days = [DAY + dt.timedelta(days=n) for n in range(1, 7)]
        for day in small_days:
            write_day(folder / f"{day}.parquet", day, args.small_events)

        with contextlib.ExitStack() as stack:
            pg_base = None
            if "ducklake-postgres" in backends:
                pg_base = stack.enter_context(postgres_cluster())
            loads: dict[str, tuple[float, float]] = {}
            concurrency: dict[str, dict[str, object]] = {}
            counter = 0
            for backend in backends:
                seconds, peaks = [], []
                for _ in range(args.runs):
                    counter += 1
                    env = fresh_env(backend, folder, pg_base, counter)
                    result = run_json([LOADER, str(DAY), str(big)], env, timeout=1800)
                    assert result["rows"] == args.events, result
                    seconds.append(float(str(result["seconds"])))
                    peaks.append(float(str(result["peak_mib"])))
                loads[backend] = (statistics.median(seconds), statistics.median(peaks))
                print(
                    f"{backend}: load {[round(s, 2) for s in seconds]} s, "
                    f"peak {[round(p) for p in peaks]} MiB",
                    flush=True,
                )

                counter += 1
                env = fresh_env(backend, folder, pg_base, counter)
                run_json(
                    [LOADER, str(small_days[0]), str(folder / f"{small_days[0]}.parquet")],
                    env,
                    timeout=600,
                )  # the schema and a first day exist before the race
                writers = [
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-c",
                            WRITER,
                            str(folder),
                            str(args.seconds),
                            *[str(d) for d in chunk],
                        ],
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                        cwd=REPO_ROOT,
                    )
                    for chunk in (small_days[:3], small_days[3:])
                ]
                readers = [
                    subprocess.Popen(
                        [sys.executable, "-c", READER, str(args.seconds)],
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                        cwd=REPO_ROOT,
                    )
                    for _ in range(3)
                ]
                commits = retries = retry_lines = queries = errors = 0
                messages: list[str] = []
                for writer in writers:
                    out, err = writer.communicate(timeout=args.seconds + 600)
                    if writer.returncode != 0:
                        raise SystemExit(f"{backend} writer failed: {err[-2000:]}")
                    figures = json.loads(out.strip().splitlines()[-1])
                    commits += figures["commits"]
                    retries += figures["retries"]
                    retry_lines += err.count("retrying in")
                for reader in readers:
                    out, err = reader.communicate(timeout=args.seconds + 600)
                    figures = json.loads(out.strip().splitlines()[-1])
                    queries += figures["queries"]
                    errors += figures["errors"]
                    messages += figures["messages"]
                concurrency[backend] = {
                    "commits": commits,
                    "retries": retries,
                    "retry_lines": retry_lines,
                    "queries": queries,
                    "errors": errors,
                    "messages": messages[:3],
                }
                print(f"{backend}: 2 writers + 3 readers: {concurrency[backend]}", flush=True)

    base_seconds, base_peak = loads.get("embedded", next(iter(loads.values())))
    print(
        f"\n{args.events:,}-event day, median of {args.runs} (fresh process each); floor: DuckDB "
        f"rewriting the same parquet {floor:.2f} s"
    )
    header = (
        f"{'backend':<18} {'load s':>7} {'x floor':>8} {'x embedded':>10} {'peak MiB':>9} "
        f"{'x embedded':>10} | {'commits':>7} {'retries':>7} {'reader queries':>14} "
        f"{'reader errors':>13}"
    )
    print(header)
    print("-" * len(header))
    for backend in backends:
        seconds, peak = loads[backend]
        c = concurrency[backend]
        ratio = seconds / base_seconds
        print(
            f"{backend:<18} {seconds:>7.2f} {seconds / floor:>8.2f} {ratio:>10.2f} "
            f"{peak:>9.0f} {peak / base_peak:>10.2f} | {c['commits']:>7} {c['retries']:>7} "
            f"{c['queries']:>14} {c['errors']:>13}"
        )
    print(
        f"\nwriters and readers ran for {args.seconds:.0f} s; writers re-load {args.small_events:,}"
        "-event days of their own (3 each)"
    )
    for backend, c in concurrency.items():
        if c["messages"]:
            print(f"{backend} reader errors: {c['messages']}")


if __name__ == "__main__":
    main()
