"""The `scarf-etl` command: argument parsing only; the work is in library functions."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

DEFAULT_EMULATOR_PORT = 8765
EXECUTOR_CHOICES = ("auto", "in-process", "multiprocess")

VARIABLES = """\
configuration (environment variables; ./.env is read too, the shell wins):
  SCARF_API_TOKEN         Bearer token from your Scarf account page (required)
  SCARF_OWNER             organization name or username whose data is exported (required)
  SCARF_OWNER_KIND        organization | user                          [organization]
  SCARF_DATA_DIR          raw files, parquet lake and warehouse, or s3://bucket/prefix [./data]
  SCARF_WORK_DIR          local cache when the data is in a bucket     [./.scarf-work]
  SCARF_DUCKDB_PATH       the warehouse file users open      [$SCARF_DATA_DIR/warehouse.duckdb]
  SCARF_WAREHOUSE         duckdb | ducklake:sqlite:PATH | ducklake:postgres:DSN  [duckdb]
  SCARF_DUCKLAKE_DATA_PATH  DuckLake's parquet: a folder or s3://...   [$SCARF_DATA_DIR/ducklake/]
  SCARF_EVENTS_API        v2 | v1 (the v1 page's CSV paths)            [v2]
  SCARF_AGGREGATES_API    v3 | v1                                      [v3]
  SCARF_EXPORT_WINDOW_DAYS  most days per event export request (1-366)  [31]
  SCARF_API_URL / SCARF_API_V2_URL / SCARF_API_V3_URL   API roots (defaults: scarf.sh)
  SCARF_PARTITIONS_START  first daily partition                        [2024-01-01]
  SCARF_REFRESH_DAYS      days before yesterday the daily schedule re-loads   [3]
  SCARF_MAX_DAY_DROP      share of a day's rows a re-fetch may lose silently  [0.2]
  SCARF_ALLOW_DROP        1: accept any drop (same as load --allow-drop)      [0]
  DAGSTER_HOME            Dagster's runs, schedules and pools          [./.dagster_home]
"""

EXAMPLES = """\
examples:
  scarf-etl check                                   token, owner and kind, in seconds
  scarf-etl load --from 2026-11-01 --to 2026-11-07  one run for a week (both days included)
  scarf-etl status                                  what is loaded, missing, empty
  scarf-etl report --out report.html                charts and answers in one HTML file
  scarf-etl emulator --port 8765                    a local Scarf API to try things on
"""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected a date like 2026-11-01, got {text!r}"
        ) from error


def _version() -> str:
    try:
        return metadata.version("scarf-etl")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scarf-etl",
        description="Copy Scarf data (downloads, doc views, aggregates) into a parquet lake "
        "and a DuckDB warehouse, day by day, with Dagster.",
        epilog=f"{VARIABLES}\n{EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"scarf-etl {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    load = commands.add_parser(
        "load",
        help="load a range of days as one Dagster run (recorded under DAGSTER_HOME)",
        description="Pre-flight checks, then every asset for the days as one Dagster run. "
        "Loading a day replaces it: re-running never doubles rows.",
    )
    load.add_argument("--from", dest="first", type=_date, required=True, help="first day (UTC)")
    load.add_argument("--to", dest="last", type=_date, required=True, help="last day, inclusive")
    load.add_argument(
        "--allow-drop",
        action="store_true",
        help="accept days whose new fetch has far fewer rows than the one it replaces "
        "(the drop guard refuses them otherwise; see SCARF_MAX_DAY_DROP)",
    )
    load.add_argument(
        "--executor",
        choices=EXECUTOR_CHOICES,
        default="auto",
        help="run the steps in this process (in-process: seconds faster) or one process each "
        "(multiprocess: memory returned after each step); auto picks in-process for small "
        "loads (default: auto)",
    )

    check = commands.add_parser(
        "check",
        help="pre-flight only: the token is accepted and the owner exists as its kind",
    )
    check.add_argument("--from", dest="first", type=_date, help="also check a range's first day")
    check.add_argument("--to", dest="last", type=_date, help="and its last day")

    commands.add_parser(
        "status", help="per table: first and last day, missing and empty days, the last run"
    )

    report = commands.add_parser(
        "report", help="write a self-contained HTML report of the warehouse (no network needed)"
    )
    report.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    report.add_argument("--from", dest="first", type=_date, help="first day (UTC); default all")
    report.add_argument("--to", dest="last", type=_date, help="last day, inclusive")
    report.add_argument(
        "--warehouse", type=Path, help="the DuckDB file (default: SCARF_DUCKDB_PATH's)"
    )

    emulator = commands.add_parser("emulator", help="serve the Scarf API emulator on 127.0.0.1")
    emulator.add_argument("--port", type=int, default=DEFAULT_EMULATOR_PORT)
    emulator.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    emulator.add_argument(
        "--events-per-day", type=int, default=50, help="events per package per day"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        try:
            from scarf_etl.emulator.server import serve_forever
        except ImportError as error:
            print(
                f"scarf-etl emulator: {error.name} is missing: the emulator is an extra, "
                "install it with `pip install 'scarf-etl[emulator]'` (a checkout's "
                "`make setup` does).",
                file=sys.stderr,
            )
            return 2

        serve_forever(port=args.port, seed=args.seed, events_per_day=args.events_per_day)
        return 0
    if args.command == "report":
        from scarf_etl.analysis.report import ReportError
        from scarf_etl.analysis.report_command import report_command

        try:
            return report_command(args.out, args.first, args.last, args.warehouse)
        except (ReportError, ValueError) as error:
            print(f"scarf-etl report: {error}", file=sys.stderr)
            return 2
    import duckdb

    from scarf_etl.commands.load import check_command, load_command, status
    from scarf_etl.settings import SettingsError, redact_dsn
    from scarf_etl.store.extensions import MissingExtensionError

    try:
        if args.command == "status":
            return status()
        if args.command == "check":
            return check_command(args.first, args.last)
        return load_command(
            args.first, args.last, allow_drop=args.allow_drop, executor=args.executor
        )
    except (SettingsError, ValueError) as error:
        print(f"scarf-etl {args.command}: {error}", file=sys.stderr)
        return 2
    except (duckdb.Error, MissingExtensionError) as error:
        # The warehouse cannot be opened (a DuckLake catalog down, a missing extension
        # package): say so in one line; the password of a DSN never shows.
        message = redact_dsn(" ".join(str(error).split()))
        print(
            f"scarf-etl {args.command}: cannot open the warehouse (SCARF_WAREHOUSE): {message}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
