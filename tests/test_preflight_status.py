"""Pre-flight refuses, in seconds and before any export request, what cannot work, naming the
variable to fix; `scarf-etl status` reports loaded, missing and empty days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from scarf_etl.commands.cli import main
from scarf_etl.commands.status import status_command
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG
from tests.conftest import EmulatorFactory
from tests.pipeline_helpers import configure, materialize_days

YESTERDAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def export_requests(emulator: EmulatorServer) -> list[str]:
    return [r.path for r in emulator.requests if "/events" in r.path or "aggregat" in r.path]


@pytest.mark.parametrize(
    ("change", "first", "last", "expected"),
    [
        ({}, "2023-06-01", "2023-06-01", "SCARF_PARTITIONS_START"),
        ({}, "2026-11-01", (YESTERDAY + dt.timedelta(days=1)).isoformat(), "not a complete"),
        ({}, "2026-11-03", "2026-11-01", "before --from"),
        ({"SCARF_API_TOKEN": ""}, "2026-11-01", "2026-11-01", "SCARF_API_TOKEN is not set"),
        ({"SCARF_API_TOKEN": "wrong"}, "2026-11-01", "2026-11-01", "SCARF_API_TOKEN"),
        ({"SCARF_OWNER_KIND": "user"}, "2026-11-01", "2026-11-01", "SCARF_OWNER_KIND"),
        ({"SCARF_OWNER": "no-such-org"}, "2026-11-01", "2026-11-01", "SCARF_OWNER_KIND=user"),
    ],
)
def test_preflight_refuses_before_any_export(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    first: str,
    last: str,
    expected: str,
) -> None:
    configure(monkeypatch, emulator, tmp_path / "data")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    for name, value in change.items():
        monkeypatch.setenv(name, value)
    assert main(["load", "--from", first, "--to", last]) == 2
    error = capsys.readouterr().err
    assert expected in error, error
    assert export_requests(emulator) == []
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "home").exists()  # no run was even created


def test_check_passes_on_a_good_configuration(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure(monkeypatch, emulator, tmp_path / "data")
    assert main(["check", "--from", "2026-11-01", "--to", "2026-11-02"]) == 0
    assert f"organization '{DEMO_ORG}' found" in capsys.readouterr().out
    assert export_requests(emulator) == []


def test_status_tells_missing_from_empty_days(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    emulator_factory: EmulatorFactory,
    tmp_path: Path,
) -> None:
    # 2026-11-03 comes from a world with no events (an empty day); 11-04 is never loaded.
    quiet = emulator_factory(events_per_day=0)
    warehouse = configure(monkeypatch, quiet, tmp_path / "data")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert materialize_days(dt.date(2026, 11, 3), dt.date(2026, 11, 3)).success
    configure(monkeypatch, emulator, tmp_path / "data")
    assert materialize_days(dt.date(2026, 11, 1), dt.date(2026, 11, 2)).success
    assert materialize_days(dt.date(2026, 11, 5), dt.date(2026, 11, 5)).success
    lines: list[str] = []
    assert status_command(warehouse, lines.append) == 0
    text = "\n".join(lines)
    package_row = next(line for line in text.splitlines() if line.startswith("package_events"))
    assert package_row.split()[:6] == [
        "package_events", "2026-11-01", "2026-11-05", "4", "1", "1",
    ]  # fmt: skip
    assert "missing days of package_events: 2026-11-04" in text
    assert "empty days of package_events: 2026-11-03" in text
    assert "last run:" in text


def test_status_without_a_warehouse_says_what_to_do(tmp_path: Path) -> None:
    lines: list[str] = []
    assert status_command(tmp_path / "none.duckdb", lines.append) == 0
    assert "scarf-etl load" in lines[0]


def test_status_needs_no_owner_or_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SCARF_OWNER", "SCARF_API_TOKEN", "SCARF_DUCKDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SCARF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert main(["status"]) == 0
    assert "scarf-etl load" in capsys.readouterr().out


def test_status_on_an_unreachable_catalog_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(
        "SCARF_WAREHOUSE",
        f"ducklake:postgres:host=127.0.0.1 port={port} user=x password=hunter2 dbname=y",
    )
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scarf-etl status: cannot open the warehouse (SCARF_WAREHOUSE)")
    assert f"port {port}" in err and "Traceback" not in err
    assert "hunter2" not in err and "password=***" in err
