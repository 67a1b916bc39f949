"""Dagster resources: configuration plus a way to get the thing configured. Nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pydantic

from scarf_etl.client import ClientSettings, ScarfClient
from scarf_etl.client._constants import BACKOFF_INITIAL_SECONDS, MAX_ATTEMPTS
from scarf_etl.settings import PipelineSettings, load_settings
from scarf_etl.store.drop_guard import DropGuard
from scarf_etl.store.warehouse import Warehouse

DEFAULT_MAX_CONCURRENCY = 4
DEFAULT_LOCK_WAIT_SECONDS = 120.0


class ScarfApiResource(dg.ConfigurableResource[Any]):
    """The Scarf API. The token comes from `EnvVar("SCARF_API_TOKEN")`, resolved at launch, so
    run config only ever holds the variable's name."""

    # repr=False: a resolved resource prints without its token, wherever Dagster or a user
    # happens to log it.
    token: str = pydantic.Field(repr=False, description="Bearer token (SCARF_API_TOKEN)")
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    # Attempts per request (429s, 5xx, cut or invalid bodies are retried) and the first backoff.
    max_attempts: int = MAX_ATTEMPTS
    backoff_initial_seconds: float = BACKOFF_INITIAL_SECONDS

    @contextmanager
    def get_client(self) -> Iterator[ScarfClient]:
        settings = load_settings()
        client_settings = ClientSettings(
            v1_url=settings.api_url,
            v2_url=settings.api_v2_url,
            v3_url=settings.api_v3_url,
            max_concurrency=self.max_concurrency,
            max_attempts=self.max_attempts,
            backoff_initial=self.backoff_initial_seconds,
        )
        with ScarfClient(self.token, client_settings) as client:
            yield client


class ScarfStorageResource(dg.ConfigurableResource[Any]):
    """Whose data, and where it lives: the SCARF_* variables, read when the step runs."""

    # How long a warehouse step waits for another process's DuckDB lock before failing; the
    # `scarf_warehouse` pool normally means it never waits at all.
    lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS
    # The drop guard's override for one run (launchpad or `scarf-etl load --allow-drop`): a
    # day whose new fetch has far fewer rows than the one it replaces is then accepted.
    allow_drop: bool = False

    def settings(self) -> PipelineSettings:
        return load_settings()

    def drop_guard(self) -> DropGuard:
        settings = self.settings()
        return DropGuard(
            max_drop=settings.max_day_drop, allow_drop=self.allow_drop or settings.allow_drop
        )

    def warehouse(self, report: Callable[[str], None] | None = None) -> Warehouse:
        """The warehouse SCARF_WAREHOUSE selects; `report` receives a line every 15 s while a
        step waits for the embedded file, and one per commit retried on DuckLake."""
        return Warehouse(
            self.settings().warehouse_spec,
            lock_wait_seconds=self.lock_wait_seconds,
            report=report,
        )


def default_resources() -> dict[str, object]:
    return {
        "scarf_api": ScarfApiResource(token=dg.EnvVar("SCARF_API_TOKEN")),
        "scarf_storage": ScarfStorageResource(),
    }
