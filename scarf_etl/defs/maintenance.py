"""Small-file maintenance of a DuckLake warehouse, as a scheduled asset.

Every load commits new parquet files (and delete files for the rows a re-run replaces), so a
DuckLake table gathers many small files, and every snapshot keeps the files it needs. Weekly,
this merges adjacent small files, expires snapshots older than the kept age and deletes the
files no remaining snapshot needs. The embedded DuckDB file needs none of it: the step says so.
"""

import datetime as dt
import os

import dagster as dg

from scarf_etl.defs.assets import SINGLE_RUN, WAREHOUSE_POOL
from scarf_etl.defs.partitions import daily_partitions, day_key
from scarf_etl.defs.resources import ScarfStorageResource
from scarf_etl.defs.schedules import partition_range_tags
from scarf_etl.settings import DuckLakeWarehouseSpec

MAINTENANCE_GROUP = "maintenance"
MAINTENANCE_KEY = dg.AssetKey(["scarf", "ducklake_maintenance"])
MAINTENANCE_JOB_NAME = "scarf_ducklake_maintenance_job"
# Sundays 04:00 UTC, away from the daily load at 06:00.
MAINTENANCE_CRON = "0 4 * * 0"
# Snapshots younger than this stay: time travel and readers that started before still work.
DEFAULT_KEEP_SNAPSHOT_DAYS = 7


def keep_snapshot_days() -> int:
    """How many days of snapshots maintenance keeps (`SCARF_DUCKLAKE_KEEP_DAYS`)."""
    text = os.environ.get("SCARF_DUCKLAKE_KEEP_DAYS", "").strip()
    if not text:
        return DEFAULT_KEEP_SNAPSHOT_DAYS
    if not text.isdigit():
        raise ValueError(f"SCARF_DUCKLAKE_KEEP_DAYS must be a whole number of days, not {text!r}")
    return int(text)


class MaintenanceConfig(dg.Config):
    # -1: SCARF_DUCKLAKE_KEEP_DAYS, or 7 days. 0 expires every snapshot but the current one.
    keep_days: int = -1


@dg.asset(
    key=MAINTENANCE_KEY,
    group_name=MAINTENANCE_GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
    # Partitioned like every asset, so `--select '*' --partition-range A...B` stays one run;
    # whatever the range, it maintains the whole warehouse once.
    partitions_def=daily_partitions,
    backfill_policy=SINGLE_RUN,
    description="DuckLake small-file maintenance: merge adjacent files, expire old snapshots, "
    "delete files no snapshot needs. Does nothing on the embedded DuckDB file.",
)
def ducklake_maintenance(
    context: dg.AssetExecutionContext,
    config: MaintenanceConfig,
    scarf_storage: ScarfStorageResource,
) -> dg.MaterializeResult[None]:
    spec = scarf_storage.settings().warehouse_spec
    if not isinstance(spec, DuckLakeWarehouseSpec):
        context.log.info(
            f"the warehouse is the embedded DuckDB file {spec.describe()}: it keeps no small "
            "files or snapshots, so there is nothing to maintain"
        )
        return dg.MaterializeResult(metadata={"backend": "duckdb", "skipped": True})
    from scarf_etl.store.ducklake import DuckLakeBackend  # needs the `team` extra's packages

    keep_days = config.keep_days if config.keep_days >= 0 else keep_snapshot_days()
    result = DuckLakeBackend(spec).maintain(dt.timedelta(days=keep_days))
    context.log.info(
        f"DuckLake maintenance of {spec.describe()}: files {result.files_before} -> "
        f"{result.files_after}, {result.snapshots_expired} snapshot(s) expired, "
        f"{result.files_deleted} file(s) deleted (snapshots of the last {keep_days} day(s) kept)"
    )
    return dg.MaterializeResult(
        metadata={
            "backend": f"ducklake:{spec.catalog}",
            "files_before": result.files_before,
            "files_after": result.files_after,
            "snapshots_expired": result.snapshots_expired,
            "files_deleted": result.files_deleted,
            "keep_snapshot_days": keep_days,
        }
    )


maintenance_job = dg.define_asset_job(
    name=MAINTENANCE_JOB_NAME,
    selection=dg.AssetSelection.assets(MAINTENANCE_KEY),
    description="DuckLake small-file maintenance (nothing to do on the embedded file).",
)


@dg.schedule(
    job=maintenance_job,
    cron_schedule=MAINTENANCE_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Weekly DuckLake maintenance (merge small files, expire old snapshots).",
)
def maintenance_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled_for = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    yesterday = scheduled_for.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    return dg.RunRequest(
        run_key=f"ducklake-maintenance-{day_key(yesterday)}",
        tags=partition_range_tags(yesterday, yesterday),
    )
