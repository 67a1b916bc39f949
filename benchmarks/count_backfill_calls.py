"""How many calls to Scarf (each billed as a "Run") a backfill costs, per API configuration.

Runs the real raw and dimension assets (the only ones that call the API) for `--days` days in
one in-process Dagster run against the bundled emulator on 127.0.0.1, and counts the requests
in the emulator's request log, by endpoint family. Lake and warehouse assets read raw files
only, so they add no calls.

    .venv/bin/python benchmarks/count_backfill_calls.py [--days 365]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import tempfile
from pathlib import Path

import dagster as dg

from scarf_etl.defs.assets import ALL_ASSETS
from scarf_etl.defs.resources import default_resources
from scarf_etl.defs.schedules import partition_range_tags
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN

LAST_DAY = dt.date(2026, 10, 31)
# (label, SCARF_EVENTS_API, SCARF_AGGREGATES_API)
CONFIGURATIONS = (
    ("before: v2 events, v1 aggregates per day", "v2", "v1"),
    ("v1 page: v1 events, v1 aggregates", "v1", "v1"),
    ("after: v2 events, v3 aggregates per range", "v2", "v3"),
)


def family(path: str) -> str:
    if path.startswith("/v3/") or path.endswith("/aggregates"):
        return "aggregates"
    if "/events" in path:
        return "events"
    return "dimensions"


def count_calls(
    server: EmulatorServer, days: int, events_api: str, aggregates_api: str
) -> dict[str, int]:
    server.reset()
    first = LAST_DAY - dt.timedelta(days=days - 1)
    with tempfile.TemporaryDirectory(prefix="scarf-calls-") as data_dir:
        os.environ.update(
            {
                "SCARF_API_TOKEN": DEMO_TOKEN,
                "SCARF_OWNER": DEMO_ORG,
                "SCARF_API_URL": server.v1_url,
                "SCARF_API_V2_URL": server.v2_url,
                "SCARF_API_V3_URL": server.v3_url,
                "SCARF_DATA_DIR": str(Path(data_dir)),
                "SCARF_EVENTS_API": events_api,
                "SCARF_AGGREGATES_API": aggregates_api,
            }
        )
        result = dg.materialize(
            ALL_ASSETS,
            resources=default_resources(),
            tags=partition_range_tags(first, LAST_DAY),
            selection=dg.AssetSelection.groups("raw", "dimensions"),
        )
        assert result.success
    counts = collections.Counter(family(record.path) for record in server.requests)
    counts["total"] = len(server.requests)
    return dict(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--events-per-day", type=int, default=1)
    args = parser.parse_args()
    print(f"calls to Scarf for a {args.days}-day backfill of {DEMO_ORG} (5 packages, 2 pixels)")
    print(f"{'configuration':<46} {'aggregates':>10} {'events':>7} {'dimensions':>10} {'total':>6}")
    with EmulatorServer(seed=0, events_per_day=args.events_per_day) as server:
        for label, events_api, aggregates_api in CONFIGURATIONS:
            counts = count_calls(server, args.days, events_api, aggregates_api)
            print(
                f"{label:<46} {counts.get('aggregates', 0):>10} {counts.get('events', 0):>7} "
                f"{counts.get('dimensions', 0):>10} {counts['total']:>6}",
                flush=True,
            )


if __name__ == "__main__":
    main()
