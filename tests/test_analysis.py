"""The analysis layer end to end: the real assets (tables, user agents, views, report) against
the emulator over 127.0.0.1 into a DuckDB file in a temporary folder; every view's numbers
checked against truth computed here, by hand, from the emulator's own events."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import dagster as dg
import duckdb
import polars as pl
import pytest

from scarf_etl.analysis.agents_table import refresh_user_agents
from scarf_etl.analysis.report import ReportError, build_report
from scarf_etl.analysis.views import ANALYSIS_VIEWS
from scarf_etl.commands.cli import main
from scarf_etl.defs.analysis_assets import ANALYSIS_ASSETS, REPORT_FILE_NAME
from scarf_etl.defs.assets import ALL_ASSETS
from scarf_etl.defs.resources import default_resources
from scarf_etl.defs.schedules import partition_range_tags
from scarf_etl.emulator import world
from scarf_etl.emulator.server import EmulatorServer
from tests.pipeline_helpers import configure

# Thursday 2026-10-29 .. Tuesday 2026-11-10: a partial week, a full week (Nov 2-8), a partial one.
FIRST = dt.date(2026, 10, 29)
LAST = dt.date(2026, 11, 10)
DAYS = [FIRST + dt.timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
FULL_WEEK = dt.date(2026, 11, 2)
# Labelled by reading the strings: pip's JSON says "ci": true, npm's agent ends in ci/<name>.
CI_AGENTS = {world.USER_AGENTS["pypi"][1][0], world.USER_AGENTS["npm"][1][0]}
# The emulator's own client label of each agent, in our tool names.
EMULATOR_CLIENT_TO_TOOL = {
    "go-http-client": "go",
    "cabal-install": "cabal",
    "safari": "browser",
    "chrome": "browser",
    "firefox": "browser",
}
AGENT_TOOL = {
    agent: EMULATOR_CLIENT_TO_TOOL.get(client, client)
    for agents in world.USER_AGENTS.values()
    for agent, client, _version, _platform in agents
}


@dataclass(frozen=True)
class Loaded:
    warehouse: Path
    data_dir: Path
    downloads: pl.DataFrame  # every package event the emulator served, with package_id
    views: pl.DataFrame  # every pixel event
    library_type: dict[str, str]


def week_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@pytest.fixture(scope="module")
def loaded(_session_emulator: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    emulator = _session_emulator
    emulator.reset()
    data_dir = tmp_path_factory.mktemp("analysis") / "data"
    with pytest.MonkeyPatch.context() as monkeypatch:
        warehouse = configure(monkeypatch, emulator, data_dir)
        result = dg.materialize(
            [*ALL_ASSETS, *ANALYSIS_ASSETS],
            resources=default_resources(),
            tags=partition_range_tags(FIRST, LAST),
        )
        assert result.success
    downloads = pl.concat(
        emulator.expected_events(world.DEMO_ORG, package_id, day).with_columns(
            pl.lit(package_id).alias("package_id"), pl.lit(day).alias("event_date")
        )
        for package_id in emulator.package_ids(world.DEMO_ORG)
        for day in DAYS
    ).with_columns(pl.col("event_date").map_elements(week_of, pl.Date).alias("week"))
    views = pl.concat(
        emulator.expected_pixel_events(world.DEMO_ORG, day).with_columns(
            pl.lit(day).alias("event_date")
        )
        for day in DAYS
    ).with_columns(pl.col("event_date").map_elements(week_of, pl.Date).alias("week"))
    library_type = {p.uuid: p.library_type or "other" for p in world.seeded_world().packages}
    return Loaded(warehouse, data_dir, downloads, views, library_type)


def rows(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return [tuple(r) for r in connection.execute(sql, params or []).fetchall()]


def distinct(values: pl.Series) -> int:
    return values.drop_nulls().n_unique()


def test_package_weekly_counts_uniques_over_the_week(loaded: Loaded) -> None:
    truth: dict[tuple[dt.date, str], tuple[int, int, int, int]] = {}
    daily_sum: dict[tuple[dt.date, str], int] = defaultdict(int)
    for (week, package_id), group in loaded.downloads.group_by(["week", "package_id"]):
        truth[(week, package_id)] = (
            group.height,
            distinct(group["origin_id"]),
            distinct(group["endpoint_id"]),
            group.filter(pl.col("user_agent").is_in(list(CI_AGENTS))).height,
        )
        for _day, day_group in group.group_by("event_date"):
            daily_sum[(week, package_id)] += distinct(day_group["origin_id"])
    got = {
        (r[0], r[1]): (r[2], r[3], r[4], r[5])
        for r in rows(
            loaded.warehouse,
            "SELECT week_start, package_id, downloads, unique_origins, unique_endpoints, "
            "ci_downloads FROM scarf.package_weekly",
        )
    }
    assert got == truth
    # Origins recur across days: the full week's uniques are fewer than the sum of its days'.
    full_week = [key for key in truth if key[0] == FULL_WEEK]
    assert full_week
    assert all(truth[key][1] < daily_sum[key] for key in full_week)
    assert any(value[3] > 0 for value in truth.values())  # CI is really counted
    names = dict(
        rows(loaded.warehouse, "SELECT DISTINCT package_id, package_name FROM scarf.package_weekly")
    )
    assert names == {p.uuid: p.name for p in world.seeded_world().packages if p.uuid in names}
    assert len(names) == loaded.downloads["package_id"].n_unique()


def test_package_monthly_counts_uniques_over_the_month(loaded: Loaded) -> None:
    frame = loaded.downloads.with_columns(pl.col("event_date").dt.truncate("1mo").alias("month"))
    truth = {
        (month, package_id): (group.height, distinct(group["origin_id"]))
        for (month, package_id), group in frame.group_by(["month", "package_id"])
    }
    got = {
        (r[0], r[1]): (r[2], r[3])
        for r in rows(
            loaded.warehouse,
            "SELECT month_start, package_id, downloads, unique_origins FROM scarf.package_monthly",
        )
    }
    assert got == truth
    assert {month for month, _ in got} == {dt.date(2026, 10, 1), dt.date(2026, 11, 1)}


def version_line(version: str | None) -> str:
    if version is None:
        return "(none)"
    parts = version.lstrip("v").split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].split("-")[0].isdigit():
        return f"{parts[0]}.{parts[1].split('-')[0]}"
    return version


def test_version_adoption_shares_first_seen_and_majority(loaded: Loaded) -> None:
    people = loaded.downloads.filter(~pl.col("user_agent").is_in(list(CI_AGENTS))).with_columns(
        pl.col("version").map_elements(version_line, pl.String).alias("line")
    )
    weekly = Counter(zip(people["week"], people["package_id"], people["line"], strict=True))
    week_totals = Counter(zip(people["week"], people["package_id"], strict=True))
    daily = Counter(zip(people["event_date"], people["package_id"], people["line"], strict=True))
    day_totals = Counter(zip(people["event_date"], people["package_id"], strict=True))
    first_seen: dict[tuple[str, str], dt.date] = {}
    majority: dict[tuple[str, str], dt.date] = {}
    for (day, package_id, line), count in sorted(daily.items()):
        key = (package_id, line)
        first_seen.setdefault(key, day)
        if count / day_totals[(day, package_id)] > 0.5:
            majority.setdefault(key, day)
    got = rows(
        loaded.warehouse,
        "SELECT week_start, package_id, version_line, non_ci_downloads, share, first_seen, "
        "majority_day, days_to_majority FROM scarf.version_adoption",
    )
    assert len(got) == len(weekly)
    for week, package_id, line, downloads, share, seen, major, days in got:
        assert downloads == weekly[(week, package_id, line)]
        assert share == pytest.approx(downloads / week_totals[(week, package_id)])
        assert seen == first_seen[(package_id, line)]
        assert major == majority.get((package_id, line))
        assert days == ((major - seen).days if major else None)
    assert any(row[6] is not None for row in got)  # some line passed half on some day
    assert {row[2] for row in got} >= {"1.5", "latest", "0.4"}


def test_company_activity(loaded: Loaded) -> None:
    events = pl.concat(
        [
            loaded.downloads.select(
                "origin_company", "origin_domain", "event_date", "week"
            ).with_columns(pl.lit("download").alias("kind")),
            loaded.views.select(
                "origin_company", "origin_domain", "event_date", "week"
            ).with_columns(pl.lit("doc_view").alias("kind")),
        ]
    ).filter(
        pl.col("origin_company").is_not_null()
        & (pl.col("origin_company").str.to_uppercase() != "UNKNOWN")
    )
    truth = {}
    for (company,), group in events.group_by(["origin_company"]):
        downloads = group.filter(pl.col("kind") == "download")
        download_weeks = downloads["week"].n_unique()  # all loaded days are within 90 of LAST
        stage = (
            "interest"
            if downloads.height == 0
            else ("active_usage" if download_weeks >= 3 else "investigation")
        )
        truth[company] = (
            group["event_date"].min(),
            group["event_date"].max(),
            group["week"].n_unique(),
            downloads.height,
            group.height - downloads.height,
            stage,
        )
    got = {
        r[0]: r[1:]
        for r in rows(
            loaded.warehouse,
            "SELECT company, first_seen, last_seen, active_weeks_90d, downloads, doc_views, "
            "funnel_stage FROM scarf.company_activity",
        )
    }
    assert got == truth
    assert "UNKNOWN" not in got
    assert {value[5] for value in got.values()} == {"active_usage"}


def test_install_channels_tool_mix(loaded: Loaded) -> None:
    frame = loaded.downloads.with_columns(
        pl.col("user_agent").replace_strict(AGENT_TOOL).alias("tool"),
        pl.col("package_id").replace_strict(loaded.library_type).alias("ecosystem"),
    )
    counts = Counter(zip(frame["ecosystem"], frame["week"], frame["tool"], strict=True))
    totals = Counter(zip(frame["ecosystem"], frame["week"], strict=True))
    got = rows(
        loaded.warehouse,
        "SELECT ecosystem, week_start, tool, downloads, share FROM scarf.install_channels",
    )
    assert {(r[0], r[1], r[2]): r[3] for r in got} == dict(counts)
    for ecosystem, week, _tool, downloads, share in got:
        assert share == pytest.approx(downloads / totals[(ecosystem, week)])
    tools = {r[2] for r in got}
    assert {
        "pip",
        "uv",
        "npm",
        "yarn",
        "pnpm",
        "docker",
        "containerd",
        "go",
        "curl",
        "wget",
    } <= tools
    assert {"browser", "cabal", "stack", "python-requests"} <= tools


def test_docs_to_install_lag(loaded: Loaded) -> None:
    def firsts(frame: pl.DataFrame) -> dict[str, dt.datetime]:
        frame = frame.filter(pl.col("origin_company").str.to_uppercase() != "UNKNOWN")
        return {
            company: group["time"].min() for (company,), group in frame.group_by(["origin_company"])
        }

    docs, downloads = firsts(loaded.views), firsts(loaded.downloads)
    got = {
        r[0]: r[1:]
        for r in rows(
            loaded.warehouse,
            "SELECT company, first_doc_view, first_download, lag_days, docs_first "
            "FROM scarf.docs_to_install",
        )
    }
    assert set(got) == set(docs) | set(downloads)
    for company, (doc_view, download, lag, docs_first) in got.items():
        assert doc_view == docs.get(company)
        assert download == downloads.get(company)
        if doc_view and download:
            assert lag == pytest.approx((download - doc_view).total_seconds() / 86400)
            assert docs_first == (doc_view < download)
        else:
            assert lag is None


def test_event_variables_from_query_strings(loaded: Loaded) -> None:
    with_variables = loaded.downloads.filter(pl.col("variables").is_not_null())
    assert with_variables.height > 0
    truth = Counter(
        (event_id, key, value)
        for event_id, variables in zip(
            with_variables["id"], with_variables["variables"], strict=True
        )
        for key, value in parse_qsl(variables, keep_blank_values=True)
    )
    got = Counter(rows(loaded.warehouse, "SELECT event_id, key, value FROM scarf.event_variables"))
    assert got == truth
    assert {key for _, key, _ in got} == {"version", "platform", "arch"}


def test_geography(loaded: Loaded) -> None:
    truth: dict[tuple[dt.date, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for (week, country), group in loaded.downloads.group_by(["week", "origin_country"]):
        entry = truth[(week, country or "unknown")]
        entry[0], entry[2] = group.height, distinct(group["origin_id"])
    for (week, country), group in loaded.views.group_by(["week", "origin_country"]):
        truth[(week, country or "unknown")][1] = group.height
    got = {
        (r[0], r[1]): list(r[2:])
        for r in rows(
            loaded.warehouse,
            "SELECT week_start, country, downloads, doc_views, unique_origins FROM scarf.geography",
        )
    }
    assert got == dict(truth)
    assert any(country == "unknown" for _, country in got)


def test_data_quality_per_day(loaded: Loaded, tmp_path: Path) -> None:
    got = {
        (r[0], r[1]): r[2:]
        for r in rows(
            loaded.warehouse,
            "SELECT table_name, day, rows, duplicate_event_ids, rejected_rows, is_empty, "
            "low_confidence_share FROM scarf.data_quality",
        )
    }
    for name, frame in (("package_events", loaded.downloads), ("pixel_events", loaded.views)):
        for (day,), group in frame.group_by(["event_date"]):
            low = group.filter(pl.col("confidence") < 0.5).height / group.height
            events, duplicates, rejected, empty, share = got[(name, day)]
            assert (events, duplicates, rejected, empty) == (group.height, 0, 0, False)
            assert share == pytest.approx(low)
    assert {day for _, day in got} == set(DAYS)
    # A day that lost its rows shows as empty, between days that have them.
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(loaded.warehouse, copy)
    hole = dt.date(2026, 11, 4)
    with duckdb.connect(str(copy)) as connection:
        connection.execute("DELETE FROM scarf.package_events WHERE event_date = ?", [hole])
    assert rows(
        copy,
        "SELECT rows, is_empty, low_confidence_share FROM scarf.data_quality "
        "WHERE table_name = 'package_events' AND day = ?",
        [hole],
    ) == [(0, True, None)]


def test_user_agents_parsed_once_and_incrementally(loaded: Loaded, tmp_path: Path) -> None:
    agents = rows(loaded.warehouse, "SELECT user_agent, tool FROM scarf.user_agents")
    seen = set(loaded.downloads["user_agent"].drop_nulls()) | set(
        loaded.views["user_agent"].drop_nulls()
    )
    assert sorted(a for a, _ in agents) == sorted(seen)  # each agent once
    assert dict(agents) == {agent: AGENT_TOOL[agent] for agent in seen}
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(loaded.warehouse, copy)
    with duckdb.connect(str(copy)) as connection:
        assert refresh_user_agents(connection).parsed == 0  # nothing new
        connection.execute(
            "INSERT INTO scarf.package_events BY NAME SELECT * REPLACE "
            '(\'uv/0.5.4 {"ci":true,"installer":{"name":"uv","version":"0.5.4"}}\' '
            "AS user_agent, 'added' AS event_id) FROM scarf.package_events LIMIT 1"
        )
        connection.execute(
            "UPDATE scarf.user_agents SET rules_version = 0 WHERE user_agent = 'curl/8.9.1'"
        )
        refresh = refresh_user_agents(connection)
        assert refresh.parsed == 2  # the new agent, and the one parsed by older rules
        assert refresh.total == len(seen) + 1
        assert connection.execute(
            "SELECT tool, tool_version, is_ci FROM scarf.user_agents "
            "WHERE user_agent LIKE 'uv/0.5.4%'"
        ).fetchall() == [("uv", "0.5.4", True)]


class _Checker(HTMLParser):
    """Well-formedness as the report promises it: every element closed, in order."""

    VOID = {"meta", "br", "img", "hr", "link", "input", "circle", "rect", "line", "polyline"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: Counter[str] = Counter()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes.extend(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes.extend(attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID and (not self.stack or self.stack[-1] != tag):
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def check_report(path: Path) -> tuple[str, _Checker]:
    html = path.read_text(encoding="utf-8")
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert html.startswith("<!DOCTYPE html>")
    assert checker.errors == [] and checker.stack == []
    assert "http://" not in html and "https://" not in html and "//" not in html.replace("://", "")
    assert not any(name in {"src", "href"} for name, _ in checker.attributes)
    assert checker.tags["script"] == 0 and checker.tags["link"] == 0
    return html, checker


CHART_IDS = ("downloads", "unique-origins", "ci", "versions", "tools", "countries", "companies")


def test_report_asset_is_self_contained_html_with_its_charts(loaded: Loaded) -> None:
    html, checker = check_report(loaded.data_dir / REPORT_FILE_NAME)
    for chart_id in CHART_IDS:
        assert f'id="chart-{chart_id}"' in html
    assert checker.tags["svg"] == len(CHART_IDS)
    assert checker.tags["polyline"] >= 2 * loaded.downloads["package_id"].n_unique()
    assert "no data in this range" not in html
    total = loaded.downloads.height
    assert f"<b>{total:,}</b>downloads" in html
    assert f"<b>{loaded.views.height:,}</b>documentation views" in html
    assert f"<b>{loaded.downloads['package_id'].n_unique()}</b>packages" in html
    ci = loaded.downloads.filter(pl.col("user_agent").is_in(list(CI_AGENTS))).height
    assert f"<b>{ci / total:.1%}</b>of them from CI" in html
    assert "Globex Corporation" in html and "acme-installer" in html


def test_report_command_range(
    loaded: Loaded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nov.html"
    code = main(
        ["report", "--out", str(out), "--from", "2026-11-02", "--to", "2026-11-08",
         "--warehouse", str(loaded.warehouse)]
    )  # fmt: skip
    assert code == 0
    assert str(out) in capsys.readouterr().out
    html, _ = check_report(out)
    week = loaded.downloads.filter(pl.col("week") == FULL_WEEK).height
    assert f"<b>{week:,}</b>downloads" in html
    # A range with no data still gives a valid report, saying so.
    empty = tmp_path / "empty.html"
    build_report(loaded.warehouse, empty, dt.date(2025, 1, 1), dt.date(2025, 1, 7))
    html, _ = check_report(empty)
    assert "no data in this range" in html


def test_report_refuses_what_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ReportError, match="no warehouse at"):
        build_report(tmp_path / "missing.duckdb", tmp_path / "r.html")
    old = tmp_path / "old.duckdb"
    with duckdb.connect(str(old)) as connection:
        connection.execute("CREATE SCHEMA scarf; CREATE TABLE scarf.package_events (x INT)")
    code = main(["report", "--out", str(tmp_path / "r.html"), "--warehouse", str(old)])
    assert code == 2
    error = capsys.readouterr().err
    assert "no analysis views yet" in error and "scarf-etl load" in error
    assert main(["report", "--out", "r.html", "--from", "2026-11-05", "--to", "2026-11-01",
                 "--warehouse", str(old)]) == 2  # fmt: skip
    assert not (tmp_path / "r.html").exists()


def test_views_are_assets_downstream_of_their_tables() -> None:
    from scarf_etl.definitions import defs

    graph = defs.resolve_asset_graph()
    for view in ANALYSIS_VIEWS:
        parents = graph.get(dg.AssetKey(["scarf", view.name])).parent_keys
        assert dg.AssetKey(["scarf", "package_events"]) in parents
    assert (
        dg.AssetKey(["scarf", "user_agents"])
        in graph.get(dg.AssetKey(["scarf", "package_weekly"])).parent_keys
    )
    report_parents = graph.get(dg.AssetKey(["report"])).parent_keys
    assert {dg.AssetKey(["scarf", view.name]) for view in ANALYSIS_VIEWS} == set(report_parents)


def readme_questions() -> list[str]:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("The questions, in SQL", 1)[1]
    block = section.split("```sql\n", 1)[1].split("```", 1)[0]
    return [statement.strip() for statement in block.split(";\n") if statement.strip()]


def test_readme_questions_run(loaded: Loaded) -> None:
    statements = readme_questions()
    assert len(statements) >= 10
    answered = 0
    for statement in statements:
        answered += bool(rows(loaded.warehouse, statement.rstrip(";")))
    # Queries about "this week" or "this quarter" may be empty against November 2026's data.
    assert answered >= len(statements) - 3
