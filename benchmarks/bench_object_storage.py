"""A small day loaded with the data in a local folder vs in a bucket (SCARF_DATA_DIR=s3://...).

Both loads are the real assets for one day in one in-process Dagster run (as `scarf-etl load`
runs a small day), against the bundled emulator on 127.0.0.1; the bucket is moto's S3 server on
127.0.0.1, in a process of its own (as a real store is: it must not share the load's GIL).
Each load starts from an empty data folder (and, for the bucket, an empty prefix and
work folder); local and bucket loads alternate, so drift hits both. The yardstick measured in
the same run: uploading the same bytes (the day's raw and lake files, as one object each, with
the same client) to the bucket, the least the bucket can add to a load.

    .venv/bin/python benchmarks/bench_object_storage.py [--runs 3] [--events-per-day 50] 2>/dev/null

(Dagster's step log goes to stderr; the figures to stdout.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import dagster as dg
import pyarrow.fs as pafs

from scarf_etl.defs.assets import ALL_ASSETS
from scarf_etl.defs.resources import default_resources
from scarf_etl.defs.schedules import partition_range_tags
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN
from scarf_etl.store.location import s3_filesystem

DAY = dt.date(2026, 11, 1)
BUCKET = "scarf-bench"


def load_day() -> float:
    started = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            ALL_ASSETS,
            resources=default_resources(),
            tags=partition_range_tags(DAY, DAY),
            instance=instance,
        )
    assert result.success
    return time.perf_counter() - started


def upload_floor(filesystem: pafs.S3FileSystem, data_dir: Path) -> tuple[float, int]:
    """Seconds to upload every raw and lake file of `data_dir` to a fresh prefix, and bytes."""
    files = [p for p in data_dir.rglob("*") if p.is_file() and p.parts[-2] != "dagster_home"]
    files = [p for p in files if "raw" in p.parts or "lake" in p.parts]
    prefix = f"{BUCKET}/floor-{uuid.uuid4().hex}"
    started = time.perf_counter()
    for path in files:
        with filesystem.open_output_stream(f"{prefix}/{path.relative_to(data_dir)}") as out:
            out.write(path.read_bytes())
    return time.perf_counter() - started, sum(p.stat().st_size for p in files)


def wait_for_port(host: str, port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events-per-day", type=int, default=50)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("dagster").setLevel(logging.WARNING)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        host, port = probe.getsockname()
    moto_server = Path(sys.executable).with_name("moto_server")
    s3 = subprocess.Popen(
        [str(moto_server), "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(host, port)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
    )
    filesystem = s3_filesystem(os.environ)
    pafs.S3FileSystem(
        endpoint_override=f"{host}:{port}", scheme="http", allow_bucket_creation=True
    ).create_dir(BUCKET)
    local_times: list[float] = []
    s3_times: list[float] = []
    floors: list[float] = []
    with (
        EmulatorServer(seed=0, events_per_day=args.events_per_day) as api,
        tempfile.TemporaryDirectory(prefix="scarf-bench-s3-") as scratch,
    ):
        os.environ.update(
            SCARF_API_TOKEN=DEMO_TOKEN,
            SCARF_OWNER=DEMO_ORG,
            SCARF_API_URL=api.v1_url,
            SCARF_API_V2_URL=api.v2_url,
            SCARF_API_V3_URL=api.v3_url,
        )
        for run in range(args.runs):
            local_dir = Path(scratch, f"local-{run}")
            os.environ.pop("SCARF_WORK_DIR", None)
            os.environ["SCARF_DATA_DIR"] = str(local_dir)
            os.environ["SCARF_DUCKDB_PATH"] = str(local_dir / "warehouse.duckdb")
            local_times.append(load_day())

            os.environ["SCARF_DATA_DIR"] = f"s3://{BUCKET}/run-{run}"
            os.environ["SCARF_WORK_DIR"] = str(Path(scratch, f"work-{run}"))
            os.environ["SCARF_DUCKDB_PATH"] = str(Path(scratch, f"s3-{run}.duckdb"))
            s3_times.append(load_day())

            floor, size = upload_floor(filesystem, local_dir)
            floors.append(floor)
    s3.terminate()
    s3.wait(timeout=30)
    local, remote, floor = (statistics.median(t) for t in (local_times, s3_times, floors))
    print(f"small day ({args.events_per_day} events per package), median of {args.runs} runs:")
    print(f"  local folder   {local:6.2f} s   runs {', '.join(f'{t:.2f}' for t in local_times)}")
    print(f"  s3 (moto)      {remote:6.2f} s   runs {', '.join(f'{t:.2f}' for t in s3_times)}")
    print(f"  s3 / local     {remote / local:6.2f}x   (+{remote - local:.2f} s)")
    print(
        f"  yardstick: uploading the day's {size / 1e3:.0f} kB of raw and lake files "
        f"to the same bucket, one object each: {floor:.2f} s; the bucket added "
        f"{(remote - local) / floor:.1f}x that"
    )


if __name__ == "__main__":
    main()
