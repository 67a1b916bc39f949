"""Today's Scarf (v2 events, v3 aggregates) and the seed's v1 API load the same days into the
same tables: the real assets against the emulator over 127.0.0.1, real DuckDB in tmp_path."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import dagster as dg
import duckdb
import httpx
import pytest

from scarf_etl.client import (
    ClientSettings,
    ScarfClient,
    ScarfForbiddenError,
    ScarfNotFoundError,
)
from scarf_etl.client.exports import V3_BREAKDOWNS, ExportRequest
from scarf_etl.datasets import AGGREGATES
from scarf_etl.emulator.faults import Faults
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DATA_START, DEMO_ORG, DEMO_TOKEN, NON_PRO_ORG
from scarf_etl.settings import SettingsError, load_settings
from scarf_etl.store.raw import FetchPlan, fetch_days, read_raw_day
from tests.pipeline_helpers import configure, materialize_days, scalar, table_snapshot

FIRST = dt.date(2026, 11, 1)
LAST = dt.date(2026, 11, 4)
DAYS = [FIRST + dt.timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
V3_PATH = f"/v3/insights/{DEMO_ORG}/aggregations/export"
# The aggregates columns both generations fill for packages (v3 adds pixels and its counts).
SHARED_AGGREGATE_COLUMNS = (
    "date, package, breakdown, total, company_name, company_domain, cloud_provider_name, "
    "cloud_provider_domain, country, platform, version, client, client_version, variable, value"
)


def use_apis(monkeypatch: pytest.MonkeyPatch, events: str, aggregates: str) -> None:
    monkeypatch.setenv("SCARF_EVENTS_API", events)
    monkeypatch.setenv("SCARF_AGGREGATES_API", aggregates)


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def client_for(emulator: EmulatorServer, token: str = DEMO_TOKEN) -> ScarfClient:
    settings = ClientSettings(
        v1_url=emulator.v1_url, v2_url=emulator.v2_url, v3_url=emulator.v3_url, max_attempts=3
    )
    return ScarfClient(token, settings, sleep=lambda _: None)


def test_both_generations_load_the_same_events_and_totals(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> None:
    today = configure(monkeypatch, emulator, tmp_path / "today")
    use_apis(monkeypatch, "v2", "v3")
    assert materialize_days(FIRST, LAST).success
    today_requests = list(emulator.requests)

    emulator.reset()
    seed = configure(monkeypatch, emulator, tmp_path / "seed")
    use_apis(monkeypatch, "v1", "v1")
    assert materialize_days(FIRST, LAST).success
    seed_requests = list(emulator.requests)

    # The same event rows, column for column, after de-duplication.
    today_tables, seed_tables = table_snapshot(today), table_snapshot(seed)
    for table in ("package_events", "pixel_events"):
        assert today_tables[table], table
        assert today_tables[table] == seed_tables[table], table
    # The same `total` per package-day, and the same package breakdowns line for line.
    totals = (
        "SELECT date, package, total FROM scarf.aggregates WHERE breakdown = 'total' "
        "AND artifact_type = 'package' ORDER BY ALL"
    )
    assert rows(today, totals) == rows(seed, totals)
    assert len(rows(today, totals)) == len(DAYS) * len(emulator.package_ids(DEMO_ORG))
    shared = (
        f"SELECT {SHARED_AGGREGATE_COLUMNS} FROM scarf.aggregates "
        "WHERE artifact_type = 'package' ORDER BY ALL"
    )
    assert rows(today, shared) == rows(seed, shared)
    # Each generation's own columns: which API, its distinct counts, v3's pixels.
    assert rows(today, "SELECT DISTINCT api_version FROM scarf.aggregates") == [("v3",)]
    assert rows(seed, "SELECT DISTINCT api_version FROM scarf.aggregates") == [("v1",)]
    assert scalar(today, "SELECT count(*) FROM scarf.aggregates WHERE unique_origins IS NULL") == 0
    assert (
        scalar(seed, "SELECT count(*) FROM scarf.aggregates WHERE unique_origins IS NOT NULL") == 0
    )
    pixels = scalar(
        today, "SELECT count(DISTINCT package) FROM scarf.aggregates WHERE artifact_type = ?",
        ["tracking-pixel"],
    )  # fmt: skip
    assert pixels == len(emulator.pixel_ids(DEMO_ORG))
    # The view answers from either.
    for path in (today, seed):
        assert (
            scalar(path, "SELECT count(*) FROM scarf.daily_totals WHERE package_name IS NULL") == 0
        )

    # Which endpoints each run called: v3 once per breakdown for the whole range.
    v3_calls = [r for r in today_requests if r.path == V3_PATH]
    assert len(v3_calls) == len(V3_BREAKDOWNS)
    for record in v3_calls:
        query = parse_qs(record.query)
        assert (query["start_date"], query["end_date"]) == (
            [str(FIRST)],
            [str(LAST + dt.timedelta(1))],
        )
        assert query["rollup"] == ["daily"]
    assert sorted(parse_qs(r.query)["breakdown"][0] for r in v3_calls) == sorted(V3_BREAKDOWNS)
    assert not [r for r in today_requests if r.path.startswith("/api/v1/") and "events" in r.path]
    seed_aggregates = [r for r in seed_requests if r.path.endswith("/aggregates")]
    assert len(seed_aggregates) == len(DAYS)
    assert not [r for r in seed_requests if r.path.startswith(("/v2/", "/v3/"))]
    assert [r for r in seed_requests if r.path.startswith("/api/v1/pixels/events/")]


def test_v3_splits_a_range_into_days_and_a_rerun_of_one_day_fetches_that_day(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    configure(monkeypatch, emulator, data_dir)
    raw_aggregates = dg.AssetSelection.assets(dg.AssetKey(["raw", "aggregates"]))
    assert materialize_days(FIRST, LAST, selection=raw_aggregates).success
    assert len([r for r in emulator.requests if r.path == V3_PATH]) == len(V3_BREAKDOWNS)
    for day in DAYS:
        raw_day = read_raw_day(data_dir, "aggregates", day)
        assert sorted(f.path.name for f in raw_day.files) == sorted(
            f"aggregates-{b}.ndjson" for b in V3_BREAKDOWNS
        )
        lines = [
            json.loads(line) for f in raw_day.files for line in f.path.read_text().splitlines()
        ]
        assert lines and {line["date"] for line in lines} == {day.isoformat()}
        manifest = json.loads((raw_day.files[0].path.parent / "_manifest.json").read_text())
        for entry in manifest["files"]:
            assert entry["window"] == [str(FIRST), str(LAST + dt.timedelta(1))]
            assert entry["headers"] == {
                "x-scarf-effective-start-date": str(FIRST),
                "x-scarf-effective-end-date": str(LAST + dt.timedelta(1)),
            }

    emulator.requests.clear()
    day = DAYS[1]
    assert materialize_days(day, day, selection=raw_aggregates).success
    calls = [parse_qs(r.query) for r in emulator.requests if r.path == V3_PATH]
    assert len(calls) == len(V3_BREAKDOWNS)
    assert {(q["start_date"][0], q["end_date"][0]) for q in calls} == {
        (str(day), str(day + dt.timedelta(1)))
    }


def test_days_outside_the_served_window_are_named_in_a_warning(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    before_data = [DATA_START - dt.timedelta(days=2) + dt.timedelta(days=n) for n in range(3)]
    today = dt.datetime.now(dt.UTC).date()
    up_to_tomorrow = [today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)]
    warnings: list[str] = []
    plan = FetchPlan(AGGREGATES, DEMO_ORG, "organization")
    with client_for(emulator) as client:
        fetch_days(client, plan, before_data + up_to_tomorrow, tmp_path, warn=warnings.append)
    text = "\n".join(warnings)
    assert len(warnings) == 2, text  # one per range, not one per breakdown
    assert f"have no rows: {before_data[0]}..{before_data[1]}." in text
    assert f"have no rows: {today}..{today + dt.timedelta(days=1)}." in text
    # The days not covered still exist, empty, so the lake can build them (and a check warns).
    assert read_raw_day(tmp_path, "aggregates", today).bytes == 0
    assert read_raw_day(tmp_path, "aggregates", up_to_tomorrow[0]).bytes > 0


def test_v3_refusals_say_what_to_fix(emulator: EmulatorServer, tmp_path: Path) -> None:
    def request(owner: str) -> ExportRequest:
        return ExportRequest(
            "aggregates", owner, FIRST, LAST, tmp_path / owner, api="v3", breakdown="by-total"
        )

    with client_for(emulator) as client:
        with pytest.raises(ScarfNotFoundError, match="case-sensitive") as not_found:
            client.download(request(DEMO_ORG.title()))
        assert not_found.value.server_message == "Organization not found"
        with pytest.raises(ScarfForbiddenError, match="no aggregation exports"):
            client.download(request(NON_PRO_ORG))
    assert not list(tmp_path.iterdir())  # nothing written for a refused export
    # More than 366 days: refused before a billable call, and by the server.
    with pytest.raises(ValueError, match="at most 366 days"):
        ExportRequest(
            "aggregates", DEMO_ORG, FIRST, FIRST + dt.timedelta(367), tmp_path / "f",
            api="v3", breakdown="by-total",
        )  # fmt: skip
    answer = httpx.get(
        f"{emulator.url}{V3_PATH}",
        params={
            "start_date": "2025-01-01", "end_date": "2026-01-03",
            "rollup": "daily", "breakdown": "by-total",
        },
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
    )  # fmt: skip
    assert answer.status_code == 400 and "366" in answer.json()["detail"]


def test_v3_export_matches_v1_and_takes_the_same_faults(emulator: EmulatorServer) -> None:
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    window = {"start_date": str(FIRST), "end_date": str(FIRST + dt.timedelta(1))}
    v1 = httpx.get(
        f"{emulator.v1_url}/organizations/{DEMO_ORG}/aggregates",
        params={"startDate": str(FIRST), "endDate": str(FIRST + dt.timedelta(1))},
        headers=headers,
    )
    v1_totals = {
        row["package"]: row["total"]
        for row in map(json.loads, v1.text.splitlines())
        if row["breakdown"] == "total"
    }
    emulator.faults = Faults(rate_limit_first=1, retry_after="0")
    params = {**window, "rollup": "daily", "breakdown": "by-total", "format": "json"}
    refused = httpx.get(f"{emulator.url}{V3_PATH}", params=params, headers=headers)
    assert refused.status_code == 429 and "detail" in refused.json()
    served = httpx.get(f"{emulator.url}{V3_PATH}", params=params, headers=headers)
    data = served.json()["data"]
    v3_totals = {r["artifact"]: r["total"] for r in data if r["artifact_type"] == "package"}
    assert v3_totals == v1_totals
    assert {r["breakdown"] for r in data} == {"by-total"}
    assert all(r["unique_origins"] <= r["total"] for r in data)


def test_api_settings_default_to_todays_scarf_and_refuse_unknown_values() -> None:
    settings = load_settings({"SCARF_OWNER": "acme"})
    assert (settings.events_api, settings.aggregates_api) == ("v2", "v3")
    assert settings.api_v3_url == "https://api.scarf.sh/v3"
    chosen = load_settings(
        {"SCARF_OWNER": "acme", "SCARF_EVENTS_API": "V1", "SCARF_AGGREGATES_API": "v1"}
    )
    assert (chosen.events_api, chosen.aggregates_api) == ("v1", "v1")
    with pytest.raises(SettingsError, match="SCARF_AGGREGATES_API must be 'v3' or 'v1'"):
        load_settings({"SCARF_OWNER": "acme", "SCARF_AGGREGATES_API": "v2"})


def test_an_existing_warehouse_gets_the_new_aggregates_columns(tmp_path: Path) -> None:
    from scarf_etl.store.warehouse import Warehouse

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA scarf")
        connection.execute(
            "CREATE TABLE scarf.aggregates (date DATE NOT NULL, package VARCHAR NOT NULL, "
            "breakdown VARCHAR NOT NULL, total BIGINT NOT NULL, unique_total BIGINT, "
            "owner VARCHAR NOT NULL)"
        )
        connection.execute(
            "INSERT INTO scarf.aggregates VALUES ('2026-11-01', 'p', 'total', 3, 2, 'o')"
        )
    warehouse = Warehouse(path)
    warehouse.ensure_schema()
    warehouse.ensure_schema()  # idempotent
    day = dt.date(2026, 11, 1)
    assert warehouse.aggregate_totals_by_package([day], "o") == {(day, "p"): 3}
    warehouse.publish()
    columns = {r[0] for r in rows(path, "SELECT column_name FROM information_schema.columns "
                                        "WHERE table_name = 'aggregates'")}  # fmt: skip
    assert {"unique_origins", "unique_endpoints", "artifact_type", "api_version"} <= columns


def test_splitting_keeps_every_line_and_runs_never_exceed_366_days(tmp_path: Path) -> None:
    from scarf_etl.client import Download
    from scarf_etl.store.raw_split import consecutive_runs, split_downloads_by_day

    year_and_more = [FIRST + dt.timedelta(days=n) for n in range(400)]
    gap = [dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 5)]
    assert [len(run) for run in consecutive_runs(year_and_more, 366)] == [366, 34]
    assert consecutive_runs(gap, 366) == [gap[:2], gap[2:]]

    days = DAYS[:2]
    source = tmp_path / "aggregates-by-total.ndjson"
    lines = [
        b'{"date": "2026-11-02", "artifact": "a", "total": 1}\n',
        b'{"date": "2026-11-01", "artifact": "a", "total": 2}\n',
        b'{"breakdown": "by-total", "date": \n',  # cut JSON: kept in the first day, rejected later
        b'{"date": "2026-11-09", "artifact": "a", "total": 3}\n',  # after the range: last day
        b'{"date": "2026-10-01", "artifact": "a", "total": 4}',  # before it, no newline: first day
    ]
    source.write_bytes(b"".join(lines))
    request = ExportRequest(
        "aggregates", DEMO_ORG, days[0], days[-1] + dt.timedelta(1), source,
        api="v3", breakdown="by-total",
    )  # fmt: skip
    download = Download(
        request=request,
        path=source,
        bytes=source.stat().st_size,
        rows=len(lines),
        content_type="application/x-ndjson",
        attempts=1,
        url="u",
    )
    folders = {day: tmp_path / str(day) for day in days}
    for folder in folders.values():
        folder.mkdir()
    per_day = split_downloads_by_day([download], folders)
    first, second = (folders[day] / source.name for day in days)
    assert first.read_bytes() == lines[1] + lines[2] + lines[4] + b"\n"
    assert second.read_bytes() == lines[0] + lines[3]
    assert [d.bytes for d in per_day[days[0]] + per_day[days[1]]] == [
        first.stat().st_size,
        second.stat().st_size,
    ]
    assert per_day[days[0]][0].request == request
