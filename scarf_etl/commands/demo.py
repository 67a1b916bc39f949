"""`make demo`: the bundled emulator as the Scarf API, the last 7 days end to end into DuckDB.

Everything runs for real: an HTTP server on 127.0.0.1, a Dagster run, parquet files and a DuckDB
file. All of the demo's state lives under `data/demo/` (its warehouse, lake, raw files and its
own Dagster home), never in `./data/warehouse.duckdb` or `./.dagster_home`, so fake demo rows
never mix with a real load. `make demo-ui` opens the UI on the same state.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from scarf_etl.commands.summary import format_table, run_example_queries, table_row_counts
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN
from scarf_etl.settings import load_settings
from scarf_etl.store.warehouse import Warehouse

DEMO_DAYS = 7
DEMO_EVENTS_PER_DAY = 200  # `make demo-ui` serves the same volume: UI re-runs give the same rows
DEMO_SEED = 0
DEMO_DIR = Path("data") / "demo"
DEMO_DAGSTER_HOME = DEMO_DIR / "dagster_home"
# How the demo runs its load in a child process (see `load_in_child`).
LOAD_DAYS_FLAG = "--load-days"
DEMO_MODULE = "scarf_etl.commands.demo"  # not __name__: that is "__main__" under `python -m`


def demo_environment(emulator: EmulatorServer, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of the demo's load: `base` without any scarf-etl or Dagster home setting
    of the user's (a real configuration must not leak into the demo, nor the demo into it),
    plus the emulator's configuration, exactly the variables a user sets for the real API (see
    .env.example)."""
    env = {
        name: value
        for name, value in base.items()
        if not name.startswith("SCARF_") and name != "DAGSTER_HOME"
    }
    env.update(
        {
            "SCARF_API_TOKEN": DEMO_TOKEN,
            "SCARF_OWNER": DEMO_ORG,
            "SCARF_OWNER_KIND": "organization",
            "SCARF_API_URL": emulator.v1_url,
            "SCARF_API_V2_URL": emulator.v2_url,
            "SCARF_API_V3_URL": emulator.v3_url,
            "SCARF_DATA_DIR": str(DEMO_DIR),
            "DAGSTER_HOME": str(DEMO_DAGSTER_HOME.resolve()),
        }
    )
    return env


def load_in_child(env: Mapping[str, str], first: dt.date, last: dt.date) -> bool:
    """Run the days as one Dagster run in a child process whose environment is `env`: the
    run, its step processes and its resources read their settings from that environment,
    and this process's own stays untouched. The child prints to this terminal."""
    sys.stdout.flush()  # our lines before the child's
    child = subprocess.run(  # noqa: S603 - this module, with dates it formatted
        [sys.executable, "-m", DEMO_MODULE, LOAD_DAYS_FLAG, first.isoformat(), last.isoformat()],
        env=dict(env),
        check=False,
    )
    return child.returncode == 0


def load_days(first: dt.date, last: dt.date) -> int:
    """The child's side of `load_in_child`: the run, then its outcome."""
    from scarf_etl.commands.instance import get_instance
    from scarf_etl.commands.load import describe_outcome
    from scarf_etl.commands.runs import run_days

    outcome = run_days(get_instance(), first, last)
    print(describe_outcome(outcome))
    return 0 if outcome.success else 1


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == [LOAD_DAYS_FLAG]:
        return load_days(dt.date.fromisoformat(arguments[1]), dt.date.fromisoformat(arguments[2]))
    started = time.monotonic()
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    first = yesterday - dt.timedelta(days=DEMO_DAYS - 1)
    with EmulatorServer(seed=DEMO_SEED, events_per_day=DEMO_EVENTS_PER_DAY) as emulator:
        env = demo_environment(emulator, os.environ)
        settings = load_settings(env)
        print(f"emulator serving the Scarf API at {emulator.url} (owner {DEMO_ORG})")
        print(f"loading {first}..{yesterday} into {settings.duckdb_path}\n")
        succeeded = load_in_child(env, first, yesterday)
    if not succeeded:
        return 1
    warehouse = Warehouse(settings.warehouse_spec)
    print(f"\nrows per table in {warehouse.describe()}:")
    print(format_table(["table", "rows"], table_row_counts(warehouse)))
    print()
    print(run_example_queries(warehouse))
    print(
        f"""
demo finished in {time.monotonic() - started:.1f}s.

Query the warehouse:
  .venv/bin/python -c "import duckdb; print(duckdb.connect('{settings.duckdb_path}', \
read_only=True).sql('SELECT * FROM scarf.downloads_per_package_per_day LIMIT 5'))"
  duckdb -readonly {settings.duckdb_path}      (with the duckdb CLI, if installed)

The HTML report of these days (charts, no network needed): {settings.data_dir / "report.html"}
What is loaded, missing or empty:
  SCARF_DATA_DIR={settings.data_dir} DAGSTER_HOME={DEMO_DAGSTER_HOME} .venv/bin/scarf-etl status

Open the Dagster UI on this run and its assets, with the emulator as the API
(re-run any day, backfill a range):
  make demo-ui                       (then http://127.0.0.1:3000; Ctrl-C stops both)"""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
