"""AggregateV1 rows of one package and day, computed from that day's events with polars.

The v3 export (`v3_aggregates`) reuses these rows, with `unique_origins` / `unique_endpoints`
on every row (v1 has `unique_total` on the `total` row only).
"""

from __future__ import annotations

import datetime

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


# v3's distinct counts, per row: (field, event column).
_UNIQUE_COUNTS = (("unique_origins", "origin_id"), ("unique_endpoints", "endpoint_id"))


def aggregate_rows(
    frame: pl.DataFrame, source: EventSource, day: datetime.date, *, v3_counts: bool = False
) -> list[dict[str, object]]:
    """Every breakdown for (package, day), `total` first; key order and row order are fixed.

    With `v3_counts`, every row also carries `unique_origins` and `unique_endpoints`.
    """
    base = {"date": day.isoformat(), "package": source.id}
    total: dict[str, object] = {
        "breakdown": "total",
        **base,
        "total": frame.height,
        "unique_total": frame["origin_id"].n_unique(),
    }
    if v3_counts:
        total.update({name: _distinct(frame[column]) for name, column in _UNIQUE_COUNTS})
    rows: list[dict[str, object]] = [total]
    for breakdown, fields, keep, library_types in _BREAKDOWNS:
        if library_types is not None and source.library_type not in library_types:
            continue
        grouped = _count(frame.filter(keep), fields, v3_counts=v3_counts)
        rows.extend({"breakdown": breakdown, **base, **row} for row in grouped)
    if source.library_type == "other":
        variables = (
            frame.filter(pl.col("variables") != "")
            .select(
                pl.col("variables").cast(pl.String).str.split("&").alias("pair"),
                *(pl.col(column) for _, column in _UNIQUE_COUNTS),
            )
            .explode("pair")
            .with_columns(
                pl.col("pair").str.split_exact("=", 1).struct.rename_fields(["variable", "value"])
            )
            .unnest("pair")
        )
        grouped = _count(variables, {"variable": "variable", "value": "value"}, v3_counts=v3_counts)
        rows.extend({"breakdown": "variable", **base, **row} for row in grouped)
    return rows


def _distinct(values: pl.Series) -> int:
    return values.cast(pl.String).replace("", None).drop_nulls().n_unique()


def _count(
    frame: pl.DataFrame, fields: dict[str, str], *, v3_counts: bool
) -> list[dict[str, object]]:
    """Rows of {field: value, ..., "total": n[, v3's unique counts]}, empty text as null,
    ordered by the keys."""
    keys = list(fields)
    uniques = [name for name, _ in _UNIQUE_COUNTS] if v3_counts else []
    counted = (
        frame.select(
            *(pl.col(column).cast(pl.String).alias(name) for name, column in fields.items()),
            *(
                pl.col(column).cast(pl.String).replace("", None).alias(name)
                for name, column in _UNIQUE_COUNTS
                if v3_counts
            ),
        )
        .group_by(keys)
        .agg(pl.len().alias("total"), *(pl.col(name).drop_nulls().n_unique() for name in uniques))
        .sort(keys, nulls_last=True)
        .with_columns(pl.col(k).replace("", None) for k in keys)
    )
    return [
        {**{k: row[k] for k in keys}, "total": row["total"], **{u: row[u] for u in uniques}}
        for row in counted.iter_rows(named=True)
    ]
