"""Multi-day event export windows: one request per package (and one for pixels) per window of
up to SCARF_EXPORT_WINDOW_DAYS days, split into days locally, halved on `range-too-long`.

The real client and fetch code against the emulator over 127.0.0.1; the real assets into DuckDB
in tmp_path for the end-to-end checks."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from urllib.parse import parse_qs

import dagster as dg
import pytest

from scarf_etl import datasets
from scarf_etl.client import ClientSettings, ScarfBadRequestError, ScarfClient
from scarf_etl.emulator.faults import Faults
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG, DEMO_TOKEN
from scarf_etl.settings import SettingsError, load_settings
from scarf_etl.store.drop_guard import count_file_rows
from scarf_etl.store.raw import FetchPlan, fetch_days, read_raw_day
from scarf_etl.store.raw_split import split_csv_downloads_by_day, utc_day
from tests.pipeline_helpers import configure, materialize_days, scalar

FIRST = dt.date(2026, 9, 1)


def days_from(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range(count)]


def client_for(emulator: EmulatorServer) -> ScarfClient:
    settings = ClientSettings(
        v1_url=emulator.v1_url, v2_url=emulator.v2_url, v3_url=emulator.v3_url, max_attempts=3
    )
    return ScarfClient(DEMO_TOKEN, settings, sleep=lambda _: None)


def event_calls(emulator: EmulatorServer) -> list[tuple[str, str, str]]:
    """(path, start_date, end_date) of every event export the emulator answered."""
    calls = []
    for record in emulator.requests:
        if "/events" in record.path:
            query = parse_qs(record.query)
            calls.append((record.path, query["start_date"][0], query["end_date"][0]))
    return calls


def plan_for(emulator: EmulatorServer, dataset: str, window_days: int) -> FetchPlan:
    packages = tuple(emulator.package_ids(DEMO_ORG)) if dataset == "package_events" else ()
    return FetchPlan(
        datasets.dataset(dataset), DEMO_ORG, "organization", packages, window_days=window_days
    )


def day_bytes(data_dir: Path, dataset: str, day: dt.date) -> dict[str | None, bytes]:
    raw = read_raw_day(data_dir, dataset, day)
    return {file.package_id: file.path.read_bytes() for file in raw.files}


@pytest.mark.parametrize("dataset", ["package_events", "pixel_events"])
def test_a_window_is_one_call_per_package_and_splits_into_the_days_a_day_fetch_gives(
    emulator: EmulatorServer, tmp_path: Path, dataset: str
) -> None:
    days = days_from(FIRST, 40)
    plan = plan_for(emulator, dataset, window_days=31)
    with client_for(emulator) as client:
        fetch_days(client, plan, days, tmp_path / "windows")
    calls = event_calls(emulator)
    per_window = len(plan.package_ids) if dataset == "package_events" else 1
    assert len(calls) == 2 * per_window  # 31 + 9 days
    assert {(start, end) for _, start, end in calls} == {
        ("2026-09-01", "2026-10-02"),
        ("2026-10-02", "2026-10-11"),
    }
    # The same days fetched one request per day: every day file is the same bytes, header
    # included, and the manifest's rows are the file's rows.
    sample = [days[0], days[17], days[30], days[31], days[-1]]
    with client_for(emulator) as client:
        fetch_days(client, plan_for(emulator, dataset, window_days=1), sample, tmp_path / "days")
    for day in sample:
        assert day_bytes(tmp_path / "windows", dataset, day) == day_bytes(
            tmp_path / "days", dataset, day
        )
        for file in read_raw_day(tmp_path / "windows", dataset, day).files:
            assert file.rows == count_file_rows(file.path) > 0
    manifest = (
        read_raw_day(tmp_path / "windows", dataset, days[3]).files[0].path.parent / "_manifest.json"
    ).read_text()
    assert '"2026-10-02"' in manifest  # the window the file was cut from
    leftovers = [p.name for p in (tmp_path / "windows" / "raw" / dataset).iterdir()]
    assert all(name.startswith("date=") for name in leftovers), leftovers


def test_range_too_long_halves_the_window_until_scarf_accepts_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.faults = Faults(max_event_window_days=10)
    days = days_from(FIRST, 31)
    warnings: list[str] = []
    with client_for(emulator) as client:
        fetch_days(
            client,
            plan_for(emulator, "pixel_events", window_days=31),
            days,
            tmp_path,
            warn=warnings.append,
        )
    refused = [r for r in emulator.requests if "/events" in r.path and r.status == 400]
    accepted = [r for r in emulator.requests if "/events" in r.path and r.status == 200]
    assert len(refused) == 2  # 31 days, then 15; 7-day windows pass
    assert len(accepted) == 5  # 7+7+7+7+3
    assert len(warnings) == 2 and "range-too-long" in warnings[0]
    assert "SCARF_EXPORT_WINDOW_DAYS=7" in warnings[-1]
    assert all(read_raw_day(tmp_path, "pixel_events", day).files[0].rows for day in days)


def test_a_range_too_long_for_a_single_day_is_an_error(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.faults = Faults(max_event_window_days=0)
    with client_for(emulator) as client, pytest.raises(ScarfBadRequestError) as raised:
        fetch_days(client, plan_for(emulator, "pixel_events", 31), days_from(FIRST, 3), tmp_path)
    assert raised.value.code == "range-too-long"
    assert not (tmp_path / "raw" / "pixel_events").exists() or not any(
        p.name.startswith("date=") for p in (tmp_path / "raw" / "pixel_events").iterdir()
    )


def test_windows_with_faulty_rows_load_exactly_the_right_rows(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Duplicates (later in the file), rows of the day after the window, a short row and a row
    whose time is not a time: each lands in a day of the window and the lake sorts it out."""
    warehouse = configure(monkeypatch, emulator, tmp_path)
    monkeypatch.setenv("SCARF_EXPORT_WINDOW_DAYS", "3")
    emulator.faults = Faults(duplicate_rows=4, malformed_rows=2, out_of_window_rows=3)
    days = days_from(FIRST, 3)
    emulator.requests.clear()
    # Package events only: v3 aggregates refuse the malformed-rows fault as a whole.
    selection = dg.AssetSelection.assets(
        *(dg.AssetKey([layer, "package_events"]) for layer in ("raw", "lake", "scarf"))
    )
    assert materialize_days(days[0], days[-1], selection=selection).success
    packages = emulator.package_ids(DEMO_ORG)
    assert len(event_calls(emulator)) == len(packages)  # one window each
    for day in days:
        expected = sum(len(emulator.expected_events(DEMO_ORG, p, day)) for p in packages)
        loaded = scalar(
            warehouse, "SELECT count(*) FROM scarf.package_events WHERE event_date = ?", [day]
        )
        assert loaded == expected, day
    assert (
        scalar(
            warehouse, "SELECT count(*) FROM scarf.package_events WHERE event_date > ?", [days[-1]]
        )
        == 0
    )
    # The malformed rows of each file were kept, once, in the window's first day.
    first_files = read_raw_day(tmp_path, "package_events", days[0]).files
    assert all(b"broken row" in f.path.read_bytes() for f in first_files)
    for day in days[1:]:
        assert not any(
            b"broken row" in f.path.read_bytes()
            for f in read_raw_day(tmp_path, "package_events", day).files
        )


