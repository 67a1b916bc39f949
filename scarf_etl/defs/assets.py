"""The Dagster assets: raw (API -> files), lake (files -> parquet), warehouse (parquet -> DuckDB)
for each export, plus the dimension snapshot. Thin: each asset resolves its window and settings,
calls one library function per day and reports what happened through `MaterializeResult`.

Every export asset has the daily partitions; the dimension snapshot has none (it is the API's
state, not a day's). All have `BackfillPolicy.single_run()`, so a year's backfill (or
`--select '*' --partition-range A...B`) is one run. Lake and warehouse assets read only
local files: re-materializing them applies a normalization fix to history without API calls.
"""

import datetime as dt
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import dagster as dg

from scarf_etl import datasets
from scarf_etl.client import Package
from scarf_etl.datasets import Dataset
from scarf_etl.defs import checks
from scarf_etl.defs.partitions import daily_partitions, day_key, days_in_window
from scarf_etl.defs.progress import progress_lines
from scarf_etl.defs.resources import ScarfApiResource, ScarfStorageResource
from scarf_etl.normalize import EventNormalizer, NormalizeStats, RawEventFile
from scarf_etl.normalize.events import SHARED_CONNECTION_MAX_BYTES
from scarf_etl.schemas import DIMENSION_TABLES
from scarf_etl.store.dimensions import (
    fetch_dimensions,
    list_owner_packages,
    package_records,
    packages_from_records,
)
from scarf_etl.store.lake import (
    build_aggregates_partition,
    build_events_partition,
    lake_partition_file,
    local_partition_files,
)
from scarf_etl.store.location import DataLocation, data_location
from scarf_etl.store.raw import FetchPlan, RawDay, fetch_days, read_raw_day
from scarf_etl.store.warehouse import DayFiles, Warehouse

API_POOL = "scarf_api"
WAREHOUSE_POOL = "scarf_warehouse"
SINGLE_RUN = dg.BackfillPolicy.single_run()
# Up to this many days, a run logs a line per day; beyond, a line per day only for days with
# something to say (duplicates, rejected or out-of-window rows, new columns) and one for the
# window: every log line is an event Dagster stores (several ms each), and each day's figures
# are in its partition's metadata anyway.
LOG_EVERY_DAY_UP_TO = 7
# Days loaded into the warehouse per transaction (see load_batches): a whole year of small days
# in one (a transaction's cost is mostly per file: 31-day batches took 2.1-2.2 s a table for a
# year, one batch 1.3-1.4 s); the bytes bound keeps big days apart.
LOAD_BATCH_DAYS = 366
LOAD_BATCH_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Export:
    """One dataset (datasets.py) followed through the three layers as Dagster assets."""

    dataset: Dataset

    @property
    def name(self) -> str:
        return self.dataset.name

    @property
    def description(self) -> str:
        return self.dataset.description

    @property
    def is_events(self) -> bool:
        return self.dataset.is_events

    @property
    def raw_key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", self.name])

    @property
    def lake_key(self) -> dg.AssetKey:
        return dg.AssetKey(["lake", self.name])

    @property
    def warehouse_key(self) -> dg.AssetKey:
        return dg.AssetKey(["scarf", self.name])


AGGREGATES = Export(datasets.AGGREGATES)
PACKAGE_EVENTS = Export(datasets.PACKAGE_EVENTS)
PIXEL_EVENTS = Export(datasets.PIXEL_EVENTS)
EXPORTS = (AGGREGATES, PACKAGE_EVENTS, PIXEL_EVENTS)


