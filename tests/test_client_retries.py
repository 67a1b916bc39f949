"""Every fault knob of the emulator against the client's retry loop, over a real socket.

Exports by default; JSON calls with `Faults(scope="all")`, where creates (non-idempotent POSTs)
are retried after a 429 but never after a 5xx.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from scarf_etl.client import (
    ClientSettings,
    Download,
    ExportRequest,
    PackageUpsert,
    ScarfClient,
    ScarfError,
    ScarfRetriesExhaustedError,
)
from scarf_etl.emulator.faults import Faults
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import ACME_CLI, DATA_START, DEMO_ORG, DEMO_TOKEN
from tests.conftest import EmulatorFactory

DAY = DATA_START + timedelta(days=5)
NEW_PACKAGE = PackageUpsert("retry-probe", "created at most once", library_type="npm")


class RecordedSleep:
    """Stands in for time.sleep: keeps the waits so tests can check them, and takes no time."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(emulator: EmulatorServer, sleep: RecordedSleep, **settings: float) -> ScarfClient:
    options: dict[str, float] = {"max_attempts": 4, "backoff_initial": 0.5, "backoff_max": 2.0}
    options.update(settings)
    config = ClientSettings(v1_url=emulator.v1_url, v2_url=emulator.v2_url, **options)  # type: ignore[arg-type]
    return ScarfClient(DEMO_TOKEN, config, sleep=sleep)


def export(tmp_path: Path, name: str = "events.csv") -> ExportRequest:
    return ExportRequest("owner_package_events", DEMO_ORG, DAY, DAY + timedelta(1), tmp_path / name)


def clean_bytes(emulator: EmulatorServer, tmp_path: Path) -> bytes:
    with make_client(emulator, RecordedSleep()) as client:
        return client.download(export(tmp_path, "clean.csv")).path.read_bytes()


def statuses(emulator: EmulatorServer) -> list[int]:
    return [r.status for r in emulator.requests]


