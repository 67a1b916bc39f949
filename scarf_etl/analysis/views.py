"""The analysis views: one declaration each (name, the question it answers, the tables it reads),
read by the schema step, the Dagster assets and the README. Their SQL is in sql/, one file each.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Final

import duckdb

USER_AGENTS_TABLE: Final = "user_agents"


@dataclass(frozen=True)
class AnalysisView:
    name: str
    question: str
    reads: tuple[str, ...]  # warehouse tables the view reads (asset dependencies)

    @property
    def sql_file(self) -> str:
        return f"create_view_{self.name}.sql"

    def sql(self) -> str:
        return _sql(self.sql_file)


_EVENTS_PARSED = ("package_events", USER_AGENTS_TABLE, "packages")

ANALYSIS_VIEWS: Final = (
    AnalysisView(
        "package_weekly",
        "Downloads, unique origins and endpoints, and CI downloads per package and week",
        _EVENTS_PARSED,
    ),
    AnalysisView(
        "package_monthly",
        "Downloads, unique origins and endpoints, and CI downloads per package and month",
        _EVENTS_PARSED,
    ),
    AnalysisView(
        "version_adoption",
        "Share of people's (non-CI) downloads per major.minor line and week; "
        "days until a line passed half",
        _EVENTS_PARSED,
    ),
    AnalysisView(
        "company_activity",
        "Companies: first and last seen, active weeks in the last 90 days, funnel stage",
        ("package_events", "pixel_events"),
    ),
    AnalysisView(
        "install_channels",
        "Tool mix (pip, uv, npm, docker, curl, browser, ...) per ecosystem and week",
        _EVENTS_PARSED,
    ),
    AnalysisView(
        "docs_to_install",
        "Per company: first documentation view, first download, lag in days",
        ("package_events", "pixel_events"),
    ),
    AnalysisView(
        "event_variables",
        "File packages' route variables, one row per event and key",
        ("package_events",),
    ),
    AnalysisView(
        "geography",
        "Downloads, documentation views and unique origins per country and week",
        ("package_events", "pixel_events"),
    ),
    AnalysisView(
        "data_quality",
        "Per table and day: rows, duplicate ids, rejected rows, empty days, low-confidence share",
        ("package_events", "pixel_events", "aggregates", "rejected_rows"),
    ),
)


def _sql(name: str) -> str:
    return resources.files("scarf_etl.analysis.sql").joinpath(name).read_text(encoding="utf-8")


def ensure_analysis_schema(connection: duckdb.DuckDBPyConnection) -> None:
    """Create scarf.user_agents if missing and (re)create every analysis view. Needs the
    warehouse's own tables (Warehouse.ensure_schema) first."""
    connection.execute(_sql("create_user_agents.sql"))
    for view in ANALYSIS_VIEWS:
        connection.execute(view.sql())
