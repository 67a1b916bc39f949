"""`scarf-etl report`: one self-contained HTML file (inline CSS and SVG, no script, no network)
answering the everyday questions from the analysis views of the published warehouse."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, Final

import duckdb

from scarf_etl.analysis import charts
from scarf_etl.analysis.views import ANALYSIS_VIEWS
from scarf_etl.store.warehouse import Warehouse, open_warehouse

TOP_ROWS: Final = 15
MAX_SERIES: Final = 8  # lines per chart: the packages with most downloads
# Packages are named with their library type: one name can be an npm and a PyPI package.
_LABEL: Final = "w.package_name || coalesce(' (' || p.library_type || ')', '')"
# One row per package at most, so the join never repeats a week's row (the totals sum them).
_LABEL_JOIN: Final = (
    "LEFT JOIN (SELECT owner, uuid, any_value(library_type) AS library_type "
    "FROM scarf.packages GROUP BY ALL) AS p ON p.uuid = w.package_id AND p.owner = w.owner"
)
_STYLE: Final = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:820px;
color:#1b1b1b}
h1{font-size:22px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #ddd}
.figures{display:flex;gap:24px;flex-wrap:wrap}.figures div{min-width:120px}
.figures b{display:block;font-size:20px}
figure{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}
svg{max-width:100%;height:auto}svg text{font-size:11px;fill:#333}
.grid{stroke:#e5e5e5}.empty{fill:#888;font-size:13px}
.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:12px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:2px 10px;border-bottom:1px solid #eee;
text-align:left}td.n,th.n{text-align:right}.note{color:#666}
"""


class ReportError(RuntimeError):
    """The report cannot be built from this warehouse; the message says what to do."""


@dataclass(frozen=True)
class ReportResult:
    path: Path
    bytes: int
    seconds: float
    charts: int


@dataclass(frozen=True)
class _Range:
    first: dt.date | None
    last: dt.date | None

    def weeks(self) -> tuple[str, list[Any]]:
        """A filter on week_start: weeks that overlap the range."""
        return (
            "week_start BETWEEN coalesce(CAST(date_trunc('week', CAST(? AS DATE)) AS DATE), "
            "DATE '0001-01-01') AND coalesce(CAST(? AS DATE), DATE '9999-12-31')",
            [self.first, self.last],
        )

    def days(self, column: str) -> tuple[str, list[Any]]:
        return (
            f"{column} BETWEEN coalesce(CAST(? AS DATE), DATE '0001-01-01') "
            "AND coalesce(CAST(? AS DATE), DATE '9999-12-31')",
            [self.first, self.last],
        )

    def describe(self) -> str:
        if self.first is None and self.last is None:
            return "all loaded days"
        first = self.first.isoformat() if self.first else "the first day"
        last = self.last.isoformat() if self.last else "the last day"
        return f"{first} to {last}"


def _rows(
    connection: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(sql, list(params)).fetchall()]


def _pivot(
    rows: Sequence[tuple[Any, ...]],
) -> tuple[list[str], dict[str, list[float]]]:
    """(x, series, value) rows -> x labels and one value list per series (0 where missing);
    the series with the largest totals first, at most MAX_SERIES of them."""
    x_labels = sorted({str(row[0]) for row in rows})
    index = {label: i for i, label in enumerate(x_labels)}
    series: dict[str, list[float]] = {}
    for x, name, value in rows:
        series.setdefault(str(name), [0.0] * len(x_labels))[index[str(x)]] = float(value or 0)
    ranked = sorted(series.items(), key=lambda item: -sum(item[1]))[:MAX_SERIES]
    return x_labels, dict(ranked)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[int]) -> str:
    head = "".join(
        f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{escape(_cell(v))}</td>'
            if i in numeric
            else f"<td>{escape(_cell(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(headers)}" class="note">none</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1%}" if 0 <= value <= 1 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _source_name(warehouse: Warehouse) -> str:
    """The file's name, or the DuckLake setting (no password) the report was built from."""
    try:
        return warehouse.published_path.name
    except TypeError:
        return warehouse.describe()


