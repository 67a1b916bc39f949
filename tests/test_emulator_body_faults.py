"""The body fault knobs, redirects, stalls and hostile package ids, over a real socket."""

import csv
import datetime
import io
import json
import time
from urllib.parse import quote

import httpx
import pytest

from scarf_etl.emulator.events import V2_COLUMNS
from scarf_etl.emulator.world import ACME_CLI, DEMO_ORG, DEMO_TOKEN, DEMO_USER

DAY = datetime.date(2024, 3, 5)
WINDOW = {"start_date": str(DAY), "end_date": str(DAY + datetime.timedelta(days=1))}
EVENTS = f"/v2/packages/{DEMO_ORG}/{ACME_CLI.uuid}/events"
AGGREGATES = f"/api/v1/organizations/{DEMO_ORG}/aggregates"
V1_WINDOW = {"startDate": WINDOW["start_date"], "endDate": WINDOW["end_date"]}
HOSTILE = ("../../../../x", "/abs/x")


@pytest.fixture
def demo(emulator_client):
    return emulator_client(DEMO_TOKEN)


def export(client):
    return client.get(EVENTS, params=WINDOW)


def aggregates(client):
    return client.get(AGGREGATES, params=V1_WINDOW)


def test_empty_body_first_n_then_the_export(emulator, demo):
    full = export(demo)
    emulator.faults.body_fault_first = 2
    emulator.faults.body_fault = "empty"
    for _ in range(2):
        empty = export(demo)
        assert empty.status_code == 200 and empty.content == b""
        assert empty.headers["content-length"] == "0"
        assert empty.headers["content-type"].startswith("text/csv")
    assert export(demo).content == full.content


def test_html_page_with_200(emulator, demo):
    emulator.faults.body_fault_first = 1
    emulator.faults.body_fault = "html"
    page = export(demo)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.lower().startswith("<!doctype html>")
    assert export(demo).headers["content-type"].startswith("text/csv")


def test_json_error_with_200(emulator, demo):
    emulator.faults.body_fault_first = 1
    emulator.faults.body_fault = "json_error"
    answer = aggregates(demo)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert set(answer.json()) == {"error"}
    assert aggregates(demo).headers["content-type"] == "application/x-ndjson"


def test_body_fault_always(emulator, demo):
    emulator.faults.body_fault_always = True
    emulator.faults.body_fault = "html"
    assert all(export(demo).headers["content-type"].startswith("text/html") for _ in range(3))
    assert aggregates(demo).headers["content-type"].startswith("text/html")


def test_body_faults_reach_exports_only(emulator, demo):
    emulator.faults.body_fault_first = 1
    emulator.faults.body_fault = "empty"
    assert demo.get(f"/api/v1/organizations/{DEMO_ORG}/packages").json()
    assert export(demo).content == b""  # the JSON call did not use the fault up


@pytest.mark.parametrize("get", [export, aggregates])
def test_truncated_is_short_mid_row_and_looks_complete(emulator, demo, get):
    full = get(demo).content
    emulator.faults.body_fault_first = 1
    emulator.faults.body_fault = "truncated"
    short = get(demo)
    assert short.status_code == 200
    assert int(short.headers["content-length"]) == len(short.content) < len(full)
    assert full.startswith(short.content)
    # Cut inside a row: neither the last byte sent nor the next one is a newline.
    assert (
        short.content[-1:] != b"\n" and full[len(short.content) : len(short.content) + 1] != b"\n"
    )
    assert get(demo).content == full


def test_huge_field_is_one_long_user_agent(emulator, demo):
    clean = list(csv.DictReader(io.StringIO(export(demo).text)))
    emulator.faults.body_fault_first = 1
    emulator.faults.body_fault = "huge_field"
    emulator.faults.huge_field_bytes = 300_000
    huge_text = export(demo).text
    limit = csv.field_size_limit(1_000_000)
    try:
        huge = list(csv.DictReader(io.StringIO(huge_text)))
    finally:
        csv.field_size_limit(limit)
    assert len(huge) == len(clean)
    assert len(huge[0]["user_agent"]) == 300_000
    assert {**huge[0], "user_agent": clean[0]["user_agent"]} == clean[0]
    assert huge[1:] == clean[1:]


