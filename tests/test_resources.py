"""Configuration lives on the resources: steps read fields, never the environment, and the code
location turns the SCARF_* variables into fields once, when it loads."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg
import pytest

from scarf_etl.defs.assets import ALL_ASSETS
from scarf_etl.defs.resources import ScarfApiResource, ScarfStorageResource, default_resources
from scarf_etl.defs.schedules import partition_range_tags
from scarf_etl.emulator.server import EmulatorServer
from scarf_etl.settings import SettingsError
from tests.pipeline_helpers import materialize_days, pipeline_resources, scalar

DAY = dt.date(2026, 11, 2)


def test_a_run_needs_no_variables_when_resources_are_given(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith("SCARF_"):
            monkeypatch.delenv(name)
    # A variable that would send the data elsewhere is ignored: the fields decide.
    monkeypatch.setenv("SCARF_DATA_DIR", str(tmp_path / "not-here"))
    data_dir = tmp_path / "data"
    resources = pipeline_resources(emulator, data_dir, export_window_days=7)
    assert materialize_days(DAY, DAY, resources=resources).success
    loaded = scalar(data_dir / "warehouse.duckdb", "SELECT count(*) FROM scarf.package_events")
    assert loaded > 0
    assert not (tmp_path / "not-here").exists()


def test_variables_become_fields_when_the_code_location_loads() -> None:
    resources = default_resources(
        {
            "SCARF_OWNER": "acme",
            "SCARF_OWNER_KIND": "user",
            "SCARF_DATA_DIR": "/srv/scarf",
            "SCARF_EXPORT_WINDOW_DAYS": "7",
            "SCARF_API_V2_URL": "http://127.0.0.1:9/v2/",
        }
    )
    storage = resources["scarf_storage"]
    api = resources["scarf_api"]
    assert isinstance(storage, ScarfStorageResource) and isinstance(api, ScarfApiResource)
    assert (storage.owner, storage.owner_kind, storage.data_dir) == ("acme", "user", "/srv/scarf")
    assert storage.duckdb_path == "/srv/scarf/warehouse.duckdb"
    assert storage.export_window_days == 7
    assert api.api_v2_url == "http://127.0.0.1:9/v2"
    settings = storage.settings()
    assert settings.data_dir == Path("/srv/scarf") and settings.export_window_days == 7


def test_a_bad_variable_fails_the_load_naming_it() -> None:
    with pytest.raises(SettingsError, match="SCARF_EXPORT_WINDOW_DAYS"):
        default_resources({"SCARF_OWNER": "acme", "SCARF_EXPORT_WINDOW_DAYS": "a month"})


def test_a_bad_field_fails_the_step_naming_the_variable(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    resources = pipeline_resources(emulator, tmp_path / "data", owner_kind="team")
    result = dg.materialize(
        ALL_ASSETS,
        resources=resources,
        tags=partition_range_tags(DAY, DAY),
        raise_on_error=False,
    )
    assert not result.success
    messages = [
        str(event.step_failure_data.error)
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data.error is not None
    ]
    assert any("SCARF_OWNER_KIND must be 'organization' or 'user'" in m for m in messages)


def test_without_an_owner_the_location_loads_and_the_run_says_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SCARF_OWNER", raising=False)
    monkeypatch.setenv("SCARF_API_TOKEN", "t")
    resources = default_resources({"SCARF_DATA_DIR": str(tmp_path / "data")})
    with pytest.raises(dg.DagsterInvalidConfigError, match="SCARF_OWNER"):
        dg.materialize(ALL_ASSETS, resources=resources, tags=partition_range_tags(DAY, DAY))
