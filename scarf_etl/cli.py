"""The `scarf-etl` command: argument parsing only; the work is in library functions."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence

DEFAULT_EMULATOR_PORT = 8765
EXECUTOR_CHOICES = ("auto", "in-process", "multiprocess")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected a date like 2026-11-01, got {text!r}"
        ) from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scarf-etl", description="Copy Scarf data into a parquet lake and DuckDB."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    emulator = commands.add_parser("emulator", help="serve the Scarf API emulator on 127.0.0.1")
    emulator.add_argument("--port", type=int, default=DEFAULT_EMULATOR_PORT)
    emulator.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    emulator.add_argument(
        "--events-per-day", type=int, default=50, help="events per package per day"
    )

    load = commands.add_parser(
        "load", help="load a range of days as one Dagster run (recorded under DAGSTER_HOME)"
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        from scarf_etl.emulator.server import serve_forever

        serve_forever(port=args.port, seed=args.seed, events_per_day=args.events_per_day)
        return 0
    from scarf_etl.loading import load_command
    from scarf_etl.settings import SettingsError

    try:
        return load_command(
            args.first, args.last, allow_drop=args.allow_drop, executor=args.executor
        )
    except (SettingsError, ValueError) as error:
        print(f"scarf-etl load: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