def _check_views(connection: duckdb.DuckDBPyConnection, path: str) -> None:
    present = {
        str(row[0])
        for row in _rows(
            connection,
            "SELECT view_name FROM duckdb_views() WHERE schema_name = 'scarf'",
        )
    }
    missing = [view.name for view in ANALYSIS_VIEWS if view.name not in present]
    if missing:
        raise ReportError(
            f"{path} has no analysis views yet ({', '.join(missing)}). Load data with "
            "`scarf-etl load --from D --to D` (it builds them), or materialize the `analysis` "
            "group in the Dagster UI."
        )


def _sections(connection: duckdb.DuckDBPyConnection, span: _Range) -> tuple[list[str], int]:
    weeks, week_params = span.weeks()
    parts: list[str] = []
    chart_count = 0

    # Each view is read once: the weekly rows give the totals, the series and CI against people;
    # the countries' rows give the documentation views too (each view scans every event).
    weekly = _rows(
        connection,
        f"SELECT week_start, {_LABEL}, downloads, unique_origins, ci_downloads, w.package_id "
        f"FROM scarf.package_weekly AS w {_LABEL_JOIN} WHERE {weeks} ORDER BY week_start",
        week_params,
    )
    countries = _rows(
        connection,
        f"SELECT country, sum(downloads), sum(doc_views) FROM scarf.geography WHERE {weeks} "
        "GROUP BY country ORDER BY 2 DESC, 1",
        week_params,
    )
    downloads = sum(int(r[2]) for r in weekly)
    ci_downloads = sum(int(r[4]) for r in weekly)
    packages = len({r[5] for r in weekly if r[5] is not None})
    doc_views = sum(int(r[2] or 0) for r in countries)
    ci_share = ci_downloads / downloads if downloads else 0.0
    parts.append(
        '<div class="figures">'
        f"<div><b>{downloads:,}</b>downloads</div>"
        f"<div><b>{ci_share:.1%}</b>of them from CI</div>"
        f"<div><b>{doc_views:,}</b>documentation views</div>"
        f"<div><b>{packages}</b>packages</div></div>"
    )

    parts.append("<h2>Downloads and users over time</h2>")
    x, series = _pivot([(r[0], r[1], r[2]) for r in weekly])
    parts.append(charts.line_chart("downloads", "Downloads per week, by package", x, series))
    x, series = _pivot([(r[0], r[1], r[3]) for r in weekly])
    parts.append(
        charts.line_chart("unique-origins", "Unique origins per week, by package", x, series)
    )
    parts.append(
        '<p class="note">Unique origins are counted over each week\'s events: they are not '
        "sums of days and cannot be added across packages.</p>"
    )
    chart_count += 2

    ci: dict[Any, list[int]] = {}  # week -> [people, CI], weeks in order (weekly is sorted)
    for week, _, week_downloads, _, week_ci, _ in weekly:
        people_and_ci = ci.setdefault(week, [0, 0])
        people_and_ci[0] += int(week_downloads) - int(week_ci)
        people_and_ci[1] += int(week_ci)
    parts.append("<h2>CI versus people</h2>")
    parts.append(
        charts.stacked_bar_chart(
            "ci",
            "Downloads per week: people and CI",
            [str(week) for week in ci],
            {
                "people": [float(people) for people, _ in ci.values()],
                "CI": [float(from_ci) for _, from_ci in ci.values()],
            },
        )
    )
    chart_count += 1

    versions = _rows(
        connection,
        f"SELECT {_LABEL} || ' ' || version_line, sum(non_ci_downloads), "
        f"any_value(first_seen), any_value(days_to_majority) "
        f"FROM scarf.version_adoption AS w {_LABEL_JOIN} WHERE {weeks} "
        f"GROUP BY w.package_id, {_LABEL}, version_line "
        f"ORDER BY 2 DESC LIMIT {TOP_ROWS}",
        week_params,
    )
    parts.append("<h2>Versions</h2>")
    parts.append(
        charts.bar_chart(
            "versions",
            "People's (non-CI) downloads per package and major.minor line",
            [str(r[0]) for r in versions],
            [float(r[1]) for r in versions],
        )
    )
    parts.append(
        _table(
            ["package and line", "non-CI downloads", "first seen", "days to half of a day"],
            versions,
            {1, 3},
        )
    )
    chart_count += 1

    tools = _rows(
        connection,
        f"SELECT tool, sum(downloads) FROM scarf.install_channels WHERE {weeks} "
        f"GROUP BY tool ORDER BY 2 DESC LIMIT {TOP_ROWS}",
        week_params,
    )
    parts.append("<h2>Tools</h2>")
    parts.append(
        charts.bar_chart(
            "tools", "Downloads per tool", [str(r[0]) for r in tools], [float(r[1]) for r in tools]
        )
    )
    chart_count += 1

    top_countries = countries[:TOP_ROWS]
    parts.append("<h2>Countries</h2>")
    parts.append(
        charts.bar_chart(
            "countries",
            "Downloads per country",
            [str(r[0]) for r in top_countries],
            [float(r[1]) for r in top_countries],
        )
    )
    chart_count += 1

    days, day_params = span.days("e.event_date")
    companies = _rows(
        connection,
        f"SELECT e.origin_company, count(*) AS downloads, any_value(c.funnel_stage), "
        f"any_value(c.first_seen), any_value(c.active_weeks_90d) "
        f"FROM scarf.package_events AS e LEFT JOIN scarf.company_activity AS c "
        f"ON c.owner = e.owner AND c.company = e.origin_company "
        f"WHERE e.origin_company IS NOT NULL AND upper(e.origin_company) <> 'UNKNOWN' AND {days} "
        f"GROUP BY e.origin_company ORDER BY 2 DESC, 1 LIMIT {TOP_ROWS}",
        day_params,
    )
    parts.append("<h2>Top companies</h2>")
    parts.append(
        charts.bar_chart(
            "companies",
            "Downloads per company",
            [str(r[0]) for r in companies],
            [float(r[1]) for r in companies],
        )
    )
    parts.append(
        _table(
            ["company", "downloads", "funnel stage", "first seen", "active weeks (90 days)"],
            companies,
            {1, 4},
        )
    )
    chart_count += 1

    quality_days, quality_params = span.days("day")
    quality = _rows(
        connection,
        f"SELECT table_name, sum(rows), sum(duplicate_event_ids), sum(rejected_rows), "
        f"count(*) FILTER (WHERE is_empty), sum(low_confidence_rows) / nullif(sum(rows), 0) "
        f"FROM scarf.data_quality WHERE {quality_days} GROUP BY table_name ORDER BY table_name",
        quality_params,
    )
    parts.append("<h2>Data quality</h2>")
    parts.append(
        _table(
            ["table", "rows", "duplicate ids", "rejected rows", "empty days", "low confidence"],
            quality,
            {1, 2, 3, 4, 5},
        )
    )
    return parts, chart_count


