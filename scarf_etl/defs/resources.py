"""Dagster resources: configuration plus a way to get the thing configured. Nothing else.

Every setting is a field, so the UI shows it (never the token) and tests pass resources
directly. The code location builds them once, when it loads, from the SCARF_* variables
(`default_resources`); steps read the fields, never the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pydantic

from scarf_etl.client import ClientSettings, ScarfClient
from scarf_etl.client._constants import BACKOFF_INITIAL_SECONDS, MAX_ATTEMPTS
from scarf_etl.settings import (
    DEFAULT_API_URL,
    DEFAULT_API_V2_URL,
    DEFAULT_API_V3_URL,
    DEFAULT_DATA_DIR,
    DEFAULT_MAX_DROP,
    DEFAULT_WORK_DIR,
    PipelineSettings,
    load_options,
    load_settings,
)
from scarf_etl.store.drop_guard import DropGuard
from scarf_etl.store.warehouse import Warehouse

# A run's own override of the drop guard (`scarf-etl load --allow-drop`, or this tag set to
# "true" in the launchpad). A tag, not resource config: run config for a resource replaces
# every field the code location set (owner, data folder...), not just the one given.
ALLOW_DROP_TAG = "scarf_etl/allow_drop"
DEFAULT_MAX_CONCURRENCY = 4
DEFAULT_LOCK_WAIT_SECONDS = 120.0


class ScarfApiResource(dg.ConfigurableResource[Any]):
    """The Scarf API. The token comes from `EnvVar("SCARF_API_TOKEN")`, resolved at launch, so
    run config only ever holds the variable's name."""

    # repr=False: a resolved resource prints without its token, wherever Dagster or a user
    # happens to log it.
    token: str = pydantic.Field(repr=False, description="Bearer token (SCARF_API_TOKEN)")
    api_url: str = pydantic.Field(DEFAULT_API_URL, description="SCARF_API_URL: the v1 API")
    api_v2_url: str = pydantic.Field(DEFAULT_API_V2_URL, description="SCARF_API_V2_URL")
    api_v3_url: str = pydantic.Field(DEFAULT_API_V3_URL, description="SCARF_API_V3_URL")
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    # Attempts per request (429s, 5xx, cut or invalid bodies are retried) and the first backoff.
    max_attempts: int = MAX_ATTEMPTS
    backoff_initial_seconds: float = BACKOFF_INITIAL_SECONDS

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> ScarfApiResource:
        options = load_options(env)
        return cls(
            token=dg.EnvVar("SCARF_API_TOKEN"),
            api_url=options.api_url,
            api_v2_url=options.api_v2_url,
            api_v3_url=options.api_v3_url,
        )

    @contextmanager
    def get_client(self) -> Iterator[ScarfClient]:
        client_settings = ClientSettings(
            v1_url=self.api_url.rstrip("/"),
            v2_url=self.api_v2_url.rstrip("/"),
            v3_url=self.api_v3_url.rstrip("/"),
            max_concurrency=self.max_concurrency,
            max_attempts=self.max_attempts,
            backoff_initial=self.backoff_initial_seconds,
        )
        with ScarfClient(self.token, client_settings) as client:
            yield client


