"""Every dataset's columns and types, in one place: normalization, the lake and the warehouse
all read them from here."""

from __future__ import annotations

from typing import Final

import polars as pl

UTC_MICROS: Final = pl.Datetime("us", "UTC")

# The v2 export's 24 columns, in the v2 order. v1 exports carry 16 of them in another order and
# may append columns we do not know yet; those are kept as String (see normalize.py).
EVENT_COLUMNS: Final[dict[str, pl.DataType]] = {
    "id": pl.String(),
    "type": pl.String(),
    "package": pl.String(),
    "pixel": pl.String(),
    "version": pl.String(),
    "time": UTC_MICROS,
    "referer": pl.String(),
    "user_agent": pl.String(),
    "platform": pl.String(),
    "variables": pl.String(),
    "origin_id": pl.String(),
    "origin_latitude": pl.Float64(),
    "origin_longitude": pl.Float64(),
    "origin_country": pl.String(),
    "origin_city": pl.String(),
    "origin_postal": pl.String(),
    "origin_connection_type": pl.String(),
    "origin_company": pl.String(),
    "origin_domain": pl.String(),
    "dnt": pl.Boolean(),
    "confidence": pl.Float64(),
    "endpoint_id": pl.String(),
    "origin_state": pl.String(),
    "mtc_quota_exceeded": pl.Boolean(),
}

# Columns the pipeline adds to every event row. The export's `id` is stored as `event_id`.
EVENT_KEY_COLUMNS: Final[dict[str, pl.DataType]] = {
    "event_id": pl.String(),
    "event_date": pl.Date(),
    "package_id": pl.String(),
    "owner": pl.String(),
}

# The lake/warehouse layout of an event row, before any unknown export column.
EVENT_TABLE_COLUMNS: Final[dict[str, pl.DataType]] = {
    **{k: v for k, v in EVENT_KEY_COLUMNS.items() if k != "owner"},
    **{k: v for k, v in EVENT_COLUMNS.items() if k != "id"},
    "owner": pl.String(),
}

# One shape for every API generation (the mapping: normalize/aggregates.py): AggregateV1 (the
# v1 page), v3's distinct counts and artifact fields, which API served the row, and `owner`.
# Unknown NDJSON fields are kept as String columns.
AGGREGATE_COLUMNS: Final[dict[str, pl.DataType]] = {
    "date": pl.Date(),
    "package": pl.String(),
    "breakdown": pl.String(),
    "total": pl.Int64(),
    "unique_total": pl.Int64(),
    "unique_origins": pl.Int64(),
    "unique_endpoints": pl.Int64(),
    "artifact_type": pl.String(),
    "artifact_name": pl.String(),
    "api_version": pl.String(),
    "company_name": pl.String(),
    "company_domain": pl.String(),
    "cloud_provider_name": pl.String(),
    "cloud_provider_domain": pl.String(),
    "country": pl.String(),
    "platform": pl.String(),
    "version": pl.String(),
    "client": pl.String(),
    "client_version": pl.String(),
    "variable": pl.String(),
    "value": pl.String(),
    "owner": pl.String(),
}

# v2 renamed two AggregateV1 fields (v3 kept `artifact`); every spelling lands in the v1 column.
AGGREGATE_FIELD_ALIASES: Final[dict[str, str]] = {
    "artifact": "package",
    "total_unique": "unique_total",
}

REJECTED_COLUMNS: Final[dict[str, pl.DataType]] = {
    "table_name": pl.String(),
    "partition_date": pl.Date(),
    "owner": pl.String(),
    "source_file": pl.String(),
    "line_number": pl.Int64(),
    "reason": pl.String(),
    "raw_line": pl.String(),
}

EVENT_TABLES: Final = ("package_events", "pixel_events")
AGGREGATES_TABLE: Final = "aggregates"
PARTITIONED_TABLES: Final = (*EVENT_TABLES, AGGREGATES_TABLE)

# One explicit schema per dimension table; columns are the API's fields in snake_case.
DIMENSION_SCHEMAS: Final[dict[str, dict[str, pl.DataType]]] = {
    "organizations": {
        "name": pl.String(),
        "description": pl.String(),
        "website": pl.String(),
        "billing_email": pl.String(),
        "created_at": UTC_MICROS,
        "updated_at": UTC_MICROS,
    },
    "organization_members": {
        "organization_name": pl.String(),
        "username": pl.String(),
        "role": pl.String(),
    },
    "packages": {
        "uuid": pl.String(),
        "owner": pl.String(),
        "name": pl.String(),
        "short_description": pl.String(),
        "long_description": pl.String(),
        "website": pl.String(),
        "library_type": pl.String(),
        "created_at": UTC_MICROS,
    },
    "package_permissions": {
        "package_id": pl.String(),
        "username": pl.String(),
        "permission_level": pl.String(),
    },
    "package_routes": {
        "package_id": pl.String(),
        "id": pl.String(),
        "outgoing_url": pl.String(),
        "template_path": pl.String(),
    },
    "package_domains": {
        "package_id": pl.String(),
        "id": pl.String(),
        "name": pl.String(),
    },
}
DIMENSION_TABLES: Final = tuple(DIMENSION_SCHEMAS)
