"""Download throughput of the Scarf client against the emulator (in its own process).

Prints MB/s (median of several runs) for one large export, and for many package-day exports
through download_all at concurrency 1 and 4. Run: `.venv/bin/python benchmarks/bench_client.py`.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx

from scarf_etl.client import ClientSettings, ExportRequest, ScarfClient
from scarf_etl.emulator.world import DATA_START, DEMO_ORG, DEMO_TOKEN

SERVE = (
    "from scarf_etl.emulator.server import serve_forever; "
    "serve_forever(port={port}, events_per_day={epd})"
)
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def emulator_process(events_per_day: int) -> Iterator[str]:
    """The emulator in a child process, so its work does not share our GIL."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-c", SERVE.format(port=port, epd=events_per_day)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                httpx.get(f"{url}/api/v1/packages", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)


def timed(runs: int, action: Callable[[], int]) -> tuple[float, int]:
    """Median MB/s over `runs` runs of `action`, which returns the bytes it moved."""
    action()  # warm-up: the emulator generates and caches the days on first request
    rates, moved = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        moved = action()
        rates.append(moved / 1e6 / (time.perf_counter() - started))
    return statistics.median(rates), moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events-per-day", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with emulator_process(args.events_per_day) as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = DATA_START + timedelta(days=10)

        def settings(concurrency: int) -> ClientSettings:
            return ClientSettings(
                v1_url=f"{url}/api/v1", v2_url=f"{url}/v2", max_concurrency=concurrency
            )

        with ScarfClient(DEMO_TOKEN, settings(1)) as client:
            packages = [p.uuid for p in client.list_organization_packages(DEMO_ORG)]
            big = ExportRequest(
                "owner_package_events", DEMO_ORG, start, start + timedelta(1), folder / "big.csv"
            )
            rate, size = timed(args.runs, lambda: client.download(big).bytes)
        print(f"one export, {size / 1e6:.1f} MB: {rate:.1f} MB/s (median of {args.runs})")

        requests = [
            ExportRequest(
                "package_events",
                DEMO_ORG,
                start + timedelta(d),
                start + timedelta(d + 1),
                folder / "many" / f"{p}-{d}.csv",
                package_id=p,
            )
            for p in packages
            for d in range(args.days)
        ]
        for concurrency in (1, 4):
            with ScarfClient(DEMO_TOKEN, settings(concurrency)) as client:
                rate, size = timed(
                    args.runs, lambda c=client: sum(d.bytes for d in c.download_all(requests))
                )
            print(
                f"{len(requests)} exports ({len(packages)} packages x {args.days} days, "
                f"{size / 1e6:.1f} MB) at concurrency {concurrency}: {rate:.1f} MB/s "
                f"(median of {args.runs})"
            )


if __name__ == "__main__":
    main()
