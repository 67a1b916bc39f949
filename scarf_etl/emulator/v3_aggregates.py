"""The v3 aggregates export, `GET /v3/insights/{owner}/aggregations/export`, as Scarf serves it.

Built from the same events and the same AggregateV1 rows as the v1 endpoints (`aggregates`), so
both APIs agree: `rollup=daily`, one `breakdown` per request, `start_date` inclusive and
`end_date` exclusive, at most 366 days, NDJSON (or `format=json`, `{"data": [...]}`). Every row
names its artifact (packages and tracking pixels) and carries `unique_origins` and
`unique_endpoints`. The window actually served (clamped to the data the world has and to
today) is sent in `X-Scarf-Effective-Start-Date` / `X-Scarf-Effective-End-Date`. Errors are
`{"detail": ...}`; the owner slug is case-sensitive (no lower-casing anywhere here).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl
from starlette.datastructures import QueryParams

from scarf_etl.emulator import world
from scarf_etl.emulator.aggregates import aggregate_rows_by_day
from scarf_etl.emulator.csv_export import AggregateExport
from scarf_etl.emulator.errors import ApiError
from scarf_etl.emulator.events import EventCache, EventSource
from scarf_etl.emulator.faults import Faults
from scarf_etl.emulator.state import Store

ROUTE: Final = "/v3/insights/{owner}/aggregations/export"
# v3's breakdown parameter -> the AggregateV1 breakdown the rows are computed as.
BREAKDOWNS: Final = {
    "by-total": "total",
    "by-country": "country",
    "by-company": "company",
    "by-platform": "platform",
    "by-version": "version",
    "by-client": "client",
    "by-variable": "variable",
    "by-cloudprovider": "cloud_provider",
}
ROLLUPS: Final = ("daily",)  # the only rollup the pipeline asks for, and the emulator serves
FORMATS: Final = ("ndjson", "json")
EFFECTIVE_START: Final = "X-Scarf-Effective-Start-Date"
EFFECTIVE_END: Final = "X-Scarf-Effective-End-Date"
ARTIFACT_TYPES: Final = {"package": "package", "pixel": "tracking-pixel"}
# AggregateV1 fields that v3 names otherwise (`artifact`) or does not send (`unique_total`).
_V1_ONLY: Final = ("breakdown", "date", "package", "total", "unique_total")


class V3Error(ApiError):
    """An error in v3's shape: `{"detail": "..."}`."""

    def body(self) -> dict[str, str]:
        return {"detail": self.message}


@dataclass(frozen=True)
class V3AggregateExport(AggregateExport):
    """One breakdown's v3 rows for the (artifact, day) parts; body faults as for v1."""

    breakdown: str = "by-total"

    def _derive_all(self) -> None:
        # Every breakdown of each day at once, kept: a window is asked for once per breakdown.
        self.cache.derive_all("aggregates_v3", self.parts, _v3_rows_by_day)

    def _rows(self, source: EventSource, day: datetime.date) -> list[dict[str, object]]:
        by_breakdown = self.cache.derived(
            "aggregates_v3",
            source,
            day,
            lambda frame: _v3_rows_by_day(source, {day: frame})[day],
        )
        return by_breakdown.get(self.breakdown, [])


def _v3_rows_by_day(
    source: EventSource, frames: dict[datetime.date, pl.DataFrame]
) -> dict[datetime.date, dict[str, list[dict[str, object]]]]:
    """Each day's rows, by v3 breakdown."""
    by_day = aggregate_rows_by_day(frames, source, v3_counts=True)
    return {day: _v3_rows_by_breakdown(rows, source) for day, rows in by_day.items()}


def _v3_rows_by_breakdown(
    rows: list[dict[str, object]], source: EventSource
) -> dict[str, list[dict[str, object]]]:
    return {
        v3_name: [_v3_row(row, source, v3_name) for row in rows if row["breakdown"] == v1_name]
        for v3_name, v1_name in BREAKDOWNS.items()
    }


def _v3_row(row: dict[str, object], source: EventSource, breakdown: str) -> dict[str, object]:
    return {
        "date": row["date"],
        "artifact": source.id,
        "artifact_name": source.name,
        "artifact_type": ARTIFACT_TYPES[source.kind],
        "breakdown": breakdown,
        "total": row["total"],
        "unique_origins": row["unique_origins"],
        "unique_endpoints": row["unique_endpoints"],
        **{k: v for k, v in row.items() if k not in _V1_ONLY and not k.startswith("unique_")},
    }