def column_schema(export: Export) -> dg.TableSchema:
    """The table's typed columns, shown in the UI (unknown export columns are added later)."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in export.dataset.columns.items()]
    )


def window_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    return days_in_window(context.partition_time_window)


def window_metadata(days: Sequence[dt.date]) -> dict[str, str | int]:
    return {"first_day": days[0].isoformat(), "last_day": days[-1].isoformat(), "days": len(days)}


def build_raw_asset(export: Export) -> dg.AssetsDefinition:
    @dg.asset(
        key=export.raw_key,
        description=f"Raw API bytes: {export.description}.",
        group_name="raw",
        partitions_def=daily_partitions,
        backfill_policy=SINGLE_RUN,
        pool=API_POOL,
        kinds={"python", "file"},
    )
    def raw_export(
        context: dg.AssetExecutionContext,
        scarf_api: ScarfApiResource,
        scarf_storage: ScarfStorageResource,
    ) -> dg.MaterializeResult:
        settings = scarf_storage.settings()
        days = window_days(context)
        with scarf_api.get_client() as client:
            package_ids: tuple[str, ...] = ()
            if export.dataset.per_package:
                packages = list_owner_packages(client, settings)
                package_ids = tuple(p.uuid for p in packages)
                # Kept with the window's last day, for this run's dimension step.
                context.add_asset_metadata(
                    {OWNER_PACKAGES_METADATA: dg.MetadataValue.json(package_records(packages))},
                    partition_key=day_key(days[-1]),
                )
            plan = FetchPlan(
                export.dataset,
                settings.owner,
                settings.owner_kind,
                package_ids,
                api=settings.events_api if export.dataset.is_events else settings.aggregates_api,
                window_days=settings.export_window_days,
            )
            fetched = fetch_days(
                client,
                plan,
                days,
                data_location(settings),
                warn=context.log.warning,
                guard=scarf_storage.drop_guard(context.run.tags),
            )
        for raw_day in fetched:
            context.add_asset_metadata(
                {
                    "files": len(raw_day.files),
                    "bytes": raw_day.bytes,
                    "rows": sum(f.rows or 0 for f in raw_day.files),
                },
                partition_key=day_key(raw_day.day),
            )
        fetched_bytes = sum(day.bytes for day in fetched)
        context.log.info(
            f"fetched {export.name} for {len(days)} day(s): {fetched_bytes} bytes "
            f"in {sum(len(day.files) for day in fetched)} file(s)"
        )
        return dg.MaterializeResult(
            metadata={
                **window_metadata(days),
                "files": sum(len(day.files) for day in fetched),
                "bytes_fetched": fetched_bytes,
                "packages": len(package_ids) if export.dataset.per_package else None,
            }
        )

    return raw_export


def describe_stats(stats: NormalizeStats) -> str:
    """One line a person reads: what came in and where it went."""
    line = (
        f"{stats.rows_out} rows out of {stats.rows_in} in ({stats.duplicates} duplicates, "
        f"{stats.out_of_window} outside the day, {stats.rejected} rejected)"
    )
    if stats.extra_columns:
        line += f"; new columns kept: {', '.join(stats.extra_columns)}"
    return line


def _sum_stats(stats: Sequence[NormalizeStats]) -> dict[str, int]:
    return {
        "rows_in": sum(s.rows_in for s in stats),
        "duplicates_dropped": sum(s.duplicates for s in stats),
        "out_of_window_dropped": sum(s.out_of_window for s in stats),
        "rows_rejected": sum(s.rejected for s in stats),
        "rows_out": sum(s.rows_out for s in stats),
    }


def _notable(stats: NormalizeStats) -> bool:
    return bool(stats.duplicates or stats.out_of_window or stats.rejected or stats.extra_columns)


def _window_stats(stats: Sequence[NormalizeStats]) -> NormalizeStats:
    extra = sorted({name for s in stats for name in s.extra_columns})
    return NormalizeStats(
        rows_in=sum(s.rows_in for s in stats),
        duplicates=sum(s.duplicates for s in stats),
        out_of_window=sum(s.out_of_window for s in stats),
        rejected=sum(s.rejected for s in stats),
        rows_out=sum(s.rows_out for s in stats),
        extra_columns=tuple(extra),
    )


def build_lake_day(
    context: dg.AssetExecutionContext,
    export: Export,
    location: DataLocation,
    raw_day: RawDay,
    normalizer: EventNormalizer,
) -> NormalizeStats:
    """One day's lake partition from its raw files."""
    day = raw_day.day
    if not export.is_events:
        return build_aggregates_partition(
            [f.path for f in raw_day.files],
            day=day,
            owner=raw_day.owner,
            data_dir=location,
            report=context.log.info,
        )
    partition = lake_partition_file(location.root, export.name, day).parent
    with progress_lines(
        context.log.info,
        f"normalizing {export.name} {day.isoformat()} ({raw_day.bytes / 1e6:.0f} MB of CSV)",
        partition,
    ):
        return build_events_partition(
            [RawEventFile(path=f.path, package_id=f.package_id) for f in raw_day.files],
            table=export.name,
            day=day,
            owner=raw_day.owner,
            data_dir=location,
            normalizer=normalizer,
            report=context.log.info,
        )


