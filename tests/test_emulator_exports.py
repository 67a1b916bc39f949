"""Event CSV and aggregate exports: formats, windows, plan gating, determinism, agreement."""

import csv
import datetime
import io
import json

import polars as pl
import pytest

from scarf_etl.emulator.events import V1_PAGE_COLUMNS, V2_COLUMNS
from scarf_etl.emulator.world import (
    ACME_CLI,
    ACME_INSTALLER,
    ACME_SDK_NPM,
    DATA_START,
    DEMO_ORG,
    DEMO_TOKEN,
    DEMO_USER,
    HOBBY_GAME,
    MEMBER_TOKEN,
    NON_PRO_ORG,
    OUTSIDER_TOKEN,
)

DAY = datetime.date(2024, 3, 5)
NEXT = DAY + datetime.timedelta(days=1)
V2_WINDOW = {"start_date": str(DAY), "end_date": str(NEXT)}
V1_WINDOW = {"startDate": str(DAY), "endDate": str(NEXT)}
AGGREGATE_FIELDS = {
    "breakdown",
    "date",
    "package",
    "total",
    "company_name",
    "company_domain",
    "cloud_provider_name",
    "cloud_provider_domain",
    "country",
    "platform",
    "version",
    "client",
    "client_version",
    "variable",
    "value",
    "unique_total",
}


@pytest.fixture
def demo(emulator_client):
    return emulator_client(DEMO_TOKEN)


def read_csv(text: str) -> pl.DataFrame:
    return pl.read_csv(io.StringIO(text), infer_schema=False)


def as_text(expected: pl.DataFrame) -> pl.DataFrame:
    """Expected events as the CSV spells them, except `time` (formats vary by package)."""
    return expected.select(
        pl.col(c).cast(pl.String).fill_null("") for c in expected.columns if c != "time"
    )


def test_v2_package_csv_matches_expected_events(emulator, demo):
    response = demo.get(f"/v2/packages/{DEMO_ORG}/{ACME_INSTALLER.uuid}/events", params=V2_WINDOW)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines()[0] == ",".join(V2_COLUMNS)
    got = read_csv(response.text)
    expected = emulator.expected_events(DEMO_ORG, ACME_INSTALLER.uuid, DAY)
    assert got.height == expected.height > 0
    assert as_text(got).equals(as_text(expected))
    parsed = pl.Series(got["time"]).str.to_datetime(time_zone="UTC", time_unit="us")
    assert parsed.equals(expected["time"], check_names=False)


def test_values_look_real(emulator, demo):
    text = demo.get(f"/v2/packages/{DEMO_ORG}/events", params=V2_WINDOW).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"São Paulo", "Zürich", "東京"} <= {r["origin_city"] for r in rows}
    assert {"Acme, Inc.", '"Big" Data LLC', "UNKNOWN", ""} <= {r["origin_company"] for r in rows}
    assert any("?" in r["referer"] for r in rows)
    assert any(r["user_agent"].startswith("pip/") for r in rows)
    assert any(r["user_agent"].startswith("npm/") for r in rows)
    assert any(r["user_agent"].startswith("docker/") for r in rows)
    assert {r["type"] for r in rows} >= {"binary-download", "manifest-fetch", "file-download"}
    file_rows = [r for r in rows if r["package"] == "acme-installer"]
    assert all("=" in r["variables"] for r in file_rows)
    assert {r["dnt"] for r in rows} == {"true", "false"}
    assert len({r["id"] for r in rows}) == len(rows)
    # Four time spellings across packages: T or space, fraction or not, Z / +00:00 / UTC.
    times = {r["package"]: r["time"] for r in rows}
    assert len({(t[10], t.endswith("Z"), "." in t) for t in times.values()}) >= 3


def test_v1_package_csv_puts_the_page_fields_first(emulator, demo):
    url = f"/api/v1/packages/{DEMO_ORG}/{ACME_CLI.uuid}/events/acme-cli.csv"
    response = demo.get(url, params=V1_WINDOW)
    assert response.status_code == 200
    header = response.text.splitlines()[0].split(",")
    assert tuple(header[:16]) == V1_PAGE_COLUMNS
    assert set(header) == set(V2_COLUMNS)
    expected = emulator.expected_events(DEMO_ORG, ACME_CLI.uuid, DAY)
    assert read_csv(response.text)["id"].to_list() == expected["id"].to_list()


