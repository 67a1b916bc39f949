"""The asset checks' logic, called as functions on a real warehouse built by the pipeline:
each check passes on good data and fails (or warns) once the data is made wrong."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from scarf_etl.defs import checks
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.emulator.world import DEMO_ORG
from scarf_etl.settings import load_settings
from scarf_etl.store.warehouse import Warehouse
from tests.pipeline_helpers import configure, materialize_days

DAY = dt.date(2026, 11, 2)
QUIET_DAY = dt.date(2026, 11, 3)


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path) -> Warehouse:
    warehouse_path = configure(monkeypatch, emulator, tmp_path / "data")
    assert materialize_days(DAY, DAY).success
    return Warehouse(warehouse_path)


def execute(warehouse: Warehouse, sql: str) -> None:
    with duckdb.connect(str(warehouse.build_path)) as connection:
        connection.execute(sql)


def test_rows_match_lake_fails_when_the_warehouse_lost_a_row(loaded: Warehouse) -> None:
    settings = load_settings()
    assert checks.rows_match_lake(loaded, settings, "package_events", [DAY]).passed
    execute(
        loaded,
        "DELETE FROM scarf.package_events "
        "WHERE event_id = (SELECT min(event_id) FROM scarf.package_events)",
    )
    result = checks.rows_match_lake(loaded, settings, "package_events", [DAY])
    assert not result.passed
    assert DAY.isoformat() in str(result.metadata["mismatches"])


def test_totals_check_warns_when_aggregates_and_events_disagree(loaded: Warehouse) -> None:
    assert checks.totals_match_events(loaded, [DAY], DEMO_ORG).passed
    execute(
        loaded,
        "UPDATE scarf.aggregates SET total = total + 1 WHERE breakdown = 'total' "
        "AND package = (SELECT min(package) FROM scarf.aggregates "
        "WHERE artifact_type = 'package')",
    )
    result = checks.totals_match_events(loaded, [DAY], DEMO_ORG)
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["differences"].value == 1


def test_an_empty_day_is_a_warning_not_a_failure(loaded: Warehouse) -> None:
    assert checks.day_not_empty(loaded, "package_events", [DAY], DEMO_ORG).passed
    result = checks.day_not_empty(loaded, "package_events", [DAY, QUIET_DAY], DEMO_ORG)
    assert not result.passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert QUIET_DAY.isoformat() in str(result.metadata["empty_days"])


def test_event_id_unique_fails_when_a_day_holds_a_duplicate(loaded: Warehouse) -> None:
    # event_id carries no PRIMARY KEY (it cost the memory of a big day's commit): the load's
    # dedupe and this check are what guarantee uniqueness, so the check must be able to fail.
    assert checks.event_id_unique(loaded, "package_events", [DAY], DEMO_ORG).passed
    execute(
        loaded,
        "INSERT INTO scarf.package_events SELECT * FROM scarf.package_events "
        "WHERE event_id = (SELECT min(event_id) FROM scarf.package_events)",
    )
    result = checks.event_id_unique(loaded, "package_events", [DAY], DEMO_ORG)
    assert not result.passed
    assert result.metadata["duplicate_event_ids"].value == 1
    assert DAY.isoformat() in str(result.metadata["days_with_duplicates"])
