"""Each fault knob, over a real socket.

By default faults touch export requests only; with scope="all" the refusal knobs reach JSON
calls too, while body faults stay with exports.
"""

import csv
import datetime
import io
import time

import httpx
import pytest

from scarf_etl.emulator.events import V2_COLUMNS
from scarf_etl.emulator.faults import Faults
from scarf_etl.emulator.world import ACME_CLI, DEMO_ORG, DEMO_TOKEN

DAY = datetime.date(2024, 3, 5)
WINDOW = {"start_date": str(DAY), "end_date": str(DAY + datetime.timedelta(days=1))}
EVENTS = f"/v2/packages/{DEMO_ORG}/{ACME_CLI.uuid}/events"
ORG = f"/api/v1/organizations/{DEMO_ORG}"


@pytest.fixture
def demo(emulator_client):
    return emulator_client(DEMO_TOKEN)


def export(client):
    return client.get(EVENTS, params=WINDOW)


def rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_rate_limit_first_n_then_success(emulator, demo):
    emulator.faults.rate_limit_first = 2
    emulator.faults.retry_after = "Wed, 21 Oct 2026 07:28:00 GMT"
    statuses = [export(demo) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["retry-after"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    assert "message" in statuses[0].json()


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(emulator, demo, status):
    emulator.faults.server_error_first = 1
    emulator.faults.server_error_status = status
    assert export(demo).status_code == status
    assert export(demo).status_code == 200


def test_faults_apply_in_order_and_only_to_exports(emulator, demo):
    emulator.faults.rate_limit_first = 1
    emulator.faults.server_error_first = 1
    emulator.faults.cut_off_first = 1
    assert demo.get(f"/api/v1/organizations/{DEMO_ORG}").status_code == 200
    assert export(demo).status_code == 429
    assert export(demo).status_code == 503
    with pytest.raises(httpx.RemoteProtocolError):
        export(demo)
    assert export(demo).status_code == 200
    statuses = [(r.path, r.status) for r in emulator.requests]
    assert statuses[0] == (f"/api/v1/organizations/{DEMO_ORG}", 200)
    assert [s for _, s in statuses[1:]] == [429, 503, 200, 200]


@pytest.mark.parametrize("omit_content_length", [True, False])
def test_cut_off_body(emulator, demo, omit_content_length):
    full = export(demo).content
    emulator.faults.cut_off_first = 1
    emulator.faults.omit_content_length = omit_content_length
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), demo.stream("GET", EVENTS, params=WINDOW) as r:
        for chunk in r.iter_raw():
            received.extend(chunk)
    assert 0 < len(received) < len(full)
    assert full.startswith(bytes(received))
    assert export(demo).content == full


def test_slow_first_byte(emulator, demo):
    emulator.faults.slow_first_byte = 0.3
    started = time.monotonic()
    assert export(demo).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    demo.get(f"/api/v1/organizations/{DEMO_ORG}")
    assert time.monotonic() - started < 0.3


def test_duplicate_rows_are_field_identical(emulator, demo):
    clean = rows(export(demo).text)
    emulator.faults.duplicate_rows = 3
    dirty = rows(export(demo).text)
    assert len(dirty) == len(clean) + 3
    ids = [r[0] for r in dirty[1:]]
    repeated = {i for i in ids if ids.count(i) == 2}
    assert len(repeated) == 3
    for event_id in repeated:
        copies = [r for r in dirty if r[0] == event_id]
        assert copies[0] == copies[1]


def test_extra_columns_trail_with_values(emulator, demo):
    emulator.faults.extra_columns = ("new_col", "another")
    table = rows(export(demo).text)
    assert table[0] == [*V2_COLUMNS, "new_col", "another"]
    assert all(len(r) == 26 and r[-1] and r[-2] for r in table[1:])


def test_malformed_rows(emulator, demo):
    clean = rows(export(demo).text)
    emulator.faults.malformed_rows = 2
    dirty = rows(export(demo).text)
    assert len(dirty) == len(clean) + 2
    short = [r for r in dirty if len(r) != len(V2_COLUMNS)]
    bad_time = [r for r in dirty if len(r) == len(V2_COLUMNS) and r[5] == "not-a-time"]
    assert len(short) == 1
    assert len(bad_time) == 1


def test_out_of_window_rows_come_from_the_end_day(emulator, demo):
    emulator.faults.out_of_window_rows = 4
    table = rows(export(demo).text)
    end_day = str(DAY + datetime.timedelta(days=1))
    late = [r for r in table[1:] if r[5].startswith(end_day)]
    assert len(late) == 4
    next_day = emulator.expected_events(DEMO_ORG, ACME_CLI.uuid, DAY + datetime.timedelta(days=1))
    assert [r[0] for r in late] == next_day["id"].head(4).to_list()


def test_content_length_when_asked(emulator, demo):
    assert "content-length" not in export(demo).headers
    emulator.faults.omit_content_length = False
    response = export(demo)
    assert int(response.headers["content-length"]) == len(response.content)


def test_aggregates_get_faults_too(emulator, demo):
    emulator.faults.rate_limit_first = 1
    emulator.faults.duplicate_rows = 2
    url = f"/api/v1/organizations/{DEMO_ORG}/aggregates"
    params = {"startDate": WINDOW["start_date"], "endDate": WINDOW["end_date"]}
    assert demo.get(url, params=params).status_code == 429
    lines = demo.get(url, params=params).text.splitlines()
    assert lines[-2:] == lines[:2]


def test_reset_clears_faults(emulator, demo):
    emulator.faults.rate_limit_first = 5
    emulator.reset()
    assert export(demo).status_code == 200


def test_faults_given_at_start(emulator_factory):
    server = emulator_factory(events_per_day=5, faults=Faults(rate_limit_first=1))
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
    assert httpx.get(server.url + EVENTS, params=WINDOW, headers=headers).status_code == 429
    assert httpx.get(server.url + EVENTS, params=WINDOW, headers=headers).status_code == 200


def test_default_scope_leaves_json_calls_alone(emulator, demo):
    emulator.faults.rate_limit_first = 1
    emulator.faults.server_error_first = 1
    assert Faults().scope == "exports"
    assert demo.get(f"{ORG}/packages").status_code == 200
    assert demo.post("/api/v1/packages", json={"name": "x", "shortDescription": "y"}).is_success
    # The JSON calls used none of the counters: the export still gets both refusals.
    assert [export(demo).status_code for _ in range(3)] == [429, 503, 200]


def test_scope_all_refuses_json_calls_429_first_then_5xx(emulator, demo):
    emulator.faults.scope = "all"
    emulator.faults.rate_limit_first = 1
    emulator.faults.retry_after = "2"
    emulator.faults.server_error_first = 1
    emulator.faults.server_error_status = 502
    limited = demo.get(f"{ORG}/packages")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert "message" in limited.json()
    assert demo.get(f"{ORG}/packages").status_code == 502
    answered = demo.get(f"{ORG}/packages")
    assert answered.status_code == 200
    assert ACME_CLI.uuid in {p["uuid"] for p in answered.json()}
    assert [r.status for r in emulator.requests] == [429, 502, 200]


def test_scope_all_shares_the_counters_with_exports(emulator, demo):
    emulator.faults.scope = "all"
    emulator.faults.rate_limit_first = 2
    emulator.faults.server_error_first = 1
    assert demo.get(ORG).status_code == 429
    assert export(demo).status_code == 429
    assert demo.get(f"/api/v1/packages/{ACME_CLI.uuid}").status_code == 503
    assert export(demo).status_code == 200
    assert demo.get(ORG).status_code == 200


def test_scope_all_refused_writes_are_not_applied(emulator, demo):
    emulator.faults.scope = "all"
    emulator.faults.server_error_first = 1
    payload = {"name": "refused-once", "shortDescription": "made after a 503"}
    assert demo.post("/api/v1/packages", json=payload).status_code == 503
    assert "refused-once" not in {p["name"] for p in demo.get("/api/v1/packages").json()}
    assert demo.post("/api/v1/packages", json=payload).status_code == 201


def test_scope_all_checks_the_token_before_any_fault(emulator, emulator_client):
    emulator.faults.scope = "all"
    emulator.faults.rate_limit_first = 1
    assert emulator_client("not-a-token").get(ORG).status_code == 401
    assert emulator_client(None).get(ORG).status_code == 401
    demo = emulator_client(DEMO_TOKEN)
    assert [demo.get(ORG).status_code for _ in range(2)] == [429, 200]


def test_scope_all_slows_json_calls(emulator, demo):
    emulator.faults.scope = "all"
    emulator.faults.slow_first_byte = 0.3
    started = time.monotonic()
    assert demo.get(ORG).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_scope_all_keeps_body_faults_for_exports(emulator, demo):
    clean = demo.get(f"{ORG}/packages").content
    emulator.faults.scope = "all"
    emulator.faults.cut_off_first = 1
    emulator.faults.duplicate_rows = 2
    emulator.faults.extra_columns = ("new_col",)
    assert demo.get(f"{ORG}/packages").content == clean
    # The cut-off was not spent on the JSON call: the next export gets it.
    with pytest.raises(httpx.RemoteProtocolError):
        export(demo)