def test_huge_field_default_is_50_mb_and_streams(emulator, demo):
    emulator.faults.body_fault_always = True
    emulator.faults.body_fault = "huge_field"
    received = 0
    with demo.stream("GET", EVENTS, params=WINDOW) as response:
        for chunk in response.iter_raw():
            received += len(chunk)
    assert received > 50_000_000


def test_csv_only_faults_leave_aggregates_alone(emulator, demo):
    clean = aggregates(demo).content
    emulator.faults.body_fault_first = 1
    emulator.faults.body_fault = "huge_field"
    emulator.faults.huge_field_bytes = 1000
    assert aggregates(demo).content == clean
    assert len(export(demo).content) > 1000  # the counter was still there for the CSV


def test_no_time_column_renames_the_header(emulator, demo):
    emulator.faults.body_fault_first = 1
    emulator.faults.body_fault = "no_time_column"
    header = export(demo).text.splitlines()[0].split(",")
    assert "time" not in header and header[V2_COLUMNS.index("time")] == "timestamp"


def test_redirect_exports_to_another_host(emulator, demo):
    other = emulator.url.replace("127.0.0.1", "localhost")
    emulator.faults.redirect_exports_to = other
    moved = export(demo)
    assert moved.status_code == 307
    location = httpx.URL(moved.headers["location"])
    assert (location.host, location.path) == ("localhost", EVENTS)
    assert dict(location.params) == WINDOW
    assert aggregates(demo).status_code == 307
    assert demo.get(f"/api/v1/organizations/{DEMO_ORG}").status_code == 200  # exports only
    # The target really is the emulator: without the token it refuses, as Scarf would.
    assert httpx.get(str(location)).status_code == 401


def test_stall_after_some_bytes(emulator, demo):
    full = export(demo).content
    emulator.faults.stall_body_after_bytes = 100
    emulator.faults.stall_seconds = 0.5
    arrivals: list[tuple[float, int]] = []
    started = time.monotonic()
    with demo.stream("GET", EVENTS, params=WINDOW) as response:
        body = bytearray()
        for chunk in response.iter_raw():
            body.extend(chunk)
            arrivals.append((time.monotonic() - started, len(body)))
    assert bytes(body) == full
    before = [count for at, count in arrivals if at < 0.4]
    assert before and max(before) == 100  # the first 100 bytes came at once, then nothing
    assert arrivals[-1][0] >= 0.5


def test_hostile_package_ids_are_listed_and_exported(emulator, demo):
    emulator.faults.hostile_package_ids = HOSTILE
    listed = demo.get(f"/api/v1/organizations/{DEMO_ORG}/packages").json()
    assert [p["uuid"] for p in listed if p["uuid"] in HOSTILE] == list(HOSTILE)
    mine = demo.get("/api/v1/packages").json()
    assert {(p["owner"], p["uuid"]) for p in mine} >= {(DEMO_USER, h) for h in HOSTILE}
    for package_id in HOSTILE:
        for path in (
            f"/v2/packages/{DEMO_ORG}/{quote(package_id, safe='')}/events",
            f"/api/v1/packages/{DEMO_ORG}/{quote(package_id, safe='')}/events/e.csv",
        ):
            params = WINDOW if path.startswith("/v2") else V1_WINDOW
            answer = demo.get(path, params=params)
            assert answer.status_code == 200, path
            rows = list(csv.DictReader(io.StringIO(answer.text)))
            assert rows and {r["package"] for r in rows} == {
                "hostile-" + str(HOSTILE.index(package_id))
            }
    lines = [json.loads(line) for line in aggregates(demo).text.splitlines()]
    assert {line["package"] for line in lines} >= set(HOSTILE)
    owner_rows = demo.get(f"/v2/packages/{DEMO_ORG}/events", params=WINDOW).text
    assert "hostile-0" in owner_rows and "hostile-1" in owner_rows


def test_hostile_packages_leave_with_the_knob(emulator, demo):
    emulator.faults.hostile_package_ids = HOSTILE
    emulator.reset()
    listed = demo.get(f"/api/v1/organizations/{DEMO_ORG}/packages").json()
    assert not {p["uuid"] for p in listed} & set(HOSTILE)
    path = f"/v2/packages/{DEMO_ORG}/{quote(HOSTILE[0], safe='')}/events"
    assert demo.get(path, params=WINDOW).status_code == 404
