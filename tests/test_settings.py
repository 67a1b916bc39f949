"""Configuration from the environment: defaults, errors that say what to fix, and `.env`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scarf_etl.settings import SettingsError, apply_env_file, load_settings


def test_defaults_follow_the_contract() -> None:
    settings = load_settings({"SCARF_OWNER": "acme-labs"})
    assert settings.owner_kind == "organization"
    assert settings.api_url == "https://scarf.sh/api/v1"
    assert settings.api_v2_url == "https://api.scarf.sh/v2"
    assert settings.data_dir == Path("data")
    assert settings.duckdb_path == Path("data") / "warehouse.duckdb"


def test_duckdb_path_follows_the_data_dir_unless_set() -> None:
    settings = load_settings({"SCARF_OWNER": "o", "SCARF_DATA_DIR": "/srv/scarf"})
    assert settings.duckdb_path == Path("/srv/scarf/warehouse.duckdb")
    settings = load_settings(
        {"SCARF_OWNER": "o", "SCARF_DATA_DIR": "/srv/scarf", "SCARF_DUCKDB_PATH": "/db/w.duckdb"}
    )
    assert settings.duckdb_path == Path("/db/w.duckdb")


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({}, "SCARF_OWNER is not set"),
        ({"SCARF_OWNER": "o", "SCARF_OWNER_KIND": "team"}, "'organization' or 'user'"),
    ],
)
def test_bad_configuration_says_what_to_fix(environ: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        load_settings(environ)


def test_env_file_fills_unset_variables_and_never_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "SCARF_OWNER=from-file\nSCARF_OWNER_KIND=user\n# a comment\nSCARF_API_TOKEN=secret-token\n"
    )
    monkeypatch.delenv("SCARF_OWNER", raising=False)
    monkeypatch.delenv("SCARF_API_TOKEN", raising=False)
    monkeypatch.setenv("SCARF_OWNER_KIND", "organization")
    # monkeypatch restores both variables to "unset" afterwards, whatever the file set.
    applied = apply_env_file(tmp_path)
    assert applied == ["SCARF_API_TOKEN", "SCARF_OWNER"]
    assert os.environ["SCARF_OWNER"] == "from-file"
    assert os.environ["SCARF_OWNER_KIND"] == "organization"


def test_the_api_resource_never_prints_its_token() -> None:
    from scarf_etl.defs.resources import ScarfApiResource

    resource = ScarfApiResource(token="scarf-secret-value")
    assert "scarf-secret-value" not in repr(resource)
    assert "scarf-secret-value" not in str(resource)
