"""Exports of every kind stream to complete files; permanent errors cost exactly one request."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from scarf_etl.client import (
    ClientSettings,
    ExportRequest,
    ScarfAuthError,
    ScarfBadRequestError,
    ScarfClient,
    ScarfError,
    ScarfForbiddenError,
    ScarfNotFoundError,
)
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DATA_START, DEMO_ORG, DEMO_TOKEN, DEMO_USER, NON_PRO_ORG

DAY = DATA_START + timedelta(days=3)
NEXT_DAY = DAY + timedelta(days=1)


def client_for(emulator: EmulatorServer, token: str = DEMO_TOKEN) -> ScarfClient:
    settings = ClientSettings(v1_url=emulator.v1_url, v2_url=emulator.v2_url, max_attempts=3)
    return ScarfClient(token, settings, sleep=lambda _: None)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("package_events", {"api": "v2"}),
        ("package_events", {"api": "v1"}),
        ("owner_package_events", {}),
        ("pixel_events", {"api": "v2"}),
        ("pixel_events", {"api": "v1"}),
    ],
)
def test_event_exports_stream_to_a_complete_csv(
    emulator: EmulatorServer, tmp_path: Path, kind: str, extra: dict[str, str]
) -> None:
    package_id = emulator.package_ids(DEMO_ORG)[0] if kind == "package_events" else None
    dest = tmp_path / "raw" / "nested" / f"{kind}.csv"
    request = ExportRequest(kind, DEMO_ORG, DAY, NEXT_DAY, dest, package_id=package_id, **extra)  # type: ignore[arg-type]
    with client_for(emulator) as client:
        download = client.download(request)

    assert download.path == dest and download.request == request
    assert download.bytes == dest.stat().st_size > 0
    assert download.content_type.startswith("text/csv")
    assert (download.start, download.end, download.attempts) == (DAY, NEXT_DAY, 1)
    assert DEMO_TOKEN not in download.url and download.url.startswith(emulator.url)
    header = dest.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert {"type", "time", "origin_country"} <= set(header)
    assert files_in(tmp_path) == [f"{kind}.csv"]  # no temp file left beside it
    [record] = emulator.requests
    assert record.status == 200


@pytest.mark.parametrize(("owner", "owner_kind"), [(DEMO_ORG, "organization"), (DEMO_USER, "user")])
def test_aggregates_stream_ndjson(
    emulator: EmulatorServer, tmp_path: Path, owner: str, owner_kind: str
) -> None:
    request = ExportRequest(
        "aggregates",
        owner,
        DAY,
        NEXT_DAY,
        tmp_path / "agg.ndjson",
        owner_kind=owner_kind,  # type: ignore[arg-type]
    )
    with client_for(emulator) as client:
        download = client.download(request)
    rows = [json.loads(line) for line in download.path.read_text().splitlines() if line]
    assert rows and {row["date"][:10] for row in rows} == {DAY.isoformat()}
    assert {"breakdown", "package", "total"} <= set(rows[0])
    assert "/api/v1/" in download.url and "startDate" in download.url


def test_the_same_request_gives_the_same_bytes(emulator: EmulatorServer, tmp_path: Path) -> None:
    request = ExportRequest("owner_package_events", DEMO_ORG, DAY, NEXT_DAY, tmp_path / "a.csv")
    with client_for(emulator) as client:
        first = client.download(request).path.read_bytes()
        again = client.download(request).path.read_bytes()  # overwrites, never appends
    assert first == again


def export_attempts(emulator: EmulatorServer) -> list[int]:
    return [r.status for r in emulator.requests]


def test_not_on_the_plan_is_forbidden_at_once(emulator: EmulatorServer, tmp_path: Path) -> None:
    request = ExportRequest("owner_package_events", NON_PRO_ORG, DAY, NEXT_DAY, tmp_path / "x.csv")
    with client_for(emulator) as client, pytest.raises(ScarfForbiddenError) as caught:
        client.download(request)
    assert caught.value.code == "not-a-pro-member"
    assert "plan" in str(caught.value) and NON_PRO_ORG in str(caught.value)
    assert export_attempts(emulator) == [403]
    assert files_in(tmp_path) == []


def test_unknown_owner_or_package_is_not_found(emulator: EmulatorServer, tmp_path: Path) -> None:
    missing_package = ExportRequest(
        "package_events", DEMO_ORG, DAY, NEXT_DAY, tmp_path / "p.csv", package_id="no-such-id"
    )
    missing_owner = ExportRequest("pixel_events", "nobody-here", DAY, NEXT_DAY, tmp_path / "q.csv")
    with client_for(emulator) as client:
        with pytest.raises(ScarfNotFoundError, match="no-such-id"):
            client.download(missing_package)
        with pytest.raises(ScarfNotFoundError, match="nobody-here"):
            client.download(missing_owner)
    assert export_attempts(emulator) == [404, 404]
    assert files_in(tmp_path) == []


def test_bad_token_and_bad_window(emulator: EmulatorServer, tmp_path: Path) -> None:
    too_long = ExportRequest(
        "owner_package_events", DEMO_ORG, DAY, DAY + timedelta(days=400), tmp_path / "l.csv"
    )
    with client_for(emulator) as client, pytest.raises(ScarfBadRequestError) as bad:
        client.download(too_long)
    assert bad.value.server_message and bad.value.server_message in str(bad.value)
    ok_window = ExportRequest("pixel_events", DEMO_ORG, DAY, NEXT_DAY, tmp_path / "t.csv")
    with client_for(emulator, "not-the-token") as client, pytest.raises(ScarfAuthError) as auth:
        client.download(ok_window)
    assert "SCARF_API_TOKEN" in str(auth.value)
    assert export_attempts(emulator) == [400, 401]
    assert files_in(tmp_path) == []
    assert isinstance(auth.value, ScarfError)


def test_download_all_keeps_input_order(emulator: EmulatorServer, tmp_path: Path) -> None:
    ids = emulator.package_ids(DEMO_ORG)
    requests = [
        ExportRequest(
            "package_events", DEMO_ORG, d, d + timedelta(1), tmp_path / f"{p}-{d}.csv", package_id=p
        )
        for p in ids
        for d in (DAY, NEXT_DAY)
    ]
    with client_for(emulator) as client:
        downloads = client.download_all(requests)
    assert [d.request for d in downloads] == requests
    assert all(d.path.stat().st_size == d.bytes for d in downloads)


def test_download_all_with_one_failure_leaves_no_partial_file(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    good = [
        ExportRequest(
            "pixel_events",
            DEMO_ORG,
            DATA_START + timedelta(i),
            DATA_START + timedelta(i + 1),
            tmp_path / f"{i}.csv",
        )
        for i in range(6)
    ]
    bad = ExportRequest("pixel_events", NON_PRO_ORG, DAY, NEXT_DAY, tmp_path / "bad.csv")
    with client_for(emulator) as client, pytest.raises(ScarfForbiddenError):
        client.download_all([*good[:3], bad, *good[3:]])
    written = files_in(tmp_path)
    assert "bad.csv" not in written
    assert all(name.endswith(".csv") and not name.startswith(".") for name in written)
    for name in written:  # whatever was written is whole: it parses to the header's width
        lines = (tmp_path / name).read_text().splitlines()
        assert lines and lines[0].startswith(("id,", "type,"))