# Small event days are normalized two at a time: each is a few DuckDB calls too small to keep
# both cores busy (60 small days: 40 -> 26 ms a day). A day over SHARED_CONNECTION_MAX_BYTES
# of CSV runs alone: two at once would hold two DuckDB memory budgets.
LAKE_WORKERS: Final = 2


def build_lake_days(
    context: dg.AssetExecutionContext,
    export: Export,
    location: DataLocation,
    days: Sequence[dt.date],
) -> Iterator[tuple[dt.date, NormalizeStats]]:
    """Each day's lake partition, yielded in day order (the caller reports each from the
    step's own thread). Raw days are read here, one at a time (from a bucket, they are
    downloaded into the cache); the partitions are built by the workers, each with its own
    normalizer. A failed day stops the window: the days not started are cancelled."""
    workers = LAKE_WORKERS if export.is_events else 1
    local = threading.local()
    opened: list[EventNormalizer] = []
    opened_lock = threading.Lock()

    def build(raw_day: RawDay) -> NormalizeStats:
        if not hasattr(local, "normalizer"):
            local.normalizer = EventNormalizer()
            with opened_lock:
                opened.append(local.normalizer)
        return build_lake_day(context, export, location, raw_day, local.normalizer)

    pending: deque[tuple[dt.date, Future[NormalizeStats]]] = deque()
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="scarf-lake") as pool:
            try:
                for day in days:
                    raw_day = read_raw_day(location, export.name, day)
                    if raw_day.bytes > SHARED_CONNECTION_MAX_BYTES:
                        while pending:  # a big day waits for the small ones, then runs alone
                            done_day, future = pending.popleft()
                            yield done_day, future.result()
                        yield day, pool.submit(build, raw_day).result()
                        continue
                    pending.append((day, pool.submit(build, raw_day)))
                    while len(pending) > 2 * workers:
                        done_day, future = pending.popleft()
                        yield done_day, future.result()
                while pending:
                    done_day, future = pending.popleft()
                    yield done_day, future.result()
            finally:
                for _, future in pending:
                    future.cancel()
    finally:
        for normalizer in opened:
            normalizer.close()


def build_lake_asset(export: Export) -> dg.AssetsDefinition:
    @dg.asset(
        key=export.lake_key,
        description=f"Typed parquet partitions (zstd): {export.description}.",
        group_name="lake",
        deps=[export.raw_key],
        metadata={"dagster/column_schema": column_schema(export)},
        partitions_def=daily_partitions,
        backfill_policy=SINGLE_RUN,
        kinds={"polars", "parquet"},
    )
    def lake_export(
        context: dg.AssetExecutionContext, scarf_storage: ScarfStorageResource
    ) -> dg.MaterializeResult:
        settings = scarf_storage.settings()
        location = data_location(settings)
        days = window_days(context)
        stats: list[NormalizeStats] = []
        extra_columns: set[str] = set()
        for day, day_stats in build_lake_days(context, export, location, days):
            stats.append(day_stats)
            extra_columns.update(day_stats.extra_columns)
            # Each day's partition carries its own figures, not the run's totals.
            context.add_asset_metadata(
                {**_sum_stats([day_stats]), "dagster/row_count": day_stats.rows_out},
                partition_key=day_key(day),
            )
            if len(days) <= LOG_EVERY_DAY_UP_TO or _notable(day_stats):
                context.log.info(f"{export.name} {day}: {describe_stats(day_stats)}")
        totals = _sum_stats(stats)
        if len(days) > LOG_EVERY_DAY_UP_TO:
            context.log.info(
                f"{export.name} {days[0].isoformat()}..{days[-1].isoformat()}: "
                f"{describe_stats(_window_stats(stats))} (each day's figures: its partition's "
                "metadata)"
            )
        return dg.MaterializeResult(
            metadata={
                **window_metadata(days),
                **{f"window_{name}": value for name, value in totals.items()},
                "extra_columns": ", ".join(sorted(extra_columns)),
                "path": location.describe(
                    lake_partition_file(location.root, export.name, days[0]).parent.parent
                ),
            }
        )

    return lake_export