class ScarfStorageResource(dg.ConfigurableResource[Any]):
    """Whose data, and where it lives. Each field is the variable its description names
    (DESIGN.md, `.env.example`), validated as the variable is."""

    owner: str = pydantic.Field(description="SCARF_OWNER: the organization or user exported")
    owner_kind: str = pydantic.Field("organization", description="SCARF_OWNER_KIND")
    data_dir: str = pydantic.Field(
        DEFAULT_DATA_DIR, description="SCARF_DATA_DIR: a folder or s3://bucket/prefix"
    )
    work_dir: str = pydantic.Field(
        DEFAULT_WORK_DIR, description="SCARF_WORK_DIR: local cache when the data is in a bucket"
    )
    duckdb_path: str = pydantic.Field(
        "", description="SCARF_DUCKDB_PATH; empty means warehouse.duckdb in the data folder"
    )
    events_api: str = pydantic.Field("v2", description="SCARF_EVENTS_API: v2 or v1")
    aggregates_api: str = pydantic.Field("v3", description="SCARF_AGGREGATES_API: v3 or v1")
    export_window_days: int = pydantic.Field(31, description="SCARF_EXPORT_WINDOW_DAYS")
    max_day_drop: float = pydantic.Field(DEFAULT_MAX_DROP, description="SCARF_MAX_DAY_DROP")
    # The drop guard's override (SCARF_ALLOW_DROP; for one run, ALLOW_DROP_TAG): a day whose
    # new fetch has far fewer rows than the one it replaces is then accepted.
    allow_drop: bool = pydantic.Field(False, description="SCARF_ALLOW_DROP")
    # How long a warehouse step waits for another process's DuckDB lock before failing; the
    # `scarf_warehouse` pool normally means it never waits at all.
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS
    # The warehouse backend. A Postgres DSN may hold a password: from the environment it is an
    # EnvVar, resolved at launch, so the UI and run config show only the variable's name.
    warehouse_backend: str = pydantic.Field(
        "",
        description="SCARF_WAREHOUSE: empty or `duckdb` (the embedded file), "
        "`ducklake:sqlite:PATH` or `ducklake:postgres:DSN`",
    )
    ducklake_data_path: str = pydantic.Field(
        "", description="SCARF_DUCKLAKE_DATA_PATH; empty means ducklake/ in the data folder"
    )

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> ScarfStorageResource:
        """Fields from the variables. An unset owner is left to `EnvVar`, resolved at launch:
        the code location still loads (and the UI shows what is missing) without it."""
        options = load_options(env)
        owner = env.get("SCARF_OWNER", "").strip()
        return cls(
            owner=owner or dg.EnvVar("SCARF_OWNER"),
            owner_kind=options.owner_kind,
            data_dir=options.data_url or str(options.data_dir),
            work_dir=env.get("SCARF_WORK_DIR", "").strip() or DEFAULT_WORK_DIR,
            duckdb_path=str(options.duckdb_path),
            events_api=options.events_api,
            aggregates_api=options.aggregates_api,
            export_window_days=options.export_window_days,
            max_day_drop=options.max_day_drop,
            allow_drop=options.allow_drop,
            warehouse_backend=_warehouse_backend(env),
            ducklake_data_path=env.get("SCARF_DUCKLAKE_DATA_PATH", "").strip(),
        )

    def settings(self) -> PipelineSettings:
        """The fields, validated by the same rules (and messages) as the variables."""
        return load_settings(
            {
                "SCARF_OWNER": self.owner,
                "SCARF_OWNER_KIND": self.owner_kind,
                "SCARF_DATA_DIR": self.data_dir,
                "SCARF_WORK_DIR": self.work_dir,
                "SCARF_DUCKDB_PATH": self.duckdb_path,
                "SCARF_EVENTS_API": self.events_api,
                "SCARF_AGGREGATES_API": self.aggregates_api,
                "SCARF_EXPORT_WINDOW_DAYS": str(self.export_window_days),
                "SCARF_MAX_DAY_DROP": str(self.max_day_drop),
                "SCARF_ALLOW_DROP": "1" if self.allow_drop else "0",
                "SCARF_WAREHOUSE": self.warehouse_backend,
                "SCARF_DUCKLAKE_DATA_PATH": self.ducklake_data_path,
            }
        )

    def drop_guard(self, run_tags: Mapping[str, str]) -> DropGuard:
        """The guard for a run with `run_tags`, which may carry the run's own override."""
        settings = self.settings()
        allowed = settings.allow_drop or run_tags.get(ALLOW_DROP_TAG, "").lower() == "true"
        return DropGuard(max_drop=settings.max_day_drop, allow_drop=allowed)

    def warehouse(self, report: Callable[[str], None] | None = None) -> Warehouse:
        """The warehouse SCARF_WAREHOUSE selects; `report` receives a line every 15 s while a
        step waits for the embedded file, and one per commit retried on DuckLake."""
        return Warehouse(
            self.settings().warehouse_spec,
            lock_wait_seconds=self.lock_wait_seconds,
            report=report,
        )


def _warehouse_backend(env: Mapping[str, str]) -> Any:
    """SCARF_WAREHOUSE as a field value: an EnvVar when it may hold a password and is the
    process's own variable (resolved at launch), else the text."""
    value = env.get("SCARF_WAREHOUSE", "").strip()
    if value.startswith("ducklake:postgres:") and os.environ.get("SCARF_WAREHOUSE") == (
        env.get("SCARF_WAREHOUSE")
    ):
        return dg.EnvVar("SCARF_WAREHOUSE")
    return value


def default_resources(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The resources from the SCARF_* variables (the process's own unless `environ`)."""
    env = os.environ if environ is None else environ
    return {
        "scarf_api": ScarfApiResource.from_environment(env),
        "scarf_storage": ScarfStorageResource.from_environment(env),
    }
