"""Emulator scale: generate and stream about one million events for one package and day.

Prints medians of several runs: vectorized generation time, time to stream the CSV over a real
socket with httpx (a fresh day, so generation is included, and the same day again, from the
cache), bytes and rows streamed, and the process's peak RSS (server thread included).

    .venv/bin/python benchmarks/bench_emulator.py [--events 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime
import resource
import statistics
import time

import httpx

from scarf_etl.emulator import events, world
from scarf_etl.emulator.server import EmulatorServer


def stream(client: httpx.Client, url: str, day: datetime.date) -> tuple[float, int, int]:
    """Seconds, bytes and rows of one streamed export."""
    params = {"start_date": str(day), "end_date": str(day + datetime.timedelta(days=1))}
    started = time.perf_counter()
    size = lines = 0
    with client.stream("GET", url, params=params) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, size, lines - 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    source = events.EventSource(world.ACME_CLI.uuid, "package", "acme-cli", "docker")
    days = [datetime.date(2024, 6, 1) + datetime.timedelta(days=i) for i in range(args.runs)]

    generation = []
    for day in days:
        started = time.perf_counter()
        frame = events.generate(0, source, day, args.events)
        generation.append((time.perf_counter() - started, frame.height))
        del frame

    fresh, cached = [], []
    with EmulatorServer(events_per_day=args.events) as server:
        url = f"{server.v2_url}/packages/{world.DEMO_ORG}/{world.ACME_CLI.uuid}/events"
        headers = {"Authorization": f"Bearer {world.DEMO_TOKEN}"}
        with httpx.Client(headers=headers, timeout=300) as client:
            for day in days:
                fresh.append(stream(client, url, day))
                cached.append(stream(client, url, day))

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = statistics.median(h for _, h in generation)
    print(f"events per package-day: ~{args.events:,} (median rows generated: {rows:,.0f})")
    generation_s = statistics.median(t for t, _ in generation)
    runs_s = [round(t, 2) for t, _ in generation]
    print(f"generation (vectorized):        median {generation_s:.2f} s  runs {runs_s}")
    for name, runs in (("stream, fresh day (gen + CSV)", fresh), ("stream, cached day", cached)):
        seconds = statistics.median(t for t, _, _ in runs)
        size = statistics.median(s for _, s, _ in runs)
        print(
            f"{name:<31} median {seconds:.2f} s, {size / 1e6:.0f} MB, "
            f"{statistics.median(r for _, _, r in runs):,.0f} rows, {size / 1e6 / seconds:.0f} MB/s"
        )
    print(f"peak RSS (client + server, one process): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