def test_429_waits_as_retry_after_says(
    emulator: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.faults.rate_limit_first = 2
    emulator.faults.retry_after = "3"
    sleep = RecordedSleep()
    with caplog.at_level(logging.INFO, "scarf_etl.client"), make_client(emulator, sleep) as client:
        download = client.download(export(tmp_path))
    assert sleep.waits == [3.0, 3.0]
    assert download.attempts == 3 and statuses(emulator) == [429, 429, 200]
    retries = [r for r in caplog.records if r.name == "scarf_etl.client"]
    assert [r.levelno for r in retries] == [logging.INFO, logging.INFO]
    assert "HTTP 429 on attempt 1 of 4" in retries[0].getMessage()
    assert "attempt 2 of 4" in retries[1].getMessage()


def test_retry_after_as_an_http_date(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.faults.rate_limit_first = 1
    emulator.faults.retry_after = format_datetime(
        datetime.now(UTC) + timedelta(seconds=30), usegmt=True
    )
    sleep = RecordedSleep()
    with make_client(emulator, sleep) as client:
        client.download(export(tmp_path))
    # One wait, slept in steps of at most notice_interval (15 s) so it can log as it goes.
    assert 25.0 <= sum(sleep.waits) <= 30.0
    assert len(sleep.waits) == 2 and sleep.waits[0] == 15.0


def test_a_huge_retry_after_is_capped(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.faults.rate_limit_first = 1
    emulator.faults.retry_after = "86400"
    sleep = RecordedSleep()
    with make_client(emulator, sleep, retry_after_max=7.5) as client:
        client.download(export(tmp_path))
    assert sleep.waits == [7.5]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_then_success(emulator: EmulatorServer, tmp_path: Path, status: int) -> None:
    emulator.faults.server_error_first = 2
    emulator.faults.server_error_status = status
    sleep = RecordedSleep()
    with make_client(emulator, sleep) as client:
        download = client.download(export(tmp_path))
    assert statuses(emulator) == [status, status, 200] and download.attempts == 3
    # Full jitter under a doubling ceiling: 0.5 then 1.0 seconds.
    assert len(sleep.waits) == 2 and 0 <= sleep.waits[0] <= 0.5 and 0 <= sleep.waits[1] <= 1.0
    assert download.path.read_bytes() == clean_bytes(emulator, tmp_path)


@pytest.mark.parametrize("omit_content_length", [True, False])
def test_cut_off_body_then_success_gives_the_clean_file(
    emulator: EmulatorServer, tmp_path: Path, omit_content_length: bool
) -> None:
    emulator.faults.omit_content_length = omit_content_length
    clean = clean_bytes(emulator, tmp_path)
    emulator.faults.cut_off_first = 2
    sleep = RecordedSleep()
    with make_client(emulator, sleep) as client:
        download = client.download(export(tmp_path))
    assert download.attempts == 3 and len(sleep.waits) == 2
    assert download.path.read_bytes() == clean and download.bytes == len(clean)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.csv", "events.csv"]


def test_retries_exhausted_raise_with_the_history(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.faults.server_error_first = 10
    sleep = RecordedSleep()
    with (
        make_client(emulator, sleep, max_attempts=3) as client,
        pytest.raises(ScarfRetriesExhaustedError) as caught,
    ):
        client.download(export(tmp_path))
    history = caught.value.history
    assert [h.outcome for h in history] == ["HTTP 503"] * 3
    assert [h.attempt for h in history] == [1, 2, 3]
    assert [h.wait for h in history][:2] == sleep.waits and history[-1].wait is None
    assert statuses(emulator) == [503, 503, 503]
    assert "3 attempts" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_cut_offs_every_time_leave_nothing_behind(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.faults.cut_off_first = 10
    with (
        make_client(emulator, RecordedSleep(), max_attempts=2) as client,
        pytest.raises(ScarfRetriesExhaustedError) as caught,
    ):
        client.download(export(tmp_path))
    assert len(caught.value.history) == 2
    assert all(h.status_code is None for h in caught.value.history)
    assert list(tmp_path.iterdir()) == []


def test_a_slow_first_byte_is_a_retried_timeout(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.faults.slow_first_byte = 0.6
    with (
        make_client(emulator, RecordedSleep(), max_attempts=2, read_timeout=0.2) as client,
        pytest.raises(ScarfRetriesExhaustedError) as caught,
    ):
        client.download(export(tmp_path))
    assert [h.outcome for h in caught.value.history] == ["ReadTimeout", "ReadTimeout"]
    emulator.faults.slow_first_byte = 0.1  # slow but within the timeout: fine
    with make_client(emulator, RecordedSleep(), read_timeout=2.0) as client:
        assert client.download(export(tmp_path)).attempts == 1
    # The server still answers the two requests the client gave up on. Wait for those answers
    # here, or they land in the request log of whichever test shares the emulator next.
    deadline = time.monotonic() + 5.0
    while len(emulator.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert statuses(emulator) == [200, 200, 200]


def test_data_faults_pass_through_untouched(emulator: EmulatorServer, tmp_path: Path) -> None:
    """The client moves bytes; duplicates, extra columns and bad rows are normalize's job."""
    clean = clean_bytes(emulator, tmp_path).decode().splitlines()
    emulator.faults.duplicate_rows = 3
    emulator.faults.extra_columns = ("brand_new_column",)
    emulator.faults.malformed_rows = 1
    emulator.faults.out_of_window_rows = 1
    with make_client(emulator, RecordedSleep()) as client:
        download: Download = client.download(export(tmp_path))
    lines = download.path.read_text().splitlines()
    assert "brand_new_column" in lines[0]
    assert len(lines) >= len(clean) + 3
    assert download.attempts == 1


# ---- JSON calls, with the refusal faults on every request -----------------------------------


def test_a_list_call_retries_through_a_429_and_a_503(emulator: EmulatorServer) -> None:
    emulator.faults.scope = "all"
    emulator.faults.rate_limit_first = 1
    emulator.faults.retry_after = "2"
    emulator.faults.server_error_first = 1
    sleep = RecordedSleep()
    with make_client(emulator, sleep) as client:
        packages = client.list_organization_packages(DEMO_ORG)
    assert {p.uuid for p in packages} == set(emulator.package_ids(DEMO_ORG))
    assert statuses(emulator) == [429, 503, 200] and len(emulator.requests) == 3
    # Retry-After for the 429; for the 503 full jitter under the second ceiling, 1.0 s.
    assert len(sleep.waits) == 2 and sleep.waits[0] == 2.0 and 0 <= sleep.waits[1] <= 1.0


@pytest.mark.parametrize("status", [500, 502, 504])
def test_getting_one_object_retries_server_errors(emulator: EmulatorServer, status: int) -> None:
    emulator.faults.scope = "all"
    emulator.faults.server_error_first = 2
    emulator.faults.server_error_status = status
    sleep = RecordedSleep()
    with make_client(emulator, sleep) as client:
        package = client.get_package(ACME_CLI.uuid)
    assert package.uuid == ACME_CLI.uuid and package.name == ACME_CLI.name
    assert statuses(emulator) == [status, status, 200] and len(sleep.waits) == 2


def test_json_retries_exhausted_raise_with_the_history(emulator: EmulatorServer) -> None:
    emulator.faults.scope = "all"
    emulator.faults.rate_limit_first = 5
    emulator.faults.retry_after = "1"
    sleep = RecordedSleep()
    with (
        make_client(emulator, sleep, max_attempts=3) as client,
        pytest.raises(ScarfRetriesExhaustedError) as caught,
    ):
        client.get_organization(DEMO_ORG)
    assert [h.outcome for h in caught.value.history] == ["HTTP 429"] * 3
    assert sleep.waits == [1.0, 1.0] and statuses(emulator) == [429, 429, 429]


def _created(client: ScarfClient) -> list[str]:
    """Uuids of the token user's packages named like NEW_PACKAGE."""
    return [p.uuid for p in client.list_packages() if p.name == NEW_PACKAGE.name]


def test_a_create_after_a_503_raises_at_once(emulator: EmulatorServer) -> None:
    emulator.faults.scope = "all"
    emulator.faults.server_error_first = 1
    sleep = RecordedSleep()
    with make_client(emulator, sleep) as client:
        with pytest.raises(ScarfError) as caught:
            client.create_package(NEW_PACKAGE)
        assert statuses(emulator) == [503] and len(emulator.requests) == 1
        assert sleep.waits == []
        # Not "retries exhausted": the client refused to repeat a write the server may have done.
        assert type(caught.value) is ScarfError and caught.value.status_code == 503
        assert "not retried" in str(caught.value) and DEMO_TOKEN not in str(caught.value)
        assert _created(client) == []
        # The caller checked the state, as the message asks; creating it now makes exactly one.
        created = client.create_package(NEW_PACKAGE)
        assert _created(client) == [created.uuid]


def test_a_create_after_a_429_is_retried(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(
        events_per_day=5, faults=Faults(scope="all", rate_limit_first=1, retry_after="4")
    )
    sleep = RecordedSleep()
    with make_client(server, sleep) as client:
        created = client.create_package(NEW_PACKAGE)
        assert created.name == NEW_PACKAGE.name and created.library_type == "npm"
        assert sleep.waits == [4.0] and statuses(server) == [429, 201]
        assert _created(client) == [created.uuid]


def test_a_create_is_retried_through_a_429_but_stops_at_the_503_after_it(
    emulator: EmulatorServer,
) -> None:
    emulator.faults.scope = "all"
    emulator.faults.rate_limit_first = 1
    emulator.faults.retry_after = "1"
    emulator.faults.server_error_first = 1
    sleep = RecordedSleep()
    with make_client(emulator, sleep) as client:
        with pytest.raises(ScarfError) as caught:
            client.create_organization_package(DEMO_ORG, NEW_PACKAGE)
        assert statuses(emulator) == [429, 503] and sleep.waits == [1.0]
        assert caught.value.status_code == 503
        assert NEW_PACKAGE.name not in {p.name for p in client.list_organization_packages(DEMO_ORG)}
