"""What publishing the warehouse costs per step ("copy, update, swap"), as the warehouse grows.

The pipeline writes a private build file and publishes the file users open by CHECKPOINT + copy
+ atomic rename, so readers never block a load. The copy grows with the warehouse, not the day:
this prints the publish time at 1x and 10x a warehouse of `--events` package events, beside the
physical limit measured in the same run (`cp` of the same file, page cache warm), and the
warehouse's size per million events.

    .venv/bin/python benchmarks/bench_publish.py [--events 2000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from scarf_etl.warehouse import Warehouse

FILL = """
INSERT INTO scarf.package_events (event_id, event_date, package_id, type, package, version,
    time, user_agent, origin_id, origin_country, origin_company, owner)
SELECT md5(i::VARCHAR || ?), DATE '2026-01-01' + (i % 365)::INTEGER,
    'pkg-' || (i % 5), 'download', 'pkg', '1.' || (i % 40), TIMESTAMPTZ '2026-01-01' +
    to_seconds(i % 31536000), 'pip/24.' || (i % 3) || ' CPython/3.12', md5((i % 50000)::VARCHAR),
    'US', 'Company ' || (i % 700), 'me'
FROM range(?) t(i)
"""


def build(path: Path, events: int) -> Warehouse:
    warehouse = Warehouse(path)
    warehouse.ensure_schema()
    with duckdb.connect(str(warehouse.build_path)) as connection:
        connection.execute(FILL, [path.name, events])
        connection.execute("CHECKPOINT")
    return warehouse


def median_seconds(action: Callable[[], object], runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2_000_000, help="events of the 1x warehouse")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as folder:
        print(f"{'warehouse':>10} {'events':>11} {'MB':>8} {'MB/M events':>12} "
              f"{'publish s':>10} {'cp s':>8} {'ratio':>6}")  # fmt: skip
        for scale in (1, 10):
            path = Path(folder) / f"x{scale}" / "warehouse.duckdb"
            path.parent.mkdir()
            events = args.events * scale
            warehouse = build(path, events)
            warehouse.publish()  # warm the page cache, as the previous step's publish does
            copy = path.with_name("copy.duckdb")
            command = ["cp", str(warehouse.build_path), str(copy)]
            limit = median_seconds(lambda c=command: subprocess.run(c, check=True), args.runs)
            publish = median_seconds(warehouse.publish, args.runs)
            megabytes = warehouse.build_path.stat().st_size / 1e6
            print(
                f"{scale:>9}x {events:>11,} {megabytes:>8.0f} {megabytes / events * 1e6:>12.1f} "
                f"{publish:>10.3f} {limit:>8.3f} {publish / limit:>6.2f}"
            )
            copy.unlink()
            path.unlink()
            warehouse.build_path.unlink()


if __name__ == "__main__":
    main()
