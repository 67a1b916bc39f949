"""Pipeline settings from the environment, read when a run starts (never at import).

The contract's variables are listed in DESIGN.md and `.env.example`. The token is not here: it
reaches the client through a Dagster `EnvVar`, so it never sits in run config or metadata.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

DEFAULT_API_URL = "https://scarf.sh/api/v1"
DEFAULT_API_V2_URL = "https://api.scarf.sh/v2"
DEFAULT_API_V3_URL = "https://api.scarf.sh/v3"
DEFAULT_DATA_DIR = "./data"
# SCARF_WORK_DIR: local scratch (staging, caches) when SCARF_DATA_DIR is an s3:// URL. In the
# working folder rather than the system temp, so a reboot does not cost a re-download.
DEFAULT_WORK_DIR = "./.scarf-work"
REMOTE_DATA_SCHEMES = ("s3://",)
# The share of a day's rows a re-fetch may lose before the drop guard refuses it.
DEFAULT_MAX_DROP = 0.2
OWNER_KINDS = ("organization", "user")
# Which generation of the API serves each export: today's by default, the v1 page's on request.
EVENTS_APIS = ("v2", "v1")
AGGREGATES_APIS = ("v3", "v1")

OwnerKind = Literal["organization", "user"]
EventsApi = Literal["v1", "v2"]
AggregatesApi = Literal["v1", "v3"]


# Scarf serves at most a year per export request.
MAX_EXPORT_WINDOW_DAYS = 366


class SettingsError(ValueError):
    """A configuration variable is missing or invalid; the message names it and the fix."""


@dataclass(frozen=True)
class EmbeddedWarehouseSpec:
    """SCARF_WAREHOUSE unset or `duckdb`: one DuckDB file (SCARF_DUCKDB_PATH)."""

    path: Path

    def describe(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class DuckLakeWarehouseSpec:
    """SCARF_WAREHOUSE=ducklake:sqlite:PATH or ducklake:postgres:DSN, parquet at `data_path`
    (a folder or s3://bucket/prefix, SCARF_DUCKLAKE_DATA_PATH)."""

    catalog: Literal["sqlite", "postgres"]
    target: str = field(repr=False)  # a DSN may hold a password: see describe()
    data_path: str

    def describe(self) -> str:
        """The setting as it can be logged: a DSN's password replaced by ***."""
        return f"ducklake:{self.catalog}:{redact_dsn(self.target)} (data {self.data_path})"


WarehouseSpec = EmbeddedWarehouseSpec | DuckLakeWarehouseSpec
WAREHOUSE_CATALOGS = ("sqlite", "postgres")


def redact_dsn(dsn: str) -> str:
    """A libpq DSN (key=value or URI) with its password replaced by ***."""
    dsn = re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn, flags=re.I)
    return re.sub(r"(\w+://[^:/@\s]*:)[^@\s]*@", r"\1***@", dsn)


def warehouse_spec(environ: Mapping[str, str] | None = None) -> WarehouseSpec:
    """The warehouse backend from SCARF_WAREHOUSE (and SCARF_DUCKLAKE_DATA_PATH)."""
    env = os.environ if environ is None else environ
    data_dir, duckdb_path = storage_paths(env)
    text = env.get("SCARF_WAREHOUSE", "").strip()
    if text in ("", "duckdb"):
        return EmbeddedWarehouseSpec(duckdb_path)
    kind, _, rest = text.partition(":")
    catalog, _, target = rest.partition(":")
    if kind != "ducklake" or catalog not in WAREHOUSE_CATALOGS or not target.strip():
        raise SettingsError(
            "SCARF_WAREHOUSE must be `duckdb` (the default), `ducklake:sqlite:PATH` or "
            f"`ducklake:postgres:DSN`, not {redact_dsn(text)!r}."
        )
    data_path = env.get("SCARF_DUCKLAKE_DATA_PATH", "").strip()
    if not data_path:
        if "://" in str(env.get("SCARF_DATA_DIR", "")):
            raise SettingsError(
                "SCARF_DUCKLAKE_DATA_PATH is not set: with SCARF_DATA_DIR on object storage, "
                "set it to the folder or s3://bucket/prefix where DuckLake writes its parquet."
            )
        data_path = str(data_dir / "ducklake")
    if "://" not in data_path:
        data_path = str(Path(data_path).resolve())
    if not data_path.endswith("/"):
        data_path += "/"
    return DuckLakeWarehouseSpec(
        catalog=cast(Literal["sqlite", "postgres"], catalog),
        target=target.strip(),
        data_path=data_path,
    )


