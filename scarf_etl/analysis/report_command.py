"""`scarf-etl report --out F [--from D --to D] [--warehouse PATH]`."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

from scarf_etl.analysis.report import build_report
from scarf_etl.settings import apply_env_file, load_settings
from scarf_etl.store.warehouse import Warehouse


def published_warehouse() -> Warehouse:
    """The warehouse users read, from SCARF_WAREHOUSE / SCARF_DUCKDB_PATH / SCARF_DATA_DIR (and
    ./.env). The report reads the owner from the data, so SCARF_OWNER need not be set for it."""
    apply_env_file(Path.cwd())
    environ = dict(os.environ)
    if not environ.get("SCARF_OWNER", "").strip():
        environ["SCARF_OWNER"] = "-"
    return Warehouse(load_settings(environ).warehouse_spec)


def report_command(
    out: Path,
    first: dt.date | None,
    last: dt.date | None,
    warehouse: Path | None = None,
    report: Callable[[str], None] = print,
) -> int:
    source = Warehouse(warehouse) if warehouse else published_warehouse()
    result = build_report(source, out, first, last)
    report(
        f"wrote {result.path} ({result.bytes:,} bytes, {result.charts} charts) from "
        f"{source.describe()} "
        f"in {result.seconds:.2f}s"
    )
    return 0
