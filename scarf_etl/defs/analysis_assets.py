"""The analysis assets, downstream of the warehouse tables: scarf.user_agents (parsed new agents
only), the views that answer maintainers' questions, and the HTML report built after each run.

Thin, as the other assets: each step calls the analysis library and reports what it did. They
cover the whole warehouse, whatever the run's days, so they are not partitioned: a run of any
window materializes each once (a year's backfill records 12 materializations here, not 4,380).
`BackfillPolicy.single_run()` lets `--select '*' --partition-range` take them in the same run
as the daily tables.
"""

from collections.abc import Iterator

import dagster as dg
import duckdb

from scarf_etl.analysis.agents_table import AgentRefresh, refresh_user_agents
from scarf_etl.analysis.report import build_report
from scarf_etl.analysis.views import ANALYSIS_VIEWS, USER_AGENTS_TABLE, ensure_analysis_schema
from scarf_etl.defs.assets import (
    AGGREGATES,
    PACKAGE_EVENTS,
    PIXEL_EVENTS,
    SINGLE_RUN,
    WAREHOUSE_POOL,
)
from scarf_etl.defs.resources import ScarfStorageResource

ANALYSIS_GROUP = "analysis"
USER_AGENTS_KEY = dg.AssetKey(["scarf", USER_AGENTS_TABLE])
REPORT_KEY = dg.AssetKey(["report"])
REPORT_FILE_NAME = "report.html"

# The asset that writes each table a view reads (rejected rows come with the day loads).
_TABLE_ASSETS: dict[str, tuple[dg.AssetKey, ...]] = {
    USER_AGENTS_TABLE: (USER_AGENTS_KEY,),
    "package_events": (PACKAGE_EVENTS.warehouse_key,),
    "pixel_events": (PIXEL_EVENTS.warehouse_key,),
    "aggregates": (AGGREGATES.warehouse_key,),
    "packages": (dg.AssetKey(["scarf", "packages"]),),
    "rejected_rows": (),
}


def view_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["scarf", name])


@dg.asset(
    key=USER_AGENTS_KEY,
    description="DuckDB table scarf.user_agents: each distinct user agent parsed once "
    "(tool, version, OS, arch, CI, browser, bot); a run parses only agents new to the table.",
    group_name=ANALYSIS_GROUP,
    deps=[PACKAGE_EVENTS.warehouse_key, PIXEL_EVENTS.warehouse_key],
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
)
def user_agents(
    context: dg.AssetExecutionContext, scarf_storage: ScarfStorageResource
) -> dg.MaterializeResult:
    def refresh_agents(connection: duckdb.DuckDBPyConnection) -> AgentRefresh:
        ensure_analysis_schema(connection)
        return refresh_user_agents(connection)

    with scarf_storage.warehouse(report=context.log.info).session() as warehouse:
        warehouse.ensure_schema()
        # Retried if another DuckLake writer commits first.
        refresh = warehouse.write(refresh_agents)
        publish_seconds = warehouse.publish()
    context.log.info(
        f"scarf.user_agents: {refresh.parsed} new agent(s) parsed in "
        f"{refresh.parse_seconds:.2f}s, {refresh.total} in all"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": refresh.total,
            "agents_parsed": refresh.parsed,
            "parse_seconds": round(refresh.parse_seconds, 3),
            "publish_seconds": round(publish_seconds, 3),
        }
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            view_key(view.name),
            description=f"DuckDB view scarf.{view.name}: {view.question}.",
            group_name=ANALYSIS_GROUP,
            kinds={"duckdb"},
            deps=[key for table in view.reads for key in _TABLE_ASSETS[table]],
        )
        for view in ANALYSIS_VIEWS
    ],
    backfill_policy=SINGLE_RUN,
    pool=WAREHOUSE_POOL,
    name="scarf_analysis_views",
)
def analysis_views(
    context: dg.AssetExecutionContext, scarf_storage: ScarfStorageResource
) -> Iterator[dg.MaterializeResult]:
    with scarf_storage.warehouse(report=context.log.info).session() as warehouse:
        warehouse.ensure_schema()
        warehouse.write(ensure_analysis_schema)
        publish_seconds = warehouse.publish()
    context.log.info(f"analysis views created; published in {publish_seconds:.2f}s")
    for view in ANALYSIS_VIEWS:
        yield dg.MaterializeResult(
            asset_key=view_key(view.name),
            metadata={
                "question": view.question,
                "sql": dg.MetadataValue.md(f"```sql\n{view.sql()}```"),
            },
        )


@dg.asset(
    key=REPORT_KEY,
    description=f"The HTML report ($SCARF_DATA_DIR/{REPORT_FILE_NAME}) of every loaded day, "
    "rebuilt after each run: one self-contained file, charts included, no network needed.",
    group_name=ANALYSIS_GROUP,
    deps=[view_key(view.name) for view in ANALYSIS_VIEWS],
    backfill_policy=SINGLE_RUN,
    kinds={"html"},
)
def report(
    context: dg.AssetExecutionContext, scarf_storage: ScarfStorageResource
) -> dg.MaterializeResult:
    settings = scarf_storage.settings()
    # The file users open, read-only: what the report shows is what they see.
    result = build_report(scarf_storage.warehouse(), settings.data_dir / REPORT_FILE_NAME)
    context.log.info(
        f"report written to {result.path} ({result.bytes:,} bytes, {result.charts} charts) "
        f"in {result.seconds:.2f}s"
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.path)),
            "bytes": result.bytes,
            "charts": result.charts,
            "build_seconds": round(result.seconds, 3),
        }
    )


ANALYSIS_ASSETS = [user_agents, analysis_views, report]