def _warehouse_check_specs(export: Export) -> list[dg.AssetCheckSpec]:
    key = export.warehouse_key
    specs = [
        dg.AssetCheckSpec(
            checks.ROWS_MATCH_LAKE, asset=key, description="DuckDB rows equal parquet rows per day"
        ),
        dg.AssetCheckSpec(
            checks.DAY_NOT_EMPTY, asset=key, description="Each day has rows (WARN: may be quiet)"
        ),
    ]
    if export.is_events:
        specs.append(
            dg.AssetCheckSpec(
                checks.UNIQUE_EVENT_ID, asset=key, description="event_id is unique per day"
            )
        )
    else:
        specs.append(
            dg.AssetCheckSpec(
                checks.TOTALS_MATCH_EVENTS,
                asset=key,
                description="The `total` breakdown equals loaded package events (WARN)",
                additional_deps=[PACKAGE_EVENTS.warehouse_key],
            )
        )
    return specs


def load_batches(day_files: Sequence[DayFiles]) -> Iterator[list[DayFiles]]:
    """Days grouped for one warehouse transaction each: up to LOAD_BATCH_DAYS days and about
    LOAD_BATCH_BYTES of parquet, so a year of small days is one transaction and a big day is
    one of its own."""
    batch: list[DayFiles] = []
    size = 0
    for files in day_files:
        file_size = files.parquet.stat().st_size if files.parquet.exists() else 0
        if batch and (len(batch) >= LOAD_BATCH_DAYS or size + file_size > LOAD_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(files)
        size += file_size
    if batch:
        yield batch


def build_warehouse_asset(export: Export) -> dg.AssetsDefinition:
    # Aggregates load after package events so the totals check compares against fresh events.
    deps = [export.lake_key] + ([] if export.is_events else [PACKAGE_EVENTS.warehouse_key])

    @dg.asset(
        key=export.warehouse_key,
        description=f"DuckDB table scarf.{export.name}: {export.description}.",
        group_name="warehouse",
        deps=deps,
        metadata={
            "dagster/column_schema": column_schema(export),
            "dagster/table_name": f"scarf.{export.name}",
        },
        partitions_def=daily_partitions,
        backfill_policy=SINGLE_RUN,
        pool=WAREHOUSE_POOL,
        check_specs=_warehouse_check_specs(export),
        kinds={"duckdb"},
    )
    def warehouse_table(
        context: dg.AssetExecutionContext, scarf_storage: ScarfStorageResource
    ) -> dg.MaterializeResult:
        settings = scarf_storage.settings()
        days = window_days(context)
        # The partitions first (downloaded when the lake is on object storage): not while held.
        location = data_location(settings)
        day_files = [
            DayFiles(day, *local_partition_files(location, export.name, day)) for day in days
        ]
        # One opening of the file for the step's loads, checks and publish.
        with scarf_storage.warehouse(report=context.log.info).session() as warehouse:
            warehouse.ensure_schema()
            loaded = _load_window(context, warehouse, settings.owner, export.name, day_files)
            results = [
                checks.rows_match_lake(warehouse, settings, export.name, days),
                checks.day_not_empty(warehouse, export.name, days, settings.owner),
            ]
            if export.is_events:
                results.append(checks.event_id_unique(warehouse, export.name, days, settings.owner))
            else:
                results.append(checks.totals_match_events(warehouse, days, settings.owner))
            publish_seconds = warehouse.publish()
            context.log.info(f"published {warehouse.describe()} in {publish_seconds:.2f}s")
        return dg.MaterializeResult(
            metadata={
                **window_metadata(days),
                "rows_loaded_in_window": loaded,
                "table": f"scarf.{export.name}",
                "warehouse": warehouse.describe(),
                "publish_seconds": round(publish_seconds, 3),
            },
            check_results=results,
        )

    return warehouse_table


def _load_window(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    owner: str,
    table: str,
    day_files: Sequence[DayFiles],
) -> int:
    """Load the days' lake partitions into `table` in batches of days (a transaction each),
    logging and recording each day's rows; returns the rows loaded."""
    loaded = 0
    for batch in load_batches(day_files):
        counts = warehouse.load_partitions(table, owner, batch)
        for day, rows in counts.items():
            if len(day_files) <= LOG_EVERY_DAY_UP_TO:
                context.log.info(f"scarf.{table} {day.isoformat()}: {rows} rows loaded")
            context.add_asset_metadata({"dagster/row_count": rows}, partition_key=day_key(day))
            loaded += rows
        if len(day_files) > LOG_EVERY_DAY_UP_TO:
            context.log.info(
                f"scarf.{table} {batch[0].day.isoformat()}..{batch[-1].day.isoformat()}:"
                f" {sum(counts.values())} rows loaded in one transaction"
            )
    return loaded


# The owner's package list as the raw step of a per-package export saw it (metadata of the
# window's last day): the dimension step of the same run reuses it instead of listing again.
OWNER_PACKAGES_METADATA = "owner_packages"


def packages_listed_in_this_run(context: dg.AssetExecutionContext) -> list[Package] | None:
    """The package list a raw step of this run recorded, or None (raw not in this run)."""
    for export in EXPORTS:
        if not export.dataset.per_package:
            continue
        entry = context.instance.get_latest_materialization_event(export.raw_key)
        if entry is None or entry.run_id != context.run.run_id:
            continue
        materialization = entry.asset_materialization
        recorded = (
            materialization.metadata.get(OWNER_PACKAGES_METADATA) if materialization else None
        )
        if isinstance(recorded, dg.JsonMetadataValue) and isinstance(recorded.value, list):
            return packages_from_records(recorded.value)
    return None


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            dg.AssetKey(["scarf", table]),
            description=f"DuckDB table scarf.{table}: replaced with the API's state on each run.",
            group_name="dimensions",
            kinds={"duckdb"},
            # After the raw fetch: a run the API refuses (no export on the plan, a bad token)
            # then stops before writing anything to the warehouse.
            deps=[export.raw_key for export in EXPORTS],
        )
        for table in DIMENSION_TABLES
    ],
    # Dimensions are snapshots, not daily facts: not partitioned, materialized once a run
    # whatever its window. The single-run policy lets `--select '*' --partition-range` take them
    # in the same run as the daily tables.
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    name="scarf_dimensions",
)
def scarf_dimensions(
    context: dg.AssetExecutionContext,
    scarf_api: ScarfApiResource,
    scarf_storage: ScarfStorageResource,
) -> Iterator[dg.MaterializeResult]:
    settings = scarf_storage.settings()
    refreshed_at = dt.datetime.now(dt.UTC)
    packages = packages_listed_in_this_run(context)
    if packages is not None:
        context.log.info(f"{len(packages)} package(s) as listed earlier in this run")
    with scarf_api.get_client() as client:
        snapshot = fetch_dimensions(client, settings, refreshed_at, packages)
    with scarf_storage.warehouse(report=context.log.info).session() as warehouse:
        warehouse.ensure_schema()
        counts = {
            table: warehouse.replace_dimension(table, frame, owner=settings.owner)
            for table, frame in snapshot.frames.items()
        }
        # Published before the results are reported, so what the UI calls materialized is what
        # users see in the file they open.
        publish_seconds = warehouse.publish()
    context.log.info(f"published {warehouse.describe()} in {publish_seconds:.2f}s")
    for table, rows in counts.items():
        context.log.info(f"scarf.{table}: {rows} rows")
        yield dg.MaterializeResult(
            asset_key=dg.AssetKey(["scarf", table]),
            metadata={"dagster/row_count": rows, "refreshed_at": refreshed_at.isoformat()},
        )


def build_export_assets() -> list[dg.AssetsDefinition]:
    return [
        builder(export)
        for export in EXPORTS
        for builder in (build_raw_asset, build_lake_asset, build_warehouse_asset)
    ]


ALL_ASSETS = [*build_export_assets(), scarf_dimensions]
