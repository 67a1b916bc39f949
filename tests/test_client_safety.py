"""The token stays secret, memory stays bounded, and concurrency changes nothing but speed."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from scarf_etl.client import (
    ClientSettings,
    ExportRequest,
    ScarfClient,
    ScarfError,
    ScarfRetriesExhaustedError,
)
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DATA_START, DEMO_ORG, DEMO_TOKEN

DAY = DATA_START + timedelta(days=2)


def settings_for(emulator: EmulatorServer, **overrides: int) -> ClientSettings:
    return ClientSettings(v1_url=emulator.v1_url, v2_url=emulator.v2_url, **overrides)  # type: ignore[arg-type]


def error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error) + repr(vars(error))


def test_the_token_never_reaches_logs_or_errors(
    emulator: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_token = "wrong-but-still-secret-token-42"
    emulator.faults.rate_limit_first = 2
    emulator.faults.server_error_first = 2
    emulator.faults.cut_off_first = 2
    errors: list[ScarfError] = []
    request = ExportRequest(
        "owner_package_events", DEMO_ORG, DAY, DAY + timedelta(1), tmp_path / "e.csv"
    )
    caplog.set_level(logging.DEBUG)  # root: httpx, httpcore, uvicorn and ours
    for name in ("httpx", "httpcore", "scarf_etl.client"):
        caplog.set_level(logging.DEBUG, logger=name)

    with ScarfClient(
        DEMO_TOKEN, settings_for(emulator, max_attempts=4), sleep=lambda _: None
    ) as client:
        with pytest.raises(ScarfRetriesExhaustedError) as exhausted:
            client.download(request)
        errors.append(exhausted.value)
        with pytest.raises(ScarfError) as missing:
            client.get_package("no-such-package")
        errors.append(missing.value)
        download = client.download(request)  # the faults are used up: this one succeeds
        client_text = repr(client) + str(client) + repr(client.settings) + repr(download)
    with (
        ScarfClient(wrong_token, settings_for(emulator)) as client,
        pytest.raises(ScarfError) as auth,
    ):
        client.get_organization(DEMO_ORG)
    errors.append(auth.value)

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert any(r.name.startswith("httpcore") for r in caplog.records)  # capture really was on
    assert any(r.name == "scarf_etl.client" for r in caplog.records)
    assert len(exhausted.value.history) == 4
    everything = logged + client_text + "".join(error_text(e) for e in errors)
    everything += "".join(repr(h) for h in exhausted.value.history)
    everything += download.path.read_text()
    for secret in (DEMO_TOKEN, wrong_token):
        assert secret not in everything


MEMORY_CHILD = """
import sys, tracemalloc
from datetime import date, timedelta
from pathlib import Path
from scarf_etl.client import ClientSettings, ExportRequest, ScarfClient

v1, v2, token, owner, day, dest = sys.argv[1:]
start = date.fromisoformat(day)
request = ExportRequest("owner_package_events", owner, start, start + timedelta(days=1),
                        Path(dest))
with ScarfClient(token, ClientSettings(v1_url=v1, v2_url=v2)) as client:
    tracemalloc.start()
    download = client.download(request)
    peak = tracemalloc.get_traced_memory()[1]
print(download.bytes, peak)
"""


def test_a_large_export_downloads_in_bounded_memory(
    emulator_factory: Callable[..., EmulatorServer], tmp_path: Path
) -> None:
    # The client runs in a child process: the emulator, in this one, builds its chunks in
    # memory, and tracemalloc would count those too.
    big = emulator_factory(events_per_day=8_000)
    dest = tmp_path / "big.csv"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_CHILD,
            big.v1_url,
            big.v2_url,
            DEMO_TOKEN,
            DEMO_ORG,
            DAY.isoformat(),
            str(dest),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    size, peak = map(int, child.stdout.split())
    assert size == dest.stat().st_size > 10_000_000
    assert peak < size / 10, f"peak traced memory {peak} bytes for a {size}-byte export"


def download_everything(
    emulator: EmulatorServer, folder: Path, concurrency: int
) -> dict[str, bytes]:
    requests = [
        ExportRequest(
            "package_events",
            DEMO_ORG,
            DAY + timedelta(d),
            DAY + timedelta(d + 1),
            folder / f"{package}-{d}.csv",
            package_id=package,
        )
        for package in emulator.package_ids(DEMO_ORG)
        for d in range(4)
    ]
    requests.append(
        ExportRequest("pixel_events", DEMO_ORG, DAY, DAY + timedelta(4), folder / "pixels.csv")
    )
    with ScarfClient(DEMO_TOKEN, settings_for(emulator, max_concurrency=concurrency)) as client:
        downloads = client.download_all(requests)
    assert [d.request for d in downloads] == requests
    return {d.path.name: d.path.read_bytes() for d in downloads}


def test_concurrency_1_and_16_give_identical_files(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    one = download_everything(emulator, tmp_path / "one", 1)
    sixteen = download_everything(emulator, tmp_path / "sixteen", 16)
    assert len(one) == 21 and one == sixteen


def test_max_concurrency_caps_requests_in_flight(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.faults.slow_first_byte = 0.3
    requests = [
        ExportRequest(
            "pixel_events",
            DEMO_ORG,
            DAY + timedelta(d),
            DAY + timedelta(d + 1),
            tmp_path / f"{d}.csv",
        )
        for d in range(8)
    ]
    with ScarfClient(DEMO_TOKEN, settings_for(emulator, max_concurrency=4)) as client:
        started = time.monotonic()
        client.download_all(requests)
        elapsed = time.monotonic() - started
    # 8 slow requests, 4 at a time: at least two rounds of 0.3 s, far less than eight.
    assert 0.6 <= elapsed < 2.0