def build_report(
    warehouse_target: Warehouse | Path,
    out: Path,
    first: dt.date | None = None,
    last: dt.date | None = None,
) -> ReportResult:
    """Write the HTML report of the warehouse (what its readers see: the published file or
    DuckLake's last snapshot) for the days `first..last` (either may be None: open-ended) to
    `out`, atomically. A path means the embedded DuckDB file there.

    Raises ReportError when the file is missing or predates the analysis views, ValueError for
    a range that ends before it starts.
    """
    if first and last and last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    warehouse = open_warehouse(warehouse_target)
    if not warehouse.exists():
        raise ReportError(
            f"no warehouse at {warehouse.describe()}: load data first "
            "(`scarf-etl load --from D --to D`) or point SCARF_WAREHOUSE / SCARF_DUCKDB_PATH / "
            "SCARF_DATA_DIR at yours."
        )
    started = time.perf_counter()
    span = _Range(first, last)
    with warehouse.reader() as connection:
        _check_views(connection, warehouse.describe())
        owners = [
            str(r[0])
            for r in _rows(connection, "SELECT DISTINCT owner FROM scarf.package_events ORDER BY 1")
        ]
        sections, chart_count = _sections(connection, span)
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"Scarf report: {', '.join(owners) or 'no data'}"
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="note">{escape(span.describe())} (weekly figures: weeks starting Monday that '
        f"overlap it); generated {escape(generated)} from {escape(_source_name(warehouse))}.</p>"
        + "".join(sections)
        + "</body></html>\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text(html, encoding="utf-8")
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    return ReportResult(
        path=out,
        bytes=len(html.encode("utf-8")),
        seconds=time.perf_counter() - started,
        charts=chart_count,
    )
