"""Dimension snapshots: the owner's organization, members, packages and package settings,
fetched from the API and shaped into typed frames for `Warehouse.replace_dimension`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from scarf_etl.client import Package, ScarfClient
from scarf_etl.schemas import DIMENSION_SCHEMAS, DIMENSION_TABLES, UTC_MICROS
from scarf_etl.settings import PipelineSettings

# Routes belong to file packages, domains to file and python packages (the API page's "File
# Packages" and "Python Packages" sections); asking for them on other kinds is a 400.
ROUTE_LIBRARY_TYPES = frozenset({"other"})
DOMAIN_LIBRARY_TYPES = frozenset({"other", "pypi"})

# The column that names whose snapshot a row belongs to; `packages` has its own `owner` field
# (the package's owner), which for an owner's snapshot is the same account.
SNAPSHOT_OWNER_COLUMN = "owner"


@dataclass(frozen=True)
class DimensionSnapshot:
    frames: Mapping[str, pl.DataFrame]

    def row_counts(self) -> dict[str, int]:
        return {table: frame.height for table, frame in self.frames.items()}


def list_owner_packages(client: ScarfClient, settings: PipelineSettings) -> list[Package]:
    """The packages whose events belong to the owner, in a stable order."""
    if settings.owner_kind == "organization":
        packages = client.list_organization_packages(settings.owner)
    else:
        packages = [p for p in client.list_packages() if p.owner == settings.owner]
    return sorted(packages, key=lambda package: package.uuid)


def package_records(packages: Iterable[Package]) -> list[dict[str, Any]]:
    """Packages as JSON-ready records, for a run's later steps (see `packages_from_records`)."""
    return [{**dataclasses.asdict(p), "created_at": p.created_at.isoformat()} for p in packages]


def packages_from_records(records: Iterable[Mapping[str, Any]]) -> list[Package]:
    return [
        Package(**{**record, "created_at": dt.datetime.fromisoformat(record["created_at"])})
        for record in records
    ]


def fetch_dimensions(
    client: ScarfClient,
    settings: PipelineSettings,
    refreshed_at: dt.datetime,
    packages: list[Package] | None = None,
) -> DimensionSnapshot:
    """The owner's snapshot; `packages` is the owner's package list if this run already has it
    (each call to Scarf is billed), else it is listed here."""
    rows: dict[str, list[dict[str, Any]]] = {table: [] for table in DIMENSION_TABLES}
    if settings.owner_kind == "organization":
        rows["organizations"].append(_record(client.get_organization(settings.owner)))
        rows["organization_members"].extend(
            _records(client.list_organization_members(settings.owner))
        )
    if packages is None:
        packages = list_owner_packages(client, settings)
    rows["packages"].extend(_records(packages))
    for package in packages:
        rows["package_permissions"].extend(
            _records(client.get_package_permissions(package.uuid), package_id=package.uuid)
        )
        if package.library_type in ROUTE_LIBRARY_TYPES:
            rows["package_routes"].extend(
                _records(client.list_package_routes(package.uuid), package_id=package.uuid)
            )
        if package.library_type in DOMAIN_LIBRARY_TYPES:
            rows["package_domains"].extend(
                _records(client.list_package_domains(package.uuid), package_id=package.uuid)
            )
    frames = {
        table: _frame(table, table_rows, settings.owner, refreshed_at)
        for table, table_rows in rows.items()
    }
    return DimensionSnapshot(frames=frames)


def _record(item: Any, **extra: Any) -> dict[str, Any]:
    return {**dataclasses.asdict(item), **extra}


def _records(items: Iterable[Any], **extra: Any) -> list[dict[str, Any]]:
    return [_record(item, **extra) for item in items]


def _frame(
    table: str, rows: list[dict[str, Any]], owner: str, refreshed_at: dt.datetime
) -> pl.DataFrame:
    schema = DIMENSION_SCHEMAS[table]
    shaped = [{column: row.get(column) for column in schema} for row in rows]
    frame = pl.DataFrame(shaped, schema=schema, orient="row")
    if SNAPSHOT_OWNER_COLUMN not in schema:
        frame = frame.with_columns(pl.lit(owner, pl.String()).alias(SNAPSHOT_OWNER_COLUMN))
    return frame.with_columns(pl.lit(refreshed_at, UTC_MICROS).alias("refreshed_at"))
