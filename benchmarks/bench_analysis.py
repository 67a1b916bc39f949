"""The analysis layer's costs: user-agent parse throughput, the incremental refresh when nothing
is new, and the HTML report's build time on a warehouse loaded by the real pipeline.

Each figure is the median of --runs and comes with a yardstick measured in the same run:
- parsing: one compiled regex match per agent (the least any rule-based parser does);
- the report: one scan of the package events (count and distinct origins), the floor of any
  answer that reads them.

    .venv/bin/python benchmarks/bench_analysis.py [--days 28] [--events-per-day 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb

from scarf_etl.analysis.agents_table import refresh_user_agents
from scarf_etl.analysis.report import build_report
from scarf_etl.analysis.user_agents import parse_user_agent
from scarf_etl.defs.analysis_assets import ANALYSIS_ASSETS
from scarf_etl.defs.assets import ALL_ASSETS
from scarf_etl.defs.resources import default_resources
from scarf_etl.defs.schedules import partition_range_tags
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN

LAST_DAY = dt.date(2026, 11, 20)


def distinct_agents(count: int) -> list[str]:
    """`count` distinct agents in the real formats, mixed as a registry sees them."""
    agents: list[str] = []
    i = 0
    while len(agents) < count:
        minor, patch = i % 40, i // 40
        pip_json = json.dumps(
            {
                "ci": True if i % 5 == 0 else None,
                "cpu": "x86_64",
                "distro": {"name": "Ubuntu", "version": f"22.{minor:02d}"},
                "implementation": {"name": "CPython", "version": f"3.12.{patch}"},
                "installer": {"name": "pip", "version": f"24.{minor}"},
                "system": {"name": "Linux", "release": f"6.5.{patch}-azure"},
            },
            separators=(",", ":"),
        )
        agents += [
            f"pip/24.{minor} {pip_json}",
            f"uv/0.{minor}.{patch} "
            + pip_json.replace('"pip"', '"uv"').replace(f'"24.{minor}"', f'"0.{minor}.{patch}"'),
            f"npm/10.{minor}.{patch} node/v20.{patch}.0 linux x64 workspaces/false"
            + (" ci/github-actions" if i % 3 == 0 else ""),
            f"pnpm/9.{minor}.{patch} npm/? node/v22.{patch}.0 darwin arm64",
            f"docker/27.{minor}.{patch} go/go1.22.{minor} git-commit/{i:07x} "
            f"kernel/6.8.{patch}-generic os/linux arch/amd64 "
            f"UpstreamClient(Docker-Client/27.{minor}.{patch} \\(linux\\))",
            f"containerd/1.{minor}.{patch}",
            f"curl/8.{minor}.{patch}",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{100 + minor}.0.{patch}.0 Safari/537.36",
            f"Mozilla/5.0 (compatible; Googlebot/2.{i}; +http://www.google.com/bot.html)",
            f"SomeMirror/{i}",
        ]
        i += 1
    return agents[:count]


def median_seconds(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_parse(count: int, runs: int) -> None:
    agents = distinct_agents(count)
    prefix = re.compile(r"^([\w.-]+)/(\S+)")
    ours = median_seconds(lambda: [parse_user_agent(a) for a in agents], runs)
    floor = median_seconds(lambda: [prefix.match(a) for a in agents], runs)
    print(
        f"parse {count:,} distinct agents: {ours:.3f} s = {count / ours:,.0f} agents/s "
        f"(one regex match each: {count / floor:,.0f} agents/s; ratio {ours / floor:.1f}x)"
    )


def load_warehouse(data_dir: Path, days: int, events_per_day: int) -> Path:
    first = LAST_DAY - dt.timedelta(days=days - 1)
    with EmulatorServer(seed=0, events_per_day=events_per_day) as emulator:
        os.environ.update(
            SCARF_API_TOKEN=DEMO_TOKEN,
            SCARF_OWNER=DEMO_ORG,
            SCARF_API_URL=emulator.v1_url,
            SCARF_API_V2_URL=emulator.v2_url,
            SCARF_API_V3_URL=emulator.v3_url,
            SCARF_DATA_DIR=str(data_dir),
        )
        os.environ.pop("SCARF_DUCKDB_PATH", None)
        started = time.perf_counter()
        result = dg.materialize(
            [*ALL_ASSETS, *ANALYSIS_ASSETS],
            resources=default_resources(),
            tags=partition_range_tags(first, LAST_DAY),
        )
        assert result.success
        print(f"loaded {days} days ({first}..{LAST_DAY}) in {time.perf_counter() - started:.1f} s")
    return data_dir / "warehouse.duckdb"


def bench_warehouse(path: Path, runs: int) -> None:
    with duckdb.connect(str(path), read_only=True) as connection:
        events, agents = connection.execute(
            "SELECT (SELECT count(*) FROM scarf.package_events) + "
            "(SELECT count(*) FROM scarf.pixel_events), (SELECT count(*) FROM scarf.user_agents)"
        ).fetchone() or (0, 0)
        scan = median_seconds(
            lambda: connection.execute(
                "SELECT count(*), count(DISTINCT origin_id) FROM scarf.package_events"
            ).fetchall(),
            runs,
        )
    print(f"warehouse: {events:,} events, {agents} distinct agents")
    copy = path.with_name("refresh-copy.duckdb")
    shutil.copyfile(path, copy)
    with duckdb.connect(str(copy)) as connection:
        refresh = median_seconds(lambda: refresh_user_agents(connection), runs)
    print(f"user_agents refresh with nothing new: {refresh:.3f} s (one events scan: {scan:.3f} s)")
    out = path.with_name("report.html")
    report = median_seconds(lambda: build_report(path, out), runs)
    print(
        f"report build: {report:.3f} s, {out.stat().st_size:,} bytes "
        f"(one events scan: {scan:.3f} s; ratio {report / scan:.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--events-per-day", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bench_parse(args.agents, args.runs)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["DAGSTER_HOME"] = folder
        path = load_warehouse(Path(folder) / "data", args.days, args.events_per_day)
        bench_warehouse(path, args.runs)


if __name__ == "__main__":
    main()
