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
# (label, SCARF_EVENTS_API, SCARF_AGGREGATES_API, SCARF_EXPORT_WINDOW_DAYS)
CONFIGURATIONS = (
    ("before: v2 events per day, v1 aggregates per day", "v2", "v1", 1),
    ("v1 page: v1 events per day, v1 aggregates", "v1", "v1", 1),
    ("v3 aggregates per range, events per day", "v2", "v3", 1),
    ("after: v2 events per 31 days, v3 aggregates", "v2", "v3", 31),
)


def family(path: str) -> str:
    if path.startswith("/v3/") or path.endswith("/aggregates"):
        return "aggregates"
    if "/tracking-pixels/" in path or "/pixels/" in path:
        return "pixel_events"
    if "/events" in path:
        return "package_events"
    return "dimensions"


def count_calls(
    server: EmulatorServer,
    days: int,
    events_api: str,
    aggregates_api: str,
    window_days: int = 31,
) -> dict[str, int]:
    """Calls to the emulator, by family, of one backfill of `days` days ending LAST_DAY."""
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
                "SCARF_EXPORT_WINDOW_DAYS": str(window_days),
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


def per_package_year(counts: dict[str, int], days: int, packages: int) -> float:
    """Package event export calls per package and per 365 days."""
    return counts.get("package_events", 0) / packages * 365 / days


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--events-per-day", type=int, default=1)
    args = parser.parse_args()
    with EmulatorServer(seed=0, events_per_day=args.events_per_day) as server:
        packages = len(server.package_ids(DEMO_ORG))
        print(
            f"calls to Scarf for a {args.days}-day backfill of {DEMO_ORG} "
            f"({packages} packages, pixels in one export per window)"
        )
        print(
            f"{'configuration':<50} {'aggregates':>10} {'package':>8} {'pixel':>6} "
            f"{'dimensions':>10} {'total':>6} {'per package-year':>17}"
        )
        for label, events_api, aggregates_api, window in CONFIGURATIONS:
            counts = count_calls(server, args.days, events_api, aggregates_api, window)
            print(
                f"{label:<50} {counts.get('aggregates', 0):>10} "
                f"{counts.get('package_events', 0):>8} {counts.get('pixel_events', 0):>6} "
                f"{counts.get('dimensions', 0):>10} {counts['total']:>6} "
                f"{per_package_year(counts, args.days, packages):>17.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