def test_a_rerun_of_one_day_asks_for_that_day_only(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> None:
    configure(monkeypatch, emulator, tmp_path)
    day = FIRST + dt.timedelta(days=5)
    emulator.requests.clear()
    assert materialize_days(day, day).success
    windows = {(start, end) for _, start, end in event_calls(emulator)}
    assert windows == {(str(day), str(day + dt.timedelta(days=1)))}


def write_csv(path: Path, text: str) -> None:
    path.write_bytes(text.encode())


def test_split_keeps_quoted_newlines_and_commas_and_puts_each_row_in_its_utc_day(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    # A real Download of the emulator's export gives the request and metadata; its body is
    # then replaced with rows that exercise the CSV edge cases.
    plan = plan_for(emulator, "pixel_events", window_days=1)
    with client_for(emulator) as client:
        download = client.download_all(
            plan.requests_for_window(tmp_path, FIRST, FIRST + dt.timedelta(days=3))
        )[0]
    body = (
        "\ufeffid,time,user_agent\r\n"
        'a,2026-09-01T10:00:00Z,"curl, 8.0"\r\n'
        'b,2026-09-02 23:30:00-01:00,"line one\nline two"\r\n'  # 00:30 UTC on 09-03
        "c,not-a-time,x\r\n"
        "d,2026-08-15T00:00:00Z,before the window\r\n"
        "e,2026-09-09T00:00:00Z,after the window\r\n"
        '"f","2026-09-02T01:00:00+00:00","quoted ""time"""\r\n'
        "g,2026-09-02T02:00:00 UTC,cut"  # no final newline
    )
    write_csv(download.path, body)
    folders = {day: tmp_path / str(day) for day in days_from(FIRST, 3)}
    for folder in folders.values():
        folder.mkdir()
    per_day = split_csv_downloads_by_day([download], folders)
    ids = {}
    for day, (file,) in per_day.items():
        text = file.path.read_bytes().decode()
        assert text.startswith("\ufeffid,time,user_agent\r\n")
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))[1:]
        ids[day] = [row[0] for row in rows]
        assert file.rows == count_file_rows(file.path)
    assert ids == {
        dt.date(2026, 9, 1): ["a", "c", "d"],
        dt.date(2026, 9, 2): ["f", "g"],
        dt.date(2026, 9, 3): ["b", "e"],
    }
    assert sum(f.rows for (f,) in per_day.values()) == count_file_rows(download.path)


def test_utc_day_reads_the_time_formats_the_lake_reads() -> None:
    assert utc_day(b"2026-01-02T03:04:05.123456Z") == dt.date(2026, 1, 2)
    assert utc_day(b"2026-01-02 23:04:05 UTC") == dt.date(2026, 1, 2)
    assert utc_day(b"2026-01-02T23:04:05+00:00") == dt.date(2026, 1, 2)
    assert utc_day(b"2026-01-02T23:04:05-0100") == dt.date(2026, 1, 3)
    assert utc_day(b"2026-01-02T00:30:00+02:00") == dt.date(2026, 1, 1)
    assert utc_day(b"2026-01-02") is None
    assert utc_day(b"2026-02-30T00:00:00Z") is None
    assert utc_day(b"") is None


def test_the_window_setting_is_checked() -> None:
    base = {"SCARF_OWNER": DEMO_ORG}
    assert load_settings(base).export_window_days == 31
    assert load_settings({**base, "SCARF_EXPORT_WINDOW_DAYS": "7"}).export_window_days == 7
    for bad in ("0", "367", "a week", "-3"):
        with pytest.raises(SettingsError, match="SCARF_EXPORT_WINDOW_DAYS"):
            load_settings({**base, "SCARF_EXPORT_WINDOW_DAYS": bad})