def test_owner_csv_holds_every_package(emulator, demo):
    text = demo.get(f"/v2/packages/{DEMO_ORG}/events", params=V2_WINDOW).text
    expected_ids = {
        i
        for package_id in emulator.package_ids(DEMO_ORG)
        for i in emulator.expected_events(DEMO_ORG, package_id, DAY)["id"]
    }
    assert set(read_csv(text)["id"]) == expected_ids
    assert len(emulator.package_ids(DEMO_ORG)) == 5


def test_member_exports_only_permitted_packages(emulator_client):
    member = emulator_client(MEMBER_TOKEN)
    text = member.get(f"/v2/packages/{DEMO_ORG}/events", params=V2_WINDOW).text
    assert set(read_csv(text)["package"]) == {ACME_CLI.name, ACME_SDK_NPM.name}


def test_multi_day_window_is_start_inclusive_end_exclusive(emulator, demo):
    params = {"start_date": "2024-03-05", "end_date": "2024-03-08"}
    text = demo.get(f"/v2/packages/{DEMO_ORG}/{ACME_INSTALLER.uuid}/events", params=params).text
    got = read_csv(text)
    days = [DAY + datetime.timedelta(days=i) for i in range(3)]
    expected = [emulator.expected_events(DEMO_ORG, ACME_INSTALLER.uuid, d) for d in days]
    assert got["id"].to_list() == pl.concat(expected)["id"].to_list()
    dates = got["time"].str.to_datetime(time_zone="UTC").dt.date()
    assert set(dates) == set(days)


def test_pixel_exports(emulator, demo):
    v2 = demo.get(f"/v2/tracking-pixels/{DEMO_ORG}/events", params=V2_WINDOW)
    v1 = demo.get("/api/v1/pixels/events/pixels.csv", params=V1_WINDOW)
    assert v2.status_code == v1.status_code == 200
    expected = emulator.expected_pixel_events(DEMO_ORG, DAY)
    assert read_csv(v2.text)["id"].to_list() == expected["id"].to_list()
    assert set(read_csv(v1.text)["id"]) == set(expected["id"])
    assert set(expected["type"]) == {"pixel-fetch"}
    assert set(expected["pixel"]) == set(emulator.pixel_ids(DEMO_ORG))
    assert len(emulator.pixel_ids(DEMO_ORG)) >= 2