@dataclass(frozen=True)
class V3Answer:
    """What one v3 aggregates request is answered with (the app adds auth, faults, HTTP)."""

    export: V3AggregateExport
    headers: dict[str, str]
    as_json: bool

    def json_body(self) -> dict[str, list[dict[str, object]]]:
        return {"data": [row for s, d in self.export.parts for row in self.export._rows(s, d)]}


def answer(
    store: Store,
    events: EventCache,
    username: str,
    owner: str,
    query: QueryParams,
    faults: Faults,
) -> V3Answer:
    """Owner, window and body of a request that passed auth and the refusal faults."""
    _check_owner(store, username, owner)
    start, end = _window(query.get("start_date"), query.get("end_date"))
    breakdown = _one_of(query.get("breakdown"), "breakdown", tuple(BREAKDOWNS))
    _one_of(query.get("rollup"), "rollup", ROLLUPS)
    output = _one_of(query.get("format") or "ndjson", "format", FORMATS)
    effective_start, effective_end = _effective_window(start, end)
    days = [
        effective_start + datetime.timedelta(days=n)
        for n in range((effective_end - effective_start).days)
    ]
    sources = _artifacts(store, username, owner, query)
    export = V3AggregateExport(
        events,
        [(s, d) for d in days for s in sources],
        end_day=effective_end,
        faults=faults,
        breakdown=breakdown,
    )
    headers = {
        EFFECTIVE_START: effective_start.isoformat(),
        EFFECTIVE_END: effective_end.isoformat(),
    }
    return V3Answer(export, headers, as_json=output == "json")


def _check_owner(store: Store, username: str, owner: str) -> None:
    """404 "Organization not found" for an owner the user cannot see (exact spelling only);
    403 when the owner's plan has no exports."""
    try:
        store.export_owner(username, owner)
    except ApiError as error:
        if error.status == 404:
            raise V3Error(404, "Organization not found") from None
        if error.status == 403:
            raise V3Error(
                403, f"Aggregation exports are not included in the plan of {owner!r}"
            ) from None
        raise


def _window(start: str | None, end: str | None) -> tuple[datetime.date, datetime.date]:
    start_day, end_day = _date(start, "start_date"), _date(end, "end_date")
    if end_day <= start_day:
        raise V3Error(400, "end_date must be after start_date (end_date is exclusive)")
    days = (end_day - start_day).days
    if days > world.MAX_WINDOW_DAYS:
        raise V3Error(
            400,
            f"The requested range spans {days} days; at most {world.MAX_WINDOW_DAYS} days "
            "are allowed per request",
        )
    return start_day, end_day


def _date(value: str | None, field: str) -> datetime.date:
    if value is None:
        raise V3Error(400, f"{field} is required (YYYY-MM-DD)")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise V3Error(400, f"{field} must be a date in YYYY-MM-DD format")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise V3Error(400, f"{field} is not a valid date") from None


def _one_of(value: str | None, field: str, allowed: Sequence[str]) -> str:
    if value is None or value not in allowed:
        raise V3Error(400, f"{field} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _effective_window(
    start: datetime.date, end: datetime.date
) -> tuple[datetime.date, datetime.date]:
    """The part of [start, end) with data: from the world's first day, up to (not including)
    today, which is still being counted."""
    today = datetime.datetime.now(datetime.UTC).date()
    effective_start = max(start, world.DATA_START)
    effective_end = max(min(end, today), effective_start)
    return effective_start, effective_end


def _artifacts(store: Store, username: str, owner: str, query: QueryParams) -> list[EventSource]:
    """The selected artifacts: `package_id` / `tracking_pixel_id` (a uuid, `all` or `none`,
    repeatable); with neither, every package and pixel of the owner."""
    package_ids, pixel_ids = query.getlist("package_id"), query.getlist("tracking_pixel_id")
    packages = [p.source() for p in store.exportable_packages(username, owner)]
    pixels = store.pixel_sources(owner)
    if not package_ids and not pixel_ids:
        return packages + pixels
    return _select(packages, package_ids) + _select(pixels, pixel_ids)


def _select(sources: list[EventSource], wanted: list[str]) -> list[EventSource]:
    if "all" in wanted:
        return sources
    return [s for s in sources if s.id in wanted]
