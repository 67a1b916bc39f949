"""AggregateV1 rows of one package and day, computed from that day's events with polars.

The v3 export (`v3_aggregates`) reuses these rows, with `unique_origins` / `unique_endpoints`
on every row (v1 has `unique_total` on the `total` row only).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Final

import polars as pl

from scarf_etl.emulator.events import EventSource

# (breakdown, {AggregateV1 field: event column}, row filter, library types it applies to)
_BREAKDOWNS: tuple[tuple[str, dict[str, str], pl.Expr, tuple[str | None, ...] | None], ...] = (
    (
        "company",
        {"company_name": "origin_company", "company_domain": "origin_domain"},
        pl.col("origin_connection_type") == "business",
        None,
    ),
    (
        "cloud_provider",
        {"cloud_provider_name": "origin_company", "cloud_provider_domain": "origin_domain"},
        pl.col("origin_connection_type") == "hosting",
        None,
    ),
    ("country", {"country": "origin_country"}, pl.col("origin_country") != "", None),
    ("platform", {"platform": "platform"}, pl.col("platform") != "", None),
    ("version", {"version": "version"}, pl.col("version") != "", ("docker",)),
    ("client", {"client": "_client", "client_version": "_client_version"}, pl.lit(True), None),
)


# The day index column of the frames `aggregate_rows_by_day` stacks.
_DAY: Final = "__day"
# v3's distinct counts, per row: (field, event column).
_UNIQUE_COUNTS = (("unique_origins", "origin_id"), ("unique_endpoints", "endpoint_id"))


def aggregate_rows(
    frame: pl.DataFrame, source: EventSource, day: datetime.date, *, v3_counts: bool = False
) -> list[dict[str, object]]:
    """Every breakdown for (package, day), `total` first; key order and row order are fixed.

    With `v3_counts`, every row also carries `unique_origins` and `unique_endpoints`.
    """
    return aggregate_rows_by_day({day: frame}, source, v3_counts=v3_counts)[day]


def aggregate_rows_by_day(
    frames: Mapping[datetime.date, pl.DataFrame], source: EventSource, *, v3_counts: bool = False
) -> dict[datetime.date, list[dict[str, object]]]:
    """`aggregate_rows` of each (day, frame), computed for all the days at once: a year of
    small days is a few polars calls, not a dozen per day (22 s -> well under 1 s for a
    year of seven artifacts)."""
    days = list(frames)
    frame = pl.concat(
        [f.with_columns(pl.lit(i, pl.Int32).alias(_DAY)) for i, f in enumerate(frames.values())],
        how="vertical_relaxed",
    )
    rows: dict[datetime.date, list[dict[str, object]]] = {day: [] for day in days}
    bases = [{"date": day.isoformat(), "package": source.id} for day in days]
    uniques = [name for name, _ in _UNIQUE_COUNTS] if v3_counts else []
    totals = frame.group_by(_DAY).agg(
        pl.len().alias("total"),
        pl.col("origin_id").n_unique().alias("unique_total"),
        *(
            pl.col(column).cast(pl.String).replace("", None).drop_nulls().n_unique().alias(name)
            for name, column in _UNIQUE_COUNTS
            if v3_counts
        ),
    )
    found = {int(row[_DAY]): row for row in totals.iter_rows(named=True)}
    for i, day in enumerate(days):
        counted = found.get(i, {})
        rows[day].append(
            {
                "breakdown": "total",
                **bases[i],
                "total": counted.get("total", 0),
                "unique_total": counted.get("unique_total", 0),
                **{name: counted.get(name, 0) for name in uniques},
            }
        )
    for breakdown, fields, keep, library_types in _BREAKDOWNS:
        if library_types is not None and source.library_type not in library_types:
            continue
        for i, row in _count(frame.filter(keep), fields, v3_counts=v3_counts):
            rows[days[i]].append({"breakdown": breakdown, **bases[i], **row})
    if source.library_type == "other":
        variables = (
            frame.filter(pl.col("variables") != "")
            .select(
                _DAY,
                pl.col("variables").cast(pl.String).str.split("&").alias("pair"),
                *(pl.col(column) for _, column in _UNIQUE_COUNTS),
            )
            .explode("pair")
            .with_columns(
                pl.col("pair").str.split_exact("=", 1).struct.rename_fields(["variable", "value"])
            )
            .unnest("pair")
        )
        pairs = _count(variables, {"variable": "variable", "value": "value"}, v3_counts=v3_counts)
        for i, row in pairs:
            rows[days[i]].append({"breakdown": "variable", **bases[i], **row})
    return rows


def _count(
    frame: pl.DataFrame, fields: dict[str, str], *, v3_counts: bool
) -> list[tuple[int, dict[str, object]]]:
    """(day index, {field: value, ..., "total": n[, v3's unique counts]}) per group, empty
    text as null, ordered by day, then by the keys."""
    keys = list(fields)
    uniques = [name for name, _ in _UNIQUE_COUNTS] if v3_counts else []
    counted = (
        frame.select(
            _DAY,
            *(pl.col(column).cast(pl.String).alias(name) for name, column in fields.items()),
            *(
                pl.col(column).cast(pl.String).replace("", None).alias(name)
                for name, column in _UNIQUE_COUNTS
                if v3_counts
            ),
        )
        .group_by([_DAY, *keys])
        .agg(pl.len().alias("total"), *(pl.col(name).drop_nulls().n_unique() for name in uniques))
        .sort([_DAY, *keys], nulls_last=True)
        .with_columns(pl.col(k).replace("", None) for k in keys)
    )
    return [
        (
            row[_DAY],
            {**{k: row[k] for k in keys}, "total": row["total"], **{u: row[u] for u in uniques}},
        )
        for row in counted.iter_rows(named=True)
    ]