def test_events_exist_from_data_start_only(demo):
    before = DATA_START - datetime.timedelta(days=1)
    params = {"start_date": str(before), "end_date": str(DATA_START)}
    text = demo.get(f"/v2/packages/{DEMO_ORG}/{ACME_CLI.uuid}/events", params=params).text
    assert text == ",".join(V2_COLUMNS) + "\n"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"start_date": "2024-03-05", "end_date": "2024-03-05"}, "invalid-date-range"),
        ({"start_date": "2024-03-06", "end_date": "2024-03-05"}, "invalid-date-range"),
        ({"start_date": "03/05/2024", "end_date": "2024-03-06"}, "invalid-date"),
        ({"start_date": "2024-02-30", "end_date": "2024-03-06"}, "invalid-date"),
        ({"start_date": "2024-03-05"}, "invalid-date"),
        ({"end_date": "2024-03-05"}, "invalid-date"),
        ({"start_date": "2024-01-01", "end_date": "2025-01-02"}, "range-too-long"),
    ],
)
def test_v2_bad_windows_are_400(demo, params, code):
    response = demo.get(f"/v2/packages/{DEMO_ORG}/events", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["message"]


def test_window_of_366_days_is_allowed(emulator_factory, emulator_client):
    server = emulator_factory(events_per_day=0)
    import httpx

    response = httpx.get(
        f"{server.v2_url}/packages/{DEMO_ORG}/{ACME_CLI.uuid}/events",
        params={"start_date": "2024-01-01", "end_date": "2025-01-01"},
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
    )
    assert response.status_code == 200


def test_v1_bad_window_is_400(demo):
    params = {"startDate": "2024-03-05", "endDate": "2024-03-01"}
    response = demo.get(f"/api/v1/organizations/{DEMO_ORG}/aggregates", params=params)
    assert response.status_code == 400
    assert "endDate" in response.json()["message"]


@pytest.mark.parametrize(
    "path",
    [
        f"/v2/packages/{NON_PRO_ORG}/events",
        f"/v2/packages/{NON_PRO_ORG}/{HOBBY_GAME.uuid}/events",
        f"/v2/tracking-pixels/{NON_PRO_ORG}/events",
        f"/api/v1/organizations/{NON_PRO_ORG}/aggregates",
    ],
)
def test_export_without_the_plan_is_403(demo, path):
    response = demo.get(path, params={**V2_WINDOW, **V1_WINDOW})
    assert response.status_code == 403
    assert response.json()["code"] == "not-a-pro-member"


@pytest.mark.parametrize(
    "path",
    [
        f"/v2/packages/{DEMO_ORG}/events",
        f"/v2/packages/{DEMO_ORG}/{ACME_CLI.uuid}/events",
        f"/v2/tracking-pixels/{DEMO_ORG}/events",
        f"/api/v1/organizations/{DEMO_ORG}/aggregates",
        f"/api/v1/users/{DEMO_USER}/aggregates",
        f"/api/v1/packages/{DEMO_ORG}/{ACME_CLI.uuid}/events/x.csv",
    ],
)
def test_exports_of_others_are_404(emulator_client, path):
    response = emulator_client(OUTSIDER_TOKEN).get(path, params={**V2_WINDOW, **V1_WINDOW})
    assert response.status_code == 404
    assert response.json()["code"] == "not-found"


def test_outsider_pixel_export_is_403(emulator_client):
    response = emulator_client(OUTSIDER_TOKEN).get("/api/v1/pixels/events/p.csv", params=V1_WINDOW)
    assert response.status_code == 403


def test_package_of_another_owner_is_404(demo):
    response = demo.get(f"/v2/packages/{DEMO_ORG}/{HOBBY_GAME.uuid}/events", params=V2_WINDOW)
    assert response.status_code == 404


def test_same_request_same_bytes(emulator, demo, emulator_factory):
    url = f"/v2/packages/{DEMO_ORG}/events"
    first = demo.get(url, params=V2_WINDOW).content
    assert demo.get(url, params=V2_WINDOW).content == first
    twin = emulator_factory(seed=0, events_per_day=50)
    import httpx

    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    assert httpx.get(twin.url + url, params=V2_WINDOW, headers=headers).content == first
    other = emulator_factory(seed=1, events_per_day=50)
    assert httpx.get(other.url + url, params=V2_WINDOW, headers=headers).content != first
    aggregates = f"/api/v1/organizations/{DEMO_ORG}/aggregates"
    assert (
        demo.get(aggregates, params=V1_WINDOW).content
        == demo.get(aggregates, params=V1_WINDOW).content
    )


def test_volume_varies_around_events_per_day(emulator):
    counts = [
        emulator.expected_events(DEMO_ORG, ACME_CLI.uuid, DAY + datetime.timedelta(days=i)).height
        for i in range(10)
    ]
    assert all(37 <= c <= 63 for c in counts)
    assert len(set(counts)) > 1


def aggregates(client, path, params):
    response = client.get(path, params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def test_org_aggregates_agree_with_events(emulator, demo):
    rows = aggregates(demo, f"/api/v1/organizations/{DEMO_ORG}/aggregates", V1_WINDOW)
    assert all(set(r) <= AGGREGATE_FIELDS for r in rows)
    for package_id in emulator.package_ids(DEMO_ORG):
        events = emulator.expected_events(DEMO_ORG, package_id, DAY)
        mine = [r for r in rows if r["package"] == package_id]
        total = [r for r in mine if r["breakdown"] == "total"]
        assert total == [
            {
                "breakdown": "total",
                "date": str(DAY),
                "package": package_id,
                "total": events.height,
                "unique_total": events["origin_id"].n_unique(),
            }
        ]
        for breakdown, column in [("country", "origin_country"), ("platform", "platform")]:
            counted = {r[breakdown]: r["total"] for r in mine if r["breakdown"] == breakdown}
            assert counted == dict(events[column].drop_nulls().value_counts().iter_rows())
    breakdowns = {r["breakdown"] for r in rows}
    assert breakdowns == {
        "total",
        "company",
        "cloud_provider",
        "country",
        "platform",
        "version",
        "client",
        "variable",
    }
    assert {r["package"] for r in rows if r["breakdown"] == "version"} == {ACME_CLI.uuid}
    assert {r["package"] for r in rows if r["breakdown"] == "variable"} == {ACME_INSTALLER.uuid}


def test_company_breakdown_counts_business_origins(emulator, demo):
    rows = aggregates(demo, f"/api/v1/organizations/{DEMO_ORG}/aggregates", V1_WINDOW)
    events = emulator.expected_events(DEMO_ORG, ACME_CLI.uuid, DAY)
    business = events.filter(pl.col("origin_connection_type") == "business")
    counted = {
        (r["company_name"], r["company_domain"]): r["total"]
        for r in rows
        if r["breakdown"] == "company" and r["package"] == ACME_CLI.uuid
    }
    expected = business.group_by("origin_company", "origin_domain").len()
    assert counted == {(c, d): n for c, d, n in expected.iter_rows()}


def test_user_aggregates_cover_the_users_packages(emulator, demo):
    rows = aggregates(demo, f"/api/v1/users/{DEMO_USER}/aggregates", V1_WINDOW)
    assert {r["package"] for r in rows} == set(emulator.package_ids(DEMO_USER))
    assert demo.get("/api/v1/users/someone-else/aggregates", params=V1_WINDOW).status_code == 404


def test_v2_aggregates_use_v2_names(demo):
    rows = aggregates(demo, f"/v2/packages/{DEMO_ORG}/aggregates", V2_WINDOW)
    total = next(r for r in rows if r["breakdown"] == "total")
    assert {"artifact", "total_unique"} <= set(total)
    assert "package" not in total


def test_zero_volume_gives_empty_exports(emulator_factory):
    import httpx

    server = emulator_factory(events_per_day=0)
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    text = httpx.get(
        f"{server.v2_url}/packages/{DEMO_ORG}/events", params=V2_WINDOW, headers=headers
    ).text
    assert text.splitlines() == [",".join(V2_COLUMNS)]


def test_a_windows_aggregates_are_each_day_asked_alone(emulator_factory):
    """A window's aggregate rows are computed for all its days together: they are exactly the
    rows each day gets when asked for alone from another emulator (v1 and v3, every breakdown,
    days without events included)."""
    import httpx

    window_server, daily_server = (emulator_factory(seed=7, events_per_day=3) for _ in range(2))
    first, days = datetime.date(2024, 6, 1), 12
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}

    def rows(server, path, start, end, **extra):
        response = httpx.get(
            server.url + path,
            params={**extra, "startDate": str(start), "endDate": str(end)}
            if path.startswith("/api/v1")
            else {**extra, "start_date": str(start), "end_date": str(end)},
            headers=headers,
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return [json.loads(line) for line in response.text.splitlines()]

    v1 = f"/api/v1/organizations/{DEMO_ORG}/aggregates"
    v3 = f"/v3/insights/{DEMO_ORG}/aggregations/export"
    last = first + datetime.timedelta(days=days)
    for path, extra in [
        (v1, {}),
        *((v3, {"rollup": "daily", "breakdown": b}) for b in ("by-total", "by-variable")),
    ]:
        window = rows(window_server, path, first, last, **extra)
        one_by_one = [
            row
            for n in range(days)
            for row in rows(
                daily_server,
                path,
                first + datetime.timedelta(days=n),
                first + datetime.timedelta(days=n + 1),
                **extra,
            )
        ]
        assert len({r["date"] for r in window}) > 1
        key = json.dumps
        assert sorted(map(key, window)) == sorted(map(key, one_by_one))