@dataclass(frozen=True)
class PipelineSettings:
    owner: str
    owner_kind: OwnerKind
    api_url: str
    api_v2_url: str
    # The local data folder: SCARF_DATA_DIR itself, or (when that is an s3:// URL) the cache
    # under SCARF_WORK_DIR that mirrors the bucket's layout.
    data_dir: Path
    duckdb_path: Path
    api_v3_url: str = DEFAULT_API_V3_URL
    events_api: EventsApi = "v2"
    aggregates_api: AggregatesApi = "v3"
    max_day_drop: float = DEFAULT_MAX_DROP
    allow_drop: bool = False
    export_window_days: int = 31  # SCARF_EXPORT_WINDOW_DAYS: most days per event export request
    # SCARF_DATA_DIR when it is a URL (`s3://bucket/prefix`, no trailing slash), else None.
    data_url: str | None = None
    # SCARF_WAREHOUSE: the embedded file at duckdb_path (None means that too) or DuckLake.
    warehouse: WarehouseSpec | None = None

    @property
    def warehouse_spec(self) -> WarehouseSpec:
        return self.warehouse or EmbeddedWarehouseSpec(self.duckdb_path)


def apply_env_file(directory: Path) -> list[str]:
    """Load `directory/.env` into the environment the way `dagster dev` does for its runs, so
    `scarf-etl load` and the UI read the same configuration. Variables already set win.
    Returns the names it set (never their values: the file holds the token)."""
    # python-dotenv, the reader `dagster dev` uses for the same file, so both parse it alike.
    from dotenv import dotenv_values

    env_file = directory / ".env"
    values = dotenv_values(env_file) if env_file.is_file() else {}
    applied = []
    for name, value in values.items():
        if value is None:
            continue
        if name not in os.environ:
            os.environ[name] = value
            applied.append(name)
    return sorted(applied)


