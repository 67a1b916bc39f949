"""Days through the real pipeline (`scarf-etl load`, one real Dagster run), at scale.

Two questions, one script: how a big day behaves (`--events-per-day 400000`: about 2M package
events) and how a long backfill behaves (`--days 365 --events-per-day 20`).

The emulator runs in its own process with `--events-per-day K` (per package: the demo owner has
five packages and two pixels, so a day is about 5*K package events and 2*K pixel events). Each
load runs in a fresh data folder and DAGSTER_HOME while a sampler reads /proc for the largest
peak RSS of any process in the load's tree: with Dagster's multiprocess executor, the heaviest
step. A small day is measured in the same session as the baseline.

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
import threading
import time
from pathlib import Path

import duckdb

from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE_EVENTS_PER_DAY = 20_000
FIRST_DAY = dt.date(2026, 10, 1)
SAMPLE_SECONDS = 0.1
PRINT_PROCESSES = "--per-process" in sys.argv


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name may hold spaces or parentheses: the ppid follows the last ")".
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _descendants(root: int) -> list[int]:
    children = _children_by_parent()
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    words = raw.decode(errors="replace").split("\0")
    text = " ".join(Path(words[0]).name.split() + words[1:]).strip()
    if "forkserver" in text:
        return "forkserver or a step process forked from it"
    return text[:70]


class TreeMemory:
    """Samples a process tree: the largest single process's peak (VmHWM, so peaks between
    samples count) and the largest sum of resident memory across the tree at one moment.

    Dagster runs each step in a process forked from a forkserver, which no `wait()` of ours
    reaches, so RUSAGE_CHILDREN cannot see them: /proc can."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.largest_process_kib = 0
        # pid -> (peak KiB, what it runs): every process of the load, for the per-process table.
        self.process_peaks: dict[int, tuple[int, str]] = {}
        self.largest_tree_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            pids = _descendants(self.root)
            peaks = [_status_kib(pid, "VmHWM") for pid in pids]
            self.largest_process_kib = max([self.largest_process_kib, *peaks])
            for pid, peak in zip(pids, peaks, strict=True):
                known = self.process_peaks.get(pid)
                what = known[1] if known else _command(pid)
                self.process_peaks[pid] = (max(peak, known[0] if known else 0), what)
            tree = sum(_status_kib(pid, "VmRSS") for pid in pids)
            self.largest_tree_kib = max(self.largest_tree_kib, tree)
            self._stop.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


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
            "scarf_etl.commands.cli",
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


def load_days(
    port: int, first: dt.date, days: int, executor: str = "auto"
) -> tuple[float, float, float, int]:
    """Seconds, largest process peak RSS (MiB), largest whole-tree RSS (MiB) and package
    events loaded, for `days` days from `first` (`executor`: scarf-etl load's --executor)."""
    last = first + dt.timedelta(days=days - 1)
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("SCARF_", "DAGSTER_"))},
            "SCARF_API_TOKEN": DEMO_TOKEN,
            "SCARF_OWNER": DEMO_ORG,
            "SCARF_API_URL": f"http://127.0.0.1:{port}/api/v1",
            "SCARF_API_V2_URL": f"http://127.0.0.1:{port}/v2",
            "SCARF_API_V3_URL": f"http://127.0.0.1:{port}/v3",
            "SCARF_DATA_DIR": str(Path(scratch) / "data"),
            "DAGSTER_HOME": str(Path(scratch) / "dagster_home"),
        }
        started = time.perf_counter()
        load = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scarf_etl.commands.cli",
                "load",
                "--from",
                first.isoformat(),
                "--to",
                last.isoformat(),
                "--executor",
                executor,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        memory = TreeMemory(load.pid)
        output = load.communicate()[0]
        memory.stop()
        seconds = time.perf_counter() - started
        if load.returncode != 0:
            raise RuntimeError(f"load failed:\n{output}")
        if PRINT_PROCESSES:
            print(f"peak RSS per process, {days} day(s) from {first}:")
            for pid, (peak, what) in sorted(
                memory.process_peaks.items(), key=lambda item: -item[1][0]
            ):
                if peak >= 50 * 1024:
                    print(f"  {peak / 1024:8.0f} MiB  pid {pid:<7} {what}")
        warehouse = Path(scratch) / "data" / "warehouse.duckdb"
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            row = connection.execute("SELECT count(*) FROM scarf.package_events").fetchone()
        return (
            seconds,
            memory.largest_process_kib / 1024,
            memory.largest_tree_kib / 1024,
            int(row[0]) if row else 0,
        )


def measure(
    events_per_day: int, days: int, runs: int, executor: str = "auto"
) -> tuple[float, float, float, int]:
    emulator, port = start_emulator(events_per_day)
    try:
        # Each run loads other days, so no run is served from the emulator's cache of another.
        results = [
            load_days(port, FIRST_DAY + dt.timedelta(days=n * days), days, executor)
            for n in range(runs)
        ]
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    seconds, process_mib, tree_mib, rows = zip(*results, strict=True)
    return (
        statistics.median(seconds),
        statistics.median(process_mib),
        statistics.median(tree_mib),
        int(statistics.median(rows)),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events-per-day", type=int, default=400_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--baseline-events-per-day", type=int, default=BASELINE_EVENTS_PER_DAY)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--per-process", action="store_true", help="print each process's peak RSS per load"
    )
    parser.add_argument(
        "--executor", choices=("auto", "in-process", "multiprocess"), default="auto"
    )
    args = parser.parse_args()

    baseline = measure(args.baseline_events_per_day, 1, args.runs, args.executor)
    big = measure(args.events_per_day, args.days, args.runs, args.executor)
    print(f"median of {args.runs} run(s), `scarf-etl load` end to end, one Dagster run each")
    print(
        f"{'days':>5} {'package events':>15} {'seconds':>9} {'largest process MiB':>20} "
        f"{'whole run MiB':>14} {'us/event':>9}"
    )
    for days, (seconds, process_mib, tree_mib, rows) in ((1, baseline), (args.days, big)):
        print(
            f"{days:>5} {rows:>15,} {seconds:>9.1f} {process_mib:>20.0f} {tree_mib:>14.0f} "
            f"{seconds / rows * 1e6:>9.1f}"
        )
    print(
        f"ratio to the 1-day baseline: time {big[0] / baseline[0]:.1f}x "
        f"for {big[3] / baseline[3]:.1f}x events over {args.days}x days"
    )


if __name__ == "__main__":
    main()