def storage_paths(environ: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """(local data folder, warehouse file) from SCARF_DATA_DIR, SCARF_WORK_DIR and
    SCARF_DUCKDB_PATH: all that commands reading local data (status) need, no owner or token."""
    env = os.environ if environ is None else environ
    data_dir, data_url = data_location(env)
    # With the data in a bucket the warehouse file still needs a local disk: ./data by default.
    default_home = Path(DEFAULT_DATA_DIR) if data_url else data_dir
    duckdb_path = Path(
        env.get("SCARF_DUCKDB_PATH", "").strip() or default_home / "warehouse.duckdb"
    )
    return data_dir, duckdb_path


def data_location(environ: Mapping[str, str] | None = None) -> tuple[Path, str | None]:
    """(local data folder, data URL or None) from SCARF_DATA_DIR and SCARF_WORK_DIR.

    A folder is used as is. `s3://bucket/prefix` keeps raw files and the lake in the bucket and
    works in `SCARF_WORK_DIR/s3/<bucket>/<prefix>` (the same layout, a cache per location)."""
    env = os.environ if environ is None else environ
    text = env.get("SCARF_DATA_DIR", "").strip() or DEFAULT_DATA_DIR
    if "://" not in text:
        return Path(text), None
    if not text.startswith(REMOTE_DATA_SCHEMES):
        raise SettingsError(
            f"SCARF_DATA_DIR {text!r}: only local folders and s3://bucket/prefix URLs are "
            "supported (S3-compatible stores work through AWS_ENDPOINT_URL)."
        )
    bucket, _, prefix = text.removeprefix("s3://").partition("/")
    parts = [part for part in prefix.split("/") if part]
    unsafe = [p for p in parts if p in (".", "..") or "\\" in p or "\x00" in p]
    if not bucket or unsafe:
        raise SettingsError(
            f"SCARF_DATA_DIR {text!r} is not a usable s3://bucket/prefix URL: name the bucket "
            "and use a prefix of plain folder names (no '.' or '..')."
        )
    url = "/".join([f"s3://{bucket}", *parts])
    work_dir = Path(env.get("SCARF_WORK_DIR", "").strip() or DEFAULT_WORK_DIR)
    return work_dir.joinpath("s3", bucket, *parts), url


def load_settings(environ: Mapping[str, str] | None = None) -> PipelineSettings:
    """Resolve the SCARF_* variables, applying the documented defaults."""
    env = os.environ if environ is None else environ
    owner = env.get("SCARF_OWNER", "").strip()
    if not owner:
        raise SettingsError(
            "SCARF_OWNER is not set: set it to the Scarf organization name or username whose "
            "data you export (see .env.example)."
        )
    return PipelineSettings(owner=owner, **_options(env))


def load_options(environ: Mapping[str, str] | None = None) -> PipelineSettings:
    """Every setting but the owner, validated as `load_settings` does: what the code location
    reads when it loads, before anyone has to have set SCARF_OWNER. `owner` is ''."""
    return PipelineSettings(owner="", **_options(os.environ if environ is None else environ))


def _options(env: Mapping[str, str]) -> dict[str, Any]:
    owner_kind = env.get("SCARF_OWNER_KIND", "").strip() or "organization"
    if owner_kind not in OWNER_KINDS:
        raise SettingsError(
            f"SCARF_OWNER_KIND must be 'organization' or 'user', not {owner_kind!r}."
        )
    events_api = _choice(env, "SCARF_EVENTS_API", EVENTS_APIS)
    aggregates_api = _choice(env, "SCARF_AGGREGATES_API", AGGREGATES_APIS)
    data_dir, duckdb_path = storage_paths(env)
    return dict(
        owner_kind=cast(OwnerKind, owner_kind),
        api_url=(env.get("SCARF_API_URL", "").strip() or DEFAULT_API_URL).rstrip("/"),
        api_v2_url=(env.get("SCARF_API_V2_URL", "").strip() or DEFAULT_API_V2_URL).rstrip("/"),
        data_dir=data_dir,
        duckdb_path=duckdb_path,
        api_v3_url=(env.get("SCARF_API_V3_URL", "").strip() or DEFAULT_API_V3_URL).rstrip("/"),
        events_api=cast(EventsApi, events_api),
        aggregates_api=cast(AggregatesApi, aggregates_api),
        max_day_drop=_share(env, "SCARF_MAX_DAY_DROP", DEFAULT_MAX_DROP),
        allow_drop=_flag(env, "SCARF_ALLOW_DROP"),
        export_window_days=_days(env, "SCARF_EXPORT_WINDOW_DAYS", 31),
        data_url=data_location(env)[1],
        warehouse=warehouse_spec(env),
    )


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= MAX_EXPORT_WINDOW_DAYS:
        raise SettingsError(
            f"{name} must be a whole number of days from 1 to {MAX_EXPORT_WINDOW_DAYS}, "
            f"not {text!r} (default {default})."
        )
    return int(text)


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise SettingsError(f"{name} must be a share between 0 and 1 (e.g. 0.5), not {text!r}.")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    text = env.get(name, "").strip().lower()
    if text in ("", "0", "false", "no"):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise SettingsError(f"{name} must be 1 or 0 (true or false), not {text!r}.")


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """The variable's value among `allowed` (case-insensitive); unset means the first one."""
    value = env.get(name, "").strip().lower() or allowed[0]
    if value not in allowed:
        raise SettingsError(
            f"{name} must be {' or '.join(repr(a) for a in allowed)}, not {value!r} "
            f"(default {allowed[0]!r})."
        )
    return value
